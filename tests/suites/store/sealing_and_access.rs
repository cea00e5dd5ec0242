//! Sealing at rest and named locks on both backends (tokens are in
//! `tokens.rs`, the audit log in `audit.rs`). Sealing sits above the
//! backends, so what the backend stores is read here through an unsealed
//! handle on the same store: it must be ciphertext, and ciphertext moved
//! to another place must not open.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flavorbox::ErrorKind;
use flavorbox::policy::ManagerLimits;
use flavorbox::store::sealed::{OVERHEAD, is_sealed};
use flavorbox::store::{TxnMode, Usage};

use crate::{Place, config, fails, test_key};

on_both_backends!(
    values_round_trip_and_are_ciphertext_below,
    a_value_moved_to_another_key_or_namespace_does_not_open,
    config_is_sealed_per_manager_and_key,
    another_key_is_refused_by_name,
    a_store_from_before_sealing_is_sealed_in_place,
    a_named_lock_is_held_by_one_at_a_time,
);

fn values_round_trip_and_are_ciphertext_below(place: &Place) {
    let db = place.sealed(&test_key()).unwrap();
    let raw = place.open().db;
    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    txn.set("secrets/a", b"hunter2-plain").unwrap();
    txn.commit().unwrap();
    let mut txn = db.namespace(1, TxnMode::Read).unwrap();
    assert_eq!(txn.get("secrets/a").unwrap().unwrap(), b"hunter2-plain");
    assert_eq!(txn.value_len("secrets/a").unwrap(), Some(13));
    // Quotas count plaintext.
    assert_eq!(
        txn.usage().unwrap(),
        Usage {
            keys: 1,
            bytes: 9 + 13
        }
    );
    let stored = raw
        .namespace(1, TxnMode::Read)
        .unwrap()
        .get("secrets/a")
        .unwrap()
        .unwrap();
    assert!(is_sealed(&stored));
    assert_eq!(stored.len() as u64, 13 + OVERHEAD);
    assert!(!stored.windows(7).any(|w| w == b"hunter2"));
}

fn a_value_moved_to_another_key_or_namespace_does_not_open(place: &Place) {
    let db = place.sealed(&test_key()).unwrap();
    let raw = place.open().db;
    for (namespace, key, value) in [
        (1, "a", b"value-a"),
        (1, "b", b"value-b"),
        (2, "a", b"value-c"),
    ] {
        let mut txn = db.namespace(namespace, TxnMode::Write).unwrap();
        txn.set(key, value).unwrap();
        txn.commit().unwrap();
    }
    let stored = raw
        .namespace(1, TxnMode::Read)
        .unwrap()
        .get("a")
        .unwrap()
        .unwrap();
    // Over a value flavorbox wrote there (`store/writes.rs` puts values
    // back where none was written).
    for (namespace, key) in [(1, "b"), (2, "a")] {
        let mut txn = raw.namespace(namespace, TxnMode::Write).unwrap();
        txn.set(key, &stored).unwrap();
        txn.commit().unwrap();
        let err = db
            .namespace(namespace, TxnMode::Read)
            .unwrap()
            .get(key)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Host, "{err}");
        assert_eq!(
            err.detail(),
            format!(
                "stored entry `{key}` is not the value last written there with the master key; \
                 it was altered, moved or put back outside flavorbox"
            )
        );
    }
}

fn config_is_sealed_per_manager_and_key(place: &Place) {
    let db = place.sealed(&test_key()).unwrap();
    let raw = place.open().db;
    let secret = config(&[("token", "s3cr3t-token")]);
    db.insert_manager("m", "local", &secret, &ManagerLimits::default(), false)
        .unwrap();
    assert_eq!(db.manager("m").unwrap().unwrap().config, secret);
    let stored = raw.manager("m").unwrap().unwrap().config;
    assert!(stored["token"].starts_with("sealed:v1:"), "{stored:?}");
    assert!(!stored["token"].contains("s3cr3t"));
    // Another manager's sealed value does not open under this one's name.
    db.insert_manager("n", "local", &config(&[]), &ManagerLimits::default(), false)
        .unwrap();
    raw.update_manager_config("n", &stored).unwrap();
    fails(
        db.manager("n"),
        ErrorKind::Host,
        "config value `token` of secrets manager `n` does not open with the master key; \
         the store was altered outside flavorbox",
    );
    // Updates are sealed as well.
    db.update_manager_config("m", &config(&[("token", "rotated")]))
        .unwrap();
    assert_eq!(db.manager("m").unwrap().unwrap().config["token"], "rotated");
    let stored = raw.manager("m").unwrap().unwrap().config;
    assert!(!stored["token"].contains("rotated"));
}

