//! Contract 0.2 on moto: the `aws` flavor's history is Secrets Manager's
//! own (versions with `ClientRequestToken` ids, staging labels, scheduled
//! deletion and `RestoreSecret`, tags), used through the CLI a user runs
//! and the library's typed exports, and checked against what moto itself
//! recorded.
//!
//! Guards against the flavor keeping a history of its own beside AWS's, a
//! stale or lost check-and-set write landing, a soft delete losing data or
//! a restore losing labels, labels clobbering the schema tag or tags of
//! other tools, metadata times going backwards, and `destroy-versions`
//! claiming an erasure AWS cannot do.
//!
//! moto lacks some of what AWS has: `ListSecretVersionIds` gives every
//! version the time of the listing as its `CreatedDate` (so version times
//! here are only checked to be ordered and within the secret's times), and
//! a soft delete, restore or tag change does not move `LastChangedDate`
//! (so `updated` is only checked never to go backwards).

use flavorbox::contract::history::{Labels, VersionState};
use flavorbox::sandbox::exports::{
    DeleteSecret, DestroyVersions, GetMetadata, ListVersions, RestoreSecret, SetLabels,
    UpdateSecretIf,
};
use flavorbox::{ErrorKind, Secret};
use flavorbox_tests::TestHome;
use flavorbox_tests::history::{
    assert_a_rollback_is_a_new_version, assert_a_stale_if_version_writes_nothing,
    assert_updated_never_goes_backwards, history, listed, password, states, version_times,
};
use flavorbox_tests::moto::moto;
use serde_json::{Value, json};

use super::{assert_gone, aws_home, namespace, register_flavor, shared_moto};

/// A home on a fresh namespace holding secret `db` at version 1
/// (`password=one`), and the namespace.
fn home_with_db(test: &str) -> (TestHome, String) {
    let ns = namespace(test);
    let home = aws_home(&ns);
    home.register_secret("db", &["password=one"]);
    (home, ns)
}

/// moto's `op` on AWS secret `<ns>/db`, with `extra` fields.
fn on_db(op: &str, ns: &str, extra: Value) -> Value {
    let mut body = json!({ "SecretId": format!("{ns}/db") });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    moto().call(op, &body)
}

