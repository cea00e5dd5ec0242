//! The audit log of a served store: one entry per request (time, peer,
//! token id, manager, operation, secret name, outcome, status) in the
//! store's `audit` table, and optionally appended to a JSON-lines file.
//!
//! Guards against the log becoming a leak: an entry is built from the
//! request's route and outcome only, so no value can reach it; names a
//! refused request made up are clipped ([`AUDIT_NAME_CHARS`]) and escaped
//! when printed (`flavorbox audit`).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::store::access::AUDIT_NAME_CHARS;
use crate::store::{AccessStore, AuditEntry};

/// Entries committed together at most.
const BATCH: usize = 512;

type Pending = (AuditEntry, tokio::sync::oneshot::Sender<Result<(), String>>);

/// A node's audit writer: a thread that commits the entries of concurrent
/// requests together (one transaction, one sync to disk, for all that
/// arrived while the previous batch was written), to the store and the
/// file.
pub struct Audit {
    sender: std::sync::mpsc::Sender<Pending>,
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
    /// and starts the writer; it stops when the `Audit` is dropped.
    pub fn start(access: Arc<dyn AccessStore>, file: Option<&Path>) -> Result<Audit> {
        let file = match file {
            Some(path) => {
                let mut options = std::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let file = options.open(path).map_err(|e| {
                    Error::invalid(format!("cannot open audit file {}: {e}", path.display()))
                })?;
                Some(file)
            }
            None => None,
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("flavorbox-audit".to_string())
            .spawn(move || write_batches(access.as_ref(), file, &receiver))
            .map_err(|e| Error::host(format!("cannot start the audit writer: {e}")))?;
        Ok(Audit { sender })
    }

    /// Records `entry`; done once it is committed.
    pub async fn record(&self, entry: AuditEntry) -> Result<()> {
        let (reply, done) = tokio::sync::oneshot::channel();
        let stopped = || Error::host("the audit writer stopped");
        self.sender.send((entry, reply)).map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?.map_err(Error::host)
    }
}

fn write_batches(
    access: &dyn AccessStore,
    mut file: Option<std::fs::File>,
    receiver: &std::sync::mpsc::Receiver<Pending>,
) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let entries: Vec<AuditEntry> = batch.iter().map(|(entry, _)| entry.clone()).collect();
        let mut result = access.append_audit(&entries).map_err(|e| e.to_string());
        if let Some(file) = &mut file {
            let mut lines = Vec::new();
            for entry in &entries {
                if serde_json::to_writer(&mut lines, entry).is_ok() {
                    lines.push(b'\n');
                }
            }
            if let Err(err) = file.write_all(&lines)
                && result.is_ok()
            {
                result = Err(format!("cannot write the audit file: {err}"));
            }
        }
        for (_, reply) in batch {
            let _ = reply.send(result.clone());
        }
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

    #[test]
    fn entries_go_to_the_store_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::SqliteDatabase::open(&dir.path().join("db")).unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = Audit::start(Arc::new(db.clone()), Some(&path)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let entry = AuditEntry {
            at_ms: 1,
            peer: "127.0.0.1".into(),
            token: Some("abc".into()),
            manager: Some("default".into()),
            operation: "get-secret".into(),
            secret: Some(clip("x".repeat(500))),
            outcome: "ok".into(),
            status: 200,
        };
        runtime.block_on(async {
            let (one, two) = tokio::join!(audit.record(entry.clone()), audit.record(entry.clone()));
            one.unwrap();
            two.unwrap();
        });
        assert_eq!(db.audit(10).unwrap(), [entry.clone(), entry.clone()]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["operation"], "get-secret");
        assert!(entry.secret.unwrap().chars().count() <= AUDIT_NAME_CHARS + 1);
    }
}