fn another_key_is_refused_by_name(place: &Place) {
    let key = test_key();
    place.sealed(&key).unwrap();
    place.sealed(&key).expect("the same key opens it again");
    fails(
        place.sealed(&test_key()).map(|_| ()),
        ErrorKind::Host,
        "the master key from test does not open this store (it was sealed with another key); \
         nothing was read or written",
    );
}

fn a_store_from_before_sealing_is_sealed_in_place(place: &Place) {
    // What an older flavorbox left: plain values and config, marked by the
    // layout step that introduced sealing.
    let raw = place.open().db;
    raw.insert_manager(
        "old",
        "local",
        &config(&[("password", "plain-config")]),
        &ManagerLimits::default(),
        false,
    )
    .unwrap();
    let id = raw.manager("old").unwrap().unwrap().id;
    let mut txn = raw.namespace(id, TxnMode::Write).unwrap();
    txn.set("secrets/s", b"plain-value").unwrap();
    txn.commit().unwrap();
    assert!(raw.insert_meta("unsealed", &[1]).unwrap());

    let key = test_key();
    let db = place.sealed(&key).unwrap();
    assert_eq!(
        raw.meta("unsealed").unwrap(),
        None,
        "the conversion finished"
    );
    let mut txn = db.namespace(id, TxnMode::Read).unwrap();
    assert_eq!(txn.get("secrets/s").unwrap().unwrap(), b"plain-value");
    let manager = db.manager("old").unwrap().unwrap();
    assert_eq!(manager.config["password"], "plain-config");
    let stored = raw
        .namespace(id, TxnMode::Read)
        .unwrap()
        .get("secrets/s")
        .unwrap()
        .unwrap();
    assert!(is_sealed(&stored));
    assert!(!raw.manager("old").unwrap().unwrap().config["password"].contains("plain"));
    // An interrupted conversion resumes: what opens already is kept.
    assert!(raw.insert_meta("unsealed", &[1]).unwrap());
    let again = place.sealed(&key).unwrap();
    let mut txn = again.namespace(id, TxnMode::Read).unwrap();
    assert_eq!(txn.get("secrets/s").unwrap().unwrap(), b"plain-value");
    assert_eq!(
        again.manager("old").unwrap().unwrap().config["password"],
        "plain-config"
    );
}

fn a_named_lock_is_held_by_one_at_a_time(place: &Place) {
    let access = place.open().access;
    let inside = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                access
                    .with_lock("k", Duration::from_secs(30), &mut || {
                        let now = inside.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(now, 0, "two holders at once");
                        std::thread::sleep(Duration::from_millis(5));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap();
            });
        }
    });
    // A holder keeps a waiter out until its wait runs out; other names and
    // other handles on the same store see the same locks.
    let other = place.open().access;
    access
        .with_lock("k", Duration::from_secs(5), &mut || {
            fails(
                other.with_lock("k", Duration::from_millis(50), &mut || Ok(())),
                ErrorKind::Conflict,
                "another request held this secret past the deadline; nothing was written, try again",
            );
            other.with_lock("other", Duration::from_millis(50), &mut || Ok(()))
        })
        .unwrap();
    // Released, even after a failing holder.
    let failed = access.with_lock("k", Duration::from_secs(1), &mut || {
        Err(flavorbox::Error::host("the holder failed"))
    });
    assert!(failed.is_err());
    other
        .with_lock("k", Duration::from_millis(500), &mut || Ok(()))
        .unwrap();
}
