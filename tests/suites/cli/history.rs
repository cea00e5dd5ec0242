//! A secret's history through the CLI on the bundled `local` flavor
//! (contract 0.2): versions with their times, reading an old version,
//! rollback as a new version, soft delete and restore, a stale
//! `--if-version` refused with nothing written, labels, and the listing's
//! `--long`, pattern and `--label` filters; a 0.1 flavor asked for any of
//! it says in one line that its secrets have one version.

use flavorbox_tests::CliHome;
use flavorbox_tests::guests;
use flavorbox_tests::history::{
    assert_a_rollback_is_a_new_version, assert_a_stale_if_version_writes_nothing, history, listed,
    password, states, version_times,
};
use serde_json::Value;

#[test]
fn updates_rollback_delete_and_restore_keep_every_version_with_its_time() {
    let home = CliHome::new();
    home.register_secret("db", &["user=app", "password=one"]);
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&["secret", "update", "db", "password=three"]).ok();

    let three = history(&home, "db");
    assert_eq!(
        states(&three),
        [
            (1, "previous".to_string()),
            (2, "previous".to_string()),
            (3, "current".to_string())
        ]
    );
    let times = version_times(&three);
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

    assert_eq!(password(&home, "db", Some("1")), "one");
    assert_eq!(password(&home, "db", None), "three");
    let shown = home.cli(&["secret", "get", "db"]).ok().to_string();
    assert!(
        shown.starts_with("secret: db (schema arbitrary, version 3)\n"),
        "{shown}"
    );
    // JSON says the version too, for a later --if-version; --from-json
    // reads past it.
    let json = home.cli(&["secret", "get", "db", "-o", "json"]).json();
    assert_eq!(json["version"], 3, "{json}");

    // Rollback writes version 1's values as version 4; history is kept.
    assert_a_rollback_is_a_new_version(&home);
    home.cli(&["secret", "rollback", "db", "--to", "4"])
        .fails(2, "version 4 is the current version");
    home.cli(&["secret", "rollback", "db", "--to", "9"])
        .fails(1, "version 9");

    // Soft delete hides it, keeps its history; restore brings it back.
    home.cli(&["secret", "delete", "db", "--yes"]).ok();
    assert!(home.secret_names(None).is_empty());
    home.cli(&["secret", "get", "db"]).fails(1, "db");
    let deleted = history(&home, "db");
    assert_eq!(deleted["metadata"]["deleted"], true, "{deleted}");
    assert_eq!(states(&deleted)[3], (4, "deleted".to_string()));
    home.cli(&["secret", "rollback", "db", "--to", "1"])
        .fails(2, "restore it first");
    assert_eq!(
        home.cli(&["secret", "restore", "db"]).ok(),
        "restored secret `db`\n"
    );
    assert_eq!(password(&home, "db", None), "one");
    assert_eq!(states(&history(&home, "db"))[3], (4, "current".to_string()));
    home.cli(&["secret", "restore", "db"])
        .fails(2, "`db` is not deleted");
}

#[test]
fn a_stale_if_version_is_a_conflict_with_nothing_written() {
    let home = CliHome::new();
    home.register_secret("db", &["password=one"]);
    assert_a_stale_if_version_writes_nothing(&home);
    assert_eq!(states(&history(&home, "db")).len(), 2);
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

    let listed = |args: &[&str]| listed(&home, args);
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
    let json = home
        .on("old", &["secret", "get", "db", "-o", "json"])
        .json();
    assert!(json.get("version").is_none(), "{json}");
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

    assert_eq!(password(&home, "db", None), "pw-from-0.1");
    assert_eq!(password(&home, "db", Some("1")), "pw-from-0.1");
    assert_eq!(states(&history(&home, "db")), [(1, "current".to_string())]);
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
        states(&history(&home, "db")),
        [(1, "previous".to_string()), (2, "current".to_string())]
    );
    assert_eq!(password(&home, "db", Some("1")), "pw-from-0.1");
    assert_eq!(home.revealed("db", None)["values"]["user"], "app");
}

