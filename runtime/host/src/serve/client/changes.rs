//! What a [`Remote`] follows and keeps for `run --watch` and `--cache`: the
//! manager's change feed on the server (long polls of `GET
//! /v1/managers/{manager}/changes`, see `serve/changes.rs`), and the
//! offline cache's use (see `serve/offline.rs`).
//!
//! Guards against a stale value passing for a fresh one: the cache answers
//! only when the last request could not reach the server (a server that
//! answers, even with a refusal, is believed), and a feed's answer that is
//! not a version number is the server's error.

use std::time::Duration;

use super::{Remote, segment};
use crate::error::{Error, Result};
use crate::managers::{ChangeFeed, MAX_CHANGE_WAIT};
use crate::secret::Secret;

/// A manager's change feed on a server, on a client of its own (a watcher
/// follows it on a thread of its own).
struct RemoteFeed {
    remote: Remote,
}

impl ChangeFeed for RemoteFeed {
    fn next(&mut self, since: Option<u64>, wait: Duration) -> Result<u64> {
        let wait = wait.min(MAX_CHANGE_WAIT).as_secs();
        let mut path = format!(
            "/v1/managers/{}/changes?wait={wait}",
            segment(&self.remote.manager)
        );
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        let value = self.remote.request("GET", &path, None)?;
        value["version"]
            .as_u64()
            .ok_or_else(|| Error::backend("the server's change feed answer is malformed"))
    }
}

impl Remote {
    /// The manager's change feed.
    pub(super) fn follow(&self) -> Result<Box<dyn ChangeFeed>> {
        Ok(Box::new(RemoteFeed {
            remote: self.fresh()?,
        }))
    }

    /// The secret `name` from the offline cache, if there is one, the last
    /// request could not reach the server, and it was read within its age.
    pub(super) fn offline_secret(&self, name: &str) -> Option<Secret> {
        match (&self.offline, self.unreachable.get()) {
            (Some(cache), true) => cache.secret(self.scope(), name),
            _ => None,
        }
    }

    /// Keeps `secret`, just read, in the offline cache if there is one.
    pub(super) fn keep_offline(&self, secret: &Secret) -> Result<()> {
        match &self.offline {
            Some(cache) => cache.put_secret(self.scope(), secret),
            None => Ok(()),
        }
    }
}
