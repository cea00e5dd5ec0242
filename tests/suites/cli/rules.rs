//! The rules every path keeps: the same input checks on the command line,
//! in JSON files and in imports; destructive commands confirmed; usage
//! errors in one line with a hint; completions and man pages generated.

use std::path::Path;

use flavorbox_tests::{TestHome, guests};

use crate::write;

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
    home.register_secret("e", &["k=v"]);
    for (args, needle) in cases {
        home.cli(&args).fails(2, needle);
    }
    assert_eq!(home.secret_names(Some("default")), ["e"]);
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
    home.register_secret("key", &["--schema", "api", "token=t"]);
    home.cli(&["schema", "remove", "api"])
        .fails(1, "used by secret(s) default/key");
    home.cli(&["schema", "remove", "aws"]).fails(1, "built in");
    home.cli(&["secret", "delete", "key", "--yes"]).ok();
    home.cli(&["schema", "remove", "api"]).ok();
    home.cli(&["schema", "describe", "api"])
        .fails(1, "schema `api` does not exist");
}

#[test]
fn destructive_commands_need_a_yes_off_a_terminal() {
    let home = TestHome::new();
    home.cli_register(guests::KV_JSON, "kv", &[], false);
    home.register_secret("s", &["k=v", "--manager", "kv"]);
    home.cli(&["secrets-manager", "remove", "kv", "--purge"])
        .fails(2, "pass --yes");
    home.cli(&["secret", "delete-all", "--manager", "kv"])
        .fails(2, "pass --force");
    home.cli(&["secret", "delete", "s", "--manager", "kv"])
        .fails(2, "pass --yes");
    assert_eq!(home.secret_names(Some("kv")), ["s"]);
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
