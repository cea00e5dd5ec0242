//! Tokens over HTTP: a token opens the secrets manager it was made for and
//! no other, not even a new manager that takes a removed one's name;
//! removing a manager revokes its tokens, and `token list` says so; a `403`
//! is audited with the token that got it; a token's name is checked as
//! other names are, and `token list` shows it with its last use ("never"
//! until it is used, as for an expiry it does not have).

use flavorbox_tests::postgres::Postgres;
use serde_json::{Value, json};

use crate::{cli_on, database_with_manager, start, token};

/// The token `text`'s id (`fbx_<id>_<secret>`).
pub(crate) fn id_of(text: &str) -> &str {
    text.split('_').nth(1).unwrap()
}

/// `token list --output json`, the entry of the token `id`.
fn listed(url: &str, id: &str) -> Value {
    let list = cli_on(url, &["token", "list", "--output", "json"]).json();
    let entries = list.as_array().unwrap();
    entries
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("token {id} not in {list}"))
        .clone()
}

#[test]
fn a_token_dies_with_its_manager_and_opens_no_namesake() {
    let url = Postgres::shared().database();
    let register = ["secrets-manager", "register", "team-a", "--flavor", "local"];
    cli_on(&url, &register).ok();
    let old = token(&url, "team-a", "admin", &[]);
    let node = start(&url);
    let secrets = "/v1/managers/team-a/secrets";
    let created = node.call(
        "POST",
        secrets,
        Some(&old),
        Some(json!({ "name": "old-secret", "values": { "k": "old-value" } })),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let before = listed(&url, id_of(&old));
    assert_eq!(
        (&before["manager"], &before["role"], &before["state"]),
        (&json!("team-a"), &json!("admin"), &json!("active"))
    );

    cli_on(
        &url,
        &["secrets-manager", "remove", "team-a", "--purge", "--yes"],
    )
    .ok();
    cli_on(&url, &register).ok();
    cli_on(
        &url,
        &[
            "secret",
            "--manager",
            "team-a",
            "register",
            "new-secret",
            "k=new-value",
        ],
    )
    .ok();

    // The old token opens nothing of the new `team-a`.
    for path in [secrets.to_string(), format!("{secrets}/new-secret")] {
        let answer = node.call("GET", &path, Some(&old), None);
        assert_eq!(answer.status, 401, "{path}: {answer:?}");
        assert!(!answer.raw.contains("new-value"));
    }
    let after = listed(&url, id_of(&old));
    assert_eq!(after["state"], "revoked", "{after}");
    assert_eq!(after["manager_id"], before["manager_id"], "{after}");
    assert!(after["revoked_ms"].is_i64(), "{after}");
    let table = cli_on(&url, &["token", "list"]);
    let header = table.ok().lines().next().unwrap();
    for column in ["MANAGER", "MANAGER ID", "ROLE", "STATE"] {
        assert!(header.contains(column), "{header}");
    }
    let row = table.stdout.lines().find(|l| l.starts_with(id_of(&old)));
    assert!(row.unwrap().contains("revoked"), "{}", table.stdout);

    // A token made for the new `team-a` is its own.
    let new = token(&url, "team-a", "read", &[]);
    let read = node.call("GET", &format!("{secrets}/new-secret"), Some(&new), None);
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["values"]["k"], "new-value");
    let new_listed = listed(&url, id_of(&new));
    assert_ne!(new_listed["manager_id"], before["manager_id"]);
    assert_eq!(new_listed["state"], "active");
}

#[test]
fn a_forbidden_request_is_audited_with_its_token() {
    let url = database_with_manager("other");
    let read = token(&url, "default", "read", &[]);
    let node = start(&url);
    let too_small = node.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&read),
        Some(json!({ "name": "s", "values": { "k": "v" } })),
    );
    assert_eq!(too_small.status, 403, "{too_small:?}");
    let elsewhere = node.call("GET", "/v1/managers/other/secrets", Some(&read), None);
    assert_eq!(elsewhere.status, 403, "{elsewhere:?}");
    let nowhere = node.call("GET", "/v1/managers/nobody/secrets", Some(&read), None);
    assert_eq!(nowhere.status, 403, "{nowhere:?}");

    let audit = cli_on(&url, &["audit", "--output", "json"]).json();
    let refused: Vec<(&str, &str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == 403)
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["manager"].as_str().unwrap(),
                e["token"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    let id = id_of(&read);
    assert_eq!(
        refused,
        [
            ("register-secret", "default", id),
            ("get-all-secret-keys", "other", id),
            ("get-all-secret-keys", "nobody", id),
        ]
    );
}

