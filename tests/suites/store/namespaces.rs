//! Namespaces on both backends: writes commit together or not at all,
//! versions move only with a commit that wrote, usage is kept exactly,
//! listings are exact and bytewise, namespaces do not see each other, a
//! writer's lock wait ends at its deadline, and a call's staged commit is
//! refused when another call wrote since its snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flavorbox::ErrorKind;
use flavorbox::store::staged::Commit;
use flavorbox::store::{Database, NamespaceAccess, TxnMode, Usage};

use crate::Place;

on_both_backends!(
    writes_commit_together_or_not_at_all,
    usage_kept_by_the_store_matches_a_recount_after_any_writes,
    a_commit_that_wrote_bumps_the_version_and_a_read_does_not,
    namespaces_do_not_see_each_other,
    prefix_listing_is_exact_and_bytewise,
    a_writer_waits_for_the_lock_no_longer_than_its_deadline,
    a_commit_after_another_writer_committed_is_refused_and_writes_nothing,
    a_call_pinned_to_an_older_version_reads_nothing_and_writes_nothing,
    a_read_only_call_never_conflicts,
    a_running_call_holds_no_lock_that_stops_another_commit,
);

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn read(access: &NamespaceAccess, key: &str) -> Option<Vec<u8>> {
    access.stage(soon()).get(key).unwrap()
}

fn writes_commit_together_or_not_at_all(place: &Place) {
    let db = place.open().db;
    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    txn.set("a", b"1").unwrap();
    txn.set("b", b"2").unwrap();
    drop(txn);
    let mut txn = db.namespace(1, TxnMode::Read).unwrap();
    assert_eq!(txn.list_keys("").unwrap(), Vec::<String>::new());
    assert_eq!(
        txn.version().unwrap(),
        0,
        "a rolled-back write bumps nothing"
    );
    drop(txn);

    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    txn.set("a", b"1").unwrap();
    txn.set("b", b"22").unwrap();
    txn.commit().unwrap();
    let mut txn = db.namespace(1, TxnMode::Read).unwrap();
    assert_eq!(txn.list_keys("").unwrap(), ["a", "b"]);
    assert_eq!(txn.usage().unwrap(), Usage { keys: 2, bytes: 5 });
    assert_eq!(txn.value_len("b").unwrap(), Some(2));
    assert_eq!(txn.value_len("none").unwrap(), None);
    assert_eq!(txn.get("b").unwrap().unwrap(), b"22");
}

fn usage_kept_by_the_store_matches_a_recount_after_any_writes(place: &Place) {
    let db = place.open().db;
    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    for i in 0..50u8 {
        txn.set(&format!("k{i}"), &vec![i; usize::from(i)]).unwrap();
    }
    for i in (0..50u8).step_by(3) {
        txn.set(&format!("k{i}"), b"replaced").unwrap();
    }
    for i in (0..50u8).step_by(7) {
        assert!(txn.delete(&format!("k{i}")).unwrap());
    }
    assert!(!txn.delete("never-there").unwrap());
    txn.commit().unwrap();
    // A rolled-back write changes nothing, usage included.
    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    txn.set("never", b"committed").unwrap();
    drop(txn);
    let mut other = db.namespace(2, TxnMode::Write).unwrap();
    other.set("elsewhere", b"x").unwrap();
    other.commit().unwrap();

    let mut txn = db.namespace(1, TxnMode::Read).unwrap();
    let mut recount = Usage::default();
    for key in txn.list_keys("").unwrap() {
        recount.keys += 1;
        recount.bytes += (key.len() as u64) + txn.value_len(&key).unwrap().unwrap();
    }
    assert_eq!(txn.usage().unwrap(), recount);
    assert_eq!(recount.keys, 50 - 8);
    let mut empty = db.namespace(3, TxnMode::Read).unwrap();
    assert_eq!(empty.usage().unwrap(), Usage::default());
}

fn a_commit_that_wrote_bumps_the_version_and_a_read_does_not(place: &Place) {
    let db = place.open().db;
    let mut read = db.namespace(1, TxnMode::Read).unwrap();
    assert_eq!(read.version().unwrap(), 0);
    read.commit().unwrap();
    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    txn.set("a", b"1").unwrap();
    txn.commit().unwrap();
    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    txn.delete("a").unwrap();
    txn.commit().unwrap();
    let mut unwritten = db.namespace(1, TxnMode::Write).unwrap();
    assert_eq!(unwritten.version().unwrap(), 2);
    unwritten.commit().unwrap();
    let mut read = db.namespace(1, TxnMode::Read).unwrap();
    assert_eq!(read.version().unwrap(), 2, "a commit that wrote nothing");
    let mut other = db.namespace(2, TxnMode::Read).unwrap();
    assert_eq!(other.version().unwrap(), 0, "versions are per namespace");
}

fn namespaces_do_not_see_each_other(place: &Place) {
    let db = place.open().db;
    let mut one = db.namespace(1, TxnMode::Write).unwrap();
    one.set("secrets/x", b"1").unwrap();
    one.commit().unwrap();
    let mut two = db.namespace(2, TxnMode::Write).unwrap();
    assert_eq!(two.get("secrets/x").unwrap(), None);
    assert_eq!(two.value_len("secrets/x").unwrap(), None);
    assert!(two.list_keys("").unwrap().is_empty());
    assert!(!two.delete("secrets/x").unwrap());
    two.commit().unwrap();
    let mut one = db.namespace(1, TxnMode::Read).unwrap();
    assert_eq!(one.get("secrets/x").unwrap().unwrap(), b"1");
}

