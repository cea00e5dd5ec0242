//! Isolation and blame: concurrent calls stay serializable, a store failure
//! is the host's and cannot be swallowed, an instance the host cannot make
//! is the flavor's fault, and a compile cache others could write to (or a
//! file swapped in it) is never trusted.

use flavorbox::Secret;
use flavorbox_tests::{Run, TestHome, guests, run_cli_env};

use crate::with_guest;

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
    let home = with_guest(guests::HOSTILE_SWALLOW, &[]);
    let before = home.raw_storage("h");
    let db = rusqlite::Connection::open(home.path().join("flavorbox.db")).unwrap();
    db.execute_batch("ALTER TABLE namespace_versions RENAME TO broken")
        .unwrap();
    let run = home.on("h", &["secret", "register", "x", "k=v"]);
    let line = run.fails(1, "host: register-secret stopped: the host's store failed");
    assert!(line.contains("nothing was written"), "{line}");
    db.execute_batch("ALTER TABLE broken RENAME TO namespace_versions")
        .unwrap();
    assert_eq!(home.raw_storage("h"), before, "its writes were committed");
    // With a sound store it does what it says.
    home.on("h", &["secret", "register", "x", "k=v"]).ok();
}

#[test]
fn instantiation_failures_are_the_flavors_fault() {
    let home = TestHome::new();
    let line = home
        .register_flavor(guests::HOSTILE_BIG_TABLE, &[])
        .fails(2, "sandbox: limit:")
        .to_string();
    // The CLI allocates instances on demand: the table is refused when
    // `info()` instantiates it (a pooled host refuses it at load).
    assert!(line.contains("table") && line.contains("5000"), "{line}");

    home.cli_register(guests::HOSTILE_BIG_MEMORY, "h", &["--memory", "16"], false);
    let line = home
        .on("h", &["secret", "list"])
        .fails(3, "sandbox: memory:")
        .to_string();
    assert!(line.contains("asked for 32 MiB"), "{line}");
    home.cli(&["secret", "list"]).ok();
}

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
    cli(&["init"]).ok();
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
    // BLAKE3 hash is not the one recorded in the home's store), replaced.
    cli(&["flavor", "register", &guests::KV_JSON.arg()]).ok();
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
