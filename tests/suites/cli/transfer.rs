//! Imports and exports as operators expect, through the binary: every
//! conflict named, `--dry-run`, `--skip-existing` and `--overwrite` (put
//! back when the import fails midway), `local`'s quota held before the
//! first write, `export -o FILE` created 0600 and never over a file, and a
//! progress bar on a terminal for a few hundred secrets.

use std::os::unix::fs::PermissionsExt;

use flavorbox_tests::{CliHome, guests};
use serde_json::{Value, json};

/// An export file of `secrets` (name, password), written in `home`.
fn export_file(home: &CliHome, file: &str, secrets: &[(&str, &str)]) -> String {
    let doc = json!({
        "flavorbox_export": 1,
        "manager": "elsewhere",
        "secrets": secrets
            .iter()
            .map(|(name, password)| json!({
                "name": name, "schema": "arbitrary", "values": {"password": password}
            }))
            .collect::<Vec<_>>(),
    });
    let path = home.path().join(file);
    std::fs::write(&path, doc.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

fn password(home: &CliHome, name: &str) -> String {
    home.cli(&["secret", "get", name, "--key", "password"])
        .ok()
        .trim_end()
        .to_string()
}

#[test]
fn every_conflict_is_named_and_dry_run_skip_and_overwrite_do_what_they_say() {
    let home = CliHome::new();
    home.cli(&["secret", "register", "a", "password=old-a"])
        .ok();
    home.cli(&["secret", "register", "b", "password=old-b"])
        .ok();
    let file = export_file(
        &home,
        "in.json",
        &[("a", "new-a"), ("b", "new-b"), ("c", "new-c")],
    );

    home.cli(&["secret", "import", &file]).fails(
        1,
        "2 of the 3 secrets exist already in secrets manager `default`: `a`, `b`; nothing was \
         imported (skip them with --skip-existing, or replace them with --overwrite)",
    );
    let dry = home.cli(&["secret", "import", &file, "--overwrite", "--dry-run"]);
    assert_eq!(
        dry.ok(),
        "would import 1 secret into secrets manager `default`: c\n\
         would overwrite 2 secrets: a, b\n\
         dry run: nothing was written\n"
    );
    assert_eq!(home.secret_names(None), ["a", "b"]);

    let skipped = home.cli(&["secret", "import", &file, "--skip-existing"]);
    assert_eq!(
        skipped.ok(),
        "imported 1 secret into secrets manager `default`: c\n\
         skipped 2 secrets (their names are taken): a, b\n"
    );
    assert_eq!(password(&home, "a"), "old-a");
    assert_eq!(password(&home, "c"), "new-c");

    home.cli(&["secret", "import", &file, "--overwrite", "--skip-existing"])
        .fails(2, "cannot be used with");
    let overwrote = home.cli(&["secret", "import", &file, "--overwrite"]);
    assert!(
        overwrote.ok().contains("overwrote 3 secrets: a, b, c"),
        "{overwrote:?}"
    );
    assert_eq!(password(&home, "a"), "new-a");
    assert_eq!(password(&home, "b"), "new-b");
}

#[test]
fn an_overwrite_that_fails_midway_puts_back_what_it_replaced() {
    let home = CliHome::new();
    // A flavor whose storage holds three keys: the import's fourth secret
    // overflows it, which only its write finds (the host checks quotas
    // ahead for `local` alone, whose storage it knows).
    home.cli_register(guests::KV_JSON, "kv", &["--storage-keys", "3"], true);
    home.cli(&["secret", "register", "a", "password=old-a"])
        .ok();
    home.cli(&["secret", "register", "b", "password=old-b"])
        .ok();
    let file = export_file(
        &home,
        "in.json",
        &[
            ("a", "new-a"),
            ("b", "new-b"),
            ("c", "new-c"),
            ("d", "new-d"),
        ],
    );
    let err = home
        .cli(&["secret", "import", &file, "--overwrite"])
        .fails(1, "importing secret `d` failed")
        .to_string();
    assert!(err.contains("quota"), "{err}");
    assert!(
        err.contains("3 secret(s) this import had written were put back as they were"),
        "{err}"
    );
    assert_eq!(password(&home, "a"), "old-a");
    assert_eq!(password(&home, "b"), "old-b");
    assert_eq!(home.secret_names(None), ["a", "b"]);
}

#[test]
fn local_quota_is_held_before_the_first_write() {
    let home = CliHome::new();
    home.cli(&["secret", "register", "a", "password=p"]).ok();
    // 10,000 keys is `local`'s quota: 10,000 more cannot fit beside `a`.
    let secrets: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("s{i:05}"), "p".to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    let file = export_file(&home, "in.json", &refs);
    let run = home.cli(&["secret", "import", &file]);
    let err = run
        .fails(1, "needs at least 10000 more storage keys")
        .to_string();
    assert!(err.contains("it holds 1 of 10000 keys"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(home.secret_names(None), ["a"]);
    // The same refusal on a dry run.
    home.cli(&["secret", "import", &file, "--dry-run"])
        .fails(1, "needs at least 10000 more storage keys");
}

#[test]
fn export_to_a_file_is_private_and_never_replaces_one() {
    let home = CliHome::new();
    home.cli(&["secret", "register", "db", "password=pw"]).ok();
    let path = home.path().join("out.json");
    let out = path.to_str().unwrap();
    let run = home.cli(&["secret", "export", "--reveal", "-o", out]);
    assert_eq!(run.ok(), "");
    assert!(run.stderr.contains("exported 1 secret"), "{run:?}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(doc["secrets"][0]["values"]["password"], "pw");
    home.cli(&["secret", "export", "--reveal", "-o", out])
        .fails(1, "exists; an export never replaces a file");
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()).unwrap(),
        doc,
        "untouched"
    );
    // A refused export leaves no file behind.
    let missing = home.path().join("missing.json");
    home.cli(&[
        "secret",
        "export",
        "nope",
        "--reveal",
        "-o",
        missing.to_str().unwrap(),
    ])
    .fails(1, "secret `nope` does not exist");
    assert!(!missing.exists());
}

#[test]
fn an_import_of_hundreds_shows_progress_on_a_terminal() {
    let home = CliHome::new();
    let secrets: Vec<(String, String)> = (0..300)
        .map(|i| (format!("s{i:03}"), format!("p{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    let file = export_file(&home, "in.json", &refs);
    // The CLI's own stdio on the pseudo-terminal (not the pipes a
    // `cli_command` gets).
    let mut cmd = std::process::Command::new(flavorbox_tests::cli::flavorbox_bin());
    cmd.arg("--home")
        .arg(home.path())
        .args(["secret", "import", &file])
        .env("FLAVORBOX_CACHE_DIR", flavorbox_tests::cli::cache_dir())
        .env_remove("FLAVORBOX_HOME")
        .env_remove("FLAVORBOX_LOG");
    let mut session = expectrl::Session::spawn(cmd).expect("spawn under a pty");
    session.set_expect_timeout(Some(std::time::Duration::from_secs(120)));
    session
        .expect("importing")
        .expect("a progress line on the terminal");
    session
        .expect("imported 300 secrets")
        .expect("the import finishes");
    // Without a terminal, no progress line (stderr stays empty).
    let quiet = home.cli(&["secret", "export", "--reveal"]);
    assert_eq!(quiet.stderr, "", "{quiet:?}");
}
