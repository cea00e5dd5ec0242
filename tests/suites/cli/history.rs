//! A secret's history through the CLI on the bundled `local` flavor
//! (contract 0.2): versions with their times, reading an old version,
//! rollback as a new version, soft delete and restore, a stale
//! `--if-version` refused with nothing written, labels, and the listing's
//! `--long`, pattern and `--label` filters; a 0.1 flavor asked for any of
//! it says in one line that its secrets have one version.

use flavorbox_tests::CliHome;
use flavorbox_tests::guests;
use flavorbox_tests::home::version_states as states;
use serde_json::Value;

/// The password of version `version` of `db` (the current one if `None`).
fn password(home: &CliHome, version: Option<&str>) -> String {
    home.secret_value("db", "password", version)
}

/// `secret history db -o json`.
fn history(home: &CliHome) -> Value {
    home.history("db")
}

#[test]
fn updates_rollback_delete_and_restore_keep_every_version_with_its_time() {
    let home = CliHome::new();
    home.register_secret("db", &["user=app", "password=one"]);
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&["secret", "update", "db", "password=three"]).ok();

    let three = history(&home);
    assert_eq!(
        states(&three),
        [
            (1, "previous".to_string()),
            (2, "previous".to_string()),
            (3, "current".to_string())
        ]
    );
    let times: Vec<u64> = three["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["created"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{three}");
    let meta = &three["metadata"];
    assert_eq!(meta["current_version"], 3);
    assert!(
        meta["created"].as_u64() <= meta["updated"].as_u64(),
        "{meta}"
    );
    assert_eq!(meta["created"].as_u64(), Some(times[0]), "{meta}");

    // The table: the secret, its times, one row per version.
    let table = home.cli(&["secret", "history", "db"]).ok().to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0], "secret: db (schema arbitrary), version 3",
        "{table}"
    );
    assert!(lines[1].starts_with("created 20"), "{table}");
    assert!(lines[2].starts_with("VERSION  STATE"), "{table}");
    assert!(lines[3].starts_with("1        previous  20"), "{table}");
    assert!(lines[5].starts_with("3        current   20"), "{table}");

    assert_eq!(password(&home, Some("1")), "one");
    assert_eq!(password(&home, None), "three");
    let shown = home.cli(&["secret", "get", "db"]).ok().to_string();
    assert!(
        shown.starts_with("secret: db (schema arbitrary, version 3)\n"),
        "{shown}"
    );

    // Rollback writes version 1's values as version 4; history is kept.
    let rolled = home.cli(&["secret", "rollback", "db", "--to", "1"]);
    assert_eq!(
        rolled.ok(),
        "rolled back secret `db` to version 1's values, as version 4\n"
    );
    assert_eq!(password(&home, None), "one");
    assert_eq!(password(&home, Some("3")), "three");
    assert_eq!(states(&history(&home)).len(), 4);
    home.cli(&["secret", "rollback", "db", "--to", "4"])
        .fails(2, "version 4 is the current version");
    home.cli(&["secret", "rollback", "db", "--to", "9"])
        .fails(1, "version 9");

    // Soft delete hides it, keeps its history; restore brings it back.
    home.cli(&["secret", "delete", "db", "--yes"]).ok();
    assert!(home.secret_names(None).is_empty());
    home.cli(&["secret", "get", "db"]).fails(1, "db");
    let deleted = history(&home);
    assert_eq!(deleted["metadata"]["deleted"], true, "{deleted}");
    assert_eq!(states(&deleted)[3], (4, "deleted".to_string()));
    home.cli(&["secret", "rollback", "db", "--to", "1"])
        .fails(2, "restore it first");
    assert_eq!(
        home.cli(&["secret", "restore", "db"]).ok(),
        "restored secret `db`\n"
    );
    assert_eq!(password(&home, None), "one");
    assert_eq!(states(&history(&home))[3], (4, "current".to_string()));
    home.cli(&["secret", "restore", "db"])
        .fails(2, "`db` is not deleted");
}

#[test]
fn a_stale_if_version_is_a_conflict_with_nothing_written() {
    let home = CliHome::new();
    home.register_secret("db", &["password=one"]);
    let updated = home.cli(&[
        "secret",
        "update",
        "db",
        "password=two",
        "--if-version",
        "1",
    ]);
    assert_eq!(
        updated.ok(),
        "updated secret `db` (1 key, schema arbitrary) from version 1 to version 2\n"
    );
    // Another writer read version 1 too: its write is refused.
    let stale = home.cli(&[
        "secret",
        "update",
        "db",
        "password=late",
        "--if-version",
        "1",
    ]);
    let line = stale.fails(1, "conflict");
    assert!(line.contains("is at version 2, not 1"), "{line}");
    assert!(line.contains("nothing was written"), "{line}");
    assert_eq!(password(&home, None), "two");
    assert_eq!(states(&history(&home)).len(), 2);
    home.cli(&["secret", "update", "db", "password=x", "--if-version", "0"])
        .fails(2, "--if-version");
    home.cli(&["secret", "get", "db", "--version", "0"])
        .fails(2, "--version");
}

