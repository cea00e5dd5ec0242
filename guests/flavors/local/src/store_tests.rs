//! The operations over a namespace that behaves as the host's: what each
//! reads and writes, the quota, and secrets the 0.1 flavor stored.

use super::*;
use crate::codec::encode_legacy;
use crate::memory::Memory;
use crate::versions::State;

const N: usize = 10;

fn values(pairs: &[(&str, &str)]) -> Values {
    Values(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn keys(ns: &Memory) -> Vec<&str> {
    ns.entries.keys().map(String::as_str).collect()
}

fn registered(name: &str) -> Memory {
    let mut ns = Memory::default();
    ns.call(|ns| register(ns, name, "arbitrary", values(&[("v", "1")]), vec![], 10))
        .unwrap();
    ns
}

fn put(ns: &mut Memory, name: &str, value: &str, now: Timestamp, max: usize) -> Version {
    ns.call(|ns| {
        update(
            ns,
            name,
            "arbitrary",
            values(&[("v", value)]),
            None,
            now,
            max,
        )
    })
    .unwrap()
}

fn states(ns: &mut Memory, name: &str) -> Vec<(Version, State)> {
    history(ns, name)
        .unwrap()
        .1
        .into_iter()
        .map(|info| (info.version, info.state))
        .collect()
}

#[test]
fn a_get_reads_two_entries_and_an_update_writes_two() {
    let mut ns = registered("db");
    assert_eq!(keys(&ns), vec!["secrets/db", "versions/db/1"]);
    ns.reset_counts();
    let read = get(&mut ns, "db", None).unwrap();
    assert_eq!(
        read,
        Read {
            version: 1,
            schema: "arbitrary".into(),
            values: values(&[("v", "1")])
        }
    );
    assert_eq!(ns.gets, 2);
    ns.reset_counts();
    assert_eq!(put(&mut ns, "db", "2", 20, N), 2);
    assert_eq!((ns.gets, ns.sets), (1, 2));
    assert_eq!(
        get(&mut ns, "db", Some(1)).unwrap().values,
        values(&[("v", "1")])
    );
    assert_eq!(
        get(&mut ns, "db", None).unwrap().values,
        values(&[("v", "2")])
    );
    assert!(matches!(
        get(&mut ns, "db", Some(3)),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        get(&mut ns, "nope", None),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn register_refuses_a_taken_name_a_deleted_one_too_and_the_reserved_key() {
    let mut ns = registered("db");
    let again = ns.call(|ns| register(ns, "db", "a", values(&[]), vec![], 11));
    assert!(matches!(again, Err(Error::AlreadyExists(_))));
    ns.call(|ns| delete(ns, "db", false, 12)).unwrap();
    let again = ns.call(|ns| register(ns, "db", "a", values(&[]), vec![], 13));
    assert!(matches!(again, Err(Error::AlreadyExists(d)) if d.contains("deleted")));
    let reserved = values(&[(ZENML_SCHEMA_NAME, "x")]);
    let refused = ns.call(|ns| register(ns, "other", "a", reserved.clone(), vec![], 14));
    assert!(matches!(refused, Err(Error::Invalid(_))));
    let refused = ns.call(|ns| update(ns, "db", "a", reserved, None, 14, N));
    assert!(matches!(
        refused,
        Err(Error::Invalid(_)) | Err(Error::NotFound(_))
    ));
}

#[test]
fn a_stale_check_and_set_conflicts_with_nothing_written() {
    let mut ns = registered("db");
    put(&mut ns, "db", "2", 20, N);
    let before = ns.entries.clone();
    let stale = ns.call(|ns| update(ns, "db", "a", values(&[("v", "x")]), Some(1), 30, N));
    assert!(matches!(stale, Err(Error::Conflict(_))));
    assert_eq!(ns.entries, before);
    let fresh = ns.call(|ns| update(ns, "db", "a", values(&[("v", "3")]), Some(2), 30, N));
    assert_eq!(fresh, Ok(3));
}

#[test]
fn trimming_deletes_the_values_of_dropped_versions() {
    let mut ns = registered("db");
    for (i, value) in ["2", "3", "4"].into_iter().enumerate() {
        put(&mut ns, "db", value, 20 + i as u64, 2);
    }
    assert_eq!(
        keys(&ns),
        vec!["secrets/db", "versions/db/3", "versions/db/4"]
    );
    assert_eq!(
        states(&mut ns, "db"),
        vec![(3, State::Previous), (4, State::Current)]
    );
}

#[test]
fn an_update_that_fits_after_trimming_passes_a_full_quota() {
    // Exactly full at max_versions = 3: record plus three values entries.
    let mut probe = registered("db");
    for value in ["2", "3"] {
        put(&mut probe, "db", value, 20, 3);
    }
    let (keys_used, bytes_used) = probe.usage();
    let mut ns = Memory {
        quota: Some((keys_used, bytes_used + 16)),
        ..registered("db")
    };
    for value in ["2", "3", "4", "5", "6"] {
        put(&mut ns, "db", value, 20, 3);
    }
    assert_eq!(ns.usage().0, keys_used);
    assert_eq!(
        get(&mut ns, "db", None).unwrap().values,
        values(&[("v", "6")])
    );
}

#[test]
fn a_write_past_the_quota_is_denied_and_leaves_nothing_written() {
    let mut ns = registered("db");
    put(&mut ns, "db", "2", 20, 2);
    let (keys_used, bytes_used) = ns.usage();
    ns.quota = Some((keys_used, bytes_used + 8));
    let before = ns.entries.clone();
    let big = "x".repeat(64);
    // Trimming version 1 frees a little, the new value needs more.
    let refused = ns.call(|ns| update(ns, "db", "a", values(&[("v", &big)]), None, 30, 2));
    assert!(
        matches!(&refused, Err(Error::Denied(d)) if d.contains("quota")),
        "{refused:?}"
    );
    assert_eq!(ns.entries, before);
    // A new secret needs a key more than the quota has.
    let refused = ns.call(|ns| register(ns, "other", "a", values(&[]), vec![], 30));
    assert!(matches!(refused, Err(Error::Denied(_))));
    assert_eq!(ns.entries, before);
}

#[test]
fn an_entry_of_the_0_1_flavor_reads_as_version_1_in_one_read() {
    let mut ns = Memory::default();
    ns.entries.insert(
        "secrets/old".into(),
        encode_legacy("aws", &[("key", "v4lue")]),
    );
    ns.reset_counts();
    let read = get(&mut ns, "old", None).unwrap();
    assert_eq!(
        (read.version, read.schema.as_str(), read.values),
        (1, "aws", values(&[("key", "v4lue")]))
    );
    assert_eq!(ns.gets, 1);
    assert_eq!(
        get(&mut ns, "old", Some(1)).unwrap().values,
        values(&[("key", "v4lue")])
    );
    assert!(matches!(
        get(&mut ns, "old", Some(2)),
        Err(Error::NotFound(_))
    ));
    assert_eq!(states(&mut ns, "old"), vec![(1, State::Current)]);
    let meta = metadata(&mut ns, "old").unwrap();
    assert_eq!((meta.current, meta.created, meta.updated), (1, 0, 0));
    assert_eq!(names(&mut ns).unwrap(), vec!["old"]);
    // Reading converts nothing.
    assert_eq!(keys(&ns), vec!["secrets/old"]);
}

#[test]
fn the_next_write_converts_an_entry_of_the_0_1_flavor() {
    let legacy = encode_legacy("aws", &[("key", "v4lue")]);
    let mut ns = Memory::default();
    ns.entries.insert("secrets/old".into(), legacy.clone());
    assert_eq!(put(&mut ns, "old", "new", 50, N), 2);
    assert_eq!(
        keys(&ns),
        vec!["secrets/old", "versions/old/1", "versions/old/2"]
    );
    assert_ne!(ns.entries["secrets/old"], legacy);
    let read = get(&mut ns, "old", Some(1)).unwrap();
    assert_eq!(
        (read.version, read.schema.as_str(), read.values),
        (1, "aws", values(&[("key", "v4lue")]))
    );
    assert_eq!(
        get(&mut ns, "old", None).unwrap().values,
        values(&[("v", "new")])
    );
    let (meta, versions) = history(&mut ns, "old").unwrap();
    assert_eq!((meta.created, meta.updated, meta.current), (0, 50, 2));
    assert_eq!((versions[0].created, versions[1].created), (0, 50));

    // Kept to one version, the old values are never written.
    let mut ns = Memory::default();
    ns.entries.insert("secrets/old".into(), legacy.clone());
    put(&mut ns, "old", "new", 50, 1);
    assert_eq!(keys(&ns), vec!["secrets/old", "versions/old/2"]);

    // Labels and soft delete convert too; restore brings version 1 back.
    let mut ns = Memory::default();
    ns.entries.insert("secrets/old".into(), legacy.clone());
    ns.call(|ns| set_labels(ns, "old", vec![("k".into(), "v".into())], 5))
        .unwrap();
    assert_eq!(keys(&ns), vec!["secrets/old", "versions/old/1"]);
    ns.call(|ns| delete(ns, "old", false, 6)).unwrap();
    assert_eq!(keys(&ns), vec!["deleted/old", "versions/old/1"]);
    ns.call(|ns| restore(ns, "old", 7)).unwrap();
    assert_eq!(
        get(&mut ns, "old", None).unwrap().values,
        values(&[("key", "v4lue")])
    );
    assert_eq!(metadata(&mut ns, "old").unwrap().labels.len(), 1);

    // A purge removes the 0.1 entry; destroying its only version is refused.
    let mut ns = Memory::default();
    ns.entries.insert("secrets/old".into(), legacy);
    let refused = ns.call(|ns| destroy(ns, "old", &[1], 60));
    assert!(matches!(refused, Err(Error::Invalid(_))));
    ns.call(|ns| delete(ns, "old", true, 8)).unwrap();
    assert!(ns.entries.is_empty());
}

#[test]
fn soft_delete_moves_the_record_and_restore_moves_it_back() {
    let mut ns = registered("db");
    put(&mut ns, "db", "2", 20, N);
    ns.call(|ns| delete(ns, "db", false, 30)).unwrap();
    assert_eq!(
        keys(&ns),
        vec!["deleted/db", "versions/db/1", "versions/db/2"]
    );
    assert!(names(&mut ns).unwrap().is_empty());
    assert!(matches!(get(&mut ns, "db", None), Err(Error::NotFound(d)) if d.contains("deleted")));
    assert!(list(&mut ns, false).unwrap().is_empty());
    let listed = list(&mut ns, true).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].1.deleted && listed[0].1.updated == 30);
    assert!(metadata(&mut ns, "db").unwrap().deleted);
    assert_eq!(
        states(&mut ns, "db"),
        vec![(1, State::Previous), (2, State::Deleted)]
    );
    for refused in [
        ns.call(|ns| delete(ns, "db", false, 31)),
        ns.call(|ns| set_labels(ns, "db", vec![], 31)),
        ns.call(|ns| update(ns, "db", "a", values(&[]), None, 31, N).map(drop)),
        ns.call(|ns| restore(ns, "nope", 31)),
    ] {
        assert!(matches!(refused, Err(Error::NotFound(_))), "{refused:?}");
    }
    ns.call(|ns| restore(ns, "db", 40)).unwrap();
    assert!(matches!(
        ns.call(|ns| restore(ns, "db", 41)),
        Err(Error::Invalid(_))
    ));
    assert_eq!(names(&mut ns).unwrap(), vec!["db"]);
    assert_eq!(
        get(&mut ns, "db", Some(1)).unwrap().values,
        values(&[("v", "1")])
    );
    assert_eq!(metadata(&mut ns, "db").unwrap().updated, 40);
    assert_eq!(put(&mut ns, "db", "3", 50, N), 3);
}

#[test]
fn purge_removes_every_version_live_or_deleted() {
    let mut ns = registered("db");
    put(&mut ns, "db", "2", 20, N);
    ns.call(|ns| delete(ns, "db", true, 30)).unwrap();
    assert!(ns.entries.is_empty());

    let mut ns = registered("db");
    put(&mut ns, "db", "2", 20, N);
    ns.call(|ns| destroy(ns, "db", &[1], 60)).unwrap();
    ns.call(|ns| delete(ns, "db", false, 30)).unwrap();
    ns.call(|ns| delete(ns, "db", true, 31)).unwrap();
    assert!(ns.entries.is_empty());
    assert!(matches!(
        ns.call(|ns| delete(ns, "db", true, 32)),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn destroy_deletes_values_and_keeps_the_number() {
    let mut ns = registered("db");
    put(&mut ns, "db", "2", 20, N);
    put(&mut ns, "db", "3", 30, N);
    let before = ns.entries.clone();
    let refused = ns.call(|ns| destroy(ns, "db", &[1, 3], 60));
    assert!(matches!(refused, Err(Error::Invalid(_))));
    assert_eq!(ns.entries, before);
    ns.call(|ns| destroy(ns, "db", &[1, 2], 60)).unwrap();
    assert_eq!(keys(&ns), vec!["secrets/db", "versions/db/3"]);
    assert_eq!(metadata(&mut ns, "db").unwrap().updated, 60);
    assert!(matches!(
        ns.call(|ns| destroy(ns, "nope", &[1], 61)),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        states(&mut ns, "db"),
        vec![
            (1, State::Destroyed),
            (2, State::Destroyed),
            (3, State::Current)
        ]
    );
    assert!(matches!(
        get(&mut ns, "db", Some(2)),
        Err(Error::NotFound(_))
    ));
    // Nothing left to destroy: nothing written.
    ns.reset_counts();
    ns.call(|ns| destroy(ns, "db", &[1], 60)).unwrap();
    assert_eq!(ns.sets, 0);
    // On a soft-deleted secret the record stays where it is.
    put(&mut ns, "db", "4", 40, N);
    ns.call(|ns| delete(ns, "db", false, 41)).unwrap();
    ns.call(|ns| destroy(ns, "db", &[3], 60)).unwrap();
    assert_eq!(keys(&ns), vec!["deleted/db", "versions/db/4"]);
}

#[test]
fn labels_are_replaced_whole_and_make_no_version() {
    let mut ns = Memory::default();
    let labels = vec![("env".to_string(), "prod".to_string())];
    ns.call(|ns| register(ns, "db", "a", values(&[]), labels.clone(), 1))
        .unwrap();
    assert_eq!(metadata(&mut ns, "db").unwrap().labels, labels);
    ns.call(|ns| set_labels(ns, "db", vec![("team".into(), "ml".into())], 2))
        .unwrap();
    let meta = metadata(&mut ns, "db").unwrap();
    assert_eq!(meta.labels, vec![("team".to_string(), "ml".to_string())]);
    assert_eq!((meta.current, meta.updated), (1, 2));
    assert_eq!(keys(&ns), vec!["secrets/db", "versions/db/1"]);
}

#[test]
fn delete_all_needs_force_and_then_removes_everything() {
    let mut ns = registered("a");
    ns.call(|ns| register(ns, "b", "a", values(&[]), vec![], 1))
        .unwrap();
    ns.call(|ns| delete(ns, "b", false, 2)).unwrap();
    let before = ns.entries.clone();
    assert!(matches!(
        ns.call(|ns| delete_all(ns, false)),
        Err(Error::Invalid(_))
    ));
    assert_eq!(ns.entries, before);
    ns.call(|ns| delete_all(ns, true)).unwrap();
    assert!(ns.entries.is_empty());
}

#[test]
fn a_missing_values_entry_is_a_backend_error() {
    let mut ns = registered("db");
    ns.entries.remove("versions/db/1");
    assert!(matches!(
        get(&mut ns, "db", None),
        Err(Error::Backend(d)) if d.contains("missing")
    ));
}
