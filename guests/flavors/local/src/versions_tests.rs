//! The record's rules, one test each: numbering, check-and-set, trimming,
//! soft delete and restore, destroy, labels, listing, time monotonicity.

use super::*;

const N: usize = 10;

fn numbers(record: &Record) -> Vec<Version> {
    record.kept.iter().map(|kept| kept.number).collect()
}

fn states(record: &Record) -> Vec<(Version, State)> {
    record
        .list_versions()
        .into_iter()
        .map(|info| (info.version, info.state))
        .collect()
}

#[test]
fn a_new_secret_is_version_1_written_now() {
    let record = Record::new("arbitrary", vec![("team".into(), "ml".into())], 42);
    assert_eq!(record.check(), Ok(()));
    let meta = record.metadata();
    assert_eq!(
        meta,
        Metadata {
            schema: "arbitrary".into(),
            created: 42,
            updated: 42,
            current: 1,
            deleted: false,
            labels: vec![("team".into(), "ml".into())],
        }
    );
    assert_eq!(
        record.list_versions(),
        vec![VersionInfo {
            version: 1,
            created: 42,
            state: State::Current
        }]
    );
}

#[test]
fn updates_number_up_and_the_newest_is_current() {
    let mut record = Record::new("a", vec![], 1);
    assert_eq!(record.add_version("s", "b", None, 2, N).unwrap().number, 2);
    assert_eq!(record.add_version("s", "c", None, 3, N).unwrap().number, 3);
    assert_eq!(
        states(&record),
        vec![
            (1, State::Previous),
            (2, State::Previous),
            (3, State::Current)
        ]
    );
    // Each version keeps its own schema; metadata shows the current one.
    assert_eq!(record.readable("s", Some(1)).unwrap().schema, "a");
    assert_eq!(record.readable("s", None).unwrap().schema, "c");
    assert_eq!(record.metadata().schema, "c");
    assert_eq!((record.created, record.updated), (1, 3));
    assert_eq!(record.kept[1].created, 2);
}

#[test]
fn check_and_set_conflicts_when_the_secret_moved_on_and_changes_nothing() {
    let mut record = Record::new("a", vec![], 1);
    record.add_version("s", "a", Some(1), 2, N).unwrap();
    let before = record.clone();
    for stale in [1, 3, 0] {
        let err = record.add_version("s", "a", Some(stale), 9, N).unwrap_err();
        assert!(
            matches!(&err, Error::Conflict(d) if d.contains("version 2, not")),
            "{err:?}"
        );
        assert_eq!(record, before);
    }
    assert_eq!(
        record.add_version("s", "a", Some(2), 3, N).unwrap().number,
        3
    );
}

#[test]
fn the_oldest_versions_are_dropped_past_max_and_numbers_never_reused() {
    let mut record = Record::new("a", vec![], 1);
    for now in 2..=4 {
        let written = record.add_version("s", "a", None, now, 3).unwrap();
        let expected: Vec<Version> = if now == 4 { vec![1] } else { vec![] };
        assert_eq!(written.dropped_values, expected);
    }
    assert_eq!(numbers(&record), vec![2, 3, 4]);
    assert!(matches!(
        record.readable("s", Some(1)),
        Err(Error::NotFound(d)) if d.contains("no version 1")
    ));
    // Lowering the maximum trims several at the next write.
    let written = record.add_version("s", "a", None, 5, 1).unwrap();
    assert_eq!(
        written,
        Written {
            number: 5,
            dropped_values: vec![2, 3, 4]
        }
    );
    assert_eq!(numbers(&record), vec![5]);
    // Destroying everything but the current and writing again still counts up.
    assert_eq!(record.add_version("s", "a", None, 6, 1).unwrap().number, 6);
    // A maximum of 0 (never configured so) still keeps the current version.
    record.add_version("s", "a", None, 7, 0).unwrap();
    assert_eq!(numbers(&record), vec![7]);
}

#[test]
fn a_destroyed_version_trimmed_has_no_values_to_drop() {
    let mut record = Record::new("a", vec![], 1);
    record.add_version("s", "a", None, 2, 2).unwrap();
    assert_eq!(record.destroy("s", &[1], 2).unwrap(), vec![1]);
    let written = record.add_version("s", "a", None, 3, 2).unwrap();
    assert_eq!(written.dropped_values, Vec::<Version>::new());
    assert_eq!(numbers(&record), vec![2, 3]);
}

#[test]
fn soft_delete_hides_everything_until_restore() {
    let mut record = Record::new("a", vec![("k".into(), "v".into())], 1);
    record.add_version("s", "a", None, 2, N).unwrap();
    record.add_version("s", "a", None, 2, N).unwrap();
    record.destroy("s", &[1], 2).unwrap();
    record.soft_delete("s", 3).unwrap();
    assert!(record.metadata().deleted);
    assert_eq!(record.updated, 3);
    // Only the version current at the delete reads as deleted.
    assert_eq!(
        states(&record),
        vec![
            (1, State::Destroyed),
            (2, State::Previous),
            (3, State::Deleted)
        ]
    );
    assert_eq!(record.metadata().current, 3);
    for version in [None, Some(2), Some(3)] {
        assert!(matches!(
            record.readable("s", version),
            Err(Error::NotFound(d)) if d.contains("deleted")
        ));
    }
    assert!(matches!(
        record.soft_delete("s", 4),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        record.add_version("s", "a", None, 4, N),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        record.set_labels("s", vec![], 4),
        Err(Error::NotFound(_))
    ));

    record.restore("s", 5).unwrap();
    assert_eq!(record.updated, 5);
    assert_eq!(record.labels, vec![("k".to_string(), "v".to_string())]);
    assert_eq!(
        states(&record),
        vec![
            (1, State::Destroyed),
            (2, State::Previous),
            (3, State::Current)
        ]
    );
    assert!(matches!(record.restore("s", 6), Err(Error::Invalid(_))));
    // Numbering goes on where it was.
    assert_eq!(record.add_version("s", "a", None, 7, N).unwrap().number, 4);
}

