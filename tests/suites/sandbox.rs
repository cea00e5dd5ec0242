//! The sandbox against the hostile flavors of `guests/testing/hostile`, one
//! test per attack (each crate's doc says what the host must do). Every
//! hostile guest gets its own manager `h` next to the `default` manager on
//! `local`, which holds a secret. Each test asserts that the host survives
//! (both managers keep working), that the error is of the right kind with
//! exit code 3, that the hostile manager's stored data is unchanged by the
//! failed call, and that the other manager's data is untouched.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use flavorbox::sandbox::exports::{GetAllSecretKeys, GetSecret, RegisterSecret};
use flavorbox::{Secret, Violation};
use flavorbox_tests::{Guest, TestHome, guests};

/// A home with `default` (local, holding `db_creds`) and `h` on the test
/// flavor `guest` (registered with `limits`).
fn arena(guest: Guest, limits: &[&str]) -> TestHome {
    let home = TestHome::new();
    home.cli_register(guest, "h", limits, false);
    home.register_secret("db_creds", &["username=admin", "password=hunter2-pw"]);
    home.put_raw(
        "h",
        &[(
            "secrets/stored",
            br#"{"schema":"arbitrary","values":[["k","stored-value"]]}"#,
        )],
    );
    home
}

struct Snapshot {
    hostile: BTreeMap<String, Vec<u8>>,
    local: BTreeMap<String, Vec<u8>>,
}

fn snapshot(home: &TestHome) -> Snapshot {
    Snapshot {
        hostile: home.raw_storage("h"),
        local: home.raw_storage("default"),
    }
}

/// Both managers' data are as before, and the host still serves both.
#[track_caller]
fn unharmed(home: &TestHome, before: &Snapshot) {
    unharmed_data(home, before);
    home.cli(&["secret", "list", "--manager", "h"]).ok();
}

/// Both managers' data are as before, and the host still serves `local`.
#[track_caller]
fn unharmed_data(home: &TestHome, before: &Snapshot) {
    assert_eq!(
        home.raw_storage("h"),
        before.hostile,
        "the hostile manager's data changed"
    );
    assert_eq!(
        home.raw_storage("default"),
        before.local,
        "the other manager's data changed"
    );
    let local = home.cli(&["secret", "get", "db_creds", "--reveal", "--output", "json"]);
    assert!(local.ok().contains("hunter2-pw"));
}

/// Runs a CLI attack on manager `h`: exit 3 with `sandbox: <kind>`.
#[track_caller]
fn attack(home: &TestHome, args: &[&str], kind: Violation) -> String {
    let mut args = args.to_vec();
    args.extend(["--manager", "h"]);
    home.cli(&args)
        .fails(3, &format!("sandbox: {kind}:"))
        .to_string()
}

