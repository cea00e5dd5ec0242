//! Masking: every secret value the host knows, replaced by `***` in text
//! someone else wrote (a flavor's log lines, errors and stdout/stderr, or
//! any program's output).
//!
//! Guards against two things. A secret leaking through diagnostics: a value
//! is found as it is, escaped (as it reads in escaped text), trimmed (a
//! secret read from a file ends in a newline) and line by line (a PEM key
//! printed line by line); a short value only where it stands as a whole
//! word, so a one-letter value does not turn every message into asterisks.
//! And masking itself becoming the attack: values are many and text is
//! large and hostile (a flood of lines full of partial matches), so the work
//! is linear in the text and the values: one Aho-Corasick automaton per
//! masker, never a search per value, and a text masking cannot prove clean
//! is hidden whole.
//!
//! [`Masker`] masks one text; [`LineMasker`] (`lines.rs`) masks a stream
//! line by line as it arrives, holding at most one bounded line.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

mod lines;

pub use lines::{LineCounts, LineMasker};

/// Values shorter than this many bytes are masked only where they stand as
/// a whole word: a one-letter value would otherwise turn every message
/// into asterisks, and a word-bounded match is where a short secret leaks.
pub const SHORT_VALUE_BYTES: usize = 4;

/// What replaces a masked value, and what a text becomes whole when masking
/// cannot prove it clean. Shorter than [`SHORT_VALUE_BYTES`], so it is never
/// itself a value that must be masked.
const MASK: &str = "***";

/// Replaces known secret values in text by `***`; [`Masker::mask`] also
/// escapes the text (see [`crate::text`]) so that it prints as one line.
///
/// The promise: for any values and any text, what [`Masker::mask`] returns
/// contains no value of [`SHORT_VALUE_BYTES`] bytes or more, and a shorter
/// value only inside a word. The work is linear in the text and the values:
/// one automaton per masker over the deduplicated values (built on first
/// use, as most calls produce no output), one leftmost-longest pass over the
/// text, one overlapping pass for short values (at most three matches end
/// at any byte), and one final check for a value that the replacements
/// themselves formed (a value containing `***`); if there is one, the whole
/// text becomes `***`. So it does if the automaton cannot be built.
pub struct Masker {
    long: Vec<String>,
    short: Vec<String>,
    /// `None` once built means the automaton could not be built: every
    /// text is then hidden whole.
    matchers: OnceLock<Option<Matchers>>,
}

struct Matchers {
    /// Values of [`SHORT_VALUE_BYTES`] or more, leftmost-longest, with one
    /// replacement per value.
    long: Option<(AhoCorasick, Vec<&'static str>)>,
    /// Shorter values, every (overlapping) match.
    short: Option<AhoCorasick>,
}

/// What may stand next to a short value for it to count as a whole word:
/// whitespace and the punctuation of assignments, lists and quotes. Dots,
/// colons, slashes and dashes do not, so `0` in `127.0.0.1:8080` or `a` in
/// `a-b` stays readable.
fn bounds_a_word(b: u8) -> bool {
    b.is_ascii_whitespace() || b"=,;'\"`()[]{}<>".contains(&b)
}

/// Bytes masked from a `str` back into one. The replacements cut valid
/// UTF-8 only at character boundaries (a value is valid UTF-8, so a match
/// starts and ends on one), so the conversion never fails; if it did, the
/// lossy form would still hold no value.
fn into_string(bytes: Cow<'_, [u8]>) -> String {
    match String::from_utf8(bytes.into_owned()) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

fn str_bytes(text: Cow<'_, str>) -> Cow<'_, [u8]> {
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    }
}

impl Masker {
    /// A masker for `values`: each, its escaped form (as it appears in
    /// escaped text), and the parts a flavor could print on their own
    /// without them being the whole value: the value without surrounding
    /// whitespace (a secret read from a file ends in a newline) and each
    /// line of a multi-line value (a PEM key logged line by line), if 4
    /// bytes or more; all deduplicated.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut all = BTreeSet::new();
        let mut add = |text: &str| {
            if text.is_empty() {
                return;
            }
            let escaped = crate::text::escape(text);
            if escaped != text {
                all.insert(escaped.into_owned());
            }
            all.insert(text.to_string());
        };
        for value in values {
            add(value);
            for part in std::iter::once(value.trim()).chain(value.lines().map(str::trim)) {
                if part.len() >= SHORT_VALUE_BYTES && part != value {
                    add(part);
                }
            }
        }
        let (long, short) = all
            .into_iter()
            .partition(|v: &String| v.len() >= SHORT_VALUE_BYTES);
        Masker {
            long,
            short,
            matchers: OnceLock::new(),
        }
    }

    fn matchers(&self) -> Option<&Matchers> {
        self.matchers
            .get_or_init(|| {
                let build = |values: &[String], kind: MatchKind| {
                    if values.is_empty() {
                        return Ok(None);
                    }
                    AhoCorasick::builder()
                        .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                        .match_kind(kind)
                        .build(values)
                        .map(Some)
                };
                let long = build(&self.long, MatchKind::LeftmostLongest).ok()?;
                let short = build(&self.short, MatchKind::Standard).ok()?;
                Some(Matchers {
                    long: long.map(|long| {
                        let replacements = vec![MASK; long.patterns_len()];
                        (long, replacements)
                    }),
                    short,
                })
            })
            .as_ref()
    }

    /// `text` escaped, with every known value replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        self.mask_counted(text).0
    }

