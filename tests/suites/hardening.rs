//! The sandbox against flavors built to exhaust, stall, leak and mislead,
//! one test per class of attack (each hostile guest's doc says what the
//! host must do), end to end through the CLI:
//!
//! - host resources: every buffer a call can fill on the host is capped,
//!   and the call stopped naming the cap (that the process then stays within
//!   the stated memory bound is `suites/memory.rs`);
//! - time: the deadline covers masking and the commit, a writer holds no
//!   lock while it runs, compiling is bounded;
//! - isolation and blame: another manager is never stalled, a breach is
//!   pinned on the flavor that committed it, a store failure is the host's
//!   and cannot be swallowed, concurrent calls stay serializable;
//! - secrets and spoofing: nothing reaches the terminal that should not.

use std::time::{Duration, Instant};

use flavorbox::Secret;
use flavorbox::policy::caps;
use flavorbox::sandbox::exports::{GetSecret, UpdateSecret};
use flavorbox_tests::{Run, TestHome, guest, run_cli_env};

/// Registers the guest `flavor` (with `storage` and `flags`) and a manager
/// `h` on it.
fn with_guest(flavor: &str, flags: &[&str]) -> TestHome {
    let home = TestHome::new();
    home.cli_register(flavor, "h", flags, false);
    home
}

/// Runs `args` on manager `h`.
fn on_h(home: &TestHome, args: &[&str]) -> Run {
    let mut args = args.to_vec();
    args.extend(["--manager", "h"]);
    home.cli(&args)
}

/// Stores an honest JSON secret `name` = `{key: value}` in manager `h`'s
/// namespace, as the `honest` guests encode it.
fn store_secret(home: &TestHome, name: &str, key: &str, value: &str) {
    let entry = serde_json::json!({"schema": "arbitrary", "values": [[key, value]]});
    home.put_raw(
        "h",
        &[(&format!("secrets/{name}"), entry.to_string().as_bytes())],
    );
}

// ----- host memory ----------------------------------------------------------------

#[test]
fn a_flood_of_empty_log_lines_costs_records() {
    let home = with_guest("hostile_log_empty", &["--timeout", "30"]);
    store_secret(&home, "s", "k", "v");
    let outcome = home
        .home
        .manager(Some("h"))
        .unwrap()
        .call_contract(&GetSecret("s"))
        .unwrap();
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
    let home = with_guest("hostile_http_hoard", &["--memory", "16"]);
    let run = on_h(&home, &["secret", "get", "s"]);
    let line = run.fails(3, "sandbox: denied:");
    assert!(
        line.contains("capability `http`, which was not granted")
            && line.contains("wasi:http/types.fields"),
        "{line}"
    );
    let outcome = home
        .home
        .manager(Some("h"))
        .unwrap()
        .call_contract(&GetSecret("s"))
        .unwrap();
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
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let home = with_guest(
        "hostile_http_hoard",
        &["--memory", "16", "--allow-host", &origin],
    );
    let run = on_h(&home, &["secret", "register", "x", "k=v"]);
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
    let wasm = guest("hostile_info_hoard");
    let run = home.cli(&["flavor", "register", wasm.to_str().unwrap()]);
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
    let home = with_guest("hostile_huge_answer", &[]);
    let line = on_h(&home, &["secret", "get", "many-keys"])
        .fails(3, "sandbox: garbage:")
        .to_string();
    assert!(line.contains("more than 1024 keys"), "{line}");
    for args in [&["secret", "get", "million-keys"][..], &["secret", "list"]] {
        let run = on_h(&home, args);
        let line = run.fails(3, "sandbox: limit:");
        assert!(
            line.contains("handed the host more than 8 MiB in one host call or answer"),
            "{line}"
        );
    }
    let run = on_h(&home, &["secret", "get", "long-error"]);
    let line = run.fails(1, "backend: detail detail");
    assert!(line.len() < 400, "an error line of {} bytes", line.len());
}

#[test]
fn an_info_past_the_caps_is_refused_at_registration() {
    let home = TestHome::new();
    let wasm = guest("hostile_big_info");
    let run = home.cli(&["flavor", "register", wasm.to_str().unwrap()]);
    let line = run.fails(2, "info() sandbox: garbage:");
    assert!(
        line.contains("the description is 81000 bytes, more than the 2048 allowed"),
        "{line}"
    );
    assert!(line.len() < 400, "{line}");
}

// ----- time -----------------------------------------------------------------------

