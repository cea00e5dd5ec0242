//! The CLI for daily work and for operating over time, end to end through
//! the binary: raw values and output formats, `run`, `resolve`, export and
//! import (flavorbox's and ZenML's), upgrades, grants, rotation and config
//! references, updates and renames, the same input rules on every path,
//! confirmations, usage errors, completions and man pages.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavorbox_tests::{Run, TestHome, guest, run_cli_env};
use serde_json::Value;

/// Runs the CLI on `home` with extra environment variables and stdin.
fn cli_env(home: &TestHome, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    run_cli_env(Some(home.path()), args, stdin, env)
}

fn revealed(home: &TestHome, name: &str, manager: &str) -> Value {
    serde_json::from_str(
        home.cli(&[
            "secret",
            "get",
            name,
            "--reveal",
            "--output",
            "json",
            "--manager",
            manager,
        ])
        .ok(),
    )
    .unwrap()
}

fn names(home: &TestHome, manager: &str) -> Vec<String> {
    serde_json::from_str(
        home.cli(&["secret", "list", "--output", "json", "--manager", manager])
            .ok(),
    )
    .unwrap()
}

fn write(home: &TestHome, file: &str, text: &str) -> String {
    let path = home.path().join(file);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn get_prints_raw_values_and_every_format_round_trips() {
    let home = TestHome::new();
    home.cli(&[
        "secret",
        "register",
        "db",
        "username=admin",
        "password=pa ss'word",
        "cert=placeholder",
    ])
    .ok();
    // `-` drops one trailing newline; store one that keeps a newline.
    home.cli_with_stdin(
        &["secret", "update", "db", "cert=-"],
        Some(b"line1\nline2\n\n"),
    )
    .ok();
    let raw = home.cli(&["secret", "get", "db", "--key", "password"]);
    assert_eq!(raw.ok(), "pa ss'word\n");
    let exact = home.cli(&["secret", "get", "db", "--key", "cert", "--no-newline"]);
    assert_eq!(exact.ok(), "line1\nline2\n");
    let as_json = home.cli(&["secret", "get", "db", "--key", "cert", "--output", "json"]);
    assert_eq!(
        serde_json::from_str::<Value>(as_json.ok()).unwrap(),
        "line1\nline2\n"
    );
    home.cli(&["secret", "get", "db", "--key", "nope"])
        .fails(1, "secret `db` has no key `nope`");

    // Table output escapes the newline; JSON is exact.
    let table = home.cli(&["secret", "get", "db", "--reveal"]);
    assert!(
        table.ok().contains("cert      line1\\nline2\\n"),
        "{table:?}"
    );
    assert_eq!(table.stdout.lines().count(), 5, "{table:?}");
    let env = home.cli(&["secret", "get", "db", "--reveal", "--output", "env"]);
    assert!(env.ok().contains("PASSWORD='pa ss'\\''word'\n"), "{env:?}");
    let yaml = home.cli(&["secret", "get", "db", "--reveal", "--output", "yaml"]);
    assert!(yaml.ok().contains("username: admin"), "{yaml:?}");
    let masked = home.cli(&["secret", "get", "db", "--output", "yaml"]);
    assert!(!masked.ok().contains("admin"));

    // `get --output json` is what `--from-json` reads.
    let json = home.cli(&["secret", "get", "db", "--reveal", "--output", "json"]);
    let file = write(&home, "db.json", json.ok());
    home.cli(&["secret", "register", "copy", "--from-json", &file])
        .ok();
    let (a, b) = (
        revealed(&home, "db", "default"),
        revealed(&home, "copy", "default"),
    );
    assert_eq!(a["values"], b["values"]);
    assert_eq!(b["schema"], "arbitrary");
    let masked_json = home.cli(&["secret", "get", "db", "--output", "json"]);
    let file = write(&home, "masked.json", masked_json.ok());
    home.cli(&["secret", "register", "x", "--from-json", &file])
        .fails(2, "holds masked values");
}

#[test]
fn run_passes_secrets_as_environment_and_the_exit_code_back() {
    let home = TestHome::new();
    home.cli(&[
        "secret",
        "register",
        "db",
        "username=admin",
        "pass.word=s3cr3t-v4lue",
    ])
    .ok();
    home.cli(&["secrets-manager", "register", "other", "--flavor", "local"])
        .ok();
    home.cli(&[
        "secret",
        "register",
        "api",
        "token=tok-123",
        "--manager",
        "other",
    ])
    .ok();
    let script = "printf '%s|%s|%s|%s\\n' \"$DB_USERNAME\" \"$DB_PASS_WORD\" \"$URL\" \"$TOKEN\"; \
                  tr '\\0' ' ' < /proc/$PPID/cmdline; echo; exit 42";
    let run = home.cli(&[
        "run",
        "--secret",
        "db=DB_",
        "--env",
        "URL=postgres://{{db.username}}:{{db.pass.word}}@host",
        "--env",
        "TOKEN={{other/api.token}}",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(run.code, 42, "{run:?}");
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "admin|s3cr3t-v4lue|postgres://admin:s3cr3t-v4lue@host|tok-123"
    );
    let parent_cmdline = lines.next().unwrap();
    assert!(parent_cmdline.contains("flavorbox") && parent_cmdline.contains("run"));
    assert!(!parent_cmdline.contains("s3cr3t"), "{parent_cmdline}");
    assert!(!run.stderr.contains("s3cr3t"), "{run:?}");

    home.cli(&["run", "--secret", "ghost", "--", "true"]).fails(
        1,
        "secret `ghost` does not exist in secrets manager `default`",
    );
    home.cli(&["run", "--env", "X={{db.nokey}}", "--", "true"])
        .fails(1, "reference {{db.nokey}}: secret `db` has no key `nokey`");
    home.cli(&["run", "--secret", "db", "--secret", "db", "--", "true"])
        .fails(2, "would be set by both");
    home.cli(&["run", "--", "/no/such/program"])
        .fails(2, "cannot run `/no/such/program`");
}

#[test]
fn resolve_renders_every_reference_or_prints_nothing() {
    let home = TestHome::new();
    home.cli(&[
        "secret",
        "register",
        "db",
        "username=admin",
        "password=hunter2-pw",
    ])
    .ok();
    home.cli(&["secrets-manager", "register", "b", "--flavor", "local"])
        .ok();
    home.cli(&["secret", "register", "api", "token=t0k", "--manager", "b"])
        .ok();
    let template = write(
        &home,
        "app.conf",
        "user = {{db.username}}\npass = {{ db.password }}\ntoken = {{b/api.token}}\nplain { braces }\n",
    );
    let out = home.cli(&["resolve", &template]);
    assert_eq!(
        out.ok(),
        "user = admin\npass = hunter2-pw\ntoken = t0k\nplain { braces }\n"
    );
    let piped = home.cli_with_stdin(&["resolve", "-"], Some(b"{{db.username}}"));
    assert_eq!(piped.ok(), "admin");

    let bad = write(
        &home,
        "bad.conf",
        "user = {{db.username}}\nkey = {{db.nokey}}\n",
    );
    let run = home.cli(&["resolve", &bad]);
    run.fails(1, "{{db.nokey}}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let ghost = home.cli(&["resolve", "-"]);
    assert!(ghost.stdout.is_empty());
    home.cli_with_stdin(&["resolve"], Some(b"a {{ghost.k}}"))
        .fails(1, "reference {{ghost.k}}: secret `ghost` does not exist");
    home.cli_with_stdin(&["resolve"], Some(b"x\n{{db.username"))
        .fails(2, "never closed");
    home.cli_with_stdin(&["resolve"], Some(b"{{nokey}}"))
        .fails(2, "is not NAME.KEY");
}

#[test]
fn export_import_round_trips_all_or_nothing() {
    let home = TestHome::new();
    home.cli(&[
        "secret",
        "register",
        "db",
        "username=admin",
        "password=p\"w\n",
    ])
    .ok();
    home.cli(&[
        "secret",
        "register",
        "aws_creds",
        "--schema",
        "aws",
        "aws_access_key_id=AKIA1",
        "aws_secret_access_key=s3cr3t",
    ])
    .ok();
    home.cli(&["secret", "export"]).fails(2, "pass --reveal");
    let export = home.cli(&["secret", "export", "--reveal"]);
    let file = write(&home, "export.json", export.ok());

    home.cli(&["secrets-manager", "register", "b", "--flavor", "local"])
        .ok();
    let imported = home.cli(&["secret", "import", &file, "--manager", "b"]);
    assert!(
        imported
            .ok()
            .contains("imported 2 secrets into secrets manager `b`: aws_creds, db")
    );
    assert_eq!(
        revealed(&home, "db", "b")["values"],
        revealed(&home, "db", "default")["values"]
    );
    assert_eq!(revealed(&home, "aws_creds", "b")["schema"], "aws");

    // Again: both exist now, so nothing is written.
    home.cli(&["secret", "import", &file, "--manager", "b"])
        .fails(
            1,
            "exists already in secrets manager `b`; nothing was imported",
        );

    // One bad entry spoils the file: nothing imported.
    home.cli(&["secrets-manager", "register", "c", "--flavor", "local"])
        .ok();
    let mut doc: Value = serde_json::from_str(&export.stdout).unwrap();
    doc["secrets"][1]["values"]["zenml_schema_name"] = "x".into();
    let bad = write(&home, "bad.json", &doc.to_string());
    home.cli(&["secret", "import", &bad, "--manager", "c"])
        .fails(2, "key `zenml_schema_name` is reserved");
    let dup = write(
        &home,
        "dup.json",
        r#"{"flavorbox_export":1,"manager":"m","secrets":[
            {"name":"a","schema":"arbitrary","values":{"k":"1"}},
            {"name":"b","schema":"arbitrary","values":{"k":"1","k":"2"}}]}"#,
    );
    home.cli(&["secret", "import", &dup, "--manager", "c"])
        .fails(2, "key `k` is given more than once");
    assert!(names(&home, "c").is_empty());

    // A register that fails midway (the flavor's storage quota) undoes what
    // the import had created.
    home.cli_register("kv_json", "small", &["--storage-keys", "1"], false);
    let run = home.cli(&["secret", "import", &file, "--manager", "small"]);
    run.fails(1, "1 secret(s) this import had created were deleted again");
    assert!(names(&home, "small").is_empty());
}

#[test]
fn a_zenml_local_secrets_file_imports() {
    // Written by ZenML's rules (LocalSecretsManager: yaml.dump of
    // {name: {key: base64(value), zenml_schema_name: TYPE}}).
    let home = TestHome::new();
    let b64 = |s: &str| BASE64.encode(s);
    let yaml = format!(
        "aws_creds:\n  aws_access_key_id: {}\n  aws_secret_access_key: {}\n  zenml_schema_name: aws\n\
         db:\n  password: {}\n  username: {}\n  zenml_schema_name: arbitrary\n",
        b64("AKIAIOSFODNN7EXAMPLE"),
        b64("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        b64("pä$$wörd\n"),
        b64("admin"),
    );
    let file = write(&home, "secrets.yaml", &yaml);
    let run = home.cli(&["import-zenml", &file]);
    assert!(run.ok().contains("imported 2 secrets"), "{run:?}");
    let aws = revealed(&home, "aws_creds", "default");
    assert_eq!(aws["schema"], "aws");
    assert_eq!(
        aws["values"]["aws_secret_access_key"],
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );
    assert_eq!(
        revealed(&home, "db", "default")["values"]["password"],
        "pä$$wörd\n"
    );

    let empty = write(&home, "empty.yaml", "");
    assert!(
        home.cli(&["import-zenml", &empty])
            .ok()
            .contains("imported 0 secrets")
    );
    home.cli(&["secrets-manager", "register", "fresh", "--flavor", "local"])
        .ok();
    for (text, needle) in [
        (
            "db:\n  password: '%%%'\n  zenml_schema_name: arbitrary\n",
            "not base64",
        ),
        ("db:\n  password: aGk=\n", "no `zenml_schema_name`"),
        (
            "db:\n  p: aGk=\n  zenml_schema_name: nope\n",
            "unknown schema `nope`",
        ),
        ("[1, 2]\n", "not a mapping of secrets"),
        (
            "ok:\n  p: aGk=\n  zenml_schema_name: arbitrary\nbad:\n  p: ''\n  zenml_schema_name: arbitrary\n",
            "empty value",
        ),
    ] {
        let file = write(&home, "bad.yaml", text);
        home.cli(&["import-zenml", &file, "--manager", "fresh"])
            .fails(2, needle);
    }
    assert!(names(&home, "fresh").is_empty());
}

/// The kv_json component with a custom section appended: the same flavor,
/// another digest (a stand-in for a new release).
fn rebuilt_kv_json(home: &TestHome) -> String {
    let mut wasm = std::fs::read(guest("kv_json")).unwrap();
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
    home.cli_register("kv_json", "kv", &["--storage-keys", "50"], true);
    home.cli(&["secret", "register", "kept", "k=v"]).ok();
    let before: Value = serde_json::from_str(
        home.cli(&["flavor", "describe", "kv_json", "--output", "json"])
            .ok(),
    )
    .unwrap();
    let v2 = rebuilt_kv_json(&home);
    let replaced = home.cli(&["flavor", "register", &v2, "--replace"]);
    let line = replaced.ok();
    let after: Value = serde_json::from_str(
        home.cli(&["flavor", "describe", "kv_json", "--output", "json"])
            .ok(),
    )
    .unwrap();
    assert_ne!(before["digest"], after["digest"]);
    assert!(line.contains(before["digest"].as_str().unwrap()), "{line}");
    assert!(line.contains(after["digest"].as_str().unwrap()), "{line}");
    assert_eq!(after["policy"], before["policy"], "grants and limits kept");
    assert_eq!(revealed(&home, "kept", "kv")["values"]["k"], "v");
    home.cli(&["flavor", "register", &v2])
        .fails(1, "is registered already");
    home.cli(&[
        "flavor",
        "register",
        guest("local").to_str().unwrap(),
        "--replace",
    ])
    .fails(2, "built in");

    // Grants and limits change in place; the manager keeps working.
    let granted = home.cli(&[
        "flavor",
        "grant",
        "kv_json",
        "--allow-host",
        "http://127.0.0.1:9",
        "--storage-keys",
        "1",
    ]);
    assert!(
        granted.ok().contains("http origins: http://127.0.0.1:9"),
        "{granted:?}"
    );
    home.cli(&["secret", "register", "second", "k=v"])
        .fails(3, "sandbox: quota");
    let revoked = home.cli(&[
        "flavor",
        "revoke",
        "kv_json",
        "--allow-host",
        "http://127.0.0.1:9",
    ]);
    assert!(
        revoked.ok().contains("granted:      storage\n"),
        "{revoked:?}"
    );
    home.cli(&["flavor", "revoke", "kv_json", "--capability", "storage"])
        .ok();
    home.cli(&["secret", "get", "kept"])
        .fails(3, "capability `storage`, which was not granted");
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
    assert_eq!(revealed(&home, "kept", "kv")["values"]["k"], "v");
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
    home.cli(&["secret", "register", "creds", "token=rotating-token-1"])
        .ok();
    home.cli(&[
        "flavor",
        "register",
        guest("kv_json").to_str().unwrap(),
        "--grant",
        "storage",
    ])
    .ok();
    home.cli(&[
        "secrets-manager",
        "register",
        "kv",
        "--flavor",
        "kv_json",
        "--config",
        "label={{creds.token}}",
    ])
    .ok();
    // Pinned to the manager that was active.
    let described = home.cli(&["secrets-manager", "describe", "kv"]);
    assert!(
        described.ok().contains("{{default/creds.token}}"),
        "{described:?}"
    );
    let logged = |home: &TestHome| {
        cli_env(
            home,
            &["secret", "list", "--manager", "kv"],
            &[("FLAVORBOX_LOG", "flavor=info")],
            None,
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

#[test]
fn secret_config_is_masked_where_it_is_shown() {
    let home = TestHome::new();
    home.cli(&[
        "flavor",
        "register",
        guest("aws").to_str().unwrap(),
        "--allow-host",
        "http://127.0.0.1:9",
    ])
    .ok();
    home.cli(&[
        "secret",
        "register",
        "aws_creds",
        "--schema",
        "aws",
        "aws_access_key_id=AKIAEXAMPLE",
        "aws_secret_access_key=very-secret-key",
    ])
    .ok();
    home.cli(&[
        "secrets-manager",
        "register",
        "prod",
        "--flavor",
        "aws",
        "--config",
        "region=eu-west-1",
        "--config",
        "endpoint=http://127.0.0.1:9",
        "--config",
        "aws_access_key_id=AKIAPLAIN",
        "--config",
        "aws_secret_access_key={{aws_creds.aws_secret_access_key}}",
    ])
    .ok();
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
    home.cli(&[
        "secret",
        "register",
        "s",
        "username=u",
        "password=p",
        "extra=x",
    ])
    .ok();
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
    let s = revealed(&home, "s", "default");
    assert_eq!(s["schema"], "basic_auth");
    assert_eq!(
        s["values"],
        serde_json::json!({"username": "u", "password": "from-json"})
    );
    home.cli(&["secret", "update", "s", "x=1"])
        .fails(2, "schema `basic_auth` does not allow key `x`");

    home.cli(&["secret", "rename", "s", "t"]).ok();
    assert_eq!(names(&home, "default"), ["t"]);
    assert_eq!(
        revealed(&home, "t", "default")["values"]["password"],
        "from-json"
    );
    home.cli(&["secret", "register", "taken", "k=v"]).ok();
    home.cli(&["secret", "rename", "t", "taken"])
        .fails(1, "secret `taken` already exists");
    home.cli(&["secret", "rename", "ghost", "v"]).fails(
        1,
        "secret `ghost` does not exist in secrets manager `default`",
    );
    assert_eq!(names(&home, "default"), ["t", "taken"]);
}

#[test]
fn the_same_input_rules_hold_on_every_path() {
    let home = TestHome::new();
    let dup = write(&home, "dup.json", r#"{"k": "1", "k": "2"}"#);
    let nested_dup = write(
        &home,
        "dup2.json",
        r#"{"name": "x", "schema": "arbitrary", "values": {"k": "1", "k": "2"}}"#,
    );
    let empty = write(&home, "empty.json", r#"{"k": ""}"#);
    let reserved = write(&home, "reserved.json", r#"{"zenml_schema_name": "aws"}"#);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["secret", "register", "x", "k="],
            "key `k` has an empty value",
        ),
        (
            vec!["secret", "register", "x", "--from-json", &empty],
            "key `k` has an empty value",
        ),
        (
            vec!["secret", "register", "x", "--from-json", &dup],
            "key `k` is given more than once",
        ),
        (
            vec!["secret", "register", "x", "--from-json", &nested_dup],
            "key `k` is given more than once",
        ),
        (
            vec!["secret", "register", "x", "zenml_schema_name=aws"],
            "is reserved",
        ),
        (
            vec!["secret", "register", "x", "--from-json", &reserved],
            "is reserved",
        ),
        (vec!["secret", "update", "e", "k="], "empty value"),
        (
            vec!["secret", "update", "e", "--from-json", &dup],
            "more than once",
        ),
        (
            vec!["secret", "update", "e", "zenml_schema_name=1"],
            "is reserved",
        ),
    ];
    home.cli(&["secret", "register", "e", "k=v"]).ok();
    for (args, needle) in cases {
        home.cli(&args).fails(2, needle);
    }
    assert_eq!(names(&home, "default"), ["e"]);
    home.cli_with_stdin(&["secret", "register", "x", "k=-"], Some(b"\n"))
        .fails(2, "empty value");

    // Schemas: none may claim the reserved key; removal is refused while
    // a secret uses the schema.
    let claims = write(
        &home,
        "claims.json",
        r#"{"name": "api", "required": ["zenml_schema_name"]}"#,
    );
    home.cli(&["schema", "register", &claims])
        .fails(2, "reserved");
    let dup_schema = write(
        &home,
        "dup_schema.json",
        r#"{"name": "api", "name": "api2", "required": ["k"]}"#,
    );
    home.cli(&["schema", "register", &dup_schema])
        .fails(2, "more than once");
    let api = write(
        &home,
        "api.json",
        r#"{"name": "api", "required": ["token"]}"#,
    );
    home.cli(&["schema", "register", &api]).ok();
    home.cli(&["secret", "register", "key", "--schema", "api", "token=t"])
        .ok();
    home.cli(&["schema", "remove", "api"])
        .fails(1, "used by secret(s) default/key");
    home.cli(&["schema", "remove", "aws"]).fails(1, "built in");
    home.cli(&["secret", "delete", "key", "--yes"]).ok();
    home.cli(&["schema", "remove", "api"]).ok();
    home.cli(&["schema", "describe", "api"])
        .fails(2, "unknown schema `api`");
}

#[test]
fn destructive_commands_need_a_yes_off_a_terminal() {
    let home = TestHome::new();
    home.cli_register("kv_json", "kv", &[], false);
    home.cli(&["secret", "register", "s", "k=v", "--manager", "kv"])
        .ok();
    home.cli(&["secrets-manager", "remove", "kv", "--purge"])
        .fails(2, "pass --yes");
    home.cli(&["secret", "delete-all", "--manager", "kv"])
        .fails(2, "pass --force");
    home.cli(&["secret", "delete", "s", "--manager", "kv"])
        .fails(2, "pass --yes");
    assert_eq!(names(&home, "kv"), ["s"]);
    home.cli(&["secret", "delete-all", "--manager", "kv", "--yes"])
        .ok();
    home.cli(&["secrets-manager", "remove", "kv", "--purge", "--yes"])
        .ok();
    home.cli(&["flavor", "remove", "kv_json"])
        .fails(2, "pass --yes");
    home.cli(&["flavor", "remove", "kv_json", "--yes"]).ok();
    home.cli(&["flavor", "remove", "kv_json", "--yes"])
        .fails(1, "not registered");
}

#[test]
fn usage_errors_are_one_line_with_a_hint() {
    let home = TestHome::new();
    for (args, needle) in [
        (vec!["secret", "bogus"], "see `flavorbox secret --help`"),
        (
            vec!["secret", "get"],
            "<NAME>; see `flavorbox secret get --help`",
        ),
        (vec!["--bogus"], "unexpected argument '--bogus'"),
        (vec!["secret"], "`flavorbox secret` needs a subcommand"),
        (
            vec!["secret", "get", "x", "--output", "xml"],
            "invalid value 'xml'",
        ),
        (vec!["run", "--secret", "x"], "see `flavorbox run --help`"),
    ] {
        home.cli(&args).fails(2, needle);
    }
    let help = home.cli(&["secret", "get", "--help"]);
    assert!(help.ok().contains("--key <KEY>"), "{help:?}");
    assert!(help.stdout.contains("Print only this key's value"));
    home.cli(&["secret", "get", "x", "--manager", "ghost"])
        .fails(1, "secrets manager `ghost` does not exist");
    home.cli(&["secret", "get", "x"])
        .fails(1, "secret `x` does not exist in secrets manager `default`");
}

#[test]
fn completions_and_man_pages_are_generated() {
    let home = TestHome::new();
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef flavorbox"),
        ("fish", "complete -c flavorbox"),
    ] {
        let out = home.cli(&["completions", shell]);
        assert!(out.ok().contains(needle), "{shell}: {out:?}");
        assert!(out.stdout.contains("import-zenml"), "{shell}");
    }
    home.cli(&["completions", "powershell"])
        .fails(2, "invalid value");
    let page = home.cli(&["man"]);
    assert!(page.ok().contains(".TH flavorbox"), "{page:?}");
    let dir = home.path().join("man");
    home.cli(&["man", dir.to_str().unwrap()]).ok();
    let get = std::fs::read_to_string(dir.join("flavorbox-secret-get.1")).unwrap();
    assert!(
        get.contains("no\\-newline") || get.contains("no-newline"),
        "{get}"
    );
    assert!(Path::new(&dir.join("flavorbox-run.1")).is_file());
}

/// Two processes updating different keys of one secret at once: every
/// update is a read, a merge and a write, and the write is pinned to what
/// the read saw, so neither process overwrites the keys the other added.
#[test]
fn concurrent_updates_from_two_processes_lose_no_key() {
    const UPDATES: usize = 15;
    let home = TestHome::new();
    home.cli(&["secret", "register", "shared", "seed=0"]).ok();
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|writer| {
            let dir = home.path().to_path_buf();
            std::thread::spawn(move || {
                for i in 0..UPDATES {
                    let pair = format!("{writer}{i}=v{i}");
                    flavorbox_tests::run_cli(
                        Some(&dir),
                        &["secret", "update", "shared", &pair],
                        None,
                    )
                    .ok();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let stored = revealed(&home, "shared", "default");
    let keys = stored["values"].as_object().expect("values").len();
    assert_eq!(
        keys,
        1 + 2 * UPDATES,
        "keys lost to a concurrent update: {stored}"
    );
}
