//! Bad input to the CLI: one clear line, the right exit code, and nothing
//! written (neither the store nor the flavor list changes).

use flavorbox_tests::{TestHome, guests, run_cli};

/// Runs a command that must fail and checks that nothing stored changed.
#[track_caller]
fn refused(home: &TestHome, args: &[&str], code: i32, needle: &str) {
    let before = home.raw_storage("default");
    let flavors = home.cli(&["flavor", "list"]).ok().to_string();
    home.cli(args).fails(code, needle);
    assert_eq!(
        home.raw_storage("default"),
        before,
        "storage changed after {args:?}"
    );
    assert_eq!(
        home.cli(&["flavor", "list"]).ok(),
        flavors,
        "flavors changed after {args:?}"
    );
}

#[test]
fn bad_secret_input_is_refused_with_one_line_and_nothing_written() {
    let home = TestHome::new();
    home.register_secret("existing", &["k=v"]);
    let dir = home.path().to_path_buf();
    let binary = dir.join("binary.bin");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let huge = dir.join("huge.txt");
    std::fs::write(&huge, "x".repeat(64 * 1024 + 1)).unwrap();
    let at = |p: &std::path::Path| format!("k=@{}", p.display());

    refused(
        &home,
        &["secret", "register", "bad name", "k=v"],
        2,
        "secret name `bad name` contains ' '",
    );
    refused(
        &home,
        &["secret", "register", "--", "-dash", "k=v"],
        2,
        "must start with a letter or digit",
    );
    refused(
        &home,
        &["secret", "register", "empty"],
        2,
        "has no key-value pairs",
    );
    refused(
        &home,
        &["secret", "register", "dup", "k=1", "k=2"],
        2,
        "key `k` is given more than once",
    );
    refused(
        &home,
        &["secret", "register", "s", "novalue"],
        2,
        "is not KEY=VALUE",
    );
    refused(
        &home,
        &["secret", "register", "s", "bad/key=v"],
        2,
        "key `bad/key` contains '/'",
    );
    refused(
        &home,
        &["secret", "register", "s", "k=@/no/such/file"],
        2,
        "cannot read value file for key `k`",
    );
    refused(
        &home,
        &["secret", "register", "s", &at(&binary)],
        2,
        "is not valid UTF-8",
    );
    refused(
        &home,
        &["secret", "register", "s", &at(&huge)],
        2,
        "larger than the 65536-byte limit",
    );
    refused(
        &home,
        &["secret", "register", "s", &at(&dir)],
        2,
        "is a directory",
    );
    refused(
        &home,
        &["secret", "register", "s", "k=v", "--schema", "nope"],
        2,
        "unknown schema `nope`",
    );
    refused(
        &home,
        &[
            "secret",
            "register",
            "s",
            "aws_access_key_id=x",
            "--schema",
            "aws",
        ],
        2,
        "schema `aws` requires key `aws_secret_access_key`",
    );
    refused(
        &home,
        &["secret", "update", "existing", "bad key=v"],
        2,
        "key `bad key` contains ' '",
    );
    refused(
        &home,
        &["secret", "update", "existing", "k=1", "k=2"],
        2,
        "more than once",
    );
    refused(
        &home,
        &["secret", "update", "existing", "--schema", "basic_auth"],
        2,
        "schema `basic_auth` requires key",
    );
    refused(&home, &["secret", "delete", "existing"], 2, "pass --yes");
    refused(&home, &["secret", "get", "bad name"], 2, "contains ' '");
    refused(
        &home,
        &["secret", "register", "s", "k=v", "--manager", "ghost"],
        1,
        "secrets manager `ghost` does not exist",
    );
    assert_eq!(home.secret_names(None), ["existing"]);
}

