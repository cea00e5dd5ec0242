//! The commit: a call's storage writes reach the store only if its flavor
//! succeeded and its answer passed the checks.
//!
//! Guards against half-done work and lost updates: every write of a run is
//! staged (`store::staged`) and applied here in one short transaction, or
//! not at all (a failed call drops its staged writes, which rolls them
//! back). A commit that finds the namespace changed by another call since
//! the run read it writes nothing and says so, for the call loop to run the
//! call again on fresh data.

use crate::capabilities::storage::StorageCapability;
use crate::error::Result;
use crate::store::staged::Commit;

/// What committing a successful run came to.
pub(super) enum Committed<T> {
    /// The answer stands: the run's writes (if any) are in the store.
    Applied(T),
    /// Another call changed the namespace; nothing was written.
    Changed,
}

/// Commits what the run that answered `answer` staged in `storage`; a
/// failing store is the call's error.
pub(super) fn commit<T>(answer: T, storage: StorageCapability) -> Result<Committed<T>> {
    let Some(staged) = storage.into_staged() else {
        return Ok(Committed::Applied(answer));
    };
    Ok(match staged.commit()? {
        Commit::Applied => Committed::Applied(answer),
        Commit::Changed => Committed::Changed,
    })
}