fn prefix_listing_is_exact_and_bytewise(place: &Place) {
    let db = place.open().db;
    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    for key in ["a/2", "a/1", "a0", "b/1", "a~", "A/1", "a/B", "a/b"] {
        txn.set(key, b"").unwrap();
    }
    assert_eq!(txn.list_keys("a/").unwrap(), ["a/1", "a/2", "a/B", "a/b"]);
    assert_eq!(
        txn.list_keys("a").unwrap(),
        ["a/1", "a/2", "a/B", "a/b", "a0", "a~"]
    );
    assert_eq!(txn.list_keys("A").unwrap(), ["A/1"]);
    assert_eq!(txn.list_keys("c").unwrap(), Vec::<String>::new());
    assert_eq!(txn.list_keys("").unwrap().first().unwrap(), "A/1");
}

fn a_writer_waits_for_the_lock_no_longer_than_its_deadline(place: &Place) {
    let db = place.open().db;
    let mut holder = db.namespace(1, TxnMode::Write).unwrap();
    holder.set("held", b"1").unwrap();
    let mut waiter = db.namespace(1, TxnMode::Write).unwrap();
    let started = Instant::now();
    waiter.set_deadline(started + Duration::from_millis(300));
    let err = waiter.set("k", b"v").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(
        err.detail(),
        "the store stayed locked by another writer past the call's deadline; nothing was written"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(waiter);
    holder.commit().unwrap();
    let mut read = db.namespace(1, TxnMode::Read).unwrap();
    assert_eq!(read.list_keys("").unwrap(), ["held"]);
    assert_eq!(read.version().unwrap(), 1);
}

fn access(place: &Place) -> NamespaceAccess {
    let db: Arc<dyn Database> = place.open().db;
    NamespaceAccess::new(db, 7)
}

fn a_commit_after_another_writer_committed_is_refused_and_writes_nothing(place: &Place) {
    let access = access(place);
    let mut first = access.stage(soon());
    let mut second = access.stage(soon());
    assert_eq!(first.get("secrets/x").unwrap(), None);
    assert_eq!(second.get("secrets/x").unwrap(), None);
    first.set("secrets/x", b"first".to_vec()).unwrap();
    second.set("secrets/x", b"second".to_vec()).unwrap();
    second.set("secrets/y", b"second".to_vec()).unwrap();
    assert_eq!(first.commit().unwrap(), Commit::Applied);
    assert_eq!(second.commit().unwrap(), Commit::Changed);
    assert_eq!(read(&access, "secrets/x"), Some(b"first".to_vec()));
    assert_eq!(
        read(&access, "secrets/y"),
        None,
        "nothing of a refused commit"
    );
}

fn a_call_pinned_to_an_older_version_reads_nothing_and_writes_nothing(place: &Place) {
    let access = access(place);
    let mut reader = access.stage(soon());
    assert_eq!(reader.get("secrets/x").unwrap(), None);
    let seen = reader.version_seen().expect("it read");
    // Pinned to what it saw, a later call may read and write.
    let mut same = access.clone().pinned_at(seen).stage(soon());
    assert_eq!(same.get("secrets/x").unwrap(), None);
    same.set("secrets/x", b"1".to_vec()).unwrap();
    assert_eq!(same.version_seen(), None, "a call that wrote pins nothing");
    assert_eq!(same.commit().unwrap(), Commit::Applied);
    // Once another call wrote, a call pinned to the old version fails at
    // its first read.
    let mut stale = access.clone().pinned_at(seen).stage(soon());
    let err = stale.get("secrets/x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_ne!(stale.version_seen(), Some(seen));
    assert_eq!(read(&access, "secrets/x"), Some(b"1".to_vec()));
}

fn a_read_only_call_never_conflicts(place: &Place) {
    let access = access(place);
    let mut reader = access.stage(soon());
    assert_eq!(reader.get("k").unwrap(), None);
    let mut writer = access.stage(soon());
    writer.set("k", b"v".to_vec()).unwrap();
    assert_eq!(writer.commit().unwrap(), Commit::Applied);
    // The reader still sees its snapshot, and has nothing to commit.
    assert_eq!(reader.get("k").unwrap(), None);
    assert_eq!(reader.commit().unwrap(), Commit::Applied);
}

fn a_running_call_holds_no_lock_that_stops_another_commit(place: &Place) {
    let access = access(place);
    let mut slow = access.stage(soon());
    slow.set("slow", b"1".to_vec()).unwrap();
    // While `slow` is still running (not committed), another call commits
    // at once instead of waiting for it.
    let started = Instant::now();
    let mut quick = access.stage(Instant::now() + Duration::from_millis(500));
    quick.set("quick", b"1".to_vec()).unwrap();
    assert_eq!(quick.commit().unwrap(), Commit::Applied);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(slow.commit().unwrap(), Commit::Changed);
}

/// PostgreSQL only: nodes share the database, so a writer holds up only
/// the writers of its own namespace (SQLite has one writer per file).
#[test]
fn on_postgres_a_writer_holds_up_only_its_own_namespace() {
    let place = Place::postgres();
    let db = place.open().db;
    let mut holder = db.namespace(7, TxnMode::Write).unwrap();
    holder.set("secrets/held", b"1").unwrap();
    let mut elsewhere = db.namespace(8, TxnMode::Write).unwrap();
    elsewhere.set_deadline(Instant::now() + Duration::from_millis(300));
    elsewhere.set("k", b"v").unwrap();
    elsewhere.commit().unwrap();
    holder.commit().unwrap();
}
