//! The `log` capability, and the flavor's stdout/stderr.
//!
//! Guards against two things: a flavor flooding the host with output (every
//! call gets a byte budget; past it lines are dropped and the drop is noted
//! once), and a flavor leaking a secret through its diagnostics (lines are
//! held until the call ends, then every secret value the call handled is
//! replaced by `***` before anyone sees them).

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
    /// Whether output past the cap was dropped.
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
    dropped_bytes: usize,
}

/// Everything one call logs, shared by `log`, stdout and stderr.
#[derive(Clone)]
pub struct LogSink {
    cap: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl LogSink {
    pub fn new(cap_bytes: usize) -> Self {
        LogSink {
            cap: cap_bytes,
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
        if buffer.bytes + message.len() > self.cap {
            buffer.dropped_bytes += message.len();
            return;
        }
        buffer.bytes += message.len();
        buffer.entries.push(Entry::Log(level, message));
    }

    fn write_stream(&self, source: Source, bytes: &[u8]) {
        let mut buffer = self.lock();
        let room = self.cap.saturating_sub(buffer.bytes);
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

    /// Ends the call's output: masks it with `masker`, splits stream output
    /// into lines, and notes truncation once.
    pub fn finish(&self, masker: &Masker) -> FlavorOutput {
        let mut buffer = self.lock();
        let mut records = Vec::new();
        let mut masked = 0;
        let mut mask = |text: &str| {
            let out = masker.mask(text);
            if out != text {
                masked += 1;
            }
            out
        };
        for entry in std::mem::take(&mut buffer.entries) {
            match entry {
                Entry::Log(level, message) => records.push(LogRecord {
                    level,
                    source: Source::Log,
                    message: mask(&message),
                }),
                Entry::Stream(source, bytes) => {
                    let level = if source == Source::Stderr {
                        Level::Warn
                    } else {
                        Level::Info
                    };
                    let text = mask(&String::from_utf8_lossy(&bytes));
                    records.extend(text.lines().map(|line| LogRecord {
                        level,
                        source,
                        message: line.to_string(),
                    }));
                }
            }
        }
        let truncated = buffer.dropped_bytes > 0;
        if truncated {
            records.push(LogRecord {
                level: Level::Warn,
                source: Source::Host,
                message: format!(
                    "flavor output truncated: {} bytes dropped past the {}-byte cap per call",
                    buffer.dropped_bytes, self.cap
                ),
            });
        }
        FlavorOutput {
            records,
            masked,
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

/// Hands a call's (masked) output to `tracing` under the target `flavor`,
/// where `FLAVORBOX_LOG=flavor=info` shows it.
pub fn forward(records: &[LogRecord]) {
    for record in records {
        let message = &record.message;
        match record.level {
            Level::Trace => tracing::trace!(target: "flavor", "{message}"),
            Level::Debug => tracing::debug!(target: "flavor", "{message}"),
            Level::Info => tracing::info!(target: "flavor", "{message}"),
            Level::Warn => tracing::warn!(target: "flavor", "{message}"),
            Level::Error => tracing::error!(target: "flavor", "{message}"),
        }
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

/// Replaces known secret values in text by `***`.
///
/// Longer values win over shorter ones they contain, so a value never leaks
/// a suffix around a masked prefix. The matcher is built on first use (most
/// calls produce no output at all), as a non-contiguous NFA whose cost is
/// linear in the values' length, as they may total 64 KiB.
pub struct Masker {
    long: Vec<String>,
    short: Vec<String>,
    matcher: OnceLock<Option<AhoCorasick>>,
}

/// What may stand next to a short value for it to count as a whole word:
/// whitespace and the punctuation of assignments, lists and quotes. Dots,
/// colons, slashes and dashes do not, so `0` in `127.0.0.1:8080` or `a` in
/// `a-b` stays readable.
fn bounds_a_word(b: u8) -> bool {
    b.is_ascii_whitespace() || b"=,;'\"`()[]{}<>".contains(&b)
}

impl Masker {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let (long, short): (Vec<&str>, Vec<&str>) = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .partition(|v| v.len() >= SHORT_VALUE_BYTES);
        Masker {
            long: long.into_iter().map(str::to_string).collect(),
            short: short.into_iter().map(str::to_string).collect(),
            matcher: OnceLock::new(),
        }
    }

    fn matcher(&self) -> Option<&AhoCorasick> {
        self.matcher
            .get_or_init(|| {
                if self.long.is_empty() {
                    return None;
                }
                AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&self.long)
                    .ok()
            })
            .as_ref()
    }

    pub fn mask(&self, text: &str) -> String {
        let text = match self.matcher() {
            Some(matcher) => matcher.replace_all(text, &vec!["***"; matcher.patterns_len()]),
            None => text.to_string(),
        };
        if self.short.is_empty() {
            return text;
        }
        let bytes = text.as_bytes();
        let mut hidden = vec![false; bytes.len()];
        for value in &self.short {
            for (start, _) in text.match_indices(value.as_str()) {
                let end = start + value.len();
                let open = start == 0 || bounds_a_word(bytes[start - 1]);
                let close = end == bytes.len() || bounds_a_word(bytes[end]);
                if open && close {
                    hidden[start..end].fill(true);
                }
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut in_hidden = false;
        for (i, c) in text.char_indices() {
            if hidden[i] {
                if !in_hidden {
                    out.push_str("***");
                }
                in_hidden = true;
            } else {
                in_hidden = false;
                out.push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn caps_bytes_per_call_and_notes_it_once() {
        let sink = LogSink::new(10);
        sink.log(Level::Info, "12345".into());
        sink.log(Level::Info, "678901".into());
        sink.log(Level::Info, "12345".into());
        let out = sink.finish(&Masker::new([]));
        assert!(out.truncated);
        let records = out.records;
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].source, Source::Host);
        assert!(records[2].message.contains("6 bytes dropped"));
    }

    #[test]
    fn stdout_becomes_lines_and_is_masked() {
        let sink = LogSink::new(1024);
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
        let sink = LogSink::new(100);
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
}
