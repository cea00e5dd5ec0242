//! The `log` capability, and the flavor's stdout/stderr.
//!
//! Guards against three things: a flavor flooding the host with output
//! (every call gets a budget of bytes and of records, so a million empty
//! lines cost as much as a thousand; past it lines are dropped and the drop
//! is noted once), a flavor leaking a secret through its diagnostics (lines
//! are held until the call ends, then every secret value the host knows of
//! is replaced by `***` in time linear in the output; lines of a call that
//! read data whose values the host never saw are withheld unless asked
//! for), and a flavor forging output (every control, bidi and format
//! character is escaped, so one record is one line).

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::contract::bindings::flavorbox::secrets::log as wit;

/// Severity of a flavor's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl From<wit::Level> for Level {
    fn from(level: wit::Level) -> Self {
        match level {
            wit::Level::Trace => Level::Trace,
            wit::Level::Debug => Level::Debug,
            wit::Level::Info => Level::Info,
            wit::Level::Warn => Level::Warn,
            wit::Level::Error => Level::Error,
        }
    }
}

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Log,
    Stdout,
    Stderr,
    /// A note from the host about the flavor's output (e.g. truncation).
    Host,
    /// The flavor's own error message, when the host withheld it from the
    /// error it reports (see `sandbox::CallReport::secret_bearing`).
    Error,
}

/// One line of a flavor's output, already masked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogRecord {
    pub level: Level,
    pub source: Source,
    pub message: String,
}

/// A call's output, once it has ended.
#[derive(Debug, Clone, Default)]
pub struct FlavorOutput {
    pub records: Vec<LogRecord>,
    /// How many lines or messages had a secret value masked.
    pub masked: usize,
    /// Whether output past a cap (records or bytes) was dropped.
    pub truncated: bool,
}

/// Output in the order the flavor produced it. Stream bytes are kept raw
/// until the call ends, so a value spanning writes or lines is still masked.
enum Entry {
    Log(Level, String),
    Stream(Source, Vec<u8>),
}

#[derive(Default)]
struct Buffer {
    entries: Vec<Entry>,
    bytes: usize,
    /// Log calls kept (stream lines are counted when the call ends).
    records: usize,
    dropped_bytes: usize,
    dropped_records: usize,
}

/// The caps on what one call may log.
#[derive(Debug, Clone, Copy)]
pub struct LogCaps {
    /// Bytes of messages and stream output kept.
    pub bytes: usize,
    /// Records kept: log calls and stream lines. An empty line costs a
    /// record like any other, so a flood of them is bounded too.
    pub records: usize,
}

/// Everything one call logs, shared by `log`, stdout and stderr.
#[derive(Clone)]
pub struct LogSink {
    caps: LogCaps,
    buffer: Arc<Mutex<Buffer>>,
}