#[test]
fn an_infinite_loop_is_stopped_at_the_deadline() {
    let home = arena(guests::HOSTILE_LOOP, &["--timeout", "0.5"]);
    let before = snapshot(&home);
    let started = Instant::now();
    let line = attack(&home, &["secret", "get", "stored"], Violation::Deadline);
    assert!(
        line.contains("get-secret ran past its 500 ms deadline"),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    unharmed(&home, &before);
}

#[test]
fn a_guest_blocked_in_a_host_call_is_stopped_at_the_deadline() {
    // An hour-long sleep waits in `wasi:io/poll`, out of reach of epoch
    // interruption; the call's timer must end it anyway.
    let home = arena(guests::HOSTILE_SLEEP, &["--timeout", "0.5"]);
    let before = snapshot(&home);
    let started = Instant::now();
    attack(&home, &["secret", "get", "stored"], Violation::Deadline);
    assert!(started.elapsed() < Duration::from_secs(30));
    unharmed(&home, &before);
}

#[test]
fn a_storm_of_host_calls_is_stopped_at_the_deadline() {
    let home = arena(guests::HOSTILE_CALL_STORM, &["--timeout", "0.5"]);
    let before = snapshot(&home);
    attack(&home, &["secret", "get", "stored"], Violation::Deadline);
    unharmed(&home, &before);
}

#[test]
fn memory_growth_is_refused_at_the_cap() {
    let home = arena(guests::HOSTILE_MEMORY, &["--memory", "16"]);
    let before = snapshot(&home);
    let line = attack(&home, &["secret", "get", "stored"], Violation::Memory);
    assert!(line.contains("more than the 16 MiB allowed"), "{line}");
    unharmed(&home, &before);
}

#[test]
fn deep_recursion_overflows_the_stack_and_traps() {
    let home = arena(guests::HOSTILE_RECURSION, &[]);
    let before = snapshot(&home);
    let line = attack(&home, &["secret", "get", "stored"], Violation::Trap);
    assert!(line.contains("call stack exhausted"), "{line}");
    unharmed(&home, &before);
}

#[test]
fn a_storage_flood_stops_at_the_quota_and_writes_nothing() {
    let home = arena(guests::HOSTILE_STORAGE_FLOOD, &["--storage-quota", "1"]);
    let before = snapshot(&home);
    let line = attack(
        &home,
        &["secret", "register", "flood", "k=v"],
        Violation::Quota,
    );
    assert!(line.contains("storage quota exceeded"), "{line}");
    unharmed(&home, &before);
}

#[test]
fn namespace_escapes_are_refused_and_reach_nothing() {
    let home = arena(guests::HOSTILE_NAMESPACE_ESCAPE, &[]);
    let before = snapshot(&home);
    let line = attack(
        &home,
        &["secret", "register", "escape", "k=v"],
        Violation::Denied,
    );
    assert!(line.contains("storage refused a key"), "{line}");
    // Its own-namespace read of `secrets/db_creds` found nothing: had it
    // found the local manager's secret it would have said so instead.
    assert!(!line.contains("read another manager's secret"), "{line}");
    unharmed(&home, &before);
}

#[test]
fn a_log_flood_is_capped_and_noted_once_while_the_call_succeeds() {
    let home = arena(guests::HOSTILE_LOG_FLOOD, &[]);
    let before = snapshot(&home);
    let outcome = home.call(Some("h"), &GetSecret("stored"));
    assert!(outcome.result.is_ok(), "{:?}", outcome.result.err());
    assert!(outcome.report.log_truncated);
    let bytes: usize = outcome.logs.iter().map(|r| r.message.len()).sum();
    assert!(bytes < 64 * 1024 + 200, "{bytes} bytes of log kept");
    let notes: Vec<_> = outcome
        .logs
        .iter()
        .filter(|r| r.message.contains("truncated"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    unharmed(&home, &before);
}

#[test]
fn secret_values_are_masked_in_flavor_logs_and_errors() {
    let home = arena(guests::HOSTILE_LOG_SECRET, &[]);
    let value = "swordfish-4711";
    let secret = Secret::new(
        "creds",
        "arbitrary",
        [("password".to_string(), value.to_string())],
    )
    .unwrap();
    let outcome = home.call(Some("h"), &RegisterSecret(&secret));
    outcome.result.unwrap();
    assert!(outcome.report.masked_lines >= 3, "{:?}", outcome.report);
    for record in &outcome.logs {
        assert!(!record.message.contains(value), "leaked: {record:?}");
    }
    assert!(outcome.logs.iter().any(|r| r.message.contains("***")));

    // The value comes back through get-secret and is masked there too.
    let outcome = home.call(Some("h"), &GetSecret("creds"));
    assert!(outcome.result.is_ok());
    assert!(outcome.logs.iter().all(|r| !r.message.contains(value)));
    assert!(
        outcome
            .logs
            .iter()
            .any(|r| r.message.contains("returning ***"))
    );

    // An error message that quotes the value is masked before the user sees it.
    let run = home.cli(&[
        "secret",
        "register",
        "attack",
        &format!("password={value}"),
        "--manager",
        "h",
    ]);
    let line = run.fails(1, "backend: backend rejected password=***");
    assert!(
        !run.stderr.contains(value) && !run.stdout.contains(value),
        "{line}"
    );
}

#[test]
fn a_panic_after_partial_writes_rolls_everything_back() {
    let home = arena(guests::HOSTILE_PANIC, &[]);
    let before = snapshot(&home);
    attack(
        &home,
        &["secret", "register", "boom", "k=v"],
        Violation::Trap,
    );
    unharmed(&home, &before);
}

#[test]
fn garbage_answers_are_refused_without_echoing_values() {
    let home = arena(guests::HOSTILE_GARBAGE, &[]);
    let before = snapshot(&home);
    for (name, needle) in [
        (
            "other-name",
            "returned secret `someone_else` when asked for `other-name`",
        ),
        ("huge", "more than the 65536-byte limit"),
        ("dupes", "key `k` is given more than once"),
        ("bad-key", "key `bad key` contains ' '"),
        ("no-values", "has no key-value pairs"),
        ("bad-schema", "schema name `no such/schema` contains ' '"),
    ] {
        let line = attack(&home, &["secret", "get", name], Violation::Garbage);
        assert!(line.contains(needle), "{name}: {line}");
        assert!(line.len() < 400, "{name}: an overlong error line");
    }
    let line = attack(&home, &["secret", "list"], Violation::Garbage);
    assert!(line.contains("invalid listing"), "{line}");
    // Its listing is always garbage; an honest answer still goes through.
    unharmed_data(&home, &before);
    let stored = home.cli(&[
        "secret",
        "get",
        "stored",
        "--reveal",
        "--output",
        "json",
        "--manager",
        "h",
    ]);
    assert!(stored.ok().contains("stored-value"));
}

#[test]
fn an_ungranted_capability_is_reported_at_registration_and_refused_at_run_time() {
    let home = TestHome::new();
    let run = home.register_flavor(guests::KV_JSON, &[]);
    run.ok();
    assert!(
        run.stderr
            .contains("declares capability `storage`, which was not granted"),
        "{run:?}"
    );
    home.register_manager("kv", "kv_json", &[], &[]);
    // Declared but not granted: the operator's omission, told once with
    // the command that grants it (see `cli/grants.rs` for the rest).
    let line = home
        .cli(&["secret", "register", "x", "k=v", "--manager", "kv"])
        .fails(1, "denied: flavor `kv_json` declares capability `storage`")
        .to_string();
    assert!(
        line.ends_with("grant it with `flavorbox flavor grant kv_json --grant storage`"),
        "{line}"
    );
    assert!(home.raw_storage("kv").is_empty());
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let home = TestHome::new();
    home.register_with_storage(guests::KV_JSON, &["kv"]);
    let secret = Secret::new("s", "arbitrary", [("k".to_string(), "v".to_string())]).unwrap();
    let kv = home.home.manager(Some("kv")).unwrap();
    let first_lines = [
        kv.call_contract(&RegisterSecret(&secret)).unwrap().logs,
        kv.call_contract(&GetSecret("s")).unwrap().logs,
        kv.call_contract(&GetAllSecretKeys).unwrap().logs,
        kv.call_contract(&GetSecret("s")).unwrap().logs,
    ];
    for logs in first_lines {
        let line = &logs[0].message;
        assert!(line.ends_with(" calls=1"), "state survived a call: {line}");
    }
}

#[test]
fn a_call_at_its_deadline_does_not_hold_up_other_calls() {
    let home = arena(guests::HOSTILE_LOOP, &["--timeout", "2"]);
    std::thread::scope(|scope| {
        let stuck = scope.spawn(|| home.call(Some("h"), &GetSecret("stored")));
        let started = Instant::now();
        let mut served = 0;
        while started.elapsed() < Duration::from_millis(1500) {
            let secret = home
                .home
                .manager(Some("default"))
                .unwrap()
                .get_secret("db_creds")
                .unwrap();
            assert_eq!(secret.values()["password"], "hunter2-pw");
            served += 1;
        }
        assert!(
            served >= 5,
            "only {served} calls were served while a flavor spun"
        );
        let outcome = stuck.join().unwrap();
        assert!(
            outcome
                .result
                .as_ref()
                .is_err_and(|e| e.violation() == Some(Violation::Deadline)),
            "{:?}",
            outcome.result.err()
        );
    });
}
