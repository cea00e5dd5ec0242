//! Rotating the master key on both backends: every namespace and config
//! value re-sealed under the new key and readable with it alone, and a
//! rotation stopped midway (here by a value neither key opens, past the
//! first committed batch) recorded in the store, refused to every other
//! open and to another new key, and resumed without losing a value.

use flavorbox::ErrorKind;
use flavorbox::policy::ManagerLimits;
use flavorbox::store::rotate::BATCH;
use flavorbox::store::sealed::is_sealed;
use flavorbox::store::{Database, TxnMode};

use crate::{Place, config, fails, test_key};

on_both_backends!(
    a_rotation_reseals_every_value_and_config_under_the_new_key,
    a_rotation_stopped_midway_is_recorded_refused_and_resumed,
);

/// Values per manager: more than one batch.
const VALUES: usize = BATCH + 44;

const IN_PROGRESS: &str = "a key rotation is in progress; run `flavorbox key rotate` to finish \
                           it (nothing was read or written)";

/// Adds the managers `a` and `b` with a config and [`VALUES`] values each;
/// their ids.
fn fill(db: &dyn Database) -> Vec<i64> {
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        db.insert_manager(
            name,
            "local",
            &config(&[("token", &format!("config-{name}"))]),
            &ManagerLimits::default(),
            false,
        )
        .unwrap();
        let id = db.manager(name).unwrap().unwrap().id;
        let mut txn = db.namespace(id, TxnMode::Write).unwrap();
        for i in 0..VALUES {
            txn.set(&format!("k{i:04}"), format!("value-{name}-{i}").as_bytes())
                .unwrap();
        }
        txn.commit().unwrap();
        ids.push(id);
    }
    ids
}

/// Every value [`fill`] wrote, read through `db`.
fn assert_all_readable(db: &dyn Database, ids: &[i64]) {
    for (name, id) in ["a", "b"].iter().zip(ids) {
        assert_eq!(
            db.manager(name).unwrap().unwrap().config,
            config(&[("token", &format!("config-{name}"))])
        );
        let mut txn = db.namespace(*id, TxnMode::Read).unwrap();
        assert_eq!(txn.list_keys("").unwrap().len(), VALUES);
        for i in 0..VALUES {
            assert_eq!(
                txn.get(&format!("k{i:04}")).unwrap().unwrap(),
                format!("value-{name}-{i}").as_bytes()
            );
        }
    }
}

fn a_rotation_reseals_every_value_and_config_under_the_new_key(place: &Place) {
    let (old, new) = (test_key(), test_key());
    let ids = fill(place.sealed(&old).unwrap().as_ref());
    let rotated = place.rotate(&old, &new).unwrap();
    // Both namespaces' values, both configs; `default` holds nothing.
    assert_eq!(rotated.values, 2 * VALUES as u64 + 2);
    assert_eq!(rotated.managers, 3);
    assert!(!rotated.resumed && !rotated.finished_before);

    assert_all_readable(place.sealed(&new).unwrap().as_ref(), &ids);
    let refused = place.sealed(&old).err().expect("the old key is refused");
    assert_eq!(refused.kind(), ErrorKind::Host);
    assert!(
        refused.detail().contains("does not open this store"),
        "{refused}"
    );
    // Below, still ciphertext.
    let raw = place.open().db;
    let stored = raw
        .namespace(ids[0], TxnMode::Read)
        .unwrap()
        .get("k0000")
        .unwrap()
        .unwrap();
    assert!(is_sealed(&stored));
    // Running it again finds the store under the new key and does nothing.
    let again = place.rotate(&old, &new).unwrap();
    assert!(again.finished_before);
    assert_eq!(again.values, 0);
}

fn a_rotation_stopped_midway_is_recorded_refused_and_resumed(place: &Place) {
    let (old, new) = (test_key(), test_key());
    let ids = fill(place.sealed(&old).unwrap().as_ref());
    // A value neither key opens, after manager `a`'s first batch.
    let raw = place.open().db;
    let mut txn = raw.namespace(ids[0], TxnMode::Write).unwrap();
    txn.set("k9999", b"\x00fb\x01 neither key opens this")
        .unwrap();
    txn.commit().unwrap();

    let stopped = place.rotate(&old, &new).expect_err("the rotation stops");
    assert!(stopped.detail().contains("k9999"), "{stopped}");
    // Midway (the first batch of `a` is under the new key: the resumed run
    // below does not count it), and the store says so to every open.
    for key in [&old, &new] {
        fails(
            place.sealed(key).map(drop),
            ErrorKind::Conflict,
            IN_PROGRESS,
        );
    }
    let other = test_key();
    let refused = place.rotate(&old, &other).expect_err("another key");
    assert_eq!(refused.kind(), ErrorKind::Denied, "{refused}");
    assert!(refused.detail().contains("to another key"), "{refused}");

    // The damaged value removed, the rotation resumes and finishes.
    let mut txn = raw.namespace(ids[0], TxnMode::Write).unwrap();
    assert!(txn.delete("k9999").unwrap());
    txn.commit().unwrap();
    let resumed = place.rotate(&old, &new).unwrap();
    assert!(resumed.resumed);
    // What the first run re-sealed is not done twice.
    assert_eq!(resumed.values, 2 * VALUES as u64 + 2 - BATCH as u64);
    assert_all_readable(place.sealed(&new).unwrap().as_ref(), &ids);
}