impl LogSink {
    pub fn new(caps: LogCaps) -> Self {
        LogSink {
            caps,
            buffer: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A poisoned buffer only means another thread panicked mid-push; the
        // entries themselves are still whole.
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self, level: Level, message: String) {
        let mut buffer = self.lock();
        if buffer.records >= self.caps.records || buffer.bytes + message.len() > self.caps.bytes {
            buffer.dropped_bytes += message.len();
            buffer.dropped_records += 1;
            return;
        }
        buffer.bytes += message.len();
        buffer.records += 1;
        buffer.entries.push(Entry::Log(level, message));
    }

    fn write_stream(&self, source: Source, bytes: &[u8]) {
        let mut buffer = self.lock();
        let room = self.caps.bytes.saturating_sub(buffer.bytes);
        let (kept, dropped) = bytes.split_at(bytes.len().min(room));
        buffer.dropped_bytes += dropped.len();
        if kept.is_empty() {
            return;
        }
        buffer.bytes += kept.len();
        match buffer.entries.last_mut() {
            Some(Entry::Stream(last, chunk)) if *last == source => chunk.extend_from_slice(kept),
            _ => buffer.entries.push(Entry::Stream(source, kept.to_vec())),
        }
    }

    /// Ends the call's output: masks it with `masker` (which also escapes
    /// it, so each record is one line that reads as what it is), splits
    /// stream output into lines, keeps at most the records cap, and notes
    /// truncation once.
    pub fn finish(&self, masker: &Masker) -> FlavorOutput {
        let mut buffer = self.lock();
        let cap = self.caps.records;
        let mut records = Vec::new();
        let masked = std::cell::Cell::new(0);
        let mut dropped_records = buffer.dropped_records;
        let mut dropped_bytes = buffer.dropped_bytes;
        let mut push = |level: Level, source: Source, text: &str| {
            if records.len() >= cap {
                dropped_records += 1;
                dropped_bytes += text.len();
                return;
            }
            let (message, hidden) = masker.mask_counted(text);
            if hidden {
                masked.set(masked.get() + 1);
            }
            records.push(LogRecord {
                level,
                source,
                message,
            });
        };
        for entry in std::mem::take(&mut buffer.entries) {
            match entry {
                Entry::Log(level, message) => push(level, Source::Log, &message),
                Entry::Stream(source, bytes) => {
                    let level = if source == Source::Stderr {
                        Level::Warn
                    } else {
                        Level::Info
                    };
                    // Masked as a whole first, so a value split across
                    // lines is still found, then split into records.
                    let text = String::from_utf8_lossy(&bytes);
                    let (whole, hidden) = masker.mask_raw_counted(&text);
                    if hidden {
                        masked.set(masked.get() + 1);
                    }
                    for line in whole.lines() {
                        push(level, source, line);
                    }
                }
            }
        }
        let truncated = dropped_bytes > 0 || dropped_records > 0;
        if truncated {
            records.push(LogRecord {
                level: Level::Warn,
                source: Source::Host,
                message: format!(
                    "flavor output truncated: {dropped_records} record(s) and {dropped_bytes} \
                     byte(s) dropped past the caps of {} records and {} bytes per call",
                    self.caps.records, self.caps.bytes
                ),
            });
        }
        FlavorOutput {
            records,
            masked: masked.get(),
            truncated,
        }
    }

    /// A stdout or stderr for the flavor's WASI context.
    pub fn stream(&self, source: Source) -> LogStream {
        LogStream {
            sink: self.clone(),
            source,
        }
    }
}

impl wit::Host for LogSink {
    fn log(&mut self, level: wit::Level, message: String) {
        LogSink::log(self, level.into(), message);
    }
}

/// Where flavor lines that may bear secret values the host could not mask
/// go: `FLAVORBOX_LOG=secret_bearing=info` shows them. A target that does
/// not start with `flavor`, so `FLAVORBOX_LOG=flavor=info` never shows them
/// by accident.
pub const SECRET_BEARING_TARGET: &str = "secret_bearing";

/// Hands a call's (masked, escaped) output to `tracing`: under the target
/// `flavor` (`FLAVORBOX_LOG=flavor=info` shows it), or, when the call is
/// `secret_bearing` (the flavor read stored or remote data whose secret
/// values the host never saw), under [`SECRET_BEARING_TARGET`], with one
/// note under `flavor` saying how many lines were withheld and how to see
/// them.
pub fn forward(records: &[LogRecord], secret_bearing: bool) {
    let mut withheld = 0;
    for record in records {
        let message = &record.message;
        if secret_bearing && record.source != Source::Host {
            withheld += 1;
            match record.level {
                Level::Trace => tracing::trace!(target: "secret_bearing", "{message}"),
                Level::Debug => tracing::debug!(target: "secret_bearing", "{message}"),
                Level::Info => tracing::info!(target: "secret_bearing", "{message}"),
                Level::Warn => tracing::warn!(target: "secret_bearing", "{message}"),
                Level::Error => tracing::error!(target: "secret_bearing", "{message}"),
            }
            continue;
        }
        match record.level {
            Level::Trace => tracing::trace!(target: "flavor", "{message}"),
            Level::Debug => tracing::debug!(target: "flavor", "{message}"),
            Level::Info => tracing::info!(target: "flavor", "{message}"),
            Level::Warn => tracing::warn!(target: "flavor", "{message}"),
            Level::Error => tracing::error!(target: "flavor", "{message}"),
        }
    }
    if withheld > 0 {
        tracing::info!(
            target: "flavor",
            "{withheld} line(s) withheld: the call read stored or remote data whose secret \
             values the host cannot mask; FLAVORBOX_LOG={SECRET_BEARING_TARGET}=info shows them"
        );
    }
}

/// stdout or stderr of a flavor: lines become log records.
#[derive(Clone)]
pub struct LogStream {
    sink: LogSink,
    source: Source,
}

/// The most a single stdout write may carry (WASI's usual permit size).
const WRITE_PERMIT: usize = 64 * 1024;

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.sink.write_stream(self.source, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: past the cap, output is dropped, not refused, so a
        // chatty flavor keeps working.
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.sink.write_stream(self.source, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Values shorter than this many bytes are masked only where they stand as
/// a whole word: a one-letter value would otherwise turn every message
/// into asterisks, and a word-bounded match is where a short secret leaks.
pub const SHORT_VALUE_BYTES: usize = 4;

/// What replaces a masked value, and what a text becomes whole when masking
/// cannot prove it clean. Shorter than [`SHORT_VALUE_BYTES`], so it is never
/// itself a value that must be masked.
const MASK: &str = "***";

/// Replaces known secret values in flavor text by `***`, and escapes the
/// text (see [`crate::text`]) so that it prints as one line.
///
/// The promise: for any values and any text, what [`Masker::mask`] returns
/// contains no value of [`SHORT_VALUE_BYTES`] bytes or more, and a shorter
/// value only inside a word. The work is linear in the text and the values:
/// one automaton per call over the deduplicated values (built on first use,
/// as most calls produce no output), one leftmost-longest pass over the
/// escaped text, one overlapping pass for short values (at most three
/// matches end at any byte), and one final check for a value that the
/// replacements themselves formed (a value containing `***`); if there is
/// one, the whole text becomes `***`.
pub struct Masker {
    long: Vec<String>,
    short: Vec<String>,
    matchers: OnceLock<Matchers>,
}

struct Matchers {
    long: Option<AhoCorasick>,
    short: Option<AhoCorasick>,
}

/// What may stand next to a short value for it to count as a whole word:
/// whitespace and the punctuation of assignments, lists and quotes. Dots,
/// colons, slashes and dashes do not, so `0` in `127.0.0.1:8080` or `a` in
/// `a-b` stays readable.
fn bounds_a_word(b: u8) -> bool {
    b.is_ascii_whitespace() || b"=,;'\"`()[]{}<>".contains(&b)
}

impl Masker {
    /// A masker for `values`: each, its escaped form (as it appears in
    /// escaped text), and the parts a flavor could print on their own
    /// without them being the whole value: the value without surrounding
    /// whitespace (a secret read from a file ends in a newline) and each
    /// line of a multi-line value (a PEM key logged line by line), if 4
    /// bytes or more; all deduplicated.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut all = std::collections::BTreeSet::new();
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

    fn matchers(&self) -> &Matchers {
        self.matchers.get_or_init(|| {
            let build = |values: &[String], kind: MatchKind| {
                if values.is_empty() {
                    return None;
                }
                AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                    .match_kind(kind)
                    .build(values)
                    .ok()
            };
            Matchers {
                long: build(&self.long, MatchKind::LeftmostLongest),
                short: build(&self.short, MatchKind::Standard),
            }
        })
    }

    /// `text` escaped, with every known value replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        self.mask_counted(text).0
    }

    /// [`Masker::mask`], and whether anything was masked.
    pub fn mask_counted(&self, text: &str) -> (String, bool) {
        self.mask_escaped(crate::text::escape(text))
    }

    /// Masks `text` without escaping it first, for stream output that is
    /// split into lines afterwards; each line is then masked (and escaped)
    /// again by [`Masker::mask_counted`].
    fn mask_raw_counted(&self, text: &str) -> (String, bool) {
        self.mask_escaped(std::borrow::Cow::Borrowed(text))
    }

    fn mask_escaped(&self, text: std::borrow::Cow<'_, str>) -> (String, bool) {
        if self.long.is_empty() && self.short.is_empty() {
            return (text.into_owned(), false);
        }
        let matchers = self.matchers();
        let mut hidden = false;
        let mut text = text.into_owned();
        if let Some(long) = &matchers.long
            && long.is_match(&text)
        {
            text = long.replace_all(&text, &vec![MASK; long.patterns_len()]);
            hidden = true;
        }
        if let Some(short) = &matchers.short {
            let bytes = text.as_bytes();
            let mut cover = vec![false; bytes.len()];
            let mut any = false;
            for found in short.find_overlapping_iter(&text) {
                let (start, end) = (found.start(), found.end());
                let open = start == 0 || bounds_a_word(bytes[start - 1]);
                let close = end == bytes.len() || bounds_a_word(bytes[end]);
                if open && close {
                    cover[start..end].fill(true);
                    any = true;
                }
            }
            if any {
                let mut out = String::with_capacity(text.len());
                let mut in_hidden = false;
                for (i, c) in text.char_indices() {
                    if cover[i] {
                        if !in_hidden {
                            out.push_str(MASK);
                        }
                        in_hidden = true;
                    } else {
                        in_hidden = false;
                        out.push(c);
                    }
                }
                text = out;
                hidden = true;
            }
        }
        // The replacements can form a value of their own (one containing
        // `***`); then nothing of the text is shown.
        if hidden
            && let Some(long) = &matchers.long
            && long.is_match(&text)
        {
            text = MASK.to_string();
        }
        (text, hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sink(bytes: usize, records: usize) -> LogSink {
        LogSink::new(LogCaps { bytes, records })
    }

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
    fn caps_bytes_per_call_and_notes_it_once() {
        let sink = sink(10, 100);
        sink.log(Level::Info, "12345".into());
        sink.log(Level::Info, "678901".into());
        sink.log(Level::Info, "12345".into());
        let out = sink.finish(&Masker::new([]));
        assert!(out.truncated);
        let records = out.records;
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].source, Source::Host);
        assert!(records[2].message.contains("6 byte(s) dropped"));
    }

    #[test]
    fn empty_lines_cost_a_record_each() {
        let sink = sink(64 * 1024, 3);
        for _ in 0..1_000_000 {
            sink.log(Level::Info, String::new());
        }
        let out = sink.finish(&Masker::new([]));
        assert!(out.truncated);
        assert_eq!(out.records.len(), 4, "three kept and the note");
        assert!(out.records[3].message.contains("999997 record(s)"));
        assert_eq!(sink.lock().entries.len(), 0);

        // Stream output too: 60,000 newlines are 60,000 empty records.
        let sink = sink_with_stream(&vec![b'\n'; 60_000]);
        let out = sink.finish(&Masker::new([]));
        assert_eq!(out.records.len(), 4);
    }

    fn sink_with_stream(bytes: &[u8]) -> LogSink {
        let sink = sink(64 * 1024, 3);
        let mut out = sink.stream(Source::Stdout);
        out.write(Bytes::copy_from_slice(bytes)).unwrap();
        sink
    }

    #[test]
    fn stdout_becomes_lines_and_is_masked() {
        let sink = sink(1024, 100);
        let mut out = sink.stream(Source::Stdout);
        out.write(Bytes::from_static(b"first line with s3c"))
            .unwrap();
        out.write(Bytes::from_static(b"ret\nsecond ")).unwrap();
        out.write(Bytes::from_static(b"line")).unwrap();
        let out = sink.finish(&Masker::new(["s3cret"]));
        assert_eq!(out.masked, 1);
        let records = out.records;
        let lines: Vec<_> = records.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(lines, ["first line with ***", "second line"]);
        assert!(records.iter().all(|r| r.source == Source::Stdout));
    }

    #[test]
    fn a_flood_on_stdout_is_bounded() {
        let sink = sink(100, 1024);
        let mut out = sink.stream(Source::Stderr);
        for _ in 0..1000 {
            out.write(Bytes::from(vec![b'x'; 1000])).unwrap();
        }
        let records = sink.finish(&Masker::new([])).records;
        let kept: usize = records
            .iter()
            .filter(|r| r.source != Source::Host)
            .map(|r| r.message.len())
            .sum();
        assert!(kept <= 100);
        assert!(records.last().unwrap().message.contains("truncated"));
    }

    #[test]
    fn ten_thousand_values_over_ten_thousand_lines_are_all_masked() {
        // 10,000 one-byte values and 10,000 lines: once per line per value
        // this was 10^8 steps; here it is a few passes over 640 KiB.
        let values: Vec<String> = (0..10_000).map(|i| format!("{}", i % 10)).collect();
        let masker = Masker::new(values.iter().map(String::as_str));
        let sink = sink(usize::MAX, usize::MAX);
        for _ in 0..10_000 {
            sink.log(Level::Info, "0 1 2 3 4 5 6 7 8 9 ".repeat(3));
        }
        let out = sink.finish(&masker);
        assert_eq!(out.records.len(), 10_000);
        assert!(out.records[0].message.starts_with("*** *** ***"));
        // How fast is measured in the bench, not asserted here: the
        // automaton is built once over the deduplicated values and run once
        // per line, so the work is the output's length plus the values'.
    }

    /// Strings built from a small alphabet, so values and text overlap
    /// often; it holds the replacement's `*`, line breaks and a bidi
    /// control.
    fn texty() -> impl Strategy<Value = String> {
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
    fn secret_parts(values: &[String]) -> Vec<String> {
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
            // The text mixes values with noise, the way a leak would.
            let mut text = String::new();
            for (noise, pick) in &pieces {
                text.push_str(noise);
                if let Some(value) = values.get(*pick) {
                    text.push_str(value);
                }
            }
            let masker = Masker::new(values.iter().map(String::as_str));
            let shown = masker.mask(&text);
            prop_assert!(!shown.chars().any(crate::text::is_unsafe), "{shown:?}");
            for part in secret_parts(&values) {
                prop_assert!(!shown.contains(part.as_str()), "{part:?} in {shown:?}");
            }
        }

        /// The same holds for output that went through the log sink:
        /// stream lines, log records, whatever the splitting.
        #[test]
        fn logged_output_never_contains_a_long_value(
            values in proptest::collection::vec(texty(), 1..5),
            writes in proptest::collection::vec((texty(), 0usize..5, any::<bool>()), 0..8),
        ) {
            let sink = sink(64 * 1024, 1024);
            let mut stdout = sink.stream(Source::Stdout);
            for (noise, pick, as_log) in &writes {
                let mut text = noise.clone();
                if let Some(value) = values.get(*pick) {
                    text.push_str(value);
                }
                if *as_log {
                    sink.log(Level::Info, text);
                } else {
                    stdout.write(Bytes::from(text.into_bytes())).unwrap();
                }
            }
            let out = sink.finish(&Masker::new(values.iter().map(String::as_str)));
            // Printed one record per line (no record holds a line break).
            for record in &out.records {
                prop_assert!(!record.message.chars().any(crate::text::is_unsafe));
                for part in secret_parts(&values) {
                    prop_assert!(
                        !record.message.contains(part.as_str()),
                        "{part:?} in {:?}", record.message
                    );
                }
            }
        }
    }
}
