//! The audit log on both backends: entries kept in order, linked into one
//! hash chain (also when two handles append at once), a deleted, altered
//! or cut-off record named by `verify_audit` at the record where the chain
//! breaks, and pruning by count and age that moves the chain's start,
//! records itself in the chain, and still verifies.

use std::time::Duration;

use flavorbox::store::{
    AccessStore, AuditEntry, AuditFilter, AuditRetention, AuditVerdict, CHAIN_ORIGIN, chain_link,
};

use crate::Place;

on_both_backends!(
    the_audit_log_keeps_the_latest_entries_in_order,
    a_filtered_reading_looks_past_the_latest_entries_and_matches_every_filter,
    appended_records_form_one_chain_that_verifies,
    a_deleted_record_is_named_where_the_chain_breaks,
    an_altered_record_is_named_even_with_its_link_rewritten,
    records_cut_from_the_end_are_noticed,
    pruning_moves_the_chains_start_and_still_verifies,
    pruning_by_age_keeps_the_younger_records,
);

fn entry(i: i64) -> AuditEntry {
    AuditEntry {
        at_ms: i,
        last_ms: i,
        count: 1,
        peer: "127.0.0.1".into(),
        token: (i % 2 == 0).then(|| format!("t{i}")),
        manager: Some("default".into()),
        operation: "get-secret".into(),
        secret: Some(format!("s{i}")),
        outcome: "ok".into(),
        status: 200,
    }
}

/// A store holding entries `1..=n`, appended in batches of up to 3.
fn filled(place: &Place, n: i64) -> std::sync::Arc<dyn AccessStore> {
    let access = place.open().access;
    let entries: Vec<AuditEntry> = (1..=n).map(entry).collect();
    for batch in entries.chunks(3) {
        access.append_audit(batch).unwrap();
    }
    access
}

#[track_caller]
fn intact(access: &dyn AccessStore) -> (u64, i64, i64) {
    match access.verify_audit().unwrap() {
        AuditVerdict::Intact {
            records,
            pruned_through,
            head,
            ..
        } => (records, pruned_through, head.seq),
        broken => panic!("the chain should be intact: {broken:?}"),
    }
}

#[track_caller]
fn broken_at(access: &dyn AccessStore) -> (i64, String) {
    match access.verify_audit().unwrap() {
        AuditVerdict::Broken { seq, reason } => (seq, reason),
        intact => panic!("the chain should be broken: {intact:?}"),
    }
}

fn the_audit_log_keeps_the_latest_entries_in_order(place: &Place) {
    let access = place.open().access;
    for i in 0..3 {
        access.append_audit(&[entry(i)]).unwrap();
    }
    // A batch is appended in its order.
    access.append_audit(&[entry(3), entry(4)]).unwrap();
    assert!(access.append_audit(&[]).unwrap().is_empty());
    let last = access.audit(2).unwrap();
    assert_eq!(last, [entry(3), entry(4)]);
    assert_eq!(access.audit(100).unwrap().len(), 5);
}

fn a_filtered_reading_looks_past_the_latest_entries_and_matches_every_filter(place: &Place) {
    let access = filled(place, 40);
    let mut refused = entry(41);
    refused.outcome = "forbidden".into();
    refused.manager = Some("other".into());
    access.append_audit(&[refused.clone()]).unwrap();
    let secrets = |filter: &AuditFilter, limit| -> Vec<Option<String>> {
        let found = access.audit_matching(filter, limit).unwrap();
        found.into_iter().map(|e| e.secret).collect()
    };
    // A token names one entry among forty.
    let by_token = AuditFilter {
        token: Some("t4".into()),
        ..AuditFilter::default()
    };
    assert_eq!(secrets(&by_token, 10), [Some("s4".to_string())]);
    let by_outcome = AuditFilter {
        outcome: Some("forbidden".into()),
        ..AuditFilter::default()
    };
    assert_eq!(access.audit_matching(&by_outcome, 10).unwrap(), [refused]);
    let by_manager = AuditFilter {
        manager: Some("default".into()),
        ..AuditFilter::default()
    };
    assert_eq!(
        secrets(&by_manager, 2),
        [Some("s39".into()), Some("s40".into())]
    );
    // Times are inclusive at both ends, on when an entry starts.
    let window = AuditFilter {
        since_ms: Some(3),
        until_ms: Some(5),
        ..by_manager.clone()
    };
    let expected: Vec<_> = (3..=5).map(|i| Some(format!("s{i}"))).collect();
    assert_eq!(secrets(&window, 100), expected);
    // Every filter at once narrows to what matches all of them.
    let none = AuditFilter {
        outcome: Some("forbidden".into()),
        ..by_manager
    };
    assert!(access.audit_matching(&none, 100).unwrap().is_empty());
    assert_eq!(access.audit(100).unwrap().len(), 41);
}

