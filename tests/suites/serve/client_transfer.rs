//! `secret export` and `secret import` over a server, side by side with
//! the same commands on a twin store run locally (`client_ops::Twins`):
//! the same stdout, stderr and exit code for every plan (`--dry-run`,
//! `--skip-existing`, `--overwrite`, taken names refused with the local
//! words), an age-encrypted export written on the client and imported
//! into another manager, exports of hundreds of secrets paged (100 names a
//! request) with their progress shown on a terminal as locally.

use serde_json::{Value, json};

use crate::client_ops::{Twins, client_terminal, rest};
use crate::{cli_on, token};

/// An export file of `secrets` (name, password) in `dir`; its path.
fn export_file(dir: &tempfile::TempDir, file: &str, secrets: &[(String, String)]) -> String {
    let refs: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    flavorbox_tests::cli::export_file(dir.path(), file, &refs)
}

/// Each of `names` with the password `PREFIX-NAME`.
fn pairs(names: &[&str], prefix: &str) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| (n.to_string(), format!("{prefix}-{n}")))
        .collect()
}

#[test]
fn every_import_plan_says_and_does_over_a_server_what_it_does_locally() {
    let twins = Twins::new("write");
    for name in ["a", "b"] {
        twins.both(&["secret", "register", name, &format!("password=old-{name}")]);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = export_file(&dir, "in.json", &pairs(&["a", "b", "c"], "new"));

    twins.same(&["secret", "import", &file]).fails(
        1,
        "2 of the 3 secrets exist already in secrets manager `default`: `a`, `b`; nothing was \
         imported (skip them with --skip-existing, or replace them with --overwrite)",
    );
    let dry = twins.same(&["secret", "import", &file, "--overwrite", "--dry-run"]);
    assert_eq!(
        dry.ok(),
        "would import 1 secret into secrets manager `default`: c\n\
         would overwrite 2 secrets: a, b\n\
         dry run: nothing was written\n"
    );
    assert_eq!(cli_on(&twins.there, &["secret", "list"]).ok(), "a\nb\n");
    let skipped = twins.same(&["secret", "import", &file, "--skip-existing"]);
    assert_eq!(
        skipped.ok(),
        "imported 1 secret into secrets manager `default`: c\n\
         skipped 2 secrets (their names are taken): a, b\n"
    );
    assert_eq!(twins.values_there("a", "default")["password"], "old-a");
    assert_eq!(twins.values_there("c", "default")["password"], "new-c");
    let overwrote = twins.same(&["secret", "import", &file, "--overwrite"]);
    assert!(
        overwrote.ok().contains("overwrote 3 secrets: a, b, c"),
        "{overwrote:?}"
    );
    assert_eq!(twins.values_there("b", "default")["password"], "new-b");

    // A secret its schema refuses, and one given twice: refused whole.
    let doc = json!({ "flavorbox_export": 1, "manager": "m", "secrets": [
        { "name": "d", "schema": "arbitrary", "values": { "k": "v" } },
        { "name": "e", "schema": "aws", "values": { "k": "v" } },
    ] });
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    twins
        .same(&["secret", "import", bad.to_str().unwrap()])
        .fails(2, "secret `e`");
    let twice = export_file(&dir, "twice.json", &pairs(&["d", "d"], "x"));
    twins
        .same(&["secret", "import", &twice])
        .fails(2, "secret `d` is given more than once");
    assert_eq!(cli_on(&twins.there, &["secret", "list"]).ok(), "a\nb\nc\n");
}

#[test]
fn an_age_encrypted_export_from_a_server_imports_into_another_manager() {
    use age::secrecy::ExposeSecret;
    let twins = Twins::new("write");
    twins.both(&["secret", "register", "db", "password=hunter2-secret"]);
    twins.both(&["secret", "register", "api", "key=k-1"]);
    twins.both(&["secrets-manager", "register", "other", "--flavor", "local"]);

    let plain = twins.same(&["secret", "export", "--reveal"]);
    let doc: Value = serde_json::from_str(plain.ok()).unwrap();
    assert_eq!(doc["secrets"][1]["values"]["password"], "hunter2-secret");
    twins.same(&["secret", "export", "db", "--reveal"]).ok();
    twins
        .same(&["secret", "export", "api", "nope", "--reveal"])
        .fails(1, "secret `nope` does not exist");
    twins.same(&["secret", "export"]).fails(2, "pass --reveal");

    let dir = tempfile::tempdir().unwrap();
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let identity_file = flavorbox_tests::cli::private_file(
        dir.path(),
        "id.txt",
        identity.to_string().expose_secret(),
    );
    let sealed = dir.path().join("backup.age");
    let sealed_arg = sealed.to_str().unwrap();
    let exported = twins.remote(&[
        "secret",
        "export",
        "--encrypt-to",
        &recipient,
        "-o",
        sealed_arg,
    ]);
    assert_eq!(exported.ok(), "");
    assert!(
        exported
            .stderr
            .contains("exported 2 secrets of secrets manager `default` to"),
        "{exported:?}"
    );
    let text = std::fs::read_to_string(&sealed).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    assert!(!text.contains("hunter2"));

    // Into `other`, with a token of its own; the same words as locally.
    let other = token(&twins.there, "other", "write", &[]);
    let args = [
        "secret",
        "-m",
        "other",
        "import",
        sealed_arg,
        "--identity",
        &identity_file,
    ];
    let (local, remote) = (cli_on(&twins.here, &args), twins.remote_with(&other, &args));
    assert_eq!(
        (local.code, &local.stdout, &local.stderr),
        (remote.code, &remote.stdout, &remote.stderr)
    );
    assert_eq!(
        remote.ok(),
        "imported 2 secrets into secrets manager `other`: api, db\n"
    );
    assert_eq!(
        twins.values_there("db", "other")["password"],
        "hunter2-secret"
    );
    // The default manager's token does not open `other`.
    twins
        .remote(&["secret", "-m", "other", "export", "--reveal"])
        .fails(1, "needs role read on secrets manager `other`");
}

#[test]
fn exports_of_hundreds_come_in_pages_with_progress_on_a_terminal() {
    let twins = Twins::new("write");
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..250).map(|i| format!("s{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let file = export_file(&dir, "many.json", &pairs(&refs, "p"));
    let imported = twins.same(&["secret", "import", &file]);
    assert!(
        imported.ok().starts_with("imported 250 secrets"),
        "{imported:?}"
    );
    // Three pages (100, 100, 50), one export as locally.
    let exported = twins.same(&["secret", "export", "--reveal"]);
    let doc: Value = serde_json::from_str(exported.ok()).unwrap();
    let secrets = doc["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 250);
    assert_eq!(secrets[249]["values"]["password"], "p-s249");

    // On a terminal, each shows its progress line as locally.
    let more: Vec<String> = (0..300).map(|i| format!("t{i:03}")).collect();
    let refs: Vec<&str> = more.iter().map(String::as_str).collect();
    let file = export_file(&dir, "more.json", &pairs(&refs, "q"));
    let mut term = client_terminal(&twins, &format!("$FB secret import {file}; echo EXIT=$?"));
    term.expect("importing").expect("a progress line");
    let out = rest(&mut term);
    assert!(
        out.contains("imported 300 secrets") && out.contains("EXIT=0"),
        "{out}"
    );
    let out_file = dir.path().join("all.json");
    let script = format!(
        "$FB secret export --reveal -o {}; echo EXIT=$?",
        out_file.display()
    );
    let mut term = client_terminal(&twins, &script);
    term.expect("exporting").expect("a progress line");
    let out = rest(&mut term);
    assert!(
        out.contains("exported 550 secrets") && out.contains("EXIT=0"),
        "{out}"
    );
}
