//! Operating over time: a flavor upgraded and regranted in place, config
//! references resolved at call time and rotated (the README's rotation
//! example, its manager active or not) and kept whole (a secret they refer
//! to is deleted or renamed only with --force), secret config masked
//! wherever it is shown, updates that remove keys or switch schema, renames,
//! and two processes updating one secret at once.

use flavorbox_tests::{TestHome, guests, run_cli};
use serde_json::Value;

use crate::write;

/// The kv_json component with a custom section appended: the same flavor,
/// another digest (a stand-in for a new release).
fn rebuilt_kv_json(home: &TestHome) -> String {
    let mut wasm = guests::KV_JSON.bytes();
    let name = b"flavorbox-test-release";
    let payload = b"2";
    wasm.push(0); // custom section
    wasm.push((1 + name.len() + payload.len()) as u8);
    wasm.push(name.len() as u8);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(payload);
    let path = home.path().join("kv_json_v2.wasm");
    std::fs::write(&path, wasm).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_flavor_is_upgraded_and_regranted_in_place_keeping_its_secrets() {
    let home = TestHome::new();
    home.cli_register(guests::KV_JSON, "kv", &["--storage-keys", "50"], true);
    home.register_secret("kept", &["k=v"]);
    let before: Value = home
        .cli(&["flavor", "describe", "kv_json", "--output", "json"])
        .json();
    let v2 = rebuilt_kv_json(&home);
    // Named for what it replaces: another name is refused, nothing changed.
    home.cli(&["flavor", "register", &v2, "--replace", "kv"])
        .fails(2, "the component describes flavor `kv_json`, not `kv`");
    // A grant the new version does not declare is refused (a widening one
    // it declares needs confirmation: `grants.rs`).
    home.cli(&[
        "flavor",
        "register",
        &v2,
        "--replace",
        "kv_json",
        "--allow-host",
        "http://127.0.0.1:9",
    ])
    .fails(2, "flavor `kv_json` does not declare capability `http`");
    let unchanged: Value = home
        .cli(&["flavor", "describe", "kv_json", "--output", "json"])
        .json();
    assert_eq!(unchanged, before, "nothing was replaced");

    let replaced = home.cli(&["flavor", "register", &v2, "--replace", "kv_json"]);
    let line = replaced.ok();
    assert!(
        line.starts_with("flavor `kv_json`: no change in capabilities, grants or config fields\n"),
        "{line}"
    );
    let after: Value = home
        .cli(&["flavor", "describe", "kv_json", "--output", "json"])
        .json();
    assert_ne!(before["digest"], after["digest"]);
    assert!(line.contains(before["digest"].as_str().unwrap()), "{line}");
    assert!(line.contains(after["digest"].as_str().unwrap()), "{line}");
    assert_eq!(after["policy"], before["policy"], "grants and limits kept");
    assert_eq!(home.revealed("kept", Some("kv"))["values"]["k"], "v");
    home.cli(&["flavor", "register", &v2])
        .fails(1, "is registered already");
    home.register_flavor(guests::LOCAL, &["--replace", "local"])
        .fails(2, "built in");

    // Grants and limits change in place; the manager keeps working.
    let granted = home.cli(&["flavor", "grant", "kv_json", "--storage-keys", "1"]);
    assert!(
        granted.ok().contains("granted:      storage\n"),
        "{granted:?}"
    );
    home.cli(&["secret", "register", "second", "k=v"])
        .fails(3, "sandbox: quota");
    home.cli(&["flavor", "revoke", "kv_json", "--capability", "storage"])
        .ok();
    // Declared but no longer granted: the operator's to grant again.
    home.cli(&["secret", "get", "kept"]).fails(
        1,
        "capability `storage`, which was not granted: grant it with \
         `flavorbox flavor grant kv_json --grant storage`",
    );
    home.cli(&[
        "flavor",
        "grant",
        "kv_json",
        "--grant",
        "storage",
        "--storage-keys",
        "10",
    ])
    .ok();
    assert_eq!(home.revealed("kept", Some("kv"))["values"]["k"], "v");
    home.cli(&["flavor", "grant", "local", "--grant", "storage"])
        .fails(1, "built in");
    home.cli(&[
        "flavor",
        "revoke",
        "kv_json",
        "--allow-host",
        "http://x.example",
    ])
    .fails(2, "was not granted origin");
}

#[test]
fn config_references_resolve_at_call_time_and_rotate() {
    let home = TestHome::new();
    home.register_secret("creds", &["token=rotating-token-1"]);
    home.register_flavor(guests::KV_JSON, &["--grant", "storage"])
        .ok();
    home.register_manager("kv", "kv_json", &[("label", "{{creds.token}}")], &[]);
    // Pinned to the manager that was active.
    let described = home.cli(&["secrets-manager", "describe", "kv"]);
    assert!(
        described.ok().contains("{{default/creds.token}}"),
        "{described:?}"
    );
    let logged = |home: &TestHome| {
        home.cli_env(
            &["secret", "list", "--manager", "kv"],
            &[("FLAVORBOX_LOG", "flavor=info")],
        )
    };
    // The flavor got the resolved value, which is masked in its log.
    let run = logged(&home);
    run.ok();
    assert!(run.stderr.contains("label=*** calls=1"), "{run:?}");
    assert!(!run.stderr.contains("rotating-token"), "{run:?}");

    // Rotation: to a plain value (not secret in kv_json, so shown) and back.
    let label = write(&home, "label.txt", "from-a-file");
    home.cli(&[
        "secrets-manager",
        "update",
        "kv",
        "--config",
        &format!("label=@{label}"),
    ])
    .ok();
    assert!(logged(&home).stderr.contains("label=from-a-file calls=1"));
    home.cli_with_stdin(
        &["secrets-manager", "update", "kv", "--config", "label=-"],
        Some(b"from-stdin\n"),
    )
    .ok();
    assert!(logged(&home).stderr.contains("label=from-stdin calls=1"));
    home.cli(&["secrets-manager", "update", "kv", "--unset", "label"])
        .ok();
    assert!(
        logged(&home)
            .stderr
            .contains("kv_json get-all-secret-keys calls=1")
    );

    for (config, code, needle) in [
        ("label={{ghost.token}}", 1, "secret `ghost` does not exist"),
        ("label={{creds.nokey}}", 1, "has no key `nokey`"),
        ("label={{kv/x.y}}", 2, "itself"),
        (
            "label={{nobody/x.y}}",
            1,
            "secrets manager `nobody` does not exist",
        ),
        ("label={{bad}}", 2, "is not NAME.KEY"),
        ("nope=1", 2, "takes no config key `nope`"),
    ] {
        home.cli(&["secrets-manager", "update", "kv", "--config", config])
            .fails(code, needle);
    }
    home.cli(&["secrets-manager", "update", "kv"])
        .fails(2, "nothing to update");
    home.cli(&["secrets-manager", "update", "ghost", "--config", "label=x"])
        .fails(1, "secrets manager `ghost` does not exist");
}

/// The README's rotation example: `prod`'s secret key becomes a reference
/// to `aws_creds` in `default`, whether `default` or `prod` is active.
#[test]
fn the_readme_rotation_example_works_with_its_manager_active_or_not() {
    let home = TestHome::new();
    let keys = [
        "aws_access_key_id=AKIAEXAMPLE",
        "aws_secret_access_key=rotated-key",
    ];
    home.register_secret("aws_creds", &["--schema", "aws", keys[0], keys[1]]);
    home.register_manager(
        "prod",
        "aws",
        &[
            ("region", "us-east-1"),
            ("aws_access_key_id", "x"),
            ("aws_secret_access_key", "y"),
            ("endpoint", "http://127.0.0.1:9"),
        ],
        &[],
    );
    let rotate = [
        "secrets-manager",
        "update",
        "prod",
        "--config",
        "aws_secret_access_key={{aws_creds.aws_secret_access_key}}",
    ];
    let pinned = "{{default/aws_creds.aws_secret_access_key}}";
    for active in ["default", "prod"] {
        home.cli(&["secrets-manager", "set-active", active]).ok();
        home.cli(&rotate).ok();
        let described = home.cli(&["secrets-manager", "describe", "prod"]);
        assert!(described.ok().contains(pinned), "{active}: {described:?}");
        assert!(!described.stdout.contains("rotated-key"), "{described:?}");
    }
    // With `prod` active, a reference naming no manager must say which
    // other one holds the secret: two do, so it is refused naming both.
    home.cli(&["secrets-manager", "register", "spare", "--flavor", "local"])
        .ok();
    home.register_secret(
        "aws_creds",
        &["-m", "spare", "--schema", "aws", keys[0], keys[1]],
    );
    home.cli(&rotate).fails(
        2,
        "it is held by `default`, `spare`: write {{MANAGER/aws_creds",
    );
    home.cli(&["secret", "delete", "aws_creds", "-m", "spare", "--yes"])
        .ok();
    home.cli(&["secret", "delete", "aws_creds", "-m", "default", "--force"])
        .ok();
    home.cli(&rotate).fails(2, "no other manager holds it");
}

/// A secret a manager's config refers to is not deleted, renamed or
/// deleted with all the others unless forced; the refusal names every
/// referring manager and key, and a forced change says what it broke.
#[test]
fn a_secret_a_config_refers_to_is_deleted_or_renamed_only_when_forced() {
    let home = TestHome::new();
    home.register_secret("creds", &["token=t-1"]);
    home.register_secret("other", &["k=v"]);
    home.register_flavor(guests::KV_JSON, &["--grant", "storage"])
        .ok();
    for manager in ["kv", "kv2"] {
        home.register_manager(manager, "kv_json", &[("label", "{{creds.token}}")], &[]);
    }
    let both = "config `label` of secrets manager `kv` ({{default/creds.token}}), config \
                `label` of secrets manager `kv2` ({{default/creds.token}})";
    home.cli(&["secret", "delete", "creds", "--yes"])
        .fails(1, both);
    home.cli(&["secret", "rename", "creds", "renamed"])
        .fails(1, both);
    home.cli(&["secret", "delete-all", "--force"])
        .fails(1, both);
    let listed = home.cli(&["secret", "list"]);
    assert_eq!(listed.ok(), "creds\nother\n", "nothing changed: {listed:?}");
    home.cli(&["secret", "list", "-m", "kv"]).ok();

    // Renamed anyway: the references still name `creds`, so `kv` breaks
    // until the secret is back under its old name.
    let renamed = home.cli(&["secret", "rename", "creds", "renamed", "--force"]);
    renamed.ok();
    for manager in ["kv", "kv2"] {
        let told = format!(
            "renamed secret `creds` broke config `label` of secrets manager `{manager}` \
             ({{{{default/creds.token}}}}); mend it with `flavorbox secrets-manager update \
             {manager} --config label=...`"
        );
        assert!(renamed.stderr.contains(&told), "{renamed:?}");
    }
    home.cli(&["secret", "list", "-m", "kv"])
        .fails(1, "refers to {{default/creds.token}}, which cannot be read");
    home.cli(&["secret", "rename", "renamed", "creds"]).ok();
    home.cli(&["secret", "list", "-m", "kv"]).ok();

    // A reference pointed elsewhere no longer holds the secret.
    home.cli(&[
        "secrets-manager",
        "update",
        "kv2",
        "--config",
        "label=plain",
    ])
    .ok();
    let deleted = home.cli(&["secret", "delete", "creds", "--force"]);
    deleted.ok();
    assert!(
        deleted
            .stderr
            .contains("deleted secret `creds` broke config `label` of secrets manager `kv` "),
        "{deleted:?}"
    );
    assert!(!deleted.stderr.contains("`kv2`"), "{deleted:?}");
    home.cli(&["secret", "get", "creds"])
        .fails(1, "does not exist");
    home.cli(&["secret", "list", "-m", "kv"])
        .fails(1, "cannot be read");
    home.cli(&["secret", "list", "-m", "kv2"]).ok();
    // Nothing refers to `other` now that `creds` is gone: delete-all goes.
    home.cli(&["secret", "delete-all", "--force"]).ok();
    assert_eq!(home.cli(&["secret", "list"]).ok(), "");
}

#[test]
fn secret_config_is_masked_where_it_is_shown() {
    let home = TestHome::new();
    home.register_flavor(guests::AWS, &["--allow-host", "http://127.0.0.1:9"])
        .ok();
    home.register_secret(
        "aws_creds",
        &[
            "--schema",
            "aws",
            "aws_access_key_id=AKIAEXAMPLE",
            "aws_secret_access_key=very-secret-key",
        ],
    );
    home.register_manager(
        "prod",
        "aws",
        &[
            ("region", "eu-west-1"),
            ("endpoint", "http://127.0.0.1:9"),
            ("aws_access_key_id", "AKIAPLAIN"),
            (
                "aws_secret_access_key",
                "{{aws_creds.aws_secret_access_key}}",
            ),
        ],
        &[],
    );
    for output in ["text", "json"] {
        let described = home.cli(&["secrets-manager", "describe", "prod", "--output", output]);
        let text = described.ok();
        assert!(
            !text.contains("AKIAPLAIN") && !text.contains("very-secret"),
            "{text}"
        );
        assert!(
            text.contains("{{default/aws_creds.aws_secret_access_key}}"),
            "{text}"
        );
        assert!(text.contains("eu-west-1"), "{text}");
        let listed = home.cli(&["secrets-manager", "list", "--output", output]);
        assert!(!listed.ok().contains("AKIAPLAIN"));
    }
    // A call fails (nothing listens), and neither credential reaches the
    // error line.
    let run = home.cli(&["secret", "list", "--manager", "prod"]);
    assert_ne!(run.code, 0);
    assert!(!run.stderr.contains("very-secret") && !run.stderr.contains("AKIAPLAIN"));
    assert!(!run.stderr.contains("ErrorCode::"), "{run:?}");
}

#[test]
fn update_removes_keys_merges_json_switches_schema_and_rename_moves() {
    let home = TestHome::new();
    home.register_secret("s", &["username=u", "password=p", "extra=x"]);
    home.cli(&["secret", "update", "s", "--remove-key", "extra"])
        .ok();
    home.cli(&["secret", "update", "s", "--remove-key", "nope"])
        .fails(2, "has no key `nope`");
    home.cli(&[
        "secret",
        "update",
        "s",
        "--remove-key",
        "username",
        "--remove-key",
        "password",
    ])
    .fails(2, "would leave secret `s` empty");
    let json = write(&home, "changes.json", r#"{"password": "from-json"}"#);
    home.cli(&[
        "secret",
        "update",
        "s",
        "--from-json",
        &json,
        "--schema",
        "basic_auth",
    ])
    .ok();
    let s = home.revealed("s", Some("default"));
    assert_eq!(s["schema"], "basic_auth");
    assert_eq!(
        s["values"],
        serde_json::json!({"username": "u", "password": "from-json"})
    );
    home.cli(&["secret", "update", "s", "x=1"])
        .fails(2, "schema `basic_auth` does not allow key `x`");

    home.cli(&["secret", "rename", "s", "t"]).ok();
    assert_eq!(home.secret_names(Some("default")), ["t"]);
    assert_eq!(
        home.revealed("t", Some("default"))["values"]["password"],
        "from-json"
    );
    home.register_secret("taken", &["k=v"]);
    home.cli(&["secret", "rename", "t", "taken"])
        .fails(1, "secret `taken` already exists");
    home.cli(&["secret", "rename", "ghost", "v"]).fails(
        1,
        "secret `ghost` does not exist in secrets manager `default`",
    );
    assert_eq!(home.secret_names(Some("default")), ["t", "taken"]);
}

/// Two processes updating different keys of one secret at once: every
/// update is a read, a merge and a write, and the write is pinned to what
/// the read saw, so neither process overwrites the keys the other added.
#[test]
fn concurrent_updates_from_two_processes_lose_no_key() {
    const UPDATES: usize = 15;
    let home = TestHome::new();
    home.register_secret("shared", &["seed=0"]);
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|writer| {
            let dir = home.path().to_path_buf();
            std::thread::spawn(move || {
                for i in 0..UPDATES {
                    let pair = format!("{writer}{i}=v{i}");
                    run_cli(Some(&dir), &["secret", "update", "shared", &pair], None).ok();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let stored = home.revealed("shared", Some("default"));
    let keys = stored["values"].as_object().expect("values").len();
    assert_eq!(
        keys,
        1 + 2 * UPDATES,
        "keys lost to a concurrent update: {stored}"
    );
}