#[test]
fn destroy_refuses_the_current_version_and_unknown_numbers_all_or_nothing() {
    let mut record = Record::new("a", vec![], 1);
    record.add_version("s", "a", None, 2, 2).unwrap();
    record.add_version("s", "a", None, 3, 2).unwrap();
    // Kept: 2 and 3 (current); 1 was trimmed.
    let before = record.clone();
    for (request, fragment) in [
        (vec![2, 3], "current version"),
        (vec![2, 4], "never had a version 4"),
        (vec![0], "never had a version 0"),
    ] {
        let err = record.destroy("s", &request, 9).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(d) if d.contains(fragment)),
            "{request:?}: {err:?}"
        );
        assert_eq!(record, before, "{request:?} changed the record");
    }
    // A trimmed number, a repeat, and a version destroyed twice are fine.
    assert_eq!(record.destroy("s", &[1, 2, 2], 4).unwrap(), vec![2]);
    assert_eq!(record.updated, 4);
    assert_eq!(record.destroy("s", &[2], 5).unwrap(), Vec::<Version>::new());
    assert_eq!(record.updated, 4, "destroying nothing is no change");
    assert!(matches!(
        record.readable("s", Some(2)),
        Err(Error::NotFound(d)) if d.contains("destroyed")
    ));
    let info = &record.list_versions()[0];
    assert_eq!(
        (info.version, info.created, info.state),
        (2, 2, State::Destroyed)
    );
}

#[test]
fn a_soft_deleted_secret_keeps_its_deleted_version_from_destroy() {
    let mut record = Record::new("a", vec![], 1);
    record.add_version("s", "a", None, 2, N).unwrap();
    record.soft_delete("s", 3).unwrap();
    assert!(matches!(
        record.destroy("s", &[2], 4),
        Err(Error::Invalid(d)) if d.contains("current version")
    ));
    assert_eq!(record.destroy("s", &[1], 4).unwrap(), vec![1]);
    assert_eq!(record.updated, 4);
}

#[test]
fn labels_make_no_version_but_an_update_time() {
    let mut record = Record::new("a", vec![], 1);
    record
        .set_labels("s", vec![("env".into(), "prod".into())], 2)
        .unwrap();
    assert_eq!(record.current().number, 1);
    assert_eq!(
        record.metadata().labels,
        vec![("env".into(), "prod".into())]
    );
    assert_eq!(record.updated, 2);
}

#[test]
fn times_never_go_backwards_when_the_clock_does() {
    let mut record = Record::new("a", vec![], 100);
    record.add_version("s", "a", None, 50, N).unwrap();
    assert_eq!((record.updated, record.kept[1].created), (100, 100));
    record.set_labels("s", vec![], 10).unwrap();
    record.soft_delete("s", 0).unwrap();
    record.restore("s", 99).unwrap();
    assert_eq!(record.updated, 100);
    record.add_version("s", "a", None, 200, N).unwrap();
    record.add_version("s", "a", None, 150, N).unwrap();
    let created: Vec<Timestamp> = record.kept.iter().map(|kept| kept.created).collect();
    assert_eq!(created, vec![100, 100, 200, 200]);
    assert_eq!(record.updated, 200);
    assert_eq!(record.created, 100);
}

#[test]
fn a_legacy_secret_is_version_1_with_unknown_times_and_no_history() {
    let mut record = Record::legacy("aws");
    assert_eq!(record.check(), Ok(()));
    let meta = record.metadata();
    assert_eq!((meta.current, meta.created, meta.updated), (1, 0, 0));
    assert!(meta.labels.is_empty());
    assert_eq!(states(&record), vec![(1, State::Current)]);
    record.add_version("s", "aws", None, 7, N).unwrap();
    assert_eq!(
        states(&record),
        vec![(1, State::Previous), (2, State::Current)]
    );
    assert_eq!((record.created, record.updated), (0, 7));
}

#[test]
fn check_rejects_broken_records() {
    let good = {
        let mut record = Record::new("a", vec![], 1);
        record.add_version("s", "a", None, 2, N).unwrap();
        record
    };
    let mut destroyed_current = good.clone();
    destroyed_current.kept[1].destroyed = true;
    let mut unordered = good.clone();
    unordered.kept.swap(0, 1);
    let mut zero = good.clone();
    zero.kept[0].number = 0;
    let mut time_travel = good.clone();
    time_travel.created = 3;
    let mut empty = good.clone();
    empty.kept.clear();
    for broken in [destroyed_current, unordered, zero, time_travel, empty] {
        assert!(broken.check().is_err(), "{broken:?}");
    }
}
