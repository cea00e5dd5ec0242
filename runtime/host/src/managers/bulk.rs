//! Deleting every secret of one manager (importing many is
//! `managers::import`). A delete-all is final: a driven one purges each
//! secret the flavor lists (a flavor keeping history would otherwise keep
//! them soft-deleted), as `delete-all-secrets` does. A secret soft-deleted
//! before is not listed (naming those takes a metadata read per secret,
//! past an HTTP flavor's request cap at a thousand secrets), so a driven
//! delete-all leaves it soft-deleted, to be purged by name.
//!
//! Guards against a bulk deletion that an HTTP backend cannot finish in one call: on a
//! flavor granted `http`, `delete-all-secrets` is a listing followed by one
//! `delete-secret` call per secret, each with its own request budget and
//! deadline, so deleting 1,000 secrets is as predictable as deleting one,
//! and a failure reports exactly which secrets were and were not deleted
//! (an HTTP backend has no rollback). See docs/flavor-authoring.md.
//!
//! The whole of a driven deletion is bounded too ([`BulkBound`]): a backend
//! that lists more names than the bound's calls is refused before anything
//! is deleted, and one whose deletions are slow is stopped at the bound's
//! time, with the same report of what was and was not deleted.
//!
//! A delete-all is refused before anything is deleted while any manager's
//! config refers to a secret of this manager (it names every referrer);
//! such secrets are deleted one by one, on purpose (see `references`).

use std::time::{Duration, Instant};

use super::Manager;
use super::import::Progress;
use super::references::OnReferences;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::Capability;
use crate::sandbox::exports::{DeleteAllSecrets, PurgeSecret};

/// Secret names a report of a stopped bulk deletion spells out.
const NAMES_SHOWN: usize = 5;

/// How far a host-driven `delete-all` may go: `delete-secret` calls and
/// wall time, over the whole command (each call keeps its own deadline and
/// request budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkBound {
    pub calls: usize,
    pub time: Duration,
}

impl Default for BulkBound {
    /// 10,000 calls in 10 minutes: the 1,000-secret deletion the shipped
    /// HTTP flavors are tested with fits ten times over.
    fn default() -> Self {
        BulkBound {
            calls: 10_000,
            time: Duration::from_secs(600),
        }
    }
}

impl Manager<'_> {
    /// Deletes every secret (the caller has made sure this is meant). A
    /// flavor granted `http` is driven from here within `bound` (see the
    /// module comment) and the number deleted is returned; any other flavor
    /// gets one `delete-all-secrets(force = true)` call, which commits its
    /// storage writes all at once or not at all, and `None` is returned.
    /// `progress` is told after each driven deletion. Refused (a conflict)
    /// while a manager's config refers to any secret of this manager.
    pub fn delete_all_secrets(
        &self,
        bound: BulkBound,
        progress: Progress<'_>,
    ) -> Result<Option<usize>> {
        self.references_allow(None, "deleting them", OnReferences::Refuse)?;
        if !self.policy.grants.allows(Capability::Http) {
            return self
                .answer(&DeleteAllSecrets { force: true })
                .map(|()| None);
        }
        let started = Instant::now();
        let names = self.list_secrets()?;
        if names.len() > bound.calls {
            return Err(Error::denied(format!(
                "delete-all would take {} calls (one per secret), more than the {} it may \
                 make (--max-calls); nothing was deleted",
                names.len(),
                bound.calls
            )));
        }
        for (done, name) in names.iter().enumerate() {
            if started.elapsed() >= bound.time {
                let err = Error::denied(format!(
                    "delete-all ran for its whole {} s (--max-time)",
                    bound.time.as_secs_f64()
                ));
                return Err(stopped(err, done, &names));
            }
            match self.answer(&PurgeSecret(name)) {
                // Deleted meanwhile by someone else: just as gone.
                Ok(()) => {}
                Err(err) if err.is(ErrorKind::NotFound) => {}
                Err(err) => return Err(stopped(err, done, &names)),
            }
            progress(done + 1, names.len());
        }
        Ok(Some(names.len()))
    }
}

/// `err`, which stopped a bulk deletion at `names[done]`, with what was and
/// was not deleted. The kind (and so the exit code) stays `err`'s.
/// (`stopped at` names the first secret not deleted.)
fn stopped(err: Error, done: usize, names: &[String]) -> Error {
    let left = &names[done..];
    let mut shown: Vec<String> = left
        .iter()
        .take(NAMES_SHOWN)
        .map(|n| format!("`{n}`"))
        .collect();
    if left.len() > NAMES_SHOWN {
        shown.push(format!("and {} more", left.len() - NAMES_SHOWN));
    }
    let report = format!(
        "delete-all stopped at secret `{}`: {done} of {} secrets deleted, {} not ({}); \
         deleting it failed with",
        left[0],
        names.len(),
        left.len(),
        shown.join(", ")
    );
    let kind = err.kind();
    err.map_detail(|detail| format!("{report} {kind}: {detail}"))
}
