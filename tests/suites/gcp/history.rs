//! Contract 0.2 on the fake Secret Manager, through the CLI: the
//! `gcp_secrets_manager` flavor's history is GCP's own (secret versions,
//! disabled and destroyed states, the secret's labels), each test checking
//! what GCP itself recorded beside what flavorbox shows.
//!
//! Guards against the flavor keeping a history of its own beside GCP's, a
//! stale `--if-version` write landing, a soft delete losing data or a
//! restore losing labels, a label GCP cannot hold reaching it, and
//! metadata times going backwards.

use flavorbox::sandbox::exports::DestroyVersions;
use flavorbox_tests::TestHome;
use serde_json::Value;

use super::{api, gcp_home, namespace, secrets_path};

/// A home on a fresh namespace holding secret `db` at version 1
/// (`password=one`), and the GCP id of `db`.
fn home_with_db(test: &str) -> (TestHome, String) {
    let ns = namespace(test);
    let home = gcp_home(&ns);
    home.register_secret("db", &["password=one"]);
    (home, format!("{ns}__db"))
}

/// The password of version `version` of `db` (the current one if `None`).
fn password(home: &TestHome, version: Option<&str>) -> String {
    let mut args = vec!["secret", "get", "db", "--key", "password"];
    if let Some(version) = version {
        args.extend(["--version", version]);
    }
    home.cli(&args).ok().trim_end().to_string()
}

/// `secret history db -o json`.
fn history(home: &TestHome) -> Value {
    home.cli(&["secret", "history", "db", "--output", "json"])
        .json()
}

/// The versions a history lists, each `(number, state)`.
fn states(history: &Value) -> Vec<(u64, String)> {
    history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let state = v["state"].as_str().unwrap().to_string();
            (v["version"].as_u64().unwrap(), state)
        })
        .collect()
}

fn owned(states: &[(u64, &str)]) -> Vec<(u64, String)> {
    states.iter().map(|(n, s)| (*n, s.to_string())).collect()
}

/// GCP's own versions of secret `id`, oldest first, each `(number, STATE)`.
fn gcp_versions(id: &str) -> Vec<(u64, String)> {
    let listed = api("GET", &format!("{}/versions", secrets_path(id)), None);
    let mut versions: Vec<(u64, String)> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let name = v["name"].as_str().unwrap();
            let number = name.rsplit('/').next().unwrap().parse().unwrap();
            (number, v["state"].as_str().unwrap().to_string())
        })
        .collect();
    versions.sort();
    versions
}

#[test]
fn updates_are_gcp_versions_readable_by_number_and_rollback_adds_one() {
    let (home, id) = home_with_db("history");
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&["secret", "update", "db", "password=three"]).ok();

    let three = history(&home);
    assert_eq!(
        states(&three),
        owned(&[(1, "previous"), (2, "previous"), (3, "current")])
    );
    let times: Vec<u64> = three["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["created"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{three}");
    let meta = &three["metadata"];
    assert_eq!(meta["current_version"], 3, "{meta}");
    assert_eq!(meta["schema"], "arbitrary", "{meta}");
    assert_eq!(meta["deleted"], false, "{meta}");
    let (created, updated) = (meta["created"].as_u64(), meta["updated"].as_u64());
    assert!(
        created <= Some(times[0]) && Some(times[2]) <= updated,
        "{three}"
    );
    // GCP's own record says the same.
    assert_eq!(
        gcp_versions(&id),
        owned(&[(1, "ENABLED"), (2, "ENABLED"), (3, "ENABLED")])
    );

    assert_eq!(password(&home, Some("1")), "one");
    assert_eq!(password(&home, Some("2")), "two");
    assert_eq!(password(&home, None), "three");
    home.cli(&["secret", "get", "db", "--version", "9"])
        .fails(1, "not found");

    let rolled = home.cli(&["secret", "rollback", "db", "--to", "1"]);
    assert_eq!(
        rolled.ok(),
        "rolled back secret `db` to version 1's values, as version 4\n"
    );
    assert_eq!(password(&home, None), "one");
    assert_eq!(password(&home, Some("3")), "three");
    assert_eq!(gcp_versions(&id).len(), 4);
}

