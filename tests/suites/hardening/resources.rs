//! Host resources and time: every buffer a call can fill on the host is
//! capped and the call stopped naming the cap; the deadline covers masking
//! and the commit, a writer holds no lock while it runs, and compiling is
//! bounded in time and memory.

use std::time::{Duration, Instant};

use flavorbox::policy::caps;
use flavorbox::sandbox::exports::GetSecret;
use flavorbox_tests::{TestHome, free_port, guests};

use crate::{store_secret, with_guest};

#[test]
fn a_flood_of_empty_log_lines_costs_records() {
    let home = with_guest(guests::HOSTILE_LOG_EMPTY, &["--timeout", "30"]);
    store_secret(&home, "s", "k", "v");
    let outcome = home.call(Some("h"), &GetSecret("s"));
    assert!(outcome.report.log_truncated, "{:?}", outcome.report);
    assert!(
        outcome.logs.len() <= 1_024 + 1,
        "{} records kept",
        outcome.logs.len()
    );
    let note = outcome.logs.last().unwrap();
    assert!(note.message.contains("record(s)"), "{note:?}");
}

#[test]
fn wasi_http_without_the_grant_creates_nothing() {
    let home = with_guest(guests::HOSTILE_HTTP_HOARD, &["--memory", "16"]);
    // It declares `http`: the operator's omission, not its breach.
    let run = home.on("h", &["secret", "get", "s"]);
    let line = run.fails(1, "denied:");
    assert!(
        line.contains("capability `http`, which was not granted")
            && line.contains("flavorbox flavor grant hostile_http_hoard --allow-host"),
        "{line}"
    );
    let outcome = home.call(Some("h"), &GetSecret("s"));
    assert!(
        outcome
            .report
            .used
            .contains(&flavorbox::policy::Capability::Http),
        "{:?}",
        outcome.report
    );
}

#[test]
fn wasi_http_resources_held_with_the_grant_are_capped() {
    // Granted, but the requests are never sent: a closed port is enough.
    let origin = format!("http://127.0.0.1:{}", free_port());
    let home = with_guest(
        guests::HOSTILE_HTTP_HOARD,
        &["--memory", "16", "--allow-host", &origin],
    );
    let run = home.on("h", &["secret", "register", "x", "k=v"]);
    let line = run.fails(3, "sandbox: limit:");
    assert!(
        line.contains(&format!(
            "held more than {} host resources",
            caps::HOST_RESOURCES
        )),
        "{line}"
    );
    assert!(home.raw_storage("h").is_empty());
}

#[test]
fn a_flavor_that_hoards_inside_info_is_refused_at_registration() {
    let home = TestHome::new();
    let run = home.register_flavor(guests::HOSTILE_INFO_HOARD, &[]);
    let line = run.fails(2, "info() sandbox: denied:");
    assert!(line.contains("capability `http`"), "{line}");
    assert!(
        !home
            .cli(&["flavor", "list"])
            .ok()
            .contains("hostile_info_hoard")
    );
}

#[test]
fn answers_past_the_caps_are_refused_without_being_held() {
    let home = with_guest(guests::HOSTILE_HUGE_ANSWER, &[]);
    let line = home
        .on("h", &["secret", "get", "many-keys"])
        .fails(3, "sandbox: garbage:")
        .to_string();
    assert!(line.contains("more than 1024 keys"), "{line}");
    for args in [&["secret", "get", "million-keys"][..], &["secret", "list"]] {
        let run = home.on("h", args);
        let line = run.fails(3, "sandbox: limit:");
        assert!(
            line.contains("handed the host more than 8 MiB in one host call or answer"),
            "{line}"
        );
    }
    let run = home.on("h", &["secret", "get", "long-error"]);
    let line = run.fails(1, "backend: detail detail");
    assert!(line.len() < 400, "an error line of {} bytes", line.len());
}

#[test]
fn an_info_past_the_caps_is_refused_at_registration() {
    let home = TestHome::new();
    let run = home.register_flavor(guests::HOSTILE_BIG_INFO, &[]);
    let line = run.fails(2, "info() sandbox: garbage:");
    assert!(
        line.contains("the description is 81000 bytes, more than the 2048 allowed"),
        "{line}"
    );
    assert!(line.len() < 400, "{line}");
}

#[test]
fn masking_is_linear_and_done_within_the_call() {
    let home = with_guest(guests::HOSTILE_MASK_BOMB, &["--timeout", "10"]);
    let run = home.on("h", &["secret", "get", "bomb", "--output", "json"]);
    let secret: serde_json::Value = serde_json::from_str(run.ok()).unwrap();
    assert_eq!(secret["values"].as_object().unwrap().len(), 1_024);
    // Masking happens inside the call, so the call ends within its
    // deadline (plus the process's own start); per line per value it took
    // minutes past it.
    assert!(run.elapsed < Duration::from_secs(10 + 5), "{run:#?}");

    let outcome = home.call(Some("h"), &GetSecret("bomb"));
    assert!(outcome.result.is_ok());
    assert!(outcome.logs.len() <= 1_025);
    let first = &outcome.logs[0].message;
    assert!(first.starts_with("*** *** ***"), "{first}");
    assert!(!first.contains(" a0 "), "{first}");
}