/// The version ids moto keeps of `<ns>/db`, each with its staging labels,
/// sorted by id.
fn aws_versions(ns: &str) -> Vec<(String, Vec<String>)> {
    let listed = on_db(
        "ListSecretVersionIds",
        ns,
        json!({ "IncludeDeprecated": true }),
    );
    let mut versions: Vec<(String, Vec<String>)> = listed["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let stages = v["VersionStages"].as_array().unwrap();
            (
                v["VersionId"].as_str().unwrap().to_string(),
                stages
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    versions.sort();
    versions
}

/// The tags moto keeps on `<ns>/db`, sorted.
fn aws_tags(ns: &str) -> Vec<(String, String)> {
    let described = on_db("DescribeSecret", ns, json!({}));
    let mut tags: Vec<(String, String)> = described["Tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    (
                        t["Key"].as_str().unwrap().into(),
                        t["Value"].as_str().unwrap().into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

fn numbered(states: &[(u64, &str)]) -> Vec<(u64, String)> {
    states.iter().map(|(n, s)| (*n, s.to_string())).collect()
}

fn token(version: u64) -> String {
    format!("flavorbox-v-{version:020}")
}

#[test]
fn updates_are_aws_versions_read_by_number_and_rolled_back_through_the_cli() {
    let _moto = shared_moto();
    let (home, ns) = home_with_db("history");
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&["secret", "update", "db", "password=three"]).ok();

    let three = history(&home, "db");
    assert_eq!(
        states(&three),
        numbered(&[(1, "previous"), (2, "previous"), (3, "current")])
    );
    let meta = &three["metadata"];
    assert_eq!(meta["current_version"], 3, "{three}");
    assert_eq!(meta["schema"], "arbitrary", "{three}");
    let (created, updated) = (meta["created"].as_u64(), meta["updated"].as_u64());
    let times = version_times(&three);
    assert!(
        created <= Some(times[0]) && Some(times[2]) <= updated,
        "{three}"
    );

    // AWS's own record: the versions' ids carry their numbers, AWSCURRENT
    // is on version 3 (version 1's id has a random tail).
    let versions = aws_versions(&ns);
    assert_eq!(versions.len(), 3, "{versions:?}");
    assert!(
        versions[0].0.starts_with(&format!("{}-", token(1))),
        "{versions:?}"
    );
    assert_eq!(versions[1], (token(2), vec!["AWSPREVIOUS".to_string()]));
    assert_eq!(versions[2], (token(3), vec!["AWSCURRENT".to_string()]));

    assert_eq!(password(&home, "db", Some("1")), "one");
    assert_eq!(password(&home, "db", Some("2")), "two");
    let shown = home.cli(&["secret", "get", "db"]).ok().to_string();
    assert!(
        shown.starts_with("secret: db (schema arbitrary, version 3)\n"),
        "{shown}"
    );
    home.cli(&["secret", "get", "db", "--version", "9"])
        .fails(1, "keeps no version 9");

    // Rollback writes version 1's values as version 4.
    assert_a_rollback_is_a_new_version(&home);
    assert_eq!(aws_versions(&ns)[3].0, token(4));
}

#[test]
fn a_stale_if_version_is_a_conflict_with_nothing_written() {
    let _moto = shared_moto();
    let (home, ns) = home_with_db("cas");
    assert_a_stale_if_version_writes_nothing(&home);
    assert_eq!(aws_versions(&ns).len(), 2);

    // Another writer wrote version 3 first (here left without a staging
    // label): a write of version 3 with other values is refused by AWS,
    // as the same token, and nothing is written.
    on_db(
        "PutSecretValue",
        &ns,
        json!({
            "ClientRequestToken": token(3),
            "SecretString": r#"{"values":{"password":"theirs"},"zenml_schema_name":"arbitrary"}"#,
            "VersionStages": [],
        }),
    );
    let secret = Secret::new(
        "db",
        "arbitrary",
        [("password".to_string(), "mine".to_string())],
    )
    .unwrap();
    let lost = home.call(
        None,
        &UpdateSecretIf {
            secret: &secret,
            expected: Some(2),
        },
    );
    let err = lost.result.unwrap_err();
    assert!(err.is(ErrorKind::Conflict), "{err}");
    assert!(!err.to_string().contains("mine"), "{err}");
    assert_eq!(password(&home, "db", None), "two");
    assert_eq!(password(&home, "db", Some("3")), "theirs");
    let versions = aws_versions(&ns);
    assert_eq!(versions.len(), 3, "{versions:?}");
    assert_eq!(versions[1], (token(2), vec!["AWSCURRENT".to_string()]));
}

#[test]
fn a_soft_delete_is_a_scheduled_deletion_and_restore_brings_it_back() {
    let _moto = shared_moto();
    let (home, ns) = home_with_db("soft-delete");
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&["secret", "label", "db", "team=data"]).ok();

    home.cli(&["secret", "delete", "db", "--yes"]).ok();
    let described = on_db("DescribeSecret", &ns, json!({}));
    assert!(!described["DeletedDate"].is_null(), "{described}");
    assert!(home.secret_names(None).is_empty());
    home.cli(&["secret", "get", "db"]).fails(1, "not found");
    home.cli(&["secret", "get", "db", "--version", "1"])
        .fails(1, "not found");
    home.cli(&["secret", "update", "db", "password=x"])
        .fails(1, "not found");
    home.cli(&["secret", "register", "db", "password=x"])
        .fails(1, "already exists");
    assert!(
        home.call(None, &DeleteSecret("db"))
            .result
            .unwrap_err()
            .is(ErrorKind::NotFound)
    );
    let deleted = history(&home, "db");
    assert_eq!(deleted["metadata"]["deleted"], true, "{deleted}");
    assert_eq!(deleted["metadata"]["labels"]["team"], "data", "{deleted}");
    assert_eq!(
        states(&deleted),
        numbered(&[(1, "previous"), (2, "deleted")])
    );
    let long = home.cli(&["secret", "list", "--long"]).ok().to_string();
    assert!(!long.contains("db"), "{long}");

    assert_eq!(
        home.cli(&["secret", "restore", "db"]).ok(),
        "restored secret `db`\n"
    );
    assert_eq!(password(&home, "db", None), "two");
    let restored = history(&home, "db");
    assert_eq!(
        states(&restored),
        numbered(&[(1, "previous"), (2, "current")])
    );
    assert_eq!(restored["metadata"]["labels"]["team"], "data", "{restored}");
    home.cli(&["secret", "restore", "db"])
        .fails(2, "`db` is not deleted");

    // A purge is gone for good; the name starts over at version 1.
    home.cli(&["secret", "delete", "db", "--purge", "--yes"])
        .ok();
    assert_gone(&format!("{ns}/db"));
    home.cli(&["secret", "history", "db"]).fails(1, "not found");
    home.register_secret("db", &["password=fresh"]);
    assert_eq!(states(&history(&home, "db")), numbered(&[(1, "current")]));
}

#[test]
fn labels_are_tags_beside_the_schema_tag_and_other_tools_tags() {
    let _moto = shared_moto();
    let ns = namespace("labels");
    let home = aws_home(&ns);
    for name in ["db", "api"] {
        home.register_secret(name, &["password=p"]);
    }
    // A tag of another tool that no label can be (its key has a space).
    on_db(
        "TagResource",
        &ns,
        json!({ "Tags": [{ "Key": "Cost Center", "Value": "42" }] }),
    );
    let labelled = home.cli(&["secret", "label", "db", "env=prod", "team=data"]);
    assert_eq!(
        labelled.ok(),
        "secret `db` has labels: env=prod, team=data\n"
    );
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        aws_tags(&ns),
        [
            pair("Cost Center", "42"),
            pair("env", "prod"),
            pair("team", "data"),
            pair("zenml_schema_name", "arbitrary"),
        ]
    );
    assert_eq!(
        home.cli(&["secret", "label", "db", "team-"]).ok(),
        "secret `db` has labels: env=prod\n"
    );
    assert_eq!(
        aws_tags(&ns),
        [
            pair("Cost Center", "42"),
            pair("env", "prod"),
            pair("zenml_schema_name", "arbitrary"),
        ]
    );
    home.cli(&["secret", "label", "db", "zenml_schema_name=x"])
        .fails(2, "reserved");

    // Labels write no version; an update keeps them.
    home.cli(&["secret", "update", "db", "password=q"]).ok();
    let meta = history(&home, "db")["metadata"].clone();
    assert_eq!(meta["current_version"], 2, "{meta}");
    assert_eq!(meta["labels"], json!({ "env": "prod" }), "{meta}");

    assert_eq!(listed(&home, &["--label", "env=prod"]), "db\n");
    let long = home.cli(&["secret", "list", "--long", "-o", "json"]).json();
    let rows: Vec<(&str, u64, &Value)> = long
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["current_version"].as_u64().unwrap(),
                &m["labels"],
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("api", 1, &json!({})), ("db", 2, &json!({ "env": "prod" }))],
        "{long}"
    );
    let table = listed(&home, &["--long", "d*"]);
    assert!(
        table.lines().nth(1).unwrap().ends_with("env=prod"),
        "{table}"
    );
}

