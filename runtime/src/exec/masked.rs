//! What `run`'s command prints, masked: its stdout and stderr pass through
//! flavorbox line by line, each secret value it was given replaced by
//! `***` (`--no-mask` hands it the terminal instead).
//!
//! Guards against a command that echoes its `DB_PASSWORD` putting it in a
//! CI log: every line is masked with the masker flavor logs go through
//! ([`flavorbox::mask::LineMasker`]), linear in the output, holding at
//! most one line of [`MAX_LINE_BYTES`] per stream (a longer line is shown
//! as `***`: cut anywhere it could show part of a value) besides the lines
//! one 64 KiB read completes, written out together. Guards against
//! the masking changing what the command sees: a closed stdout of
//! flavorbox closes the command's pipe too (it gets `EPIPE`/`SIGPIPE` as
//! it would have), and against it holding flavorbox after the command
//! ended: output a process the command left running still writes is
//! waited for [`DRAIN_AFTER_EXIT`] at most.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use flavorbox::mask::Masker;

/// Longest line of the command's output shown masked; a longer one is
/// shown as `***`.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// How long output is still passed on after the command exited (from a
/// process it left running that holds its stdout or stderr).
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// The command's two streams being passed on.
pub struct MaskedStreams {
    done: Receiver<()>,
    streams: usize,
}

/// Makes `command` write to pipes flavorbox reads (see [`forward`]).
pub fn pipe(command: &mut Command) {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
}

/// Passes the started `child`'s stdout and stderr on to flavorbox's own,
/// masked with `masker`, each in a thread of its own.
pub fn forward(child: &mut Child, masker: Arc<Masker>) -> MaskedStreams {
    let (sent, done) = channel();
    let mut streams = 0;
    if let Some(out) = child.stdout.take() {
        let (masker, sent) = (Arc::clone(&masker), sent.clone());
        streams += 1;
        std::thread::spawn(move || {
            pass_on(out, std::io::stdout(), &masker);
            let _ = sent.send(());
        });
    }
    if let Some(err) = child.stderr.take() {
        streams += 1;
        std::thread::spawn(move || {
            pass_on(err, std::io::stderr(), &masker);
            let _ = sent.send(());
        });
    }
    MaskedStreams { done, streams }
}

impl MaskedStreams {
    /// Waits, once the command has exited, until both streams ended or
    /// [`DRAIN_AFTER_EXIT`] passed.
    pub fn finish(self) {
        let deadline = Instant::now() + DRAIN_AFTER_EXIT;
        for _ in 0..self.streams {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.done.recv_timeout(left).is_err() {
                return;
            }
        }
    }
}

/// Reads `from` to its end, writing each line to `to` masked: what one
/// read completes is written (and flushed) at once, so the command's lines
/// appear as they come, at one write per read rather than per line. Stops
/// reading (which closes the command's end) when `to` fails.
fn pass_on(mut from: impl Read, mut to: impl Write, masker: &Masker) {
    let mut lines = masker.lines(MAX_LINE_BYTES);
    let mut masked = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => lines.push(&buffer[..n], &mut |line| masked.extend_from_slice(line)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        if !write_out(&mut to, &mut masked) {
            return;
        }
    }
    lines.finish(&mut |line| masked.extend_from_slice(line));
    write_out(&mut to, &mut masked);
}

/// Writes and flushes `masked`, then empties it; whether `to` took it.
fn write_out(to: &mut impl Write, masked: &mut Vec<u8>) -> bool {
    if masked.is_empty() {
        return true;
    }
    let written = to.write_all(masked).and_then(|()| to.flush()).is_ok();
    masked.clear();
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails after `room` bytes, as a closed pipe does.
    struct Closing {
        written: Vec<u8>,
        room: usize,
    }

    impl Write for Closing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.written.len() + buf.len() > self.room {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A reader handing out `chunks` one per read, counting reads.
    struct Chunks<'a> {
        chunks: Vec<&'a [u8]>,
        reads: &'a std::cell::Cell<usize>,
    }

    impl Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.reads.set(self.reads.get() + 1);
            if self.chunks.is_empty() {
                return Ok(0);
            }
            let chunk = self.chunks.remove(0);
            buf[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn lines_are_masked_across_reads_and_the_last_one_without_a_break() {
        let masker = Masker::new(["s3cret-value"]);
        let reads = std::cell::Cell::new(0);
        let from = Chunks {
            chunks: vec![b"pw=s3cr", b"et-value ok\nlast s3cret-", b"value"],
            reads: &reads,
        };
        let mut to = Closing {
            written: Vec::new(),
            room: usize::MAX,
        };
        pass_on(from, &mut to, &masker);
        assert_eq!(to.written, b"pw=*** ok\nlast ***");
    }

    #[test]
    fn a_closed_output_stops_the_reading() {
        let masker = Masker::new(["s3cret-value"]);
        let reads = std::cell::Cell::new(0);
        let from = Chunks {
            chunks: vec![b"one\n", b"two\n", b"three\n", b"four\n"],
            reads: &reads,
        };
        let mut to = Closing {
            written: Vec::new(),
            room: 4,
        };
        pass_on(from, &mut to, &masker);
        assert_eq!(to.written, b"one\n");
        assert_eq!(reads.get(), 2, "stopped after the write failed");
    }
}