#[test]
fn labels_and_the_listing_filters_narrow_what_is_listed() {
    let home = CliHome::new();
    for name in ["db_prod", "db_test", "api_key"] {
        home.register_secret(name, &["password=p"]);
    }
    let labelled = home.cli(&["secret", "label", "db_prod", "env=prod", "team=data"]);
    assert_eq!(
        labelled.ok(),
        "secret `db_prod` has labels: env=prod, team=data\n"
    );
    home.cli(&["secret", "label", "db_test", "env=test"]).ok();
    home.cli(&["secret", "label", "api_key", "env=prod"]).ok();
    assert_eq!(
        home.cli(&["secret", "label", "db_prod", "team-"]).ok(),
        "secret `db_prod` has labels: env=prod\n"
    );
    home.cli(&["secret", "label", "db_prod", "team-"])
        .fails(2, "no label `team`");
    home.cli(&["secret", "label", "db_prod", "bad key=x"])
        .fails(2, "label");
    home.cli(&["secret", "label", "db_prod", "plain"])
        .fails(2, "neither KEY=VALUE");
    // Labels write no version.
    let meta = home
        .cli(&["secret", "history", "db_prod", "-o", "json"])
        .json();
    assert_eq!(meta["metadata"]["current_version"], 1, "{meta}");

    let listed = |args: &[&str]| {
        let mut all = vec!["secret", "list"];
        all.extend_from_slice(args);
        home.cli(&all).ok().to_string()
    };
    assert_eq!(listed(&["db_*"]), "db_prod\ndb_test\n");
    assert_eq!(listed(&["--label", "env=prod"]), "api_key\ndb_prod\n");
    assert_eq!(listed(&["db_*", "--label", "env=prod"]), "db_prod\n");
    assert_eq!(listed(&["--label", "env=none"]), "");
    let long = listed(&["--long", "db_*"]);
    let lines: Vec<&str> = long.lines().collect();
    assert!(
        lines[0].starts_with("NAME     SCHEMA     VERSION  UPDATED"),
        "{long}"
    );
    assert!(
        lines[1].starts_with("db_prod  arbitrary  1        20"),
        "{long}"
    );
    assert!(lines[1].ends_with("env=prod"), "{long}");
    let json = home.cli(&["secret", "list", "--long", "-o", "json"]).json();
    assert_eq!(json[1]["name"], "db_prod", "{json}");
    assert_eq!(json[1]["labels"]["env"], "prod", "{json}");
    home.cli(&["secret", "list", "[db"])
        .fails(2, "not a name pattern");
    home.cli(&["secret", "list", "--label", "env"])
        .fails(2, "KEY=VALUE");
}

#[test]
fn a_flavor_of_contract_0_1_says_its_secrets_have_one_version() {
    let home = CliHome::new();
    home.cli_register(guests::KV_JSON, "old", &[], false);
    home.on("old", &["secret", "register", "db", "password=p"])
        .ok();
    for args in [
        vec!["secret", "history", "db"],
        vec!["secret", "get", "db", "--version", "1"],
        vec!["secret", "rollback", "db", "--to", "1"],
        vec!["secret", "restore", "db"],
        vec!["secret", "update", "db", "password=q", "--if-version", "1"],
        vec!["secret", "label", "db", "env=prod"],
        vec!["secret", "list", "--long"],
    ] {
        home.on("old", &args)
            .fails(2, "its secrets have one version and no history");
    }
    // What a 0.1 flavor has works as before: its get shows no version.
    let shown = home.on("old", &["secret", "get", "db"]).ok().to_string();
    assert!(
        shown.starts_with("secret: db (schema arbitrary)\n"),
        "{shown}"
    );
    assert_eq!(home.on("old", &["secret", "list", "d*"]).ok(), "db\n");
}

/// A home written by the release before contract 0.2: its `local` entries
/// are the 0.1 flavor's YAML (each value base64, the schema under
/// `zenml_schema_name`). Each reads as version 1 of its secret, in place,
/// and the first write after it converts it, keeping version 1.
#[test]
fn a_secret_the_0_1_local_flavor_wrote_is_version_1_and_its_history_starts_there() {
    use flavorbox::store::TxnMode;
    let home = flavorbox_tests::TestHome::new();
    home.cli(&["secret", "list"]).ok();
    let id = home.home.manager(Some("default")).unwrap().record().id;
    let mut txn = home.home.db().namespace(id, TxnMode::Write).unwrap();
    // `user: app`, `password: pw-from-0.1`, as the 0.1 flavor encoded them.
    let entry = "user: YXBw\npassword: cHctZnJvbS0wLjE=\nzenml_schema_name: arbitrary\n";
    txn.set("secrets/db", entry.as_bytes()).unwrap();
    txn.commit().unwrap();

    assert_eq!(password(&home, None), "pw-from-0.1");
    assert_eq!(password(&home, Some("1")), "pw-from-0.1");
    assert_eq!(states(&history(&home)), [(1, "current".to_string())]);
    home.cli(&[
        "secret",
        "update",
        "db",
        "password=two",
        "--if-version",
        "1",
    ])
    .ok();
    assert_eq!(
        states(&history(&home)),
        [(1, "previous".to_string()), (2, "current".to_string())]
    );
    assert_eq!(password(&home, Some("1")), "pw-from-0.1");
    assert_eq!(home.revealed("db", None)["values"]["user"], "app");
}