#[test]
fn export_carries_labels_and_history_and_import_puts_them_back_in_order() {
    let home = CliHome::new();
    home.register_secret("db", &["user=app", "password=one"]);
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&[
        "secret",
        "update",
        "db",
        "password=three",
        "--remove-key",
        "user",
    ])
    .ok();
    home.cli(&["secret", "label", "db", "env=prod"]).ok();
    let file = home.path().join("export.json");
    let file = file.to_str().unwrap();
    home.cli(&["secret", "export", "--reveal", "--history", "-o", file])
        .ok();
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let entry = &exported["secrets"][0];
    assert_eq!(entry["labels"]["env"], "prod", "{entry}");
    let versions: Vec<(u64, &str)> = entry["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["values"]["password"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(1, "one"), (2, "two")], "{entry}");
    // Without --history: values and labels only.
    let plain = home.cli(&["secret", "export", "--reveal"]).json();
    assert!(plain["secrets"][0].get("history").is_none(), "{plain}");

    let other = CliHome::new();
    let imported = other.cli(&["secret", "import", file]);
    assert_eq!(
        imported.ok(),
        "imported 1 secret into secrets manager `default`: db\nput back 2 later versions \
         over the earliest ones the file carries\n"
    );
    assert_eq!(password(&other, "db", Some("1")), "one");
    assert_eq!(password(&other, "db", Some("2")), "two");
    assert_eq!(password(&other, "db", None), "three");
    let current = other.revealed("db", None);
    assert!(current["values"].get("user").is_none(), "{current}");
    let copied = history(&other, "db");
    assert_eq!(states(&copied).len(), 3, "{copied}");
    assert_eq!(copied["metadata"]["labels"]["env"], "prod", "{copied}");

    // History cannot be replayed over an existing secret; nothing moves.
    other
        .cli(&["secret", "import", file, "--overwrite"])
        .fails(2, "--overwrite cannot put a secret's history back");
    assert_eq!(states(&history(&other, "db")).len(), 3);

    // A flavor keeping one version: refused, unless --values-only.
    let old = CliHome::new();
    old.cli_register(guests::KV_JSON, "old", &[], false);
    old.on("old", &["secret", "import", file])
        .fails(2, "--values-only");
    assert!(old.secret_names(Some("old")).is_empty());
    old.on("old", &["secret", "import", file, "--values-only"])
        .ok();
    let values = old.revealed("db", Some("old"));
    assert_eq!(values["values"]["password"], "three", "{values}");
    old.on("old", &["secret", "export", "--reveal", "--history"])
        .fails(2, "keeps one version");

    // A history out of order is refused before anything is written.
    let shuffled = exported
        .to_string()
        .replace("\"version\":2", "\"version\":1");
    let bad = home.path().join("bad.json");
    std::fs::write(&bad, shuffled).unwrap();
    let third = CliHome::new();
    third
        .cli(&["secret", "import", bad.to_str().unwrap()])
        .fails(2, "history version 1 after version 1");
    assert!(third.secret_names(None).is_empty());
}

/// A file handed over may ask for far more writes than any export makes:
/// past what a history lists for one secret, or past what one import
/// writes back, it is refused before anything is written.
#[test]
fn an_import_asking_for_too_many_versions_is_refused_before_any_write() {
    let home = CliHome::new();
    let version = |n: u64| serde_json::json!({"version": n, "created": n, "schema": "arbitrary", "values": {"k": "v"}});
    let entry = |name: String, count: u64| {
        serde_json::json!({"name": name, "schema": "arbitrary", "values": {"k": "v"},
                           "history": (1..=count).map(version).collect::<Vec<_>>()})
    };
    let write = |file: &str, secrets: Vec<Value>| {
        let path = home.path().join(file);
        let export = serde_json::json!({"flavorbox_export": 1, "manager": "m", "secrets": secrets});
        std::fs::write(&path, export.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let one = write("one.json", vec![entry("db".to_string(), 1001)]);
    home.cli(&["secret", "import", &one])
        .fails(2, "a history of 1001 versions, more than the 1000");
    let many = write(
        "many.json",
        (0..11).map(|i| entry(format!("s{i}"), 1000)).collect(),
    );
    home.cli(&["secret", "import", &many])
        .fails(2, "carries 11000 earlier versions, more than the 10000");
    assert!(home.secret_names(None).is_empty());
}