#[test]
fn metadata_times_never_go_backwards() {
    let _moto = shared_moto();
    let (home, _) = home_with_db("times");
    let labels = Labels::new(vec![("a".into(), "b".into())]).unwrap();
    let update = |value: &str, expected: Option<u64>| {
        let secret = Secret::new(
            "db",
            "arbitrary",
            [("password".to_string(), value.to_string())],
        )
        .unwrap();
        home.call(
            None,
            &UpdateSecretIf {
                secret: &secret,
                expected,
            },
        )
        .result
        .unwrap()
    };
    let steps: [(&str, &dyn Fn()); 5] = [
        ("update", &|| assert_eq!(update("two", None), 2)),
        ("update", &|| assert_eq!(update("three", Some(2)), 3)),
        ("labels", &|| {
            let set = SetLabels {
                name: "db",
                labels: &labels,
            };
            home.call(None, &set).result.unwrap()
        }),
        ("delete", &|| {
            home.call(None, &DeleteSecret("db")).result.unwrap()
        }),
        ("restore", &|| {
            home.call(None, &RestoreSecret("db")).result.unwrap()
        }),
    ];
    // moto keeps times in whole seconds: each change is a second on.
    let pause = std::time::Duration::from_millis(1100);
    let (first, last) = assert_updated_never_goes_backwards(&home, "db", pause, &steps);
    assert!(last > first);
    let created = home.call(None, &GetMetadata("db")).result.unwrap().created;
    let history = home.call(None, &ListVersions("db")).result.unwrap();
    assert!(
        history
            .versions
            .iter()
            .all(|v| created <= v.created && v.created <= last),
        "{history:?}"
    );
}

