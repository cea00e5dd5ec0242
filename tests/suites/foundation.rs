//! The foundation, end to end: the CLI over the sandboxed `local` flavor on
//! the embedded store, a second flavor from a `.wasm`, isolation between
//! managers, atomicity on a trap, and every kind of bad input.

use flavorbox::conformance::{Suite, SuiteOptions};
use flavorbox::sandbox::exports::{GetSecret, RegisterSecret, UpdateSecret};
use flavorbox_tests::{TestHome, guest, run_cli};

fn secret_names(home: &TestHome, manager: Option<&str>) -> Vec<String> {
    let mut args = vec!["secret", "list", "--output", "json"];
    if let Some(m) = manager {
        args.extend(["--manager", m]);
    }
    serde_json::from_str(home.cli(&args).ok()).unwrap()
}

fn revealed(home: &TestHome, name: &str) -> serde_json::Value {
    serde_json::from_str(
        home.cli(&["secret", "get", name, "--reveal", "--output", "json"])
            .ok(),
    )
    .unwrap()
}

#[test]
fn a_fresh_home_has_local_and_an_active_default_manager() {
    let home = TestHome::new();
    let flavors = home.cli(&["flavor", "list"]);
    assert!(
        flavors
            .ok()
            .lines()
            .any(|l| l.starts_with("local ") && l.contains("built-in"))
    );
    let managers: serde_json::Value = serde_json::from_str(
        home.cli(&["secrets-manager", "list", "--output", "json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(managers[0]["name"], "default");
    assert_eq!(managers[0]["flavor"], "local");
    assert_eq!(managers[0]["active"], true);
    assert_eq!(managers.as_array().unwrap().len(), 1);
}

#[test]
fn all_six_operations_follow_zenml_semantics_through_the_cli() {
    let home = TestHome::new();
    home.cli(&[
        "secret",
        "register",
        "db_creds",
        "username=admin",
        "password=hunter2-pw",
    ])
    .ok();
    home.cli(&["secret", "register", "db_creds", "username=other"])
        .fails(1, "already exists: secret `db_creds` already exists");

    let masked = home.cli(&["secret", "get", "db_creds"]);
    assert!(masked.ok().contains("password  ***"), "{masked:?}");
    assert!(!masked.stdout.contains("hunter2-pw"));
    let secret = revealed(&home, "db_creds");
    assert_eq!(secret["schema"], "arbitrary");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["password"], "hunter2-pw");

    home.cli(&["secret", "register", "api", "token=t0ken"]).ok();
    assert_eq!(secret_names(&home, None), ["api", "db_creds"]);

    // `secret update` merges into the stored values and re-validates.
    home.cli(&[
        "secret",
        "update",
        "db_creds",
        "password=rotated-pw",
        "host=db.local",
    ])
    .ok();
    let secret = revealed(&home, "db_creds");
    assert_eq!(secret["values"]["password"], "rotated-pw");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["host"], "db.local");

    home.cli(&["secret", "get", "missing"])
        .fails(1, "not found: secret `missing` does not exist");
    home.cli(&["secret", "update", "missing", "k=v"])
        .fails(1, "not found");
    home.cli(&["secret", "delete", "missing", "--yes"])
        .fails(1, "not found");

    home.cli(&["secret", "delete-all"]).fails(2, "pass --force");
    assert_eq!(secret_names(&home, None), ["api", "db_creds"]);

    home.cli(&["secret", "delete", "api", "--yes"]).ok();
    home.cli(&["secret", "get", "api"]).fails(1, "not found");
    assert_eq!(secret_names(&home, None), ["db_creds"]);

    home.cli(&["secret", "delete-all", "--force"]).ok();
    assert!(secret_names(&home, None).is_empty());
}

#[test]
fn update_replaces_values_at_the_contract_level() {
    // The WIT `update-secret` replaces; the CLI's merge is built on top.
    let home = TestHome::new();
    let mut suite = Suite::new(&home.home, "default", "default").unwrap();
    let first = flavorbox::Secret::new(
        "s",
        "arbitrary",
        [("a".into(), "1".into()), ("b".into(), "2".into())],
    )
    .unwrap();
    let second = flavorbox::Secret::new("s", "arbitrary", [("c".into(), "3".into())]).unwrap();
    suite.call(false, &RegisterSecret(&first)).unwrap();
    suite.call(false, &UpdateSecret(&second)).unwrap();
    assert_eq!(suite.call(false, &GetSecret("s")).unwrap(), second);
}

fn conformance(home: &TestHome, a: &str, b: &str) {
    let mut suite = Suite::new(&home.home, a, b).unwrap();
    suite.run(SuiteOptions { delete_all: true });
    suite.run_probes();
    let failed: Vec<_> = suite.checks.iter().filter(|c| !c.passed()).collect();
    assert!(failed.is_empty(), "conformance failures: {failed:#?}");
    assert!(suite.checks.len() >= 15, "{:#?}", suite.checks);
    for observation in &suite.observations {
        assert!(observation.report.violation.is_none(), "{observation:#?}");
    }
}

#[test]
fn the_local_flavor_passes_the_conformance_suite() {
    let home = TestHome::new();
    home.home
        .managers()
        .register("second", "local", Default::default(), false)
        .unwrap();
    conformance(&home, "default", "second");
}

#[test]
fn two_local_managers_never_see_each_other() {
    let home = TestHome::new();
    home.cli(&["secrets-manager", "register", "team_b", "--flavor", "local"])
        .ok();
    home.cli(&["secret", "register", "shared_name", "owner=a"])
        .ok();
    home.cli(&["secret", "register", "only_a", "k=v"]).ok();
    home.cli(&[
        "secret",
        "register",
        "shared_name",
        "owner=b",
        "--manager",
        "team_b",
    ])
    .ok();

    assert_eq!(secret_names(&home, None), ["only_a", "shared_name"]);
    assert_eq!(secret_names(&home, Some("team_b")), ["shared_name"]);
    home.cli(&["secret", "get", "only_a", "--manager", "team_b"])
        .fails(1, "not found");
    let b: serde_json::Value = serde_json::from_str(
        home.cli(&[
            "secret",
            "get",
            "shared_name",
            "--reveal",
            "--output",
            "json",
            "--manager",
            "team_b",
        ])
        .ok(),
    )
    .unwrap();
    assert_eq!(b["values"]["owner"], "b");
    assert_eq!(revealed(&home, "shared_name")["values"]["owner"], "a");

    home.cli(&["secret", "delete-all", "--force", "--manager", "team_b"])
        .ok();
    assert_eq!(secret_names(&home, None), ["only_a", "shared_name"]);

    home.cli(&["secrets-manager", "set-active", "team_b"]).ok();
    assert!(secret_names(&home, None).is_empty());
}

#[test]
fn a_second_flavor_registered_from_a_wasm_file_works_through_the_cli() {
    let home = TestHome::new();
    let wasm = guest("kv_json");
    let out = home.cli(&[
        "flavor",
        "register",
        wasm.to_str().unwrap(),
        "--grant",
        "storage",
    ]);
    assert!(out.ok().contains("registered flavor `kv_json`"), "{out:?}");
    assert!(home.cli(&["flavor", "list"]).ok().contains("kv_json"));
    let described = home.cli(&["flavor", "describe", "kv_json"]);
    assert!(
        described.ok().contains("granted:      storage"),
        "{described:?}"
    );
    assert!(described.stdout.contains("label"), "{described:?}");

    home.cli(&[
        "secrets-manager",
        "register",
        "kv",
        "--flavor",
        "kv_json",
        "--config",
        "label=ci",
        "--set-active",
    ])
    .ok();
    home.cli(&["secret", "register", "token", "value=abc123"])
        .ok();
    assert_eq!(revealed(&home, "token")["values"]["value"], "abc123");
    assert_eq!(secret_names(&home, None), ["token"]);
    // The default manager on `local` does not see it.
    assert!(secret_names(&home, Some("default")).is_empty());

    home.cli(&["flavor", "remove", "kv_json"])
        .fails(1, "used by secrets manager(s) kv");
    home.cli(&["secrets-manager", "set-active", "default"]).ok();
    home.cli(&["secrets-manager", "remove", "kv"])
        .fails(1, "--purge");
    // Destructive: off a terminal they need --yes.
    home.cli(&["secrets-manager", "remove", "kv", "--purge", "--yes"])
        .ok();
    home.cli(&["flavor", "remove", "kv_json", "--yes"]).ok();
    home.cli(&["flavor", "describe", "kv_json"])
        .fails(1, "not registered");
}

#[test]
fn the_kv_json_flavor_passes_the_conformance_suite() {
    let home = TestHome::new();
    home.register_with_storage("kv_json", &["a", "b"]);
    conformance(&home, "a", "b");
}

#[test]
fn a_guest_that_traps_after_writing_leaves_storage_exactly_as_before() {
    let home = TestHome::new();
    home.cli_register("hostile_panic", "h", &[], false);
    home.put_raw(
        "h",
        &[
            (
                "secrets/kept",
                br#"{"schema":"arbitrary","values":[["k","v"]]}"#,
            ),
            (
                "secrets/also_kept",
                br#"{"schema":"arbitrary","values":[["k","w"]]}"#,
            ),
        ],
    );
    home.cli(&["secret", "register", "keep_me", "k=v"]).ok();
    let before = home.raw_storage("h");
    let local_before = home.raw_storage("default");

    home.cli(&["secret", "register", "attack", "k=v", "--manager", "h"])
        .fails(3, "sandbox: trap");

    assert_eq!(home.raw_storage("h"), before);
    assert_eq!(home.raw_storage("default"), local_before);
}

// ----- bad input: one clear line, the right exit code, nothing written -----

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
    home.cli(&["secret", "register", "existing", "k=v"]).ok();
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
    assert_eq!(secret_names(&home, None), ["existing"]);
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
    let secret = revealed(&home, "db");
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
    assert_eq!(revealed(&home, "basic")["values"]["password"], "p4ss");
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
    let local = std::fs::read(guest("local")).unwrap();
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
        &["flavor", "register", &s(&guest("not_a_flavor"))],
        2,
        "not a flavor (world flavorbox:secrets/flavor)",
    );
    refused(
        &home,
        &["flavor", "register", &s(&guest("hostile_unknown_import"))],
        2,
        "evil:escape/backdoor",
    );
    refused(
        &home,
        &["flavor", "register", &s(&guest("hostile_claims_local"))],
        2,
        "claims the name `local`",
    );
    refused(
        &home,
        &["flavor", "register", &s(&guest("kv_json")), "--memory", "0"],
        2,
        "--memory must be",
    );
    refused(
        &home,
        &[
            "flavor",
            "register",
            &s(&guest("kv_json")),
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
    let dir = tempfile::tempdir().unwrap();
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
    home.cli_register("kv_json", "kv", &[], false);
    home.cli(&["secret", "register", "kept", "k=v", "--manager", "kv"])
        .ok();
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

#[test]
fn user_schemas_shape_secrets() {
    let home = TestHome::new();
    let file = home.path().join("schema.json");
    std::fs::write(&file, r#"{"name": "api_key", "description": "An API key.", "required": ["key"], "optional": ["url"]}"#)
        .unwrap();
    home.cli(&["schema", "register", file.to_str().unwrap()])
        .ok();
    assert!(home.cli(&["schema", "list"]).ok().contains("api_key"));
    assert!(
        home.cli(&["schema", "describe", "api_key"])
            .ok()
            .contains("key  required")
    );
    home.cli(&[
        "secret", "register", "svc", "--schema", "api_key", "key=k3y",
    ])
    .ok();
    home.cli(&[
        "secret", "register", "svc2", "--schema", "api_key", "other=x",
    ])
    .fails(2, "schema `api_key` requires key `key`");
    home.cli(&["secret", "update", "svc", "nope=x"])
        .fails(2, "does not allow key `nope`");
    assert_eq!(revealed(&home, "svc")["schema"], "api_key");
    home.cli(&["schema", "register", file.to_str().unwrap()])
        .fails(1, "already");
    std::fs::write(&file, r#"{"name": "aws", "required": ["x"]}"#).unwrap();
    home.cli(&["schema", "register", file.to_str().unwrap()])
        .fails(2, "built in");
}
