//! A CLI that forgives and teaches, through the binary: clap's suggestion
//! kept in the one-line usage error, the aliases and short flags peers
//! have, one set of `--output` formats on every listing and description,
//! `--output env` that never prints masked values or lets one variable be
//! set twice, not found as exit 1 everywhere, and a home created only on
//! purpose.

use flavorbox_tests::{CliHome, run_cli};

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
        "run", "-m", "default", "--secret", "db", "--", "printenv", "PASSWORD",
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
