//! The audit log over HTTP cannot be turned against the server: thousands
//! of bad-token requests from one address add a handful of entries that
//! carry their count (written at the interval's end, and when the node
//! stops), retention prunes by age and count, the audit file rotates at its
//! size with a bounded number of files, and `flavorbox audit verify` finds
//! the chain intact (pruned too) until a row is deleted or altered in the
//! database, then names the record and exits 1.

use std::path::Path;
use std::time::{Duration, Instant};

use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::serve_node::{Node, call_port};
use serde_json::Value;

use crate::{cli_on, start_with, token};

/// The audit entries `flavorbox audit` shows (the latest 10,000).
fn entries(store: &str) -> Vec<Value> {
    let all = cli_on(store, &["audit", "--limit", "10000", "--output", "json"]).json();
    all.as_array().unwrap().clone()
}

/// The refused-authentication entries and the requests they count.
fn refusals(store: &str) -> (Vec<Value>, u64) {
    let refused: Vec<Value> = entries(store)
        .into_iter()
        .filter(|e| e["operation"] == "authenticate")
        .collect();
    let counted = refused.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    (refused, counted)
}

/// Waits up to 20 s for `done`.
#[track_caller]
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends `n` requests with a made-up token from 4 clients at once.
fn bad_token_requests(port: u16, n: usize) -> Vec<u16> {
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(move || {
                    (0..n / 4)
                        .map(|_| {
                            call_port(port, "GET", "/v1/whoami", Some("fbx_guess_x"), "").status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    })
}

/// `n` requests with `token` that `node` answers `200`.
fn whoami(node: &Node, token: &str, n: usize) {
    for _ in 0..n {
        let answer = node.call("GET", "/v1/whoami", Some(token), None);
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

/// Stops `node` with SIGTERM and waits for it to exit cleanly.
pub(crate) fn stop(node: &mut Node) {
    // SAFETY: signals the node this test started.
    assert_eq!(
        unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) },
        0
    );
    assert!(node.child.wait().unwrap().success());
}

fn files_in(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn bad_tokens_from_one_address_add_a_handful_of_entries_with_their_count() {
    let url = Postgres::shared().database();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let node = start_with(
        &url,
        &[
            "--audit-refusal-interval",
            "2",
            "--audit-file",
            file.to_str().unwrap(),
        ],
    );
    let before = entries(&url).len();
    let started = Instant::now();
    let statuses = bad_token_requests(node.port, 2_400);
    let took = started.elapsed();
    assert_eq!(statuses.len(), 2_400);
    // 10 failures, then the address is refused (a few more 401s may pass
    // while the 4 clients' checks race the count).
    let answered_401 = statuses.iter().filter(|s| **s == 401).count() as u64;
    assert!(
        (10..=14).contains(&answered_401),
        "{answered_401} answered 401"
    );
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429));
    eventually("the refusals to be written", || refusals(&url).1 == 2_400);
    let (refused, _) = refusals(&url);
    // One entry per status per 2 s interval the requests spanned.
    let intervals = took.as_secs() as usize / 2 + 2;
    assert!(
        refused.len() <= 2 * intervals,
        "{} entries for 2,400 refusals in {took:?}",
        refused.len()
    );
    assert_eq!(entries(&url).len() - before, refused.len());
    for entry in &refused {
        assert_eq!(entry["peer"], "127.0.0.1");
        assert!(entry["token"].is_null() && entry["manager"].is_null());
        assert!(entry["at_ms"].as_i64() <= entry["last_ms"].as_i64());
    }
    let unauthorized: u64 = refused
        .iter()
        .filter(|e| e["status"] == 401)
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    assert_eq!(unauthorized, answered_401);
    // The file got the same entries, with their links.
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), refused.len());
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    assert!(
        cli_on(&url, &["audit", "verify"])
            .ok()
            .contains("chain intact")
    );
}