    /// [`Masker::mask`], and whether anything was masked.
    pub fn mask_counted(&self, text: &str) -> (String, bool) {
        let (masked, hidden) = self.mask_bytes(str_bytes(crate::text::escape(text)));
        (into_string(masked), hidden)
    }

    /// `text` with every known value replaced by `***`, not escaped: for
    /// text split into lines afterwards (each line is then masked and
    /// escaped again by [`Masker::mask_counted`]), or printed as it is.
    pub fn mask_unescaped(&self, text: &str) -> (String, bool) {
        let (masked, hidden) = self.mask_bytes(Cow::Borrowed(text.as_bytes()));
        (into_string(masked), hidden)
    }

    /// The masking itself, on bytes (a program's output need not be UTF-8);
    /// whether anything was masked.
    fn mask_bytes<'t>(&self, text: Cow<'t, [u8]>) -> (Cow<'t, [u8]>, bool) {
        if self.long.is_empty() && self.short.is_empty() {
            return (text, false);
        }
        let Some(matchers) = self.matchers() else {
            return (Cow::Borrowed(MASK.as_bytes()), true);
        };
        let mut hidden = false;
        let mut text = text;
        if let Some((long, replacements)) = &matchers.long
            && long.is_match(text.as_ref())
        {
            text = Cow::Owned(long.replace_all_bytes(&text, replacements));
            hidden = true;
        }
        if let Some(short) = &matchers.short
            && let Some(cover) = short_cover(short, &text)
        {
            let mut out = Vec::with_capacity(text.len());
            let mut in_hidden = false;
            for (&byte, covered) in text.iter().zip(cover) {
                if covered {
                    if !in_hidden {
                        out.extend_from_slice(MASK.as_bytes());
                    }
                    in_hidden = true;
                } else {
                    in_hidden = false;
                    out.push(byte);
                }
            }
            text = Cow::Owned(out);
            hidden = true;
        }
        // The replacements can form a value of their own (one containing
        // `***`); then nothing of the text is shown.
        if hidden
            && let Some((long, _)) = &matchers.long
            && long.is_match(text.as_ref())
        {
            text = Cow::Borrowed(MASK.as_bytes());
        }
        (text, hidden)
    }
}