#[test]
fn values_come_from_files_stdin_and_literal_at_signs() {
    let home = TestHome::new();
    let cert = home.path().join("ca.pem");
    std::fs::write(&cert, "-----BEGIN-----\nabc\n-----END-----\n").unwrap();
    let file_arg = format!("ssl_ca=@{}", cert.display());
    home.cli_with_stdin(
        &[
            "secret",
            "register",
            "db",
            "--schema",
            "mysql",
            &file_arg,
            "password=-",
            "user=@@admin",
        ],
        Some(b"from-stdin\n"),
    )
    .ok();
    let secret = home.revealed("db", None);
    assert_eq!(secret["schema"], "mysql");
    assert_eq!(
        secret["values"]["ssl_ca"],
        "-----BEGIN-----\nabc\n-----END-----\n"
    );
    assert_eq!(secret["values"]["password"], "from-stdin");
    assert_eq!(secret["values"]["user"], "@admin");

    let json = home.path().join("values.json");
    std::fs::write(&json, r#"{"username": "u", "password": "p4ss"}"#).unwrap();
    home.cli(&[
        "secret",
        "register",
        "basic",
        "--schema",
        "basic_auth",
        "--from-json",
        json.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(home.revealed("basic", None)["values"]["password"], "p4ss");
    std::fs::write(&json, r#"{"username": 1}"#).unwrap();
    refused(
        &home,
        &[
            "secret",
            "register",
            "x",
            "--from-json",
            json.to_str().unwrap(),
        ],
        2,
        "is not a string",
    );
}

#[test]
fn bad_flavor_files_are_refused_naming_the_reason() {
    let home = TestHome::new();
    let dir = home.path().to_path_buf();
    let local = guests::LOCAL.bytes();
    let truncated = dir.join("truncated.wasm");
    std::fs::write(&truncated, &local[..local.len() / 2]).unwrap();
    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let text = dir.join("text.wasm");
    std::fs::write(&text, b"not wasm at all").unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();

    refused(
        &home,
        &["flavor", "register", "/no/such.wasm"],
        2,
        "cannot read /no/such.wasm",
    );
    refused(
        &home,
        &["flavor", "register", &s(&truncated)],
        2,
        "not a valid component",
    );
    refused(
        &home,
        &["flavor", "register", &s(&core)],
        2,
        "core wasm module, not a component",
    );
    refused(
        &home,
        &["flavor", "register", &s(&text)],
        2,
        "not a wasm component",
    );
    refused(
        &home,
        &["flavor", "register", &guests::NOT_A_FLAVOR.arg()],
        2,
        "not a flavor (world flavorbox:secrets/flavor)",
    );
    refused(
        &home,
        &["flavor", "register", &guests::HOSTILE_UNKNOWN_IMPORT.arg()],
        2,
        "evil:escape/backdoor",
    );
    refused(
        &home,
        &["flavor", "register", &guests::HOSTILE_CLAIMS_LOCAL.arg()],
        2,
        "claims the name `local`",
    );
    refused(
        &home,
        &[
            "flavor",
            "register",
            &guests::KV_JSON.arg(),
            "--memory",
            "0",
        ],
        2,
        "--memory must be",
    );
    refused(
        &home,
        &[
            "flavor",
            "register",
            &guests::KV_JSON.arg(),
            "--allow-host",
            "ftp://x",
        ],
        2,
        "the scheme must be http or https",
    );
    refused(&home, &["flavor", "remove", "local"], 1, "built in");
}

#[test]
fn a_corrupt_store_is_refused_and_left_as_it_was() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let db = dir.path().join("flavorbox.db");
    let garbage =
        b"SQLite format 3\0 but then garbage follows, not a database page at all".repeat(50);
    std::fs::write(&db, &garbage).unwrap();
    let run = run_cli(Some(dir.path()), &["secret", "list"], None);
    run.fails(1, "is unreadable or not a flavorbox store");
    assert_eq!(std::fs::read(&db).unwrap(), garbage);

    let file_home = dir.path().join("a-file");
    std::fs::write(&file_home, "x").unwrap();
    run_cli(Some(&file_home), &["flavor", "list"], None).fails(2, "is not a directory");
}

#[test]
fn a_stored_component_that_no_longer_matches_its_digest_is_refused() {
    let home = TestHome::new();
    home.cli_register(guests::KV_JSON, "kv", &[], false);
    home.register_secret("kept", &["k=v", "--manager", "kv"]);
    let before = home.raw_storage("kv");

    let db = rusqlite::Connection::open(home.path().join("flavorbox.db")).unwrap();
    let corrupt = |sql: &str| db.execute(sql, []).unwrap();

    corrupt(
        "UPDATE flavors SET component = CAST(substr(component, 1, 100) || x'00' || \
         substr(component, 102) AS BLOB) WHERE name = 'kv_json'",
    );
    home.cli(&["secret", "list", "--manager", "kv"])
        .fails(1, "does not match its digest; the store is corrupt");
    assert_eq!(home.raw_storage("kv"), before);

    corrupt("UPDATE flavors SET component = 'text, not bytes' WHERE name = 'kv_json'");
    home.cli(&["secret", "list", "--manager", "kv"]).fails(
        1,
        "component of flavor `kv_json` is unreadable; the store is corrupt",
    );
    assert_eq!(home.raw_storage("kv"), before);
    // Other managers keep working.
    home.cli(&["secret", "list"]).ok();
}
