//! A CLI that forgives and teaches, through the binary: clap's suggestion
//! kept in the one-line usage error, the aliases and short flags peers
//! have, one set of `--output` formats on every listing and description,
//! `--output env` that never prints masked values or lets one variable be
//! set twice, not found as exit 1 everywhere, a home created only on
//! purpose, and `--from-json` reading back the YAML `secret get` prints
//! (and refusing hostile YAML in one line, storing nothing).

use flavorbox_tests::{CliHome, run_cli};

use crate::write;

#[test]
fn a_typo_gets_the_suggestion_on_its_one_line() {
    let home = CliHome::new();
    let err = home
        .cli(&["secert", "list"])
        .fails(2, "unrecognized subcommand 'secert'")
        .to_string();
    assert!(err.contains("'secret'"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = home
        .cli(&["secret", "get", "db", "--reveel"])
        .fails(2, "'--reveel'")
        .to_string();
    assert!(err.contains("'--reveal'"), "{err}");
    assert!(
        err.ends_with("; see `flavorbox secret get --help`"),
        "{err}"
    );
}

#[test]
fn aliases_and_short_flags_work_like_their_long_forms() {
    let home = CliHome::new();
    home.cli(&["secrets-manager", "register", "other", "--flavor", "local"])
        .ok();
    home.cli(&["secret", "-m", "other", "register", "db", "password=pw"])
        .ok();
    assert_eq!(home.cli(&["secret", "-m", "other", "ls"]).ok(), "db\n");
    assert_eq!(
        home.cli(&[
            "secret", "show", "db", "-m", "other", "-o", "json", "--reveal"
        ])
        .json()["values"]["password"],
        "pw"
    );
    home.cli(&["secret", "-m", "other", "rm", "db", "--yes"])
        .ok();
    assert_eq!(home.cli(&["secret", "-m", "other", "ls"]).ok(), "");
    // Soft-deleted, it still holds storage: the manager is removed once it
    // is purged.
    home.cli(&["secrets-manager", "rm", "other"])
        .fails(1, "soft-deleted ones too");
    home.cli(&["secret", "-m", "other", "rm", "db", "-y", "--purge"])
        .ok();
    for listing in [
        &["flavor", "ls"][..],
        &["secrets-manager", "ls"],
        &["schema", "ls"],
        &["token", "ls"],
    ] {
        home.cli(listing).ok();
    }
    for description in [
        &["flavor", "show", "local"][..],
        &["secrets-manager", "show", "other"],
        &["schema", "show", "arbitrary"],
    ] {
        home.cli(description).ok();
    }
    home.cli(&["secrets-manager", "rm", "other"]).ok();
    // `run` and `resolve` take -m too.
    home.cli(&["secret", "register", "db", "password=pw"]).ok();
    let run = home.cli(&[
        "run",
        "-m",
        "default",
        "--no-mask",
        "--secret",
        "db",
        "--",
        "printenv",
        "PASSWORD",
    ]);
    assert_eq!(run.ok(), "pw\n");
}

#[test]
fn every_listing_and_description_prints_table_json_and_yaml() {
    let home = CliHome::new();
    home.cli(&["secret", "register", "db", "password=pw"]).ok();
    home.cli(&["token", "create", "--manager", "default", "--role", "read"])
        .ok();
    let commands: [&[&str]; 8] = [
        &["secret", "list"],
        &["flavor", "list"],
        &["flavor", "describe", "local"],
        &["secrets-manager", "list"],
        &["secrets-manager", "describe", "default"],
        &["schema", "list"],
        &["schema", "describe", "arbitrary"],
        &["token", "list"],
    ];
    for command in commands {
        let with = |format: &str| {
            let mut args = command.to_vec();
            args.extend(["--output", format]);
            home.cli(&args).ok().to_string()
        };
        let json: serde_json::Value =
            serde_json::from_str(&with("json")).unwrap_or_else(|e| panic!("{command:?} json: {e}"));
        let yaml: serde_json::Value = serde_norway::from_str(&with("yaml"))
            .unwrap_or_else(|e| panic!("{command:?} yaml: {e}"));
        assert_eq!(json, yaml, "{command:?}: the same data in both");
        assert_eq!(with("table"), with("text"), "{command:?}: text is table");
        assert!(
            !with("table").trim_start().starts_with(['{', '[']),
            "{command:?}"
        );
    }
    let audit = home.cli(&["audit", "--output", "yaml"]).ok().to_string();
    serde_norway::from_str::<serde_json::Value>(&audit).unwrap();
}

#[test]
fn output_env_needs_reveal_and_refuses_keys_naming_one_variable() {
    let home = CliHome::new();
    home.cli(&["secret", "register", "db", "password=pw"]).ok();
    let refused = home
        .cli(&["secret", "get", "db", "--output", "env"])
        .fails(
            2,
            "--output env prints values for a shell to set: add --reveal",
        )
        .to_string();
    assert!(!refused.contains("***"), "{refused}");
    home.cli(&[
        "secret",
        "register",
        "twins",
        "db-host=a",
        "DB_HOST=b",
        "port=1",
    ])
    .ok();
    let run = home.cli(&["secret", "get", "twins", "--reveal", "--output", "env"]);
    let err = run.fails(2, "would both set DB_HOST").to_string();
    assert!(
        err.contains("`DB_HOST`") && err.contains("`db-host`"),
        "{err}"
    );
    assert_eq!(run.stdout, "", "nothing printed before the refusal");
    assert_eq!(
        home.cli(&["secret", "get", "db", "--reveal", "--output", "env"])
            .ok(),
        "PASSWORD='pw'\n"
    );
}

#[test]
fn not_found_is_exit_1_for_every_kind_of_thing() {
    let home = CliHome::new();
    for (args, says) in [
        (
            &["secret", "get", "nope"][..],
            "secret `nope` does not exist",
        ),
        (
            &["schema", "describe", "nope"],
            "schema `nope` does not exist",
        ),
        (
            &["schema", "remove", "nope"],
            "schema `nope` does not exist",
        ),
        (
            &["flavor", "describe", "nope"],
            "flavor `nope` is not registered",
        ),
        (
            &["secrets-manager", "describe", "nope"],
            "secrets manager `nope` does not exist",
        ),
        (&["token", "revoke", "nope"], "token `nope` does not exist"),
    ] {
        home.cli(args).fails(1, says);
    }
}

#[test]
fn only_the_default_home_or_init_creates_a_home() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("flavorbx/sub");
    let typo_arg = typo.to_str().unwrap();
    let refused = run_cli(Some(&typo), &["secret", "list"], None)
        .fails(1, "does not exist; create it with `flavorbox init")
        .to_string();
    assert!(refused.contains(typo_arg), "{refused}");
    assert!(!typo.exists(), "nothing was created");

    assert!(
        run_cli(None, &["init", typo_arg], None)
            .ok()
            .starts_with("created home")
    );
    let key = std::fs::read(typo.join("master.key")).unwrap();
    run_cli(Some(&typo), &["secret", "register", "db", "k=v"], None).ok();
    // Again: nothing is replaced.
    assert!(
        run_cli(Some(&typo), &["init"], None)
            .ok()
            .contains("is ready")
    );
    assert_eq!(std::fs::read(typo.join("master.key")).unwrap(), key);
    assert_eq!(run_cli(Some(&typo), &["secret", "list"], None).ok(), "db\n");
}

#[test]
fn from_json_reads_back_what_get_prints_as_yaml() {
    let home = CliHome::new();
    let values = serde_json::json!({
        "username": "007",
        "password": "yes: no # 'single' \"double\"\n  indented\ttab\n",
    });
    let json = write(
        &home,
        "db.json",
        &serde_json::json!({"schema": "basic_auth", "values": values}).to_string(),
    );
    home.register_secret("db", &["--from-json", &json]);
    let yaml = home.cli(&["secret", "get", "db", "--reveal", "--output", "yaml"]);
    let copied = home.cli_with_stdin(
        &["secret", "register", "copy", "--from-json", "-"],
        Some(yaml.ok().as_bytes()),
    );
    assert!(copied.ok().contains("schema basic_auth"), "{copied:?}");
    let copy = home.revealed("copy", None);
    assert_eq!(copy["values"], values);
    assert_eq!(copy["schema"], "basic_auth");

    // A hand-written flat mapping: a scalar's text is the value.
    let flat = write(&home, "flat.yaml", "password: 5432\n");
    home.cli(&["secret", "update", "copy", "--from-json", &flat])
        .ok();
    assert_eq!(home.revealed("copy", None)["values"]["password"], "5432");
}

#[test]
fn hostile_yaml_for_from_json_is_refused_in_one_line_storing_nothing() {
    let home = CliHome::new();
    home.cli(&["secret", "register", "db", "k=v"]).ok();
    // 600 aliases of a 32 KiB value: a 40 KiB file replaying 19 MiB.
    let alias_bomb = format!(
        "k0: &v {}\n{}",
        "v".repeat(32 << 10),
        (1..600).map(|i| format!("k{i}: *v\n")).collect::<String>()
    );
    let deep = format!("k: {}", "[".repeat(60_000));
    let too_large = format!("k: {}\n", "v".repeat(70 << 10));
    let cases = [
        (alias_bomb.as_str(), "aliases replay more than"),
        (&deep, "line 1: the value of `k` is not a string"),
        (
            "values:\n  k:\n    deeper: x\n",
            "the value of `k` is not a string",
        ),
        ("values:\n  k: [a, b]\n", "the value of `k` is not a string"),
        ("k: ~\n", "the value of `k` is empty"),
        ("k: !!python/object:os.system x\n", "a YAML tag"),
        ("k: a\nk: b\n", "key `k` is given more than once"),
        ("values:\n  k: '***'\n", "holds masked values"),
        (&too_large, "larger than the 65536-byte limit"),
    ];
    for (text, needle) in cases {
        let file = write(&home, "hostile.yaml", text);
        for args in [
            &["secret", "register", "x", "--from-json", &file][..],
            &["secret", "update", "db", "--from-json", &file],
        ] {
            home.cli(args).fails(2, needle);
        }
        home.cli_with_stdin(
            &["secret", "register", "x", "--from-json", "-"],
            Some(text.as_bytes()),
        )
        .fails(2, needle);
    }
    assert_eq!(home.secret_names(None), ["db"]);
    assert_eq!(
        home.revealed("db", None)["values"],
        serde_json::json!({"k": "v"})
    );
}