#[test]
fn a_stale_if_version_is_a_conflict_with_nothing_written() {
    let (home, id) = home_with_db("cas");
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
    assert!(!line.contains("late"), "{line}");
    assert_eq!(gcp_versions(&id).len(), 2);
    assert_eq!(password(&home, None), "two");

    // A write under way elsewhere (its claim is past the head) holds off a
    // checked write, with nothing written.
    let secret = api("GET", &secrets_path(&id), None);
    let mut annotations = secret["annotations"].clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    annotations["flavorbox-claim"] = Value::String(format!(r#"{{"version":3,"at":{now}}}"#));
    api(
        "PATCH",
        &format!("{}?updateMask=annotations", secrets_path(&id)),
        Some(serde_json::json!({ "annotations": annotations })),
    );
    let held = home.cli(&["secret", "update", "db", "password=x", "--if-version", "2"]);
    let line = held.fails(1, "conflict");
    assert!(line.contains("nothing was written"), "{line}");
    assert_eq!(gcp_versions(&id).len(), 2);
    // Once that claim could no longer be under way, writes go on.
    annotations["flavorbox-claim"] = Value::String(r#"{"version":3,"at":1}"#.to_string());
    api(
        "PATCH",
        &format!("{}?updateMask=annotations", secrets_path(&id)),
        Some(serde_json::json!({ "annotations": annotations })),
    );
    home.cli(&["secret", "update", "db", "password=x", "--if-version", "2"])
        .ok();
    assert_eq!(password(&home, None), "x");
}

#[test]
fn a_soft_delete_disables_the_head_version_and_restore_enables_it() {
    let (home, id) = home_with_db("soft-delete");
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&["secret", "label", "db", "team=data"]).ok();

    home.cli(&["secret", "delete", "db", "--yes"]).ok();
    assert_eq!(gcp_versions(&id), owned(&[(1, "ENABLED"), (2, "DISABLED")]));
    let marked = api("GET", &secrets_path(&id), None);
    assert!(
        marked["annotations"]["flavorbox-deleted"].is_string(),
        "{marked}"
    );
    assert!(home.secret_names(None).is_empty());
    home.cli(&["secret", "get", "db"]).fails(1, "not found");
    home.cli(&["secret", "get", "db", "--version", "1"])
        .fails(1, "not found");
    home.cli(&["secret", "update", "db", "password=x"])
        .fails(1, "not found");
    home.cli(&["secret", "register", "db", "password=x"])
        .fails(1, "already exists");
    let deleted = history(&home);
    assert_eq!(deleted["metadata"]["deleted"], true, "{deleted}");
    assert_eq!(deleted["metadata"]["labels"]["team"], "data", "{deleted}");
    assert_eq!(states(&deleted), owned(&[(1, "previous"), (2, "deleted")]));
    let all = home.cli(&["secret", "list", "--long", "-o", "json"]).json();
    assert_eq!(all, serde_json::json!([]), "{all}");

    assert_eq!(
        home.cli(&["secret", "restore", "db"]).ok(),
        "restored secret `db`\n"
    );
    assert_eq!(gcp_versions(&id), owned(&[(1, "ENABLED"), (2, "ENABLED")]));
    assert_eq!(password(&home, None), "two");
    let restored = history(&home);
    assert_eq!(states(&restored), owned(&[(1, "previous"), (2, "current")]));
    assert_eq!(restored["metadata"]["labels"]["team"], "data");
    home.cli(&["secret", "restore", "db"])
        .fails(2, "`db` is not deleted");

    // A purge deletes the secret in GCP; the name starts over at 1.
    home.cli(&["secret", "delete", "db", "--purge", "--yes"])
        .ok();
    let gone = flavorbox_tests::gcp_fake::fake_gcp().api("GET", &secrets_path(&id), None);
    assert_eq!(gone.status, 404, "{gone:?}");
    home.register_secret("db", &["password=fresh"]);
    assert_eq!(states(&history(&home)), owned(&[(1, "current")]));
}

#[test]
fn destroyed_versions_stay_listed_without_their_values() {
    let (home, id) = home_with_db("destroy");
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&["secret", "update", "db", "password=three"]).ok();
    home.call(None, &DestroyVersions::new("db", [1]).unwrap())
        .result
        .unwrap();
    assert_eq!(gcp_versions(&id)[0], (1, "DESTROYED".to_string()));
    home.cli(&["secret", "get", "db", "--version", "1"])
        .fails(1, "not found");
    assert_eq!(password(&home, Some("2")), "two");
    assert_eq!(
        states(&history(&home)),
        owned(&[(1, "destroyed"), (2, "previous"), (3, "current")])
    );
    // Destroyed already: no error. The current version or one the secret
    // never had: refused, nothing destroyed.
    home.call(None, &DestroyVersions::new("db", [1]).unwrap())
        .result
        .unwrap();
    for refused in [[2, 3], [2, 7]] {
        let err = home
            .call(None, &DestroyVersions::new("db", refused).unwrap())
            .result
            .unwrap_err();
        assert!(err.is(flavorbox::ErrorKind::Invalid), "{refused:?}: {err}");
    }
    assert_eq!(gcp_versions(&id)[1], (2, "ENABLED".to_string()));
    assert_eq!(password(&home, None), "three");
}

#[test]
fn labels_are_the_secrets_gcp_labels_and_ones_gcp_cannot_hold_are_refused() {
    let (home, id) = home_with_db("labels");
    let labelled = home.cli(&["secret", "label", "db", "env=prod", "team=data"]);
    assert_eq!(
        labelled.ok(),
        "secret `db` has labels: env=prod, team=data\n"
    );
    let stored = api("GET", &secrets_path(&id), None);
    assert_eq!(stored["labels"]["env"], "prod", "{stored}");
    assert_eq!(stored["labels"]["team"], "data", "{stored}");
    // The flavor's own labels stay, and are not the user's.
    assert_eq!(stored["labels"]["zenml_schema_name"], "arbitrary");
    let listed = home.cli(&["secret", "list", "--long", "-o", "json"]).json();
    assert_eq!(
        listed[0]["labels"],
        serde_json::json!({ "env": "prod", "team": "data" }),
        "{listed}"
    );
    assert_eq!(
        home.cli(&["secret", "list", "--label", "env=prod"]).ok(),
        "db\n"
    );
    // Labels write no version.
    assert_eq!(history(&home)["metadata"]["current_version"], 1);
    assert_eq!(gcp_versions(&id).len(), 1);

    for (label, needle) in [
        ("Env=x", "lowercase"),
        ("env=Prod", "lowercase"),
        ("env.x=y", "lowercase"),
        ("zenml_schema_name=x", "flavor's own"),
    ] {
        let refused = home.cli(&["secret", "label", "db", label]);
        let line = refused.fails(2, needle);
        assert!(line.contains("label"), "{label}: {line}");
    }
    let after = api("GET", &secrets_path(&id), None);
    assert_eq!(after["labels"], stored["labels"], "{after}");

    assert_eq!(
        home.cli(&["secret", "label", "db", "team-"]).ok(),
        "secret `db` has labels: env=prod\n"
    );
    // An update keeps the labels.
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    assert_eq!(history(&home)["metadata"]["labels"]["env"], "prod");
}

#[test]
fn metadata_times_never_go_backwards() {
    let (home, _) = home_with_db("times");
    let first = history(&home)["metadata"].clone();
    let mut last = first["updated"].as_u64().unwrap();
    let steps: [(&str, &dyn Fn()); 6] = [
        ("update", &|| {
            home.cli(&["secret", "update", "db", "password=two"]).ok();
        }),
        ("update", &|| {
            let args = ["secret", "update", "db", "password=3", "--if-version", "2"];
            home.cli(&args).ok();
        }),
        ("labels", &|| {
            home.cli(&["secret", "label", "db", "a=b"]).ok();
        }),
        ("destroy", &|| {
            let destroy = DestroyVersions::new("db", [1]).unwrap();
            home.call(None, &destroy).result.unwrap()
        }),
        ("delete", &|| {
            home.cli(&["secret", "delete", "db", "--yes"]).ok();
        }),
        ("restore", &|| {
            home.cli(&["secret", "restore", "db"]).ok();
        }),
    ];
    for (step, run) in steps {
        std::thread::sleep(std::time::Duration::from_millis(5));
        run();
        let meta = history(&home)["metadata"].clone();
        assert_eq!(meta["created"], first["created"], "after {step}");
        let updated = meta["updated"].as_u64().unwrap();
        assert!(updated >= last, "after {step}: {updated} < {last}");
        assert!(updated > first["updated"].as_u64().unwrap(), "after {step}");
        last = updated;
    }
}