#[test]
fn a_stopped_node_writes_the_refusals_it_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.db").display());
    let mut node = start_with(&store, &[]);
    bad_token_requests(node.port, 20);
    // Counted for a minute by default: nothing written yet.
    assert_eq!(refusals(&store).1, 0);
    stop(&mut node);
    let (refused, counted) = refusals(&store);
    assert_eq!(counted, 20);
    assert_eq!(refused.len(), 2, "{refused:?}");
}

#[test]
fn retention_prunes_by_age_and_count_and_the_pruned_chain_verifies() {
    let url = Postgres::shared().database();
    let read = token(&url, "default", "read", &[]);
    let node = start_with(
        &url,
        &["--audit-retention", "2s", "--audit-max-records", "50"],
    );
    whoami(&node, &read, 200);
    // Pruned past 50 down to 45, at least every 5 entries appended.
    let kept = entries(&url);
    assert!(kept.len() <= 56, "{} entries kept", kept.len());
    assert!(kept.iter().any(|e| e["operation"] == "prune-audit"));
    // Past 2 s, the requests' entries are gone; the pruning is recorded.
    eventually("the old entries to be pruned", || {
        entries(&url).iter().all(|e| e["operation"] != "whoami")
    });
    let verified = cli_on(&url, &["audit", "verify"]).ok().to_string();
    assert!(verified.contains("chain intact"), "{verified}");
    assert!(verified.contains("pruned through record"), "{verified}");
}

#[test]
fn the_audit_file_rotates_at_its_size_and_keeps_a_bounded_number() {
    let url = Postgres::shared().database();
    let read = token(&url, "default", "read", &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let node = start_with(
        &url,
        &[
            "--audit-file",
            file.to_str().unwrap(),
            "--audit-file-max",
            "4K",
            "--audit-file-keep",
            "2",
        ],
    );
    whoami(&node, &read, 150);
    let files = files_in(dir.path());
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]);
    assert!(files.iter().all(|(_, len)| *len <= 4096), "{files:?}");
    // Oldest to newest, the kept lines are consecutive records ending at
    // the last one.
    let seqs: Vec<i64> = ["audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"]
        .iter()
        .flat_map(|name| {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            text.lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["seq"]
                        .as_i64()
                        .unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(*seqs.last().unwrap(), 150);
}

#[test]
fn verify_names_a_deleted_or_altered_row_and_exits_1() {
    let url = Postgres::shared().database();
    let database = url.rsplit('/').next().unwrap();
    let read = token(&url, "default", "read", &[]);
    let node = start_with(&url, &[]);
    whoami(&node, &read, 6);
    assert_eq!(
        cli_on(&url, &["audit", "verify"])
            .ok()
            .lines()
            .next()
            .unwrap(),
        format!(
            "6 records, chain intact (head: record 6 {})",
            Postgres::shared().sql(database, "SELECT hash FROM audit WHERE seq = 6")
        )
    );
    let pg = Postgres::shared();
    pg.sql(database, "UPDATE audit SET secret = 'forged' WHERE seq = 5");
    cli_on(&url, &["audit", "verify"]).fails(
        1,
        "audit chain broken at record 5: its content does not match its link",
    );
    pg.sql(database, "DELETE FROM audit WHERE seq = 3");
    cli_on(&url, &["audit", "verify"]).fails(
        1,
        "audit chain broken at record 3: record 3 is missing (deleted)",
    );
    // On an embedded store too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = format!("sqlite:{}", path.display());
    let read = token(&store, "default", "read", &[]);
    let node = start_with(&store, &[]);
    whoami(&node, &read, 3);
    assert!(
        cli_on(&store, &["audit", "verify"])
            .ok()
            .starts_with("3 records, chain intact")
    );
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE audit SET status = 403 WHERE seq = 2")
        .unwrap();
    cli_on(&store, &["audit", "verify"]).fails(1, "audit chain broken at record 2");
}
