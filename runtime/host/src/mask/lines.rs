//! A stream masked line by line as it arrives, such as what a program
//! prints on stdout or stderr.
//!
//! Guards against a stream's output holding a secret value the host knows,
//! and against the masking of a stream holding the host: at most one line
//! is held, of at most a bound; a longer line is dropped as it arrives and
//! shown as `***`, as cutting it anywhere could split a value and show part
//! of it. The work is linear in the stream.

use std::borrow::Cow;

use super::{MASK, Masker};

impl Masker {
    /// A masker of the stream that will be fed to it, line by line; see
    /// [`LineMasker`].
    pub fn lines(&self, max_line_bytes: usize) -> LineMasker<'_> {
        LineMasker {
            masker: self,
            max_line: max_line_bytes,
            line: Vec::new(),
            overlong: false,
            counts: LineCounts::default(),
        }
    }
}

/// What a [`LineMasker`] did to its stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounts {
    /// Lines in which a value was masked.
    pub masked: usize,
    /// Lines longer than the bound, shown as `***` (with their line break).
    pub overlong: usize,
}

/// A stream (what a program prints on stdout or stderr) masked line by line
/// as it arrives: each line is handed on, masked (not escaped), once its
/// line break (or the end of the stream) is seen.
///
/// Holds at most one line of at most the bound it was made with. A longer
/// line is not held: the rest of it is dropped as it arrives and it is shown
/// as `***`, as a line cut anywhere could split a value and show part of
/// it. A value that spans lines is masked by its lines (see
/// [`Masker::new`]). The work is linear in the stream: each byte is looked
/// at once for a line break and masked once.
pub struct LineMasker<'m> {
    masker: &'m Masker,
    max_line: usize,
    /// The current line so far, without its line break.
    line: Vec<u8>,
    /// The current line went past `max_line`: it is dropped, and shown as
    /// `***` when it ends.
    overlong: bool,
    counts: LineCounts,
}

impl LineMasker<'_> {
    /// Takes the next bytes of the stream and hands `emit` every line they
    /// complete, masked, with its line break.
    pub fn push(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        while let Some(at) = bytes.iter().position(|&b| b == b'\n') {
            self.take(&bytes[..at]);
            self.end_line(b"\n", emit);
            bytes = &bytes[at + 1..];
        }
        self.take(bytes);
    }

    /// Ends the stream: hands `emit` its last line if it has one (masked,
    /// without a line break, as it had none), and says what was masked.
    pub fn finish(mut self, emit: &mut impl FnMut(&[u8])) -> LineCounts {
        if self.overlong || !self.line.is_empty() {
            self.end_line(b"", emit);
        }
        self.counts
    }

    fn take(&mut self, part: &[u8]) {
        if self.overlong {
            return;
        }
        if self.line.len() + part.len() > self.max_line {
            self.overlong = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(part);
    }

    fn end_line(&mut self, ending: &[u8], emit: &mut impl FnMut(&[u8])) {
        let mut out = if self.overlong {
            self.counts.overlong += 1;
            MASK.as_bytes().to_vec()
        } else {
            let (masked, hidden) = self.masker.mask_bytes(Cow::Borrowed(&self.line));
            if hidden {
                self.counts.masked += 1;
            }
            masked.into_owned()
        };
        out.extend_from_slice(ending);
        emit(&out);
        self.line.clear();
        self.overlong = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_masked_line_by_line_whatever_its_chunks() {
        let masker = Masker::new(["hunter22", "b"]);
        let mut shown = Vec::new();
        let mut lines = masker.lines(64);
        let mut emit = |line: &[u8]| shown.push(String::from_utf8(line.to_vec()).unwrap());
        lines.push(b"pw=hunter22\nnext hun", &mut emit);
        lines.push(b"ter22 b\n\x1b[1mbold\x1b[0m\nlast hunter", &mut emit);
        lines.push(b"22", &mut emit);
        let counts = lines.finish(&mut emit);
        assert_eq!(
            shown,
            [
                "pw=***\n",
                "next *** ***\n",
                // Not escaped: a program's own output keeps its colours.
                "\x1b[1mbold\x1b[0m\n",
                "last ***"
            ]
        );
        assert_eq!(
            counts,
            LineCounts {
                masked: 3,
                overlong: 0
            }
        );
    }

    #[test]
    fn a_line_past_the_bound_is_not_held_and_is_shown_as_the_mask() {
        let masker = Masker::new(["hunter22"]);
        let mut shown = Vec::new();
        let mut lines = masker.lines(16);
        let mut emit = |line: &[u8]| shown.push(String::from_utf8(line.to_vec()).unwrap());
        lines.push(
            b"short\nthis line is far longer than sixteen bytes",
            &mut emit,
        );
        assert!(lines.line.is_empty() && lines.overlong);
        // A value cut at the bound would have shown its first bytes.
        lines.push(&[b'x'; 1 << 20], &mut emit);
        lines.push(b" hunter22\nok hunter22\n", &mut emit);
        assert!(lines.line.capacity() <= 64, "{}", lines.line.capacity());
        let counts = lines.finish(&mut emit);
        assert_eq!(shown, ["short\n", "***\n", "ok ***\n"]);
        assert_eq!(
            counts,
            LineCounts {
                masked: 1,
                overlong: 1
            }
        );
    }
}