fn appended_records_form_one_chain_that_verifies(place: &Place) {
    let access = place.open().access;
    assert_eq!(intact(access.as_ref()), (0, 0, 0), "an empty chain");
    let links = access.append_audit(&[entry(1), entry(2)]).unwrap();
    assert_eq!(links[0].seq, 1);
    assert_eq!(links[0].hash, chain_link(CHAIN_ORIGIN, 1, &entry(1)));
    assert_eq!(links[1].hash, chain_link(&links[0].hash, 2, &entry(2)));
    // Two handles (two nodes of one store) appending at once keep one
    // chain.
    let other = place.open().access;
    std::thread::scope(|s| {
        for handle in [&access, &other] {
            s.spawn(move || {
                for i in 0..20 {
                    handle.append_audit(&[entry(i), entry(i + 1)]).unwrap();
                }
            });
        }
    });
    assert_eq!(intact(access.as_ref()), (82, 0, 82));
}

fn a_deleted_record_is_named_where_the_chain_breaks(place: &Place) {
    let access = filled(place, 6);
    place.exec("DELETE FROM audit WHERE seq = 3");
    assert_eq!(
        broken_at(access.as_ref()),
        (3, "record 3 is missing (deleted)".to_string())
    );
    place.exec("DELETE FROM audit WHERE seq IN (1, 2)");
    assert_eq!(
        broken_at(access.as_ref()),
        (1, "records 1 to 3 are missing (deleted)".to_string())
    );
}

fn an_altered_record_is_named_even_with_its_link_rewritten(place: &Place) {
    let access = filled(place, 5);
    place.exec("UPDATE audit SET peer = '10.6.6.6' WHERE seq = 2");
    let (seq, reason) = broken_at(access.as_ref());
    assert_eq!(seq, 2);
    assert!(reason.contains("does not match its link"), "{reason}");
    // Rewriting the altered record's link moves the break to the next one.
    let first = chain_link(CHAIN_ORIGIN, 1, &entry(1));
    let altered = AuditEntry {
        peer: "10.6.6.6".into(),
        ..entry(2)
    };
    let rewritten = chain_link(&first, 2, &altered);
    place.exec(&format!(
        "UPDATE audit SET hash = '{rewritten}' WHERE seq = 2"
    ));
    assert_eq!(broken_at(access.as_ref()).0, 3);
}

fn records_cut_from_the_end_are_noticed(place: &Place) {
    let access = filled(place, 5);
    place.exec("DELETE FROM audit WHERE seq >= 4");
    assert_eq!(
        broken_at(access.as_ref()),
        (
            4,
            "the chain ends at record 3 but its head is record 5 (records deleted from its end)"
                .to_string()
        )
    );
}

fn pruning_moves_the_chains_start_and_still_verifies(place: &Place) {
    let access = filled(place, 10);
    let keep_four = AuditRetention {
        max_age: None,
        max_records: Some(4),
    };
    assert_eq!(access.prune_audit(&keep_four, 1_000).unwrap(), 7);
    // Records 8 to 10, and the record of the pruning.
    assert_eq!(intact(access.as_ref()), (4, 7, 11));
    let kept = access.audit(100).unwrap();
    assert_eq!(kept.len(), 4);
    assert_eq!(kept[0], entry(8));
    let pruning = &kept[3];
    assert_eq!(
        (pruning.operation.as_str(), pruning.count, pruning.at_ms),
        ("prune-audit", 7, 1_000)
    );
    // Nothing past retention: nothing pruned, nothing recorded.
    assert_eq!(access.prune_audit(&keep_four, 1_000).unwrap(), 0);
    assert_eq!(intact(access.as_ref()), (4, 7, 11));
    // A record deleted by hand after the new start is still noticed.
    place.exec("DELETE FROM audit WHERE seq = 8");
    assert_eq!(
        broken_at(access.as_ref()),
        (8, "record 8 is missing (deleted)".to_string())
    );
}

fn pruning_by_age_keeps_the_younger_records(place: &Place) {
    let access = place.open().access;
    let entries: Vec<AuditEntry> = (1..=6).map(|i| entry(i * 1_000)).collect();
    access.append_audit(&entries).unwrap();
    let two_seconds = AuditRetention {
        max_age: Some(Duration::from_secs(2)),
        max_records: None,
    };
    // At 5.5 s, entries begun before 3.5 s are past 2 s.
    assert_eq!(access.prune_audit(&two_seconds, 5_500).unwrap(), 3);
    let kept: Vec<i64> = access.audit(100).unwrap().iter().map(|e| e.at_ms).collect();
    assert_eq!(kept, [4_000, 5_000, 6_000, 5_500]);
    assert_eq!(intact(access.as_ref()), (4, 3, 7));
}
