//! The `log` capability, and the flavor's stdout/stderr.
//!
//! Guards against three things: a flavor flooding the host with output
//! (every call gets a budget of bytes and of records, so a million empty
//! lines cost as much as a thousand; past it lines are dropped and the drop
//! is noted once), a flavor leaking a secret through its diagnostics (lines
//! are held until the call ends, then every secret value the host knows of
//! is replaced by `***` by a [`Masker`] (`crate::mask`), in time linear in
//! the output; lines of a call that read data whose values the host never
//! saw are withheld unless asked for), and a flavor forging output (every
//! control, bidi and format character is escaped, so one record is one
//! line).

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::contract::{v0_1, v0_2};

/// The masker moved to its own module (`crate::mask`); kept here for the
/// callers that know it by this path.
pub use crate::mask::Masker;

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

/// Both contract versions' `log.level`, onto the host's.
macro_rules! level_from {
    ($($version:ident),*) => {$(
        impl From<$version::flavorbox::secrets::log::Level> for Level {
            fn from(level: $version::flavorbox::secrets::log::Level) -> Self {
                use $version::flavorbox::secrets::log::Level as Wit;
                match level {
                    Wit::Trace => Level::Trace,
                    Wit::Debug => Level::Debug,
                    Wit::Info => Level::Info,
                    Wit::Warn => Level::Warn,
                    Wit::Error => Level::Error,
                }
            }
        }
    )*};
}
level_from!(v0_1, v0_2);

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
                    let (whole, hidden) = masker.mask_unescaped(&text);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::tests::{secret_parts, texty};
    use proptest::prelude::*;

    fn sink(bytes: usize, records: usize) -> LogSink {
        LogSink::new(LogCaps { bytes, records })
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
        // How fast is measured in the bench (the `masking` group of
        // `tests/benches/calls/`), not asserted here: the automaton is
        // built once over the deduplicated values and run once per line, so
        // the work is the output's length plus the values' (see
        // `mask::tests::masking_is_linear_in_the_output`).
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// What `Masker` promises holds for output that went through the
        /// log sink: stream lines, log records, whatever the splitting.
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