#[test]
fn destroying_a_version_aws_keeps_is_refused_with_the_reason() {
    let _moto = shared_moto();
    let (home, ns) = home_with_db("destroy");
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    let destroy = |versions: &[u64]| {
        let destroy = DestroyVersions::new("db", versions.iter().copied()).unwrap();
        home.call(None, &destroy).result.unwrap_err()
    };
    let kept = destroy(&[1]);
    assert!(kept.is(ErrorKind::Invalid), "{kept}");
    assert!(kept.to_string().contains("cannot erase"), "{kept}");
    for refused in [&[2][..], &[1, 7]] {
        let err = destroy(refused);
        assert!(err.is(ErrorKind::Invalid), "{refused:?}: {err}");
    }
    // Nothing was destroyed.
    assert_eq!(password(&home, "db", Some("1")), "one");
    assert_eq!(aws_versions(&ns).len(), 2);
    let states: Vec<VersionState> = home
        .call(None, &ListVersions("db"))
        .result
        .unwrap()
        .versions
        .iter()
        .map(|v| v.state)
        .collect();
    assert_eq!(states, [VersionState::Previous, VersionState::Current]);
}

#[test]
fn a_secret_another_tool_writes_is_numbered_while_its_version_is_current() {
    let _moto = shared_moto();
    let ns = namespace("foreign");
    let home = aws_home(&ns);
    // Written as the 0.1 flavor and ZenML do: versions with random ids.
    let layout = |value: &str| {
        format!(
            r#"{{"values":{{"username":"u","password":"{value}"}},"zenml_schema_name":"basic_auth"}}"#
        )
    };
    moto().call(
        "CreateSecret",
        &json!({ "Name": format!("{ns}/db"), "SecretString": layout("old") }),
    );
    on_db(
        "PutSecretValue",
        &ns,
        json!({ "SecretString": layout("new") }),
    );
    assert_eq!(states(&history(&home, "db")), numbered(&[(1, "current")]));
    assert_eq!(password(&home, "db", Some("1")), "new");
    assert_eq!(history(&home, "db")["metadata"]["schema"], "basic_auth");

    home.cli(&["secret", "update", "db", "password=mine"]).ok();
    assert_eq!(aws_versions(&ns).last().unwrap().0, token(2));
    // The version another tool wrote is no longer current: forgotten.
    assert_eq!(states(&history(&home, "db")), numbered(&[(2, "current")]));
    on_db(
        "PutSecretValue",
        &ns,
        json!({ "SecretString": layout("theirs") }),
    );
    assert_eq!(
        states(&history(&home, "db")),
        numbered(&[(2, "previous"), (3, "current")])
    );
    assert_eq!(password(&home, "db", Some("3")), "theirs");
    assert_eq!(password(&home, "db", Some("2")), "mine");
}

#[test]
fn a_recovery_window_aws_would_refuse_is_refused_at_registration() {
    let home = TestHome::new();
    register_flavor(&home, &[]);
    let origin = moto().origin();
    for days in ["3", "31", "seven"] {
        let window = format!("recovery_window_days={days}");
        let endpoint = format!("endpoint={origin}");
        home.cli(&[
            "secrets-manager",
            "register",
            "bad",
            "--flavor",
            "aws",
            "--config",
            "region=us-east-1",
            "--config",
            "aws_access_key_id=testing",
            "--config",
            "aws_secret_access_key=testing",
            "--config",
            &endpoint,
            "--config",
            &window,
        ])
        .fails(
            2,
            "config `recovery_window_days` must be a whole number of days",
        );
    }
    let managers = home
        .cli(&["secrets-manager", "list", "--output", "json"])
        .json();
    assert!(!managers.to_string().contains("\"bad\""), "{managers:#}");
}