#[test]
fn a_compile_bomb_is_refused_at_its_time_and_memory_bounds() {
    let home = TestHome::new();
    let bomb = guests::HOSTILE_COMPILE_BOMB;
    let run = home.register_flavor(
        bomb,
        &["--compile-timeout", "1", "--compile-memory", "4096"],
    );
    let line = run.fails(2, "took longer than 1 s");
    assert!(line.contains("--compile-timeout"), "{line}");
    assert!(run.elapsed < Duration::from_secs(20), "{run:#?}");

    let run = home.register_flavor(bomb, &["--compile-memory", "128"]);
    let line = run.fails(2, "needed more than 128 MiB");
    assert!(line.contains("--compile-memory"), "{line}");

    // With no bound given, the bound scales with the component's size: a
    // 261 KB component that needs over 300 MiB to compile is refused at
    // 256 MiB + 64 B per byte.
    let size = std::fs::metadata(bomb.path()).unwrap().len();
    let scaled = (256 * 1024 * 1024 + 64 * size) / (1024 * 1024);
    let run = home.register_flavor(bomb, &[]);
    let line = run.fails(2, &format!("needed more than {scaled} MiB"));
    assert!(line.contains("--compile-memory"), "{line}");

    // An honest flavor compiles within the same small bounds.
    home.register_flavor(
        guests::KV_JSON,
        &["--compile-memory", "128", "--compile-timeout", "60"],
    )
    .ok();
    assert!(
        !home
            .cli(&["flavor", "list"])
            .ok()
            .contains("hostile_compile_bomb")
    );
}

#[test]
fn a_writer_that_sleeps_holds_no_lock_and_is_blamed_alone() {
    let home = with_guest(guests::HOSTILE_LOCK_HOLDER, &["--timeout", "8"]);
    home.register_secret("before", &["k=v"]);
    let hostile_before = home.raw_storage("h");
    std::thread::scope(|scope| {
        let started = Instant::now();
        let hostile = scope.spawn(|| home.on("h", &["secret", "register", "held", "k=v"]));
        // Let it write and fall asleep.
        std::thread::sleep(Duration::from_millis(700));
        // Meanwhile another manager writes and reads through other
        // processes: none waits for the sleeper, none is blamed.
        for i in 0..2 {
            let name = format!("victim{i}");
            home.register_secret(&name, &["k=v"]);
            home.cli(&["secret", "get", &name]).ok();
        }
        assert!(
            !hostile.is_finished(),
            "the sleeper ended before the victims were served; the test proves nothing"
        );
        let victims_done = started.elapsed();
        let run = hostile.join().unwrap();
        let line = run.fails(3, "sandbox: deadline:");
        assert!(
            line.contains("register-secret ran past its 8000 ms deadline"),
            "{line}"
        );
        assert!(victims_done < run.elapsed, "{victims_done:?} vs {run:?}");
    });
    assert_eq!(home.raw_storage("h"), hostile_before, "its write stayed");
    // Three secrets of `local`: a record and a version-1 entry each.
    assert_eq!(home.raw_storage("default").len(), 6);
}

/// A host-driven `delete-all` (the flavor is granted `http`, so each secret
/// is one `delete-secret` call) is bounded as a whole: a listing longer
/// than its calls is refused before anything is deleted, and deletions
/// that take long stop at its time, saying what was and was not deleted.
#[test]
fn a_driven_delete_all_is_bounded_in_calls_and_time() {
    let home = with_guest(
        guests::HOSTILE_SLOW,
        &["--timeout", "2", "--allow-host", "http://127.0.0.1:9"],
    );
    for i in 0..8 {
        store_secret(&home, &format!("s{i}"), "k", "v");
    }
    let run = home.on(
        "h",
        &["secret", "delete-all", "--force", "--max-calls", "5"],
    );
    run.fails(
        1,
        "delete-all would take 8 calls (one per secret), more than the 5 it may make",
    );
    assert_eq!(home.secret_names(Some("h")).len(), 8, "nothing deleted");

    // Each deletion takes 400 ms: a 1 s bound stops after a few.
    let run = home.on("h", &["secret", "delete-all", "--force", "--max-time", "1"]);
    let line = run.fails(1, "delete-all stopped at secret");
    assert!(
        line.contains("ran for its whole 1 s (--max-time)"),
        "{line}"
    );
    let left = home.secret_names(Some("h")).len();
    assert!((1..8).contains(&left), "{left} left: {line}");
    assert!(
        line.contains(&format!("{} of 8 secrets deleted, {left} not", 8 - left)),
        "{line}"
    );
}
