//! The audit log of a served store: one entry per request (time, peer,
//! token id, manager, operation, secret name, outcome, status) in the
//! store's `audit` table, linked into its hash chain (see `store::access`),
//! and optionally appended to a JSON-lines file with each entry's link.
//!
//! Guards against:
//! - the log becoming a leak: an entry is built from the request's route
//!   and outcome only, so no value can reach it; names a refused request
//!   made up are clipped ([`AUDIT_NAME_CHARS`]) and escaped when printed
//!   (`flavorbox audit`);
//! - the log being used to fill the server's disk: refused
//!   authentications (`401`, and the `429` of an address past its failed
//!   attempts), which cost the client no token, are counted per address in
//!   memory and written as one entry per address per interval
//!   ([`AuditOptions::refusal_interval`]) with the count and the first and
//!   last time; at most [`REFUSAL_TALLIES`] tallies are kept, further
//!   addresses are counted together as `other-addresses`. A request made
//!   with a valid token stays one entry. The table is pruned by age and
//!   count ([`AuditOptions::retention`]), and the file is rotated at a size,
//!   keeping a bounded number of old files ([`AuditOptions::file_keep`]);
//! - an answer leaving unaudited: a request with a valid token is answered
//!   only once its entry is committed (see `auth`). Refused authentications
//!   are answered at once; their counts are written at the interval's end
//!   and when the node stops, so a node killed outright loses at most one
//!   interval of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::audit_file::AuditFile;
use crate::error::{Error, Result};
use crate::store::access::AUDIT_NAME_CHARS;
use crate::store::{AccessStore, AuditEntry, AuditLink, AuditRetention};

/// Entries committed together at most.
const BATCH: usize = 512;
/// Refusal tallies (address and status) kept in memory at most.
pub const REFUSAL_TALLIES: usize = 256;
/// The peer an entry names for refusals of addresses past [`REFUSAL_TALLIES`].
pub const OTHER_ADDRESSES: &str = "other-addresses";
/// What the operation of a refused authentication's entry is called.
pub const REFUSED_OPERATION: &str = "authenticate";
/// How long the audit table keeps an entry, by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 86_400);
/// How many entries the audit table keeps at most, by default.
pub const DEFAULT_MAX_RECORDS: u64 = 1_000_000;
/// The size at which the audit file is rotated, by default.
pub const DEFAULT_FILE_MAX_BYTES: u64 = 64 << 20;
/// Rotated audit files kept (`FILE.1` .. `FILE.K`), by default.
pub const DEFAULT_FILE_KEEP: u32 = 4;
/// How long refused authentications are counted before they are written.
pub const DEFAULT_REFUSAL_INTERVAL: Duration = Duration::from_secs(60);
/// How often the table is pruned at most, and at least.
const PRUNE_EVERY_MIN: Duration = Duration::from_secs(1);
const PRUNE_EVERY_MAX: Duration = Duration::from_secs(60);

/// What the audit log keeps, where, and for how long.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Also append every entry (with its link) to this JSON-lines file.
    pub file: Option<PathBuf>,
    /// Rotate the file before it would grow past this (a file grows past
    /// it by at most one batch when a batch alone is larger).
    pub file_max_bytes: u64,
    /// Rotated files kept: `FILE.1` (newest) to `FILE.K`; at least 1.
    pub file_keep: u32,
    /// How long and how much of the table is kept.
    pub retention: AuditRetention,
    /// Refused authentications of one address are written as one entry
    /// per interval.
    pub refusal_interval: Duration,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            file: None,
            file_max_bytes: DEFAULT_FILE_MAX_BYTES,
            file_keep: DEFAULT_FILE_KEEP,
            retention: AuditRetention {
                max_age: Some(DEFAULT_RETENTION),
                max_records: Some(DEFAULT_MAX_RECORDS),
            },
            refusal_interval: DEFAULT_REFUSAL_INTERVAL,
        }
    }
}

impl AuditOptions {
    /// Refuses options that would keep nothing or never write.
    pub fn check(&self) -> Result<()> {
        if self.file_keep == 0 || self.file_max_bytes == 0 {
            return Err(Error::invalid(
                "the audit file needs a size above 0 and at least 1 rotated file kept",
            ));
        }
        if self.retention.max_records == Some(0) {
            return Err(Error::invalid("the audit log must keep at least 1 record"));
        }
        if self.refusal_interval.is_zero() {
            return Err(Error::invalid("the refusal interval must be above 0"));
        }
        Ok(())
    }
}

type Pending = (AuditEntry, tokio::sync::oneshot::Sender<Result<(), String>>);

