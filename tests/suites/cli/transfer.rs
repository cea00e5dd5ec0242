//! Imports and exports as operators expect, through the binary: every
//! conflict named, `--dry-run`, `--skip-existing` and `--overwrite` (put
//! back when the import fails midway), `local`'s quota held before the
//! first write, `export -o FILE` created 0600 and never over a file,
//! exports encrypted to an age recipient or a passphrase (a crafted file's
//! scrypt cost refused by its number), and a progress bar on a terminal
//! for a few hundred secrets.

use std::os::unix::fs::PermissionsExt;

use flavorbox_tests::{CliHome, guests};
use serde_json::Value;

/// An export file of `secrets` (name, password), written in `home`.
fn export_file(home: &CliHome, file: &str, secrets: &[(&str, &str)]) -> String {
    flavorbox_tests::cli::export_file(home.path(), file, secrets)
}

/// Secrets `a` and `b` with the passwords `old-a` and `old-b`.
fn register_a_and_b(home: &CliHome) {
    for name in ["a", "b"] {
        home.cli(&["secret", "register", name, &format!("password=old-{name}")])
            .ok();
    }
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
    register_a_and_b(&home);
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
    register_a_and_b(&home);
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
    // 10,000 keys is `local`'s quota, and a secret takes two (its record
    // and its version 1): 5,000 more cannot fit beside `a`.
    let secrets: Vec<(String, String)> = (0..5_000)
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
    assert!(err.contains("it holds 2 of 10000 keys"), "{err}");
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
    let mut session = crate::on_a_terminal(Some(&home), &["secret", "import", &file]);
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

/// Writes `text` to `file` in `home` (0600); its path.
fn key_file(home: &CliHome, file: &str, text: &str) -> String {
    flavorbox_tests::cli::private_file(home.path(), file, text)
}

#[test]
fn a_passphrase_export_holds_no_value_in_clear_and_imports_with_it_only() {
    let home = CliHome::new();
    home.cli(&["secret", "register", "db", "password=hunter2-secret"])
        .ok();
    home.cli(&["secrets-manager", "register", "other", "--flavor", "local"])
        .ok();
    let pass = key_file(&home, "pass", "correct horse battery staple\n");
    let out = home.path().join("backup.age");
    let out_arg = out.to_str().unwrap();
    home.cli(&[
        "secret",
        "export",
        "--passphrase-file",
        &pass,
        "-o",
        out_arg,
    ])
    .ok();
    let sealed = std::fs::read_to_string(&out).unwrap();
    assert!(
        sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{sealed}"
    );
    assert!(!sealed.contains("hunter2"));

    home.cli(&["secret", "import", out_arg, "-m", "other"])
        .fails(
            2,
            "is encrypted: pass --identity FILE, --passphrase or --passphrase-file",
        );
    let wrong = key_file(&home, "wrong", "not the passphrase\n");
    home.cli(&[
        "secret",
        "import",
        out_arg,
        "-m",
        "other",
        "--passphrase-file",
        &wrong,
    ])
    .fails(2, "the passphrase or identity does not open it");
    home.cli(&[
        "secret",
        "import",
        out_arg,
        "-m",
        "other",
        "--passphrase-file",
        &pass,
    ])
    .ok();
    assert_eq!(
        home.revealed("db", Some("other"))["values"]["password"],
        "hunter2-secret"
    );
}

#[test]
fn a_recipient_export_opens_with_its_identity_only() {
    use age::secrecy::ExposeSecret;
    let home = CliHome::new();
    home.cli(&["secret", "register", "db", "password=pw"]).ok();
    home.cli(&["secrets-manager", "register", "other", "--flavor", "local"])
        .ok();
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let identity_file = key_file(&home, "id.txt", identity.to_string().expose_secret());
    let export = home
        .cli(&["secret", "export", "--encrypt-to", &recipient])
        .ok()
        .to_string();
    assert!(!export.contains("\"pw\""));
    let file = key_file(&home, "backup.age", &export);

    let stranger = age::x25519::Identity::generate();
    let stranger_file = key_file(&home, "other.txt", stranger.to_string().expose_secret());
    home.cli(&[
        "secret",
        "import",
        &file,
        "-m",
        "other",
        "--identity",
        &stranger_file,
    ])
    .fails(2, "the passphrase or identity does not open it");
    let pass = key_file(&home, "pass", "a passphrase\n");
    home.cli(&[
        "secret",
        "import",
        &file,
        "-m",
        "other",
        "--passphrase-file",
        &pass,
    ])
    .fails(2, "encrypted to recipients, not a passphrase");
    home.cli(&[
        "secret",
        "import",
        &file,
        "-m",
        "other",
        "--identity",
        &identity_file,
    ])
    .ok();
    assert_eq!(
        home.revealed("db", Some("other"))["values"]["password"],
        "pw"
    );
    home.cli(&["secret", "export", "--encrypt-to", "age1nope"])
        .fails(2, "is not an age recipient");
}

#[test]
fn a_passphrase_file_demanding_huge_scrypt_work_is_refused_unground() {
    use base64::Engine as _;
    let home = CliHome::new();
    home.cli(&["secret", "register", "db", "password=pw"]).ok();
    let pass = key_file(&home, "pass", "a passphrase\n");
    let armored = home
        .cli(&["secret", "export", "--passphrase-file", &pass])
        .ok()
        .to_string();
    // The binary file under the armor, its scrypt stanza asking for 2^30
    // (64 GiB) instead: refused by its number, before any work.
    let body: String = armored
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let binary = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let text = String::from_utf8_lossy(&binary);
    let stanza = text
        .lines()
        .find(|l| l.starts_with("-> scrypt "))
        .expect("a scrypt stanza")
        .to_string();
    let greedy = format!("{} 30", stanza.rsplit_once(' ').unwrap().0);
    let mut crafted = Vec::new();
    let at = binary
        .windows(stanza.len())
        .position(|w| w == stanza.as_bytes())
        .unwrap();
    crafted.extend_from_slice(&binary[..at]);
    crafted.extend_from_slice(greedy.as_bytes());
    crafted.extend_from_slice(&binary[at + stanza.len()..]);
    let file = home.path().join("greedy.age");
    std::fs::write(&file, &crafted).unwrap();
    let run = home.cli(&[
        "secret",
        "import",
        file.to_str().unwrap(),
        "--passphrase-file",
        &pass,
    ]);
    run.fails(
        2,
        "scrypt work factor 30, more than the 18 an import accepts",
    );
}
