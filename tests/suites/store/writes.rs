//! Every value bound to the write that set it, on both backends: someone
//! who can write the store's rows puts back an older value of a key, a
//! deleted value, a value with the record page that vouched for it, or the
//! record's root with its buckets; each is refused with one line naming the
//! key, and every other value still reads. A store restored whole from a
//! backup reads as it was (a whole namespace put back together is one
//! earlier moment of itself: telling it apart needs state outside the
//! store). A store from before writes were recorded is converted by its
//! first sealed open, once.

use flavorbox::ErrorKind;
use flavorbox::store::{Database, TxnMode};

use crate::{Place, test_key};

on_both_backends!(
    an_older_value_put_back_is_refused,
    a_deleted_value_put_back_is_refused,
    a_value_put_back_with_its_bucket_or_root_is_refused,
    a_store_restored_whole_reads_as_it_was,
    a_store_from_before_writes_were_recorded_is_converted_once,
);

/// The manager `default` (id 1) holds these.
const NS: i64 = 1;

fn set(db: &dyn Database, pairs: &[(&str, &[u8])]) {
    let mut txn = db.namespace(NS, TxnMode::Write).unwrap();
    for (key, value) in pairs {
        txn.set(key, value).unwrap();
    }
    txn.commit().unwrap();
}

fn get(db: &dyn Database, key: &str) -> flavorbox::Result<Option<Vec<u8>>> {
    db.namespace(NS, TxnMode::Read).unwrap().get(key)
}

/// The stored (sealed) bytes of `key`, read past flavorbox.
fn stored(raw: &dyn Database, key: &str) -> Vec<u8> {
    get(raw, key).unwrap().expect("the row is there")
}

/// `key` is refused with a line naming it that says `says`.
#[track_caller]
fn refused(db: &dyn Database, key: &str, says: &str) {
    let err = get(db, key).expect_err("the value is refused");
    assert_eq!(err.kind(), ErrorKind::Host, "{err}");
    assert!(err.detail().contains(&format!("`{key}`")), "{err}");
    assert!(err.detail().contains(says), "{err}");
    assert!(!err.detail().contains('\n'), "{err}");
}

fn an_older_value_put_back_is_refused(place: &Place) {
    let db = place.sealed(&test_key()).unwrap();
    let raw = place.open().db;
    set(
        db.as_ref(),
        &[("secrets/db", b"old-password"), ("other", b"o")],
    );
    let old = stored(raw.as_ref(), "secrets/db");
    set(db.as_ref(), &[("secrets/db", b"new-password")]);
    set(raw.as_ref(), &[("secrets/db", &old)]);
    refused(
        db.as_ref(),
        "secrets/db",
        "not the value last written there",
    );
    assert_eq!(get(db.as_ref(), "other").unwrap().unwrap(), b"o");
    // The next write through flavorbox replaces it, and it reads again.
    set(db.as_ref(), &[("secrets/db", b"newest")]);
    assert_eq!(get(db.as_ref(), "secrets/db").unwrap().unwrap(), b"newest");
}

fn a_deleted_value_put_back_is_refused(place: &Place) {
    let db = place.sealed(&test_key()).unwrap();
    let raw = place.open().db;
    set(db.as_ref(), &[("gone", b"revoked-token"), ("kept", b"k")]);
    let old = stored(raw.as_ref(), "gone");
    let mut txn = db.namespace(NS, TxnMode::Write).unwrap();
    assert!(txn.delete("gone").unwrap());
    txn.commit().unwrap();
    set(raw.as_ref(), &[("gone", &old)]);
    refused(db.as_ref(), "gone", "never written there by flavorbox");
    // And a value removed past flavorbox is named, not read as absent.
    let mut txn = raw.namespace(NS, TxnMode::Write).unwrap();
    assert!(txn.delete("kept").unwrap());
    txn.commit().unwrap();
    refused(db.as_ref(), "kept", "removed outside flavorbox");
}