/// The row of `token list` (a table) for the token `id`, split on runs of
/// spaces.
fn table_row(url: &str, id: &str) -> Vec<String> {
    let table = cli_on(url, &["token", "list"]).ok().to_string();
    let header = table.lines().next().unwrap();
    assert!(
        header.contains(" NAME ") && header.contains(" LAST USED "),
        "{table}"
    );
    let row = table
        .lines()
        .find(|line| line.starts_with(id))
        .unwrap_or_else(|| panic!("token {id} not in {table}"));
    row.split_whitespace().map(str::to_string).collect()
}

#[test]
fn a_token_has_a_checked_name_and_is_listed_with_its_last_use() {
    let url = Postgres::shared().database();
    let named = token(&url, "default", "read", &["--name", "deploy-bot"]);
    let create = ["token", "create", "--manager", "default", "--role", "read"];
    let long = "n".repeat(129);
    for (bad, why) in [
        ("bad name!", "token name"),
        (long.as_str(), "longer than 128"),
    ] {
        let mut args = create.to_vec();
        args.extend(["--name", bad]);
        cli_on(&url, &args).fails(2, why);
    }
    let id = id_of(&named);
    // ID NAME MANAGER MANAGER-ID ROLE STATE CREATED LAST-USED EXPIRES REVOKED
    let unused = table_row(&url, id);
    let created = unused[6].clone();
    assert_eq!(
        unused[1..],
        [
            "deploy-bot",
            "default",
            "1",
            "read",
            "active",
            &created,
            "never",
            "never",
            "-"
        ]
    );

    let node = start(&url);
    let before = listed(&url, id);
    assert_eq!(
        (&before["name"], &before["last_used_ms"]),
        (&json!("deploy-bot"), &Value::Null)
    );
    assert_eq!(
        node.call("GET", "/v1/whoami", Some(&named), None).status,
        200
    );
    let used = listed(&url, id);
    let at = used["last_used_ms"].as_i64().expect("the use is recorded");
    assert!(at >= used["created_ms"].as_i64().unwrap(), "{used}");
    let row = table_row(&url, id);
    let shown = flavorbox::serve::audit::format_time(at);
    assert_eq!(
        (row[7].as_str(), row[8].as_str()),
        (shown.as_str(), "never")
    );
}

/// A token a node has just verified (and keeps among its recently verified
/// tokens) is refused on its very next request once revoked from another
/// process, whatever that request is: a read, a write with a body (not
/// read, nothing written), `whoami`, a long poll of the change feed.
#[test]
fn a_token_revoked_after_use_is_refused_on_its_next_request_of_any_kind() {
    let url = Postgres::shared().database();
    cli_on(
        &url,
        &[
            "secrets-manager",
            "register",
            "revoked-team",
            "--flavor",
            "local",
        ],
    )
    .ok();
    let writer = token(&url, "revoked-team", "write", &[]);
    let node = start(&url);
    let secrets = "/v1/managers/revoked-team/secrets";
    let body = |name: &str| json!({ "name": name, "values": { "k": "v" } });
    // Every kind of request once, so that each is admitted from the cache
    // next time.
    let created = node.call("POST", secrets, Some(&writer), Some(body("before")));
    assert_eq!(created.status, 201, "{created:?}");
    let requests = [
        ("GET", format!("{secrets}/before"), None),
        ("GET", "/v1/whoami".to_string(), None),
        (
            "GET",
            "/v1/managers/revoked-team/changes?wait=0".to_string(),
            None,
        ),
    ];
    for (method, path, body) in &requests {
        let answer = node.call(method, path, Some(&writer), body.clone());
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
    }

    cli_on(&url, &["token", "revoke", id_of(&writer)]).ok();

    for (method, path, body) in &requests {
        let answer = node.call(method, path, Some(&writer), body.clone());
        assert_eq!(answer.status, 401, "{path}: {answer:?}");
        assert_eq!(answer.body["error"], "unauthorized", "{answer:?}");
    }
    let refused = node.call("POST", secrets, Some(&writer), Some(body("after")));
    assert_eq!(refused.status, 401, "{refused:?}");
    let listed = cli_on(&url, &["secret", "--manager", "revoked-team", "list"]);
    assert!(!listed.ok().contains("after"), "{}", listed.stdout);
}