#[test]
fn masking_is_linear_and_done_within_the_call() {
    let home = with_guest("hostile_mask_bomb", &["--timeout", "10"]);
    let run = on_h(&home, &["secret", "get", "bomb", "--output", "json"]);
    let secret: serde_json::Value = serde_json::from_str(run.ok()).unwrap();
    assert_eq!(secret["values"].as_object().unwrap().len(), 1_024);
    // Masking happens inside the call, so the call ends within its
    // deadline (plus the process's own start); per line per value it took
    // minutes past it.
    assert!(run.elapsed < Duration::from_secs(10 + 5), "{run:#?}");

    let outcome = home
        .home
        .manager(Some("h"))
        .unwrap()
        .call_contract(&GetSecret("bomb"))
        .unwrap();
    assert!(outcome.result.is_ok());
    assert!(outcome.logs.len() <= 1_025);
    let first = &outcome.logs[0].message;
    assert!(first.starts_with("*** *** ***"), "{first}");
    assert!(!first.contains(" a0 "), "{first}");
}

#[test]
fn a_compile_bomb_is_refused_at_its_time_and_memory_bounds() {
    let home = TestHome::new();
    let wasm = guest("hostile_compile_bomb");
    let path = wasm.to_str().unwrap();
    let run = home.cli(&["flavor", "register", path, "--compile-timeout", "1"]);
    let line = run.fails(2, "took longer than 1 s");
    assert!(line.contains("--compile-timeout"), "{line}");
    assert!(run.elapsed < Duration::from_secs(20), "{run:#?}");

    let run = home.cli(&["flavor", "register", path, "--compile-memory", "128"]);
    let line = run.fails(2, "needed more than 128 MiB");
    assert!(line.contains("--compile-memory"), "{line}");

    // An honest flavor compiles within the same small bounds.
    let honest = guest("kv_json");
    home.cli(&[
        "flavor",
        "register",
        honest.to_str().unwrap(),
        "--compile-memory",
        "128",
        "--compile-timeout",
        "60",
    ])
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
    let home = with_guest("hostile_lock_holder", &["--timeout", "8"]);
    home.cli(&["secret", "register", "before", "k=v"]).ok();
    let hostile_before = home.raw_storage("h");
    std::thread::scope(|scope| {
        let started = Instant::now();
        let hostile = scope.spawn(|| on_h(&home, &["secret", "register", "held", "k=v"]));
        // Let it write and fall asleep.
        std::thread::sleep(Duration::from_millis(700));
        // Meanwhile another manager writes and reads through other
        // processes: none waits for the sleeper, none is blamed.
        for i in 0..2 {
            let name = format!("victim{i}");
            home.cli(&["secret", "register", &name, "k=v"]).ok();
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
    assert_eq!(home.raw_storage("default").len(), 3);
}

// ----- isolation, blame and serializability -----------------------------------------

#[test]
fn thirty_parallel_registers_of_one_name_give_one_success_and_lose_nothing() {
    let home = TestHome::new();
    let manager = home.home.manager(None).unwrap();
    let results: Vec<(usize, flavorbox::Result<()>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..30)
            .map(|i| {
                let manager = &manager;
                scope.spawn(move || {
                    let secret = Secret::new(
                        "race",
                        "arbitrary",
                        [("owner".to_string(), format!("writer-{i}"))],
                    )
                    .unwrap();
                    (i, manager.register_secret(&secret))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:#?}");
    for (_, result) in &results {
        if let Err(err) = result {
            assert!(err.is(flavorbox::ErrorKind::AlreadyExists), "{err}");
        }
    }
    let stored = manager.get_secret("race").unwrap();
    assert_eq!(
        stored.values()["owner"],
        format!("writer-{}", winners[0]),
        "the stored secret is the winner's"
    );

    // Thirty different names at once: every one is stored.
    std::thread::scope(|scope| {
        for i in 0..30 {
            let manager = &manager;
            scope.spawn(move || {
                let secret =
                    Secret::new(format!("s{i:02}"), "arbitrary", [("k".into(), "v".into())])
                        .unwrap();
                manager.register_secret(&secret).unwrap();
            });
        }
    });
    assert_eq!(manager.list_secrets().unwrap().len(), 31);
}

#[test]
fn parallel_registers_through_separate_processes_give_one_success() {
    let home = TestHome::new();
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let home = &home;
                scope.spawn(move || {
                    let value = format!("owner=process-{i}");
                    home.cli(&["secret", "register", "race", &value])
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let ok = runs.iter().filter(|r| r.code == 0).count();
    assert_eq!(ok, 1, "{runs:#?}");
    for run in runs.iter().filter(|r| r.code != 0) {
        run.fails(1, "already exists: secret `race` already exists");
    }
}

#[test]
fn a_store_failure_fails_the_call_and_the_flavor_cannot_swallow_it() {
    let home = with_guest("hostile_swallow", &[]);
    let before = home.raw_storage("h");
    let db = rusqlite::Connection::open(home.path().join("flavorbox.db")).unwrap();
    db.execute_batch("ALTER TABLE namespace_versions RENAME TO broken")
        .unwrap();
    let run = on_h(&home, &["secret", "register", "x", "k=v"]);
    let line = run.fails(1, "host: register-secret stopped: the host's store failed");
    assert!(line.contains("nothing was written"), "{line}");
    db.execute_batch("ALTER TABLE broken RENAME TO namespace_versions")
        .unwrap();
    assert_eq!(home.raw_storage("h"), before, "its writes were committed");
    // With a sound store it does what it says.
    on_h(&home, &["secret", "register", "x", "k=v"]).ok();
}

#[test]
fn instantiation_failures_are_the_flavors_fault() {
    let home = TestHome::new();
    let table = guest("hostile_big_table");
    let line = home
        .cli(&["flavor", "register", table.to_str().unwrap()])
        .fails(2, "sandbox: limit:")
        .to_string();
    // The CLI allocates instances on demand: the table is refused when
    // `info()` instantiates it (a pooled host refuses it at load).
    assert!(line.contains("table") && line.contains("5000"), "{line}");

    home.cli_register("hostile_big_memory", "h", &["--memory", "16"], false);
    let line = on_h(&home, &["secret", "list"])
        .fails(3, "sandbox: memory:")
        .to_string();
    assert!(line.contains("asked for 32 MiB"), "{line}");
    home.cli(&["secret", "list"]).ok();
}

// ----- secrets and spoofing ---------------------------------------------------------

#[test]
fn no_secret_reaches_the_terminal_without_reveal() {
    const PASSWORD: &str = "sw0rdfish-Passw0rd";
    const TOKEN: &str = "tok-8a9b-SECRET";
    let home = TestHome::new();
    let wasm = guest("hostile_secret_error");
    home.cli(&[
        "flavor",
        "register",
        wasm.to_str().unwrap(),
        "--grant",
        "storage",
    ])
    .ok();
    let token = format!("token={TOKEN}");
    home.cli(&[
        "secrets-manager",
        "register",
        "h",
        "--flavor",
        "hostile_secret_error",
        "--config",
        &token,
        "--config",
        "region=eu",
    ])
    .ok();
    store_secret(&home, "stored", "password", PASSWORD);
    let leaked = |run: &Run| run.stdout.contains(PASSWORD) || run.stderr.contains(PASSWORD);
    let quiet = [("FLAVORBOX_LOG", "flavor=trace")];

    // A failed get-secret read the value the host never saw: its message
    // is replaced by the host's words, its log lines are withheld.
    for env in [&[][..], &quiet[..]] {
        let run = run_cli_env(
            Some(home.path()),
            &["secret", "get", "stored", "--manager", "h"],
            None,
            env,
        );
        assert_eq!(run.code, 1, "{run:#?}");
        assert!(!leaked(&run), "{run:#?}");
        assert!(
            run.stderr
                .contains("backend: get-secret failed in the backend"),
            "{run:#?}"
        );
        assert!(run.stderr.contains("secret_bearing"), "{run:#?}");
    }
    // update-secret reads the stored values too, and then names a key
    // built from one: the breach is told without the key, and what the
    // flavor said after it is withheld.
    let update = Secret::new(
        "stored",
        "arbitrary",
        [("password".to_string(), "new-value".to_string())],
    )
    .unwrap();
    let outcome = home
        .home
        .manager(Some("h"))
        .unwrap()
        .call_contract(&UpdateSecret(&update))
        .unwrap();
    let err = outcome.result.unwrap_err().to_string();
    assert!(
        err.starts_with("sandbox: denied: update-secret broke the sandbox (denied)"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(outcome.report.secret_bearing);
    let (_, detail) = outcome.report.violation.unwrap();
    assert!(!detail.contains(PASSWORD), "{detail}");

    // A config value the flavor marks secret is masked in its errors and
    // logs, and in the manager listing.
    let run = run_cli_env(
        Some(home.path()),
        &["secret", "register", "x", "k=v", "--manager", "h"],
        None,
        &quiet,
    );
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("denied: token *** was rejected"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(TOKEN), "{run:#?}");
    let list = home.cli(&["secrets-manager", "list", "--output", "json"]);
    assert!(list.ok().contains("\"token\": \"***\""), "{list:#?}");
    assert!(list.stdout.contains("\"region\": \"eu\""), "{list:#?}");
    assert!(!list.stdout.contains(TOKEN));

    // Asked for, the withheld lines are there (masked where the host can).
    let run = run_cli_env(
        Some(home.path()),
        &["secret", "get", "stored", "--manager", "h"],
        None,
        &[("FLAVORBOX_LOG", "secret_bearing=info")],
    );
    assert!(run.stderr.contains("cannot decode password="), "{run:#?}");
}

/// Whether `text` holds a character that must not reach a terminal as
/// itself (a line break ends a line; it is fine between lines).
fn unsafe_chars(text: &str) -> Vec<char> {
    text.lines()
        .flat_map(str::chars)
        .filter(|c| flavorbox::text::is_unsafe(*c))
        .collect()
}

#[test]
fn nothing_a_flavor_says_can_spoof_the_terminal() {
    let home = with_guest("hostile_spoof", &[]);
    let log = [("FLAVORBOX_LOG", "flavor=trace")];
    on_h(&home, &["secret", "get", "x"]).fails(1, "backend: ok\\nflavorbox: secret `x` deleted");
    let runs = [
        home.cli(&["flavor", "describe", "hostile_spoof"]),
        home.cli(&["flavor", "list"]),
        run_cli_env(
            Some(home.path()),
            &["secret", "get", "x", "--manager", "h"],
            None,
            &log,
        ),
    ];
    for run in &runs {
        for text in [&run.stdout, &run.stderr] {
            assert!(unsafe_chars(text).is_empty(), "{run:#?}");
            for line in text.lines() {
                assert!(
                    !line.starts_with("flavorbox: secret `x` deleted")
                        && !line.starts_with("flavorbox: forged")
                        && !line.starts_with("flavorbox: registered flavor `local`"),
                    "a forged line: {line:?}"
                );
            }
        }
    }
    let described = &runs[0].stdout;
    assert!(described.contains("\\u{202e}"), "{described}");
    assert!(described.contains("\\n"), "{described}");
    assert!(
        runs[2].stderr.contains("INFO flavor: ok\\nflavorbox"),
        "{:#?}",
        runs[2]
    );
}

#[test]
fn flavor_names_are_lowercase_and_never_a_twin_of_a_built_in() {
    let home = TestHome::new();
    let wasm = guest("hostile_shouts_local");
    home.cli(&["flavor", "register", wasm.to_str().unwrap()])
        .fails(2, "flavor name `LOCAL` must start with a lowercase letter");
    home.cli(&["flavor", "describe", "LOCAL"])
        .fails(1, "not registered");
}

#[test]
fn a_broken_pipe_ends_quietly() {
    use std::io::Read;
    let home = TestHome::new();
    let mut child = std::process::Command::new(flavorbox_tests::flavorbox_bin())
        .args([
            "--home",
            home.path().to_str().unwrap(),
            "flavor",
            "describe",
            "local",
        ])
        .env("FLAVORBOX_CACHE_DIR", flavorbox_tests::cache_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then hang up, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        output.status.signal() == Some(libc::SIGPIPE) || output.status.success(),
        "{:?}",
        output.status
    );
}

// ----- the compile cache ------------------------------------------------------------

#[test]
fn a_compile_cache_others_can_write_is_refused_and_a_swapped_file_is_not_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let cache = dir.path().join("cache");
    let cli = |args: &[&str]| {
        run_cli_env(
            Some(&home),
            args,
            None,
            &[("FLAVORBOX_CACHE_DIR", cache.to_str().unwrap())],
        )
    };
    cli(&["secret", "register", "s", "k=v"]).ok();
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    // Another component's compiled code in its place: not loaded (its
    // SHA-256 is not the one recorded in the home's store), replaced.
    let kv = guest("kv_json");
    cli(&["flavor", "register", kv.to_str().unwrap()]).ok();
    let other = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p != &entries[0] && p.extension().is_some_and(|x| x == "cwasm"))
        .expect("kv_json's compiled code");
    let original = std::fs::read(&entries[0]).unwrap();
    std::fs::copy(&other, &entries[0]).unwrap();
    let run = cli(&["secret", "get", "s", "--reveal", "--output", "json"]);
    assert!(run.ok().contains("\"k\": \"v\""), "{run:#?}");
    assert_eq!(std::fs::read(&entries[0]).unwrap(), original, "rewritten");

    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    cli(&["secret", "list"]).fails(2, "may be written by others");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    cli(&["secret", "list"]).ok();
}