/// Which bytes of `text` short values cover as whole words, if any.
fn short_cover(short: &AhoCorasick, text: &[u8]) -> Option<Vec<bool>> {
    let mut cover: Option<Vec<bool>> = None;
    for found in short.find_overlapping_iter(text) {
        let (start, end) = (found.start(), found.end());
        let open = start == 0 || bounds_a_word(text[start - 1]);
        let close = end == text.len() || bounds_a_word(text[end]);
        if open && close {
            cover.get_or_insert_with(|| vec![false; text.len()])[start..end].fill(true);
        }
    }
    cover
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_are_masked_as_whole_words_only() {
        let masker = Masker::new(["b", "p4"]);
        assert_eq!(
            masker.mask("secret `db_creds` has b"),
            "secret `db_creds` has ***"
        );
        assert_eq!(masker.mask("pw=p4, key=b;"), "pw=***, key=***;");
        assert_eq!(masker.mask("ab p4x"), "ab p4x");
        let digit = Masker::new(["0"]);
        assert_eq!(
            digit.mask("origin http://127.0.0.1:8080"),
            "origin http://127.0.0.1:8080"
        );
        assert_eq!(digit.mask("pin=0 and \"0\""), "pin=*** and \"***\"");
    }

    #[test]
    fn masks_every_known_value_longest_first() {
        let masker = Masker::new(["hunter2", "hunter22", ""]);
        assert_eq!(
            masker.mask("pw=hunter22 and hunter2, twice hunter2"),
            "pw=*** and ***, twice ***"
        );
        assert_eq!(Masker::new([]).mask("plain"), "plain");
    }

    #[test]
    fn masked_text_is_escaped_and_values_with_line_breaks_are_still_found() {
        let masker = Masker::new(["line one\nline two"]);
        assert_eq!(
            masker.mask("got line one\nline two\nflavorbox: forged \u{202e}"),
            "got ***\\nflavorbox: forged \\u{202e}"
        );
        // Unescaped, the value is found as it is.
        assert_eq!(
            masker.mask_unescaped("got line one\nline two\n"),
            ("got ***\n".to_string(), true)
        );
    }

    #[test]
    fn a_multi_line_value_is_masked_line_by_line_and_trimmed() {
        let key = "-----BEGIN KEY-----\nMIIEabcdef\n-----END KEY-----\n";
        let masker = Masker::new([key, "hunter2\n"]);
        assert_eq!(masker.mask("line MIIEabcdef"), "line ***");
        assert_eq!(masker.mask("pw=hunter2"), "pw=***");
        assert_eq!(masker.mask("-----END KEY-----"), "***");
    }

    #[test]
    fn a_value_formed_by_the_replacements_hides_the_whole_text() {
        // `a***b` is a value; masking `secret1` would write it.
        let masker = Masker::new(["secret1", "a***b"]);
        assert_eq!(masker.mask("xx asecret1b yy"), "***");
    }

    #[test]
    fn text_beside_multi_byte_characters_stays_whole() {
        let masker = Masker::new(["é", "秘密の値", "ü"]);
        let shown = masker.mask("é=ü, key=秘密の値x ü秘");
        assert_eq!(shown, "***=***, key=***x ü秘");
    }

    #[test]
    fn masking_is_linear_in_the_output() {
        // 1,000 values `a…ab` of 4 to 1,003 bytes over 1 MiB of `a`s ending
        // in one `b`: every byte starts a partial match of every value.
        // Searching value by value this is 10^9 steps; the automaton reads
        // each byte once.
        let values: Vec<String> = (3..1_003).map(|n| format!("{}b", "a".repeat(n))).collect();
        let masker = Masker::new(values.iter().map(String::as_str));
        let text = format!("{}b", "a".repeat(1 << 20));
        let (shown, hidden) = masker.mask_counted(&text);
        assert!(hidden);
        // The leftmost-longest match is the longest value, at the end.
        assert_eq!(shown.len(), (1 << 20) - 1_002 + MASK.len());
        assert!(shown.ends_with("a***") && !shown.contains('b'));

        // The automata that did it: one leftmost-longest automaton (its
        // matches do not overlap, so there are fewer than the text's bytes)
        // and a noncontiguous NFA, whose search time is linear in the text.
        let matchers = masker.matchers().expect("automata built");
        let (long, _) = matchers.long.as_ref().expect("long values");
        assert_eq!(long.kind(), AhoCorasickKind::NoncontiguousNFA);
        assert_eq!(long.match_kind(), MatchKind::LeftmostLongest);
        assert!(matchers.short.is_none());

        // Short values are found overlapping; at most three of them (of 1,
        // 2 and 3 bytes) end at any byte, so the pass looks at no more than
        // three matches per byte, however hostile the text.
        let masker = Masker::new(["a", "aa", "aaa", "=", "= ="]);
        let text = "a aa aaa = = ".repeat(40_000);
        let matchers = masker.matchers().expect("automata built");
        let short = matchers.short.as_ref().expect("short values");
        assert_eq!(short.kind(), AhoCorasickKind::NoncontiguousNFA);
        let visited = short.find_overlapping_iter(&text).count();
        assert!(visited <= 3 * text.len(), "{visited} matches");
        let shown = masker.mask(&text);
        assert!(!shown.contains('a'), "{}", &shown[..80]);
    }

    /// Strings built from a small alphabet, so values and text overlap
    /// often; it holds the replacement's `*`, line breaks and a bidi
    /// control.
    pub(crate) fn texty() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('a'),
                Just('b'),
                Just('*'),
                Just(' '),
                Just('='),
                Just('\n'),
                Just('\u{202e}'),
                Just('é'),
            ],
            0..24,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    /// What must never be printed of `values`: each value of 4 bytes or
    /// more, as it is and escaped, and each line of one, trimmed, of 4 bytes
    /// or more.
    pub(crate) fn secret_parts(values: &[String]) -> Vec<String> {
        let mut parts = Vec::new();
        for value in values {
            for part in std::iter::once(value.as_str())
                .chain(std::iter::once(value.trim()))
                .chain(value.lines().map(str::trim))
            {
                if part.len() >= SHORT_VALUE_BYTES {
                    parts.push(part.to_string());
                    parts.push(crate::text::escape(part).into_owned());
                }
            }
        }
        parts
    }

    /// Noise and values, the way a leak would mix them: each piece of
    /// noise followed by the value it picks, if there is one.
    pub(crate) fn leaky_text(values: &[String], pieces: &[(String, usize)]) -> String {
        let mut text = String::new();
        for (noise, pick) in pieces {
            text.push_str(noise);
            if let Some(value) = values.get(*pick) {
                text.push_str(value);
            }
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// For any values and any flavor output, the printed text contains
        /// no value of 4 bytes or more, nor a line of one, and is one line
        /// of safe characters.
        #[test]
        fn printed_text_never_contains_a_long_value(
            values in proptest::collection::vec(texty(), 0..6),
            pieces in proptest::collection::vec((texty(), 0usize..6), 0..6),
        ) {
            let text = leaky_text(&values, &pieces);
            let masker = Masker::new(values.iter().map(String::as_str));
            let shown = masker.mask(&text);
            prop_assert!(!shown.chars().any(crate::text::is_unsafe), "{shown:?}");
            for part in secret_parts(&values) {
                prop_assert!(!shown.contains(part.as_str()), "{part:?} in {shown:?}");
            }
        }

        /// A stream masked line by line as it arrives, in any chunks, is
        /// each of its lines masked whole, and shows no line of a value.
        #[test]
        fn a_streamed_text_is_masked_as_its_lines(
            values in proptest::collection::vec(texty(), 0..6),
            pieces in proptest::collection::vec((texty(), 0usize..6), 0..6),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let text = leaky_text(&values, &pieces);
            let masker = Masker::new(values.iter().map(String::as_str));
            let mut streamed = Vec::new();
            let mut lines = masker.lines(1024);
            let mut emit = |line: &[u8]| streamed.extend_from_slice(line);
            let mut rest = text.as_bytes();
            for cut in cuts {
                let (chunk, tail) = rest.split_at(cut.min(rest.len()));
                lines.push(chunk, &mut emit);
                rest = tail;
            }
            lines.push(rest, &mut emit);
            lines.finish(&mut emit);
            let whole: Vec<String> = text
                .split('\n')
                .map(|line| masker.mask_unescaped(line).0)
                .collect();
            let streamed = String::from_utf8(streamed).expect("UTF-8 in, UTF-8 out");
            prop_assert_eq!(&streamed, &whole.join("\n"));
            for line in streamed.split('\n') {
                for part in secret_parts(&values) {
                    if !part.contains('\n') {
                        prop_assert!(!line.contains(part.as_str()), "{part:?} in {line:?}");
                    }
                }
            }
        }
    }
}
