//! What a watcher of a manager's secrets follows (`run --watch`, `resolve
//! --watch`, the server's change feed): the version of the manager's
//! storage namespace, which every committed write to it bumps.
//!
//! Guards against a change the version does not show: a flavor whose
//! secrets live outside its storage (`aws`, `vault`, ...) writes nothing
//! there when a secret changes, so every successful write call that
//! committed no storage write bumps the version itself
//! ([`Manager::changed_outside_storage`]); a change made on the backend by
//! something other than flavorbox is seen only by re-reading. Guards
//! against a watcher's wait growing without bound: [`ChangeFeed::next`]
//! returns by the wait it is given, changed or not.

use std::time::{Duration, Instant};

use super::Manager;
use crate::error::Result;
use crate::store::NamespaceAccess;

/// How often a local feed reads the version while it waits.
pub const LOCAL_POLL: Duration = Duration::from_millis(200);

/// The longest one [`ChangeFeed::next`] waits.
pub const MAX_CHANGE_WAIT: Duration = Duration::from_secs(30);

/// The change version of one secrets manager, followed from where the
/// caller reads its secrets (the home, or a server).
pub trait ChangeFeed: Send {
    /// The manager's change version once it differs from `since` (at once
    /// if it already does, or if `since` is `None`), or after `wait`
    /// (capped at [`MAX_CHANGE_WAIT`]) with the version unchanged.
    fn next(&mut self, since: Option<u64>, wait: Duration) -> Result<u64>;
}

/// A manager's feed in the home's own store, read every [`LOCAL_POLL`].
pub struct LocalFeed {
    access: NamespaceAccess,
}

impl LocalFeed {
    /// The manager's change version now.
    pub fn version(&self) -> Result<u64> {
        self.access.version()
    }
}

impl ChangeFeed for LocalFeed {
    fn next(&mut self, since: Option<u64>, wait: Duration) -> Result<u64> {
        let until = Instant::now() + wait.min(MAX_CHANGE_WAIT);
        loop {
            let version = self.version()?;
            let now = Instant::now();
            if since != Some(version) || now >= until {
                return Ok(version);
            }
            std::thread::sleep(LOCAL_POLL.min(until - now));
        }
    }
}

impl Manager<'_> {
    /// This manager's change feed; it holds no borrow of the home.
    pub fn change_feed(&self) -> LocalFeed {
        LocalFeed {
            access: NamespaceAccess::new(self.managers.db.clone(), self.record.id),
        }
    }

    /// This manager's change version now.
    pub fn change_version(&self) -> Result<u64> {
        self.change_feed().version()
    }

    /// Bumps the change version after a write that succeeded without
    /// touching storage. The write stands either way: a failure here is
    /// logged (watchers then learn of it at the next change), never
    /// reported as the write's.
    pub(super) fn changed_outside_storage(&self, storage: &NamespaceAccess) {
        if let Err(err) = storage.mark_changed(Instant::now() + self.timeout()) {
            tracing::warn!(
                "secrets manager `{}`: the change was made, but its watchers were not told: {err}",
                self.name()
            );
        }
    }
}
