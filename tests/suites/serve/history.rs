//! A secret's history over HTTP: the CLI's `history`, `get --version`,
//! `rollback`, `update --if-version`, soft delete and `restore`, labels and
//! the listing's filters say over `--server` what they say locally (times
//! aside), and the API itself answers a read's version as its `ETag`,
//! refuses a stale `If-Match` with `412` (nothing written) and an
//! `If-Match` that names no single version with `400`; a read token may
//! read the history but not roll back, restore or label (`403`).

use flavorbox_tests::http_client::{Answer, json_request};
use serde_json::{Value, json};

use crate::client_ops::Twins;
use crate::{cli_on, token};

/// A history or listing with every time taken out (two stores write at
/// different times).
fn timeless(mut value: Value) -> Value {
    match &mut value {
        Value::Object(fields) => {
            fields.retain(|key, _| !matches!(key.as_str(), "created" | "updated"));
            for field in fields.values_mut() {
                *field = timeless(field.take());
            }
        }
        Value::Array(items) => {
            for item in items {
                *item = timeless(item.take());
            }
        }
        _ => {}
    }
    value
}

#[test]
fn history_rollback_restore_and_checked_updates_say_the_same_over_a_server() {
    let twins = Twins::new("write");
    twins.both(&["secret", "register", "db", "user=u", "password=one"]);
    twins.both(&["secret", "update", "db", "password=two"]);
    twins.both(&["secret", "update", "db", "password=three"]);

    let json = ["secret", "history", "db", "--output", "json"];
    let local = cli_on(&twins.here, &json).json();
    let remote = twins.remote(&json).json();
    assert_eq!(timeless(local), timeless(remote.clone()));
    assert_eq!(remote["versions"].as_array().unwrap().len(), 3, "{remote}");

    let old = twins.same(&["secret", "get", "db", "--version", "1", "--key", "password"]);
    assert_eq!(old.ok(), "one\n");
    let current = twins.same(&["secret", "get", "db"]);
    assert!(
        current
            .ok()
            .starts_with("secret: db (schema arbitrary, version 3)\n"),
        "{current:?}"
    );
    twins
        .same(&["secret", "get", "db", "--version", "7"])
        .fails(1, "7");
    let rolled = twins.same(&["secret", "rollback", "db", "--to", "1"]);
    assert_eq!(
        rolled.ok(),
        "rolled back secret `db` to version 1's values, as version 4\n"
    );
    let stale = [
        "secret",
        "update",
        "db",
        "password=late",
        "--if-version",
        "3",
    ];
    twins.same(&stale).fails(1, "is at version 4, not 3");
    assert_eq!(twins.values_there("db", "default")["password"], "one");
    let fresh = [
        "secret",
        "update",
        "db",
        "password=five",
        "--if-version",
        "4",
    ];
    twins.same(&fresh).ok();

    twins.same(&["secret", "delete", "db", "--yes"]).ok();
    twins.same(&["secret", "get", "db"]).fails(1, "db");
    let restored = twins.same(&["secret", "restore", "db"]);
    assert_eq!(restored.ok(), "restored secret `db`\n");
    assert_eq!(twins.values_there("db", "default")["password"], "five");

    twins.both(&["secret", "register", "api", "key=k"]);
    let labelled = twins.same(&["secret", "label", "db", "env=prod", "tier=1"]);
    assert_eq!(labelled.ok(), "secret `db` has labels: env=prod, tier=1\n");
    assert_eq!(
        twins.same(&["secret", "list", "--label", "env=prod"]).ok(),
        "db\n"
    );
    assert_eq!(twins.same(&["secret", "list", "a*"]).ok(), "api\n");
    let long = ["secret", "list", "--long", "--output", "json"];
    let local = cli_on(&twins.here, &long).json();
    assert_eq!(timeless(local), timeless(twins.remote(&long).json()));

    // An export with labels and history, and its import on a client.
    let export = ["secret", "export", "--reveal", "--history"];
    let local = cli_on(&twins.here, &export).json();
    let remote = twins.remote(&export).json();
    assert_eq!(timeless(local), timeless(remote.clone()));
    assert_eq!(
        remote["secrets"][1]["history"].as_array().unwrap().len(),
        4,
        "{remote}"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    let renamed = remote
        .to_string()
        .replace("\"name\":\"db\"", "\"name\":\"db2\"");
    std::fs::write(file.path(), renamed).unwrap();
    let path = file.path().to_str().unwrap();
    let imported = twins.remote(&["secret", "import", path, "--skip-existing"]);
    assert!(
        imported.ok().contains("put back 4 later versions"),
        "{imported:?}"
    );
    let copied = twins
        .remote(&["secret", "history", "db2", "--output", "json"])
        .json();
    assert_eq!(copied["versions"].as_array().unwrap().len(), 5, "{copied}");
    assert_eq!(copied["metadata"]["labels"]["env"], "prod", "{copied}");
}

/// One request to `port` with `token` and extra `headers`.
fn call(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let bearer = format!("Bearer {token}");
    let mut all = vec![("Authorization", bearer.as_str())];
    all.extend_from_slice(headers);
    json_request(port, method, path, &all, body.as_ref())
}

#[test]
fn a_read_answers_its_version_as_etag_and_a_stale_if_match_is_412() {
    let twins = Twins::new("write");
    twins.both(&["secret", "register", "db", "password=one"]);
    let reader = token(&twins.there, "default", "read", &[]);
    let writer = token(&twins.there, "default", "write", &[]);
    let port = twins.node.port;
    let secret = "/v1/managers/default/secrets/db";

    let read = call(port, "GET", secret, &reader, &[], None);
    assert_eq!(
        (read.status, read.header("etag")),
        (200, Some("\"1\"")),
        "{read:?}"
    );
    assert_eq!(read.body["version"], 1);

    let change = |value: &str| json!({ "values": { "password": value } });
    let matched = call(
        port,
        "PATCH",
        secret,
        &writer,
        &[("If-Match", "\"1\"")],
        Some(change("two")),
    );
    assert_eq!(
        (matched.status, matched.header("etag")),
        (200, Some("\"2\"")),
        "{matched:?}"
    );
    assert_eq!(matched.body["version"], 2);
    let stale = call(
        port,
        "PATCH",
        secret,
        &writer,
        &[("If-Match", "\"1\"")],
        Some(change("late")),
    );
    assert_eq!(
        (stale.status, stale.body["error"].as_str()),
        (412, Some("conflict")),
        "{stale:?}"
    );
    assert!(
        stale.body["message"]
            .as_str()
            .unwrap()
            .contains("nothing was written"),
        "{stale:?}"
    );
    for tag in ["*", "W/\"2\"", "\"2\", \"3\"", "\"two\"", "\"0\"", "2"] {
        let refused = call(
            port,
            "PATCH",
            secret,
            &writer,
            &[("If-Match", tag)],
            Some(change("x")),
        );
        assert_eq!(refused.status, 400, "If-Match {tag}: {refused:?}");
    }
    let twice = [("If-Match", "\"2\""), ("If-Match", "\"2\"")];
    assert_eq!(
        call(port, "PATCH", secret, &writer, &twice, Some(change("x"))).status,
        400
    );
    let after = call(port, "GET", secret, &reader, &[], None);
    assert_eq!(after.body["values"]["password"], "two", "{after:?}");
    assert_eq!(after.header("etag"), Some("\"2\""));

    let versions = call(
        port,
        "GET",
        &format!("{secret}/versions"),
        &reader,
        &[],
        None,
    );
    assert_eq!(versions.status, 200, "{versions:?}");
    assert_eq!(versions.body["versions"][0]["state"], "previous");
    assert_eq!(versions.body["versions"][1]["state"], "current");
    let first = call(
        port,
        "GET",
        &format!("{secret}/versions/1"),
        &reader,
        &[],
        None,
    );
    assert_eq!(first.header("etag"), Some("\"1\""));
    assert_eq!(first.body["values"]["password"], "one");
    let bad = call(
        port,
        "GET",
        &format!("{secret}/versions/x"),
        &reader,
        &[],
        None,
    );
    assert_eq!(bad.status, 400, "{bad:?}");

    // A read token reads history; it writes none of it.
    let rollback = format!("{secret}/rollback");
    for (path, body) in [
        (rollback.clone(), Some(json!({ "to": 1 }))),
        (format!("{secret}/restore"), None),
        (
            format!("{secret}/labels"),
            Some(json!({ "set": { "env": "x" } })),
        ),
    ] {
        let refused = call(port, "POST", &path, &reader, &[], body);
        assert_eq!(refused.status, 403, "{path}: {refused:?}");
    }
    let rolled = call(
        port,
        "POST",
        &rollback,
        &writer,
        &[],
        Some(json!({ "to": 1 })),
    );
    assert_eq!(
        (rolled.status, rolled.body["version"].as_u64()),
        (200, Some(3)),
        "{rolled:?}"
    );
    let listing = call(
        port,
        "GET",
        "/v1/managers/default/secrets?long=true",
        &reader,
        &[],
        None,
    );
    assert_eq!(
        listing.body["secrets"][0]["current_version"], 3,
        "{listing:?}"
    );
}