/// A node's audit writer: a thread that commits the entries of concurrent
/// requests together (one transaction, one sync to disk, for all that
/// arrived while the previous batch was written), to the store and the
/// file, writes the refusal tallies at each interval's end, and prunes the
/// table. [`Audit::finish`] (or dropping it) writes what is pending and
/// stops it.
pub struct Audit {
    sender: Mutex<Option<mpsc::Sender<Pending>>>,
    refusals: Arc<Refusals>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A name as an audit entry keeps it.
pub fn clip(name: String) -> String {
    if name.chars().count() <= AUDIT_NAME_CHARS {
        name
    } else {
        crate::text::clip(&name, AUDIT_NAME_CHARS)
    }
}

impl Audit {
    /// Opens (creating, private to its owner) the JSON-lines file, if any,
    /// and starts the writer.
    pub fn start(access: Arc<dyn AccessStore>, options: &AuditOptions) -> Result<Audit> {
        options.check()?;
        let file = match &options.file {
            Some(path) => Some(AuditFile::open(
                path,
                options.file_max_bytes,
                options.file_keep,
            )?),
            None => None,
        };
        let refusals = Arc::new(Refusals::default());
        let (sender, receiver) = mpsc::channel();
        let writer = Writer {
            access,
            file,
            refusals: refusals.clone(),
            options: options.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("flavorbox-audit".to_string())
            .spawn(move || writer.run(&receiver))
            .map_err(|e| Error::host(format!("cannot start the audit writer: {e}")))?;
        Ok(Audit {
            sender: Mutex::new(Some(sender)),
            refusals,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Records `entry`; done once it is committed.
    pub async fn record(&self, entry: AuditEntry) -> Result<()> {
        let (reply, done) = tokio::sync::oneshot::channel();
        let stopped = || Error::host("the audit writer stopped");
        let sent = match &*self.sender.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(sender) => sender.send((entry, reply)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(stopped());
        }
        done.await.map_err(|_| stopped())?.map_err(Error::host)
    }

    /// Counts a refused authentication from `peer` (written with the
    /// others of its address at the interval's end).
    pub fn refused(&self, peer: IpAddr, at_ms: i64, outcome: &str, status: u16) {
        self.refusals.count(peer, at_ms, outcome, status);
    }

    /// Writes what is pending (refusal tallies included) and stops the
    /// writer; records after this fail.
    pub fn finish(&self) {
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = writer
            && writer.join().is_err()
        {
            tracing::error!("the audit writer panicked");
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One address's (or the other addresses') refusals of one status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RefusalKey {
    /// `None`: the addresses past [`REFUSAL_TALLIES`].
    peer: Option<IpAddr>,
    status: u16,
}

#[derive(Debug)]
struct Tally {
    first_ms: i64,
    last_ms: i64,
    count: u64,
    outcome: String,
}

/// Refused authentications counted since the last interval's end.
#[derive(Default)]
struct Refusals {
    tallies: Mutex<HashMap<RefusalKey, Tally>>,
}

impl Refusals {
    fn count(&self, peer: IpAddr, at_ms: i64, outcome: &str, status: u16) {
        let mut tallies = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = RefusalKey {
            peer: Some(peer),
            status,
        };
        if !tallies.contains_key(&key) && tallies.len() >= REFUSAL_TALLIES {
            key.peer = None;
        }
        let tally = tallies.entry(key).or_insert_with(|| Tally {
            first_ms: at_ms,
            last_ms: at_ms,
            count: 0,
            outcome: outcome.to_string(),
        });
        tally.count += 1;
        tally.first_ms = tally.first_ms.min(at_ms);
        tally.last_ms = tally.last_ms.max(at_ms);
    }

    /// The tallies as entries, oldest first; counting starts afresh.
    fn take(&self) -> Vec<AuditEntry> {
        let tallies = std::mem::take(&mut *self.tallies.lock().unwrap_or_else(|p| p.into_inner()));
        let mut entries: Vec<AuditEntry> = tallies
            .into_iter()
            .map(|(key, tally)| AuditEntry {
                at_ms: tally.first_ms,
                last_ms: tally.last_ms,
                count: tally.count,
                peer: key
                    .peer
                    .map_or_else(|| OTHER_ADDRESSES.to_string(), |p| p.to_string()),
                token: None,
                manager: None,
                operation: REFUSED_OPERATION.to_string(),
                secret: None,
                outcome: tally.outcome,
                status: key.status,
            })
            .collect();
        entries.sort_by(|a, b| (a.at_ms, &a.peer).cmp(&(b.at_ms, &b.peer)));
        entries
    }
}

/// One line of the audit file: the entry and its place in the chain.
#[derive(serde::Serialize)]
struct FileLine<'a> {
    seq: i64,
    hash: &'a str,
    #[serde(flatten)]
    entry: &'a AuditEntry,
}

/// What the writer thread owns.
struct Writer {
    access: Arc<dyn AccessStore>,
    file: Option<AuditFile>,
    refusals: Arc<Refusals>,
    options: AuditOptions,
}

impl Writer {
    fn run(mut self, receiver: &mpsc::Receiver<Pending>) {
        let retention = self.options.retention;
        // Pruned at start, then every tenth of the age kept (within 1 s to
        // 60 s), and whenever a tenth of the records kept was appended.
        let prune_every = retention
            .max_age
            .map_or(PRUNE_EVERY_MAX, |age| age / 10)
            .clamp(PRUNE_EVERY_MIN, PRUNE_EVERY_MAX);
        let prune_after = retention.max_records.map_or(u64::MAX, |n| (n / 10).max(1));
        let mut next_prune = Instant::now();
        let mut appended = 0;
        let mut next_flush = Instant::now() + self.options.refusal_interval;
        loop {
            if Instant::now() >= next_prune || appended >= prune_after {
                self.prune();
                next_prune = Instant::now() + prune_every;
                appended = 0;
            }
            if Instant::now() >= next_flush {
                appended += self.write_refusals();
                next_flush = Instant::now() + self.options.refusal_interval;
            }
            let wait = next_flush
                .min(next_prune)
                .saturating_duration_since(Instant::now());
            let first = match receiver.recv_timeout(wait) {
                Ok(first) => first,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(pending) => batch.push(pending),
                    Err(_) => break,
                }
            }
            let entries: Vec<AuditEntry> = batch.iter().map(|(entry, _)| entry.clone()).collect();
            let result = self.write(&entries);
            appended += entries.len() as u64;
            for (_, reply) in batch {
                let _ = reply.send(result.clone());
            }
        }
        self.write_refusals();
    }

    /// Writes the refusal tallies; how many entries.
    fn write_refusals(&mut self) -> u64 {
        let entries = self.refusals.take();
        if let Err(err) = self.write(&entries) {
            tracing::error!(
                "{} refused-authentication entries not recorded: {err}",
                entries.len()
            );
        }
        entries.len() as u64
    }

    fn prune(&self) {
        match self
            .access
            .prune_audit(&self.options.retention, crate::serve::tokens::now_ms())
        {
            Ok(0) => {}
            Ok(pruned) => tracing::info!("audit: pruned {pruned} entries past retention"),
            Err(err) => tracing::error!("audit: pruning failed: {err}"),
        }
    }

    /// Commits `entries` to the store, then appends them with their links
    /// to the file.
    fn write(&mut self, entries: &[AuditEntry]) -> Result<(), String> {
        if entries.is_empty() {
            return Ok(());
        }
        let links = self
            .access
            .append_audit(entries)
            .map_err(|e| e.to_string())?;
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let mut lines = Vec::new();
        for (entry, AuditLink { seq, hash }) in entries.iter().zip(&links) {
            let line = FileLine {
                seq: *seq,
                hash,
                entry,
            };
            if serde_json::to_writer(&mut lines, &line).is_ok() {
                lines.push(b'\n');
            }
        }
        file.write(&lines)
            .map_err(|err| format!("cannot write the audit file: {err}"))
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the Unix epoch.
pub fn format_time(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000);
    let ms = at_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_printed_in_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_time(1_795_867_289_000), "2026-11-28T12:01:29.000Z");
    }

    fn entry(status: u16) -> AuditEntry {
        AuditEntry {
            at_ms: 1,
            last_ms: 1,
            count: 1,
            peer: "127.0.0.1".into(),
            token: Some("abc".into()),
            manager: Some("default".into()),
            operation: "get-secret".into(),
            secret: Some(clip("x".repeat(500))),
            outcome: "ok".into(),
            status,
        }
    }

    #[test]
    fn entries_go_to_the_store_and_the_file_with_their_links() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::SqliteDatabase::open(&dir.path().join("db")).unwrap();
        let path = dir.path().join("audit.jsonl");
        let options = AuditOptions {
            file: Some(path.clone()),
            ..AuditOptions::default()
        };
        let audit = Audit::start(Arc::new(db.clone()), &options).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let entry = entry(200);
        runtime.block_on(async {
            let (one, two) = tokio::join!(audit.record(entry.clone()), audit.record(entry.clone()));
            one.unwrap();
            two.unwrap();
        });
        assert_eq!(db.audit(10).unwrap(), [entry.clone(), entry.clone()]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let line: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(line["operation"], "get-secret");
        assert_eq!(line["seq"], 2);
        assert_eq!(line["hash"].as_str().unwrap().len(), 64);
        assert!(entry.secret.unwrap().chars().count() <= AUDIT_NAME_CHARS + 1);
    }

    #[test]
    fn refusals_are_counted_per_address_within_a_bounded_number_of_tallies() {
        let refusals = Refusals::default();
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        for at in 0..1_000 {
            refusals.count(here, 100 + at, "unauthorized", 401);
        }
        refusals.count(here, 5_000, "rate-limited", 429);
        for n in 0..(REFUSAL_TALLIES as u32 + 50) {
            let other = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + n));
            refusals.count(other, 2_000, "unauthorized", 401);
        }
        let entries = refusals.take();
        assert_eq!(entries.len(), REFUSAL_TALLIES + 1);
        let first = &entries[0];
        assert_eq!(
            (
                first.peer.as_str(),
                first.count,
                first.at_ms,
                first.last_ms,
                first.status
            ),
            ("10.0.0.1", 1_000, 100, 1_099, 401)
        );
        let others: Vec<_> = entries
            .iter()
            .filter(|e| e.peer == OTHER_ADDRESSES)
            .collect();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].count, 52, "the addresses past the tallies");
        assert!(refusals.take().is_empty(), "counting starts afresh");
    }
}