/// Copies the namespace's values and record pages aside, past flavorbox.
fn snapshot(place: &Place, tag: &str) {
    place.exec(&format!(
        "CREATE TABLE kv_{tag} AS SELECT * FROM kv;
         CREATE TABLE writes_{tag} AS SELECT * FROM namespace_writes;"
    ));
}

/// Puts back the value of `key` and the record pages `pages` selects from
/// the copy `tag`.
fn put_back(place: &Place, tag: &str, key: &str, pages: &str) {
    place.exec(&format!(
        "UPDATE kv SET value = (SELECT value FROM kv_{tag} t
             WHERE t.namespace = kv.namespace AND t.key = kv.key)
         WHERE key = '{key}';
         DELETE FROM namespace_writes WHERE {pages};
         INSERT INTO namespace_writes SELECT * FROM writes_{tag} WHERE {pages};"
    ));
}

fn a_value_put_back_with_its_bucket_or_root_is_refused(place: &Place) {
    let db = place.sealed(&test_key()).unwrap();
    set(db.as_ref(), &[("k", b"v1"), ("elsewhere", b"e1")]);
    snapshot(place, "then");
    set(db.as_ref(), &[("k", b"v2")]);
    set(db.as_ref(), &[("later", b"l1")]);
    // The value with every bucket page: the root holds newer numbers.
    put_back(place, "then", "k", "page <> 0");
    refused(db.as_ref(), "k", "record of writes was altered or put back");
    // The value with the root as well: a key written since is refused.
    put_back(place, "then", "k", "page >= 0");
    assert_eq!(get(db.as_ref(), "k").unwrap().unwrap(), b"v1");
    refused(db.as_ref(), "later", "never written there by flavorbox");
}

fn a_store_restored_whole_reads_as_it_was(place: &Place) {
    let db = place.sealed(&test_key()).unwrap();
    set(db.as_ref(), &[("k", b"v1")]);
    snapshot(place, "backup");
    set(db.as_ref(), &[("k", b"v2")]);
    place.exec(
        "DELETE FROM kv; INSERT INTO kv SELECT * FROM kv_backup;
         DELETE FROM namespace_writes; INSERT INTO namespace_writes SELECT * FROM writes_backup;",
    );
    assert_eq!(get(db.as_ref(), "k").unwrap().unwrap(), b"v1");
    set(db.as_ref(), &[("k", b"v3")]);
    assert_eq!(get(db.as_ref(), "k").unwrap().unwrap(), b"v3");
}

fn a_store_from_before_writes_were_recorded_is_converted_once(place: &Place) {
    let key = test_key();
    let db = place.sealed(&key).unwrap();
    set(db.as_ref(), &[("a", b"value-a"), ("b", b"value-b")]);
    // What layout 9 left: values sealed without a write, no record. A
    // value sealed that way opens only in the conversion.
    place.exec("DELETE FROM namespace_writes;");
    refused(db.as_ref(), "a", "never written there by flavorbox");
    let raw = place.open().db;
    for (name, value) in [("a", b"value-a"), ("b", b"value-b")] {
        let legacy = key.seal(&legacy_aad(NS, name), value);
        set(raw.as_ref(), &[(name, &legacy)]);
    }
    assert!(raw.insert_meta("unrecorded", &[1]).unwrap());

    let db = place.sealed(&key).unwrap();
    assert_eq!(raw.meta("unrecorded").unwrap(), None, "converted");
    assert_eq!(get(db.as_ref(), "a").unwrap().unwrap(), b"value-a");
    assert_eq!(get(db.as_ref(), "b").unwrap().unwrap(), b"value-b");
    // The old form put back is refused like any older value.
    let legacy = key.seal(&legacy_aad(NS, "a"), b"value-a");
    set(raw.as_ref(), &[("a", &legacy)]);
    refused(db.as_ref(), "a", "not the value last written there");
}

/// The associated data values were sealed with before writes were
/// recorded: where they live, and nothing of their write.
fn legacy_aad(namespace: i64, key: &str) -> Vec<u8> {
    let mut aad = b"flavorbox/kv/v1\0".to_vec();
    aad.extend_from_slice(&namespace.to_be_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad
}
