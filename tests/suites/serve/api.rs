//! The HTTP API and the CLI's client mode: two nodes on one database,
//! every role against every operation, failed attempts rate-limited per
//! peer, managers kept apart, a secret a manager's config refers to kept
//! unless forced, and an answer that cannot be audited withheld.

use std::time::Duration;

use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::run_cli_env;
use flavorbox_tests::serve_node::call_port;
use serde_json::{Value, json};

use crate::{cli_on, database_with_manager, start, start_with, token};

#[test]
fn two_nodes_serve_one_database_over_http_and_the_cli() {
    let url = Postgres::shared().database();
    let write = token(&url, "default", "write", &[]);
    let a = start(&url);
    let mut b = start(&url);

    let health = a.call("GET", "/v1/health", None, None);
    assert_eq!((health.status, &health.body["status"]), (200, &json!("ok")));

    let created = a.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "db", "values": { "user": "bob", "password": "pw-one" } })),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert!(
        !created.raw.contains("pw-one"),
        "a write never echoes values"
    );

    let read = b.call("GET", "/v1/managers/default/secrets/db", Some(&write), None);
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(
        read.body["values"],
        json!({ "user": "bob", "password": "pw-one" })
    );

    let updated = b.call(
        "PATCH",
        "/v1/managers/default/secrets/db",
        Some(&write),
        Some(json!({ "values": { "password": "pw-two" } })),
    );
    assert_eq!(updated.status, 200, "{updated:?}");
    let read = a.call("GET", "/v1/managers/default/secrets/db", Some(&write), None);
    assert_eq!(read.body["values"]["password"], "pw-two");

    let again = a.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "db", "values": { "x": "y" } })),
    );
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (409, Some("already-exists"))
    );
    let bad = a.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "bad name!", "values": { "k": "secret-in-bad-request" } })),
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(!bad.raw.contains("secret-in-bad-request"));
    let garbage = call_port(
        a.port,
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        "{\"name\": \"n\", \"values\": {\"k\": 12345678}}",
    );
    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert!(!garbage.raw.contains("12345678"), "{garbage:?}");
    let huge = call_port(
        a.port,
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        &format!(
            "{{\"name\":\"n\",\"values\":{{\"k\":\"{}\"}}}}",
            "x".repeat(2 << 20)
        ),
    );
    assert_eq!(
        (huge.status, &huge.body["error"]),
        (413, &json!("too-large")),
        "{:?}",
        huge.body
    );

    // The CLI's client mode, on the other node.
    let env = [("FLAVORBOX_TOKEN", write.as_str())];
    let server = b.url();
    let cli = |args: &[&str]| {
        let mut all = vec!["secret", "--server", server.as_str()];
        all.extend_from_slice(args);
        run_cli_env(None, &all, None, &env)
    };
    let shown = cli(&["get", "db", "--reveal", "--output", "json"]);
    let shown: Value = serde_json::from_str(shown.ok()).unwrap();
    assert_eq!(shown["values"]["password"], "pw-two");
    // The same words as a local run.
    assert_eq!(
        cli(&["register", "api", "key=k-1"]).ok(),
        "registered secret `api` (1 key, schema arbitrary) in secrets manager `default`\n"
    );
    assert_eq!(cli(&["list"]).ok(), "api\ndb\n");
    assert_eq!(
        cli(&["update", "api", "key=k-2", "extra=e"]).ok(),
        "updated secret `api` (2 keys, schema arbitrary)\n"
    );
    // delete-all's bound is the server's own: refused before any request.
    cli(&["delete-all", "--force", "--max-calls", "5"]).fails(2, "not available with --server");
    cli(&["get", "missing"]).fails(1, "not found");
    cli(&["delete", "api", "--yes"]).ok();
    // The server and token from the environment alone, as a CI job sets
    // them.
    let from_env = [
        ("FLAVORBOX_SERVER", server.as_str()),
        ("FLAVORBOX_TOKEN", write.as_str()),
    ];
    assert_eq!(
        run_cli_env(None, &["secret", "list"], None, &from_env).ok(),
        "db\n"
    );
    let gone = a.call(
        "GET",
        "/v1/managers/default/secrets/api",
        Some(&write),
        None,
    );
    assert_eq!(gone.status, 404);
    // Without a token, or with a wrong one: one line, exit 1, nothing else.
    run_cli_env(None, &["secret", "list", "--server", &server], None, &[])
        .fails(2, "needs a token");
    run_cli_env(
        None,
        &[
            "secret",
            "--server",
            &server,
            "--manager",
            "default",
            "get",
            "db",
        ],
        None,
        &[("FLAVORBOX_TOKEN", "fbx_wrong")],
    )
    .fails(1, "refused the token");

    // Every request was audited, without values (the refused token is
    // counted with its address's refusals, written when its node stops).
    crate::audit::stop(&mut b);
    let audit = cli_on(&url, &["audit", "--limit", "1000", "--output", "json"]);
    let text = audit.ok();
    for value in ["pw-one", "pw-two", "k-1", "k-2", "secret-in-bad-request"] {
        assert!(!text.contains(value), "audit shows a value: {text}");
    }
    let entries: Vec<Value> = serde_json::from_str(text).unwrap();
    let ops: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["secret"].as_str().unwrap_or("-"),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("register-secret", "db", "ok"),
        ("get-secret", "db", "ok"),
        ("update-secret", "db", "ok"),
        ("register-secret", "db", "already-exists"),
        ("get-secret", "missing", "not-found"),
        ("delete-secret", "api", "ok"),
        ("authenticate", "-", "unauthorized"),
    ] {
        assert!(ops.contains(&expected), "{expected:?} not in {ops:?}");
    }
}

/// The status each role gets for each operation on its own manager.
#[test]
fn every_role_against_every_operation() {
    let pg = Postgres::shared();
    let url = pg.database();
    cli_on(
        &url,
        &["secrets-manager", "register", "other", "--flavor", "local"],
    )
    .ok();
    let read = token(&url, "default", "read", &[]);
    let write = token(&url, "default", "write", &[]);
    let admin = token(&url, "default", "admin", &[]);
    let other_admin = token(&url, "other", "admin", &[]);
    let revoked = token(&url, "default", "admin", &[]);
    let expiring = token(&url, "default", "admin", &["--ttl", "1s"]);
    let revoked_id = revoked.split('_').nth(1).unwrap().to_string();
    cli_on(&url, &["token", "revoke", &revoked_id]).ok();
    let listed = cli_on(&url, &["token", "list"]);
    assert!(listed.ok().contains(&revoked_id));
    for token in [&read, &write, &admin] {
        assert!(
            !listed.stdout.contains(token.rsplit('_').next().unwrap()),
            "a token's secret part is never listed"
        );
    }
    // Every refusal below comes from one address: more than the default
    // rate limit allows.
    let node = start_with(&url, &["--auth-failures", "1000"]);
    let seed = |name: &str| {
        let answer = node.call(
            "POST",
            "/v1/managers/default/secrets",
            Some(&admin),
            Some(json!({ "name": name, "values": { "k": "v" } })),
        );
        assert!(answer.status == 201 || answer.status == 409, "{answer:?}");
    };
    std::thread::sleep(Duration::from_millis(1100));

    // (method, path, body, status for read, write, admin)
    type Case = (&'static str, String, Option<Value>, [u16; 3]);
    let cases = |n: &str| -> Vec<Case> {
        let secret = format!("/v1/managers/default/secrets/{n}");
        vec![
            ("GET", "/v1/managers/default/secrets".into(), None, [200; 3]),
            ("GET", secret.clone(), None, [200; 3]),
            (
                "POST",
                "/v1/managers/default/secrets".into(),
                Some(json!({ "name": format!("{n}-new"), "values": { "k": "v" } })),
                [403, 201, 201],
            ),
            (
                "PATCH",
                secret.clone(),
                Some(json!({ "values": { "k2": "v2" } })),
                [403, 200, 200],
            ),
            ("DELETE", secret, None, [403, 200, 200]),
            (
                "DELETE",
                "/v1/managers/default/secrets?force=true".into(),
                None,
                [403, 403, 200],
            ),
            ("GET", "/v1/managers".into(), None, [403, 403, 200]),
            ("GET", "/v1/flavors".into(), None, [403, 403, 200]),
        ]
    };
    for (r, (role, token)) in [("read", &read), ("write", &write), ("admin", &admin)]
        .into_iter()
        .enumerate()
    {
        let name = format!("s-{role}");
        for (method, path, body, expected) in cases(&name) {
            seed(&name);
            let answer = node.call(method, &path, Some(token), body.clone());
            assert_eq!(
                answer.status, expected[r],
                "{role} {method} {path}: {answer:?}"
            );
            if answer.status == 403 {
                assert_eq!(answer.body["error"], "forbidden");
            }
        }
    }
    // Not this token's manager, no token, a wrong, revoked or expired one:
    // the same answer whether or not the secret exists.
    seed("exists");
    for (method, path, body, _) in cases("exists").into_iter().chain(cases("absent")) {
        let foreign = node.call(method, &path, Some(&other_admin), body.clone());
        if path.starts_with("/v1/managers/default") {
            assert_eq!(foreign.status, 403, "{method} {path}: {foreign:?}");
        }
        let mut bodies = Vec::new();
        for bad in [
            None,
            Some("fbx_0_0"),
            Some(revoked.as_str()),
            Some(expiring.as_str()),
        ] {
            let answer = node.call(method, &path, bad, body.clone());
            assert_eq!(answer.status, 401, "{method} {path} {bad:?}: {answer:?}");
            bodies.push(answer.raw);
        }
        bodies.dedup();
        assert_eq!(bodies.len(), 1, "{bodies:?}");
    }
    let managers = node.call("GET", "/v1/managers", Some(&other_admin), None);
    assert_eq!(managers.status, 200);
    assert!(
        !managers.raw.contains("config"),
        "configs may hold credentials"
    );
}

#[test]
fn failed_attempts_are_rate_limited_per_peer() {
    let url = Postgres::shared().database();
    let good = token(&url, "default", "read", &[]);
    let node = start(&url);
    let path = "/v1/managers/default/secrets";
    assert_eq!(node.call("GET", path, Some(&good), None).status, 200);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(node.call("GET", path, Some("fbx_guess"), None).status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429; 2]);
    // Now even the right token is refused from this address, unlooked at.
    let refused = node.call("GET", path, Some(&good), None);
    assert_eq!(refused.status, 429);
    // Another node keeps its own count.
    let other = start(&url);
    assert_eq!(other.call("GET", path, Some(&good), None).status, 200);
}

#[test]
fn managers_stay_apart_over_http_and_delete_all_empties_one() {
    let url = database_with_manager("other");
    let here = token(&url, "default", "admin", &[]);
    let there = token(&url, "other", "admin", &[]);
    let node = start(&url);
    for (token, manager, name) in [
        (&here, "default", "a"),
        (&here, "default", "b"),
        (&there, "other", "a"),
    ] {
        let created = node.call(
            "POST",
            &format!("/v1/managers/{manager}/secrets"),
            Some(token),
            Some(json!({ "name": name, "values": { "owner": manager } })),
        );
        assert_eq!(created.status, 201, "{created:?}");
    }
    let list = |token: &str, manager: &str| {
        let answer = node.call(
            "GET",
            &format!("/v1/managers/{manager}/secrets"),
            Some(token),
            None,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["secrets"].clone()
    };
    assert_eq!(list(&here, "default"), json!(["a", "b"]));
    assert_eq!(list(&there, "other"), json!(["a"]));
    let theirs = node.call("GET", "/v1/managers/other/secrets/a", Some(&there), None);
    assert_eq!(theirs.body["values"]["owner"], "other");

    let refused = node.call("DELETE", "/v1/managers/default/secrets", Some(&here), None);
    assert_eq!(
        refused.status, 400,
        "delete-all needs ?force=true: {refused:?}"
    );
    assert_eq!(list(&here, "default"), json!(["a", "b"]));
    let deleted = node.call(
        "DELETE",
        "/v1/managers/default/secrets?force=true",
        Some(&here),
        None,
    );
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(list(&here, "default"), json!([]));
    assert_eq!(
        list(&there, "other"),
        json!(["a"]),
        "the other manager keeps its own"
    );
}

/// A secret `prod`'s config refers to: DELETE is 409 naming the manager
/// and key, nothing deleted (delete-all too, its `?force=true` confirming
/// the deletion only); `?force=true` on the secret (the write role, as the
/// DELETE) deletes it and lists the references it broke.
#[test]
fn a_secret_a_config_refers_to_is_deleted_over_http_only_when_forced() {
    let url = Postgres::shared().database();
    let keys = ["aws_access_key_id=A", "aws_secret_access_key=S"];
    cli_on(&url, &["secret", "register", "aws_creds", keys[0], keys[1]]).ok();
    let reference = "aws_secret_access_key={{aws_creds.aws_secret_access_key}}";
    let mut register = vec!["secrets-manager", "register", "prod", "--flavor", "aws"];
    let endpoint = "endpoint=http://127.0.0.1:9";
    for config in [
        "region=us-east-1",
        "aws_access_key_id=x",
        reference,
        endpoint,
    ] {
        register.extend(["--config", config]);
    }
    cli_on(&url, &register).ok();
    let read = token(&url, "default", "read", &[]);
    let write = token(&url, "default", "write", &[]);
    let admin = token(&url, "default", "admin", &[]);
    let node = start(&url);
    let secret = "/v1/managers/default/secrets/aws_creds";
    let referrer = "config `aws_secret_access_key` of secrets manager `prod` \
                    ({{default/aws_creds.aws_secret_access_key}})";
    for path in [secret, "/v1/managers/default/secrets?force=true"] {
        let token = if path == secret { &write } else { &admin };
        let refused = node.call("DELETE", path, Some(token), None);
        assert_eq!(refused.status, 409, "{refused:?}");
        assert_eq!(refused.body["error"], "conflict", "{refused:?}");
        let message = refused.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(referrer), "{refused:?}");
    }
    // The CLI's client mode gets the same refusal, exit 1.
    let env = [("FLAVORBOX_TOKEN", write.as_str())];
    let server = node.url();
    let cli = |args: &[&str]| {
        let mut all = vec!["secret", "--server", server.as_str(), "delete", "aws_creds"];
        all.extend_from_slice(args);
        run_cli_env(None, &all, None, &env)
    };
    cli(&["--yes"]).fails(1, referrer);
    let kept = node.call("GET", secret, Some(&read), None);
    assert_eq!(kept.status, 200, "nothing was deleted: {kept:?}");

    // Forced from the client, it is deleted and says what broke, as a
    // local forced delete does.
    let forced_cli = cli(&["--force"]);
    forced_cli.ok();
    assert!(
        forced_cli.stderr.contains(&format!(
            "broke {referrer}; mend it with `flavorbox secrets-manager update prod --config \
             aws_secret_access_key=...`"
        )),
        "{forced_cli:?}"
    );
    let gone = node.call("GET", secret, Some(&read), None);
    assert_eq!(gone.status, 404, "{gone:?}");
    // `local` keeps history: the delete was soft, so the name is taken
    // until the secret is restored or purged.
    let register_again = || {
        node.call(
            "POST",
            "/v1/managers/default/secrets",
            Some(&write),
            Some(json!({ "name": "aws_creds", "values": { "aws_secret_access_key": "again" } })),
        )
    };
    let taken = register_again();
    assert_eq!(taken.status, 409, "{taken:?}");
    assert!(
        taken.raw.contains("soft-deleted") && taken.raw.contains("--purge"),
        "{taken:?}"
    );
    let purged = node.call(
        "DELETE",
        &format!("{secret}?purge=true&force=true"),
        Some(&write),
        None,
    );
    assert_eq!(purged.status, 200, "{purged:?}");
    let again = register_again();
    assert_eq!(again.status, 201, "{again:?}");

    let forced = format!("{secret}?force=true");
    let denied = node.call("DELETE", &forced, Some(&read), None);
    assert_eq!(denied.status, 403, "{denied:?}");
    let deleted = node.call("DELETE", &forced, Some(&write), None);
    assert_eq!(deleted.status, 200, "{deleted:?}");
    let broken = json!([{ "manager": "prod", "key": "aws_secret_access_key",
                          "reference": "{{default/aws_creds.aws_secret_access_key}}" }]);
    assert_eq!(deleted.body["broken"], broken, "{deleted:?}");
    let gone = node.call("GET", secret, Some(&read), None);
    assert_eq!(gone.status, 404, "{gone:?}");
}

#[test]
fn an_answer_that_cannot_be_audited_is_withheld() {
    // An embedded store, and an audit file every write to fails (ENOSPC).
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.db").display());
    let write = token(&store, "default", "write", &[]);
    let node = start_with(&store, &["--audit-file", "/dev/full"]);
    let created = node.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "kept", "values": { "k": "value-never-shown" } })),
    );
    assert_eq!(created.status, 500, "{created:?}");
    assert!(created.raw.contains("could not be audited"), "{created:?}");
    let read = node.call(
        "GET",
        "/v1/managers/default/secrets/kept",
        Some(&write),
        None,
    );
    assert_eq!(read.status, 500, "{read:?}");
    assert!(!read.raw.contains("value-never-shown"), "{read:?}");
    // The store's own audit table still has both entries.
    let audit = cli_on(&store, &["audit", "--output", "json"]);
    let entries: Vec<Value> = serde_json::from_str(audit.ok()).unwrap();
    let ops: Vec<&str> = entries
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["register-secret", "get-secret"]);
}

#[test]
fn run_and_resolve_on_a_server_say_and_do_what_they_do_locally() {
    let url = Postgres::shared().database();
    let read = token(&url, "default", "read", &[]);
    cli_on(
        &url,
        &[
            "secret",
            "register",
            "db",
            "login=svc",
            "password=pw-over-http",
        ],
    )
    .ok();
    let node = start(&url);
    let server = node.url();
    // A CI job's machine: a token and a server, no home (none is opened or
    // created: its HOME stays empty).
    let nowhere = tempfile::tempdir().unwrap();
    let job_home = nowhere.path().to_str().unwrap();
    let env = [
        ("FLAVORBOX_SERVER", server.as_str()),
        ("FLAVORBOX_TOKEN", read.as_str()),
        ("HOME", job_home),
    ];
    let remote = |args: &[&str]| run_cli_env(None, args, None, &env);
    let same = |args: &[&str]| {
        let (here, there) = (cli_on(&url, args), remote(args));
        assert_eq!(
            (here.code, &here.stdout, &here.stderr),
            (there.code, &there.stdout, &there.stderr),
            "{args:?}: locally {here:?}, over HTTP {there:?}"
        );
        there
    };

    // `run`: the secret in the environment, what the command prints
    // masked, its exit code back.
    let script = "echo \"$LOGIN:$PASSWORD\"; test \"$PASSWORD\" = pw-over-http && exit 3";
    let run = same(&["run", "--secret", "db", "--", "sh", "-c", script]);
    assert_eq!((run.code, run.stdout.as_str()), (3, "svc:***\n"));

    // `resolve`: a template rendered whole.
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("app.conf.tmpl");
    std::fs::write(
        &template,
        "dsn=postgres://{{db.login}}:{{db.password}}@db\n",
    )
    .unwrap();
    let template = template.to_str().unwrap();
    let rendered = same(&["resolve", template]);
    assert_eq!(rendered.ok(), "dsn=postgres://svc:pw-over-http@db\n");

    // The same refusals, the same words and exit codes.
    same(&["run", "--secret", "ghost", "--", "true"]).fails(1, "ghost");
    let broken = dir.path().join("broken.tmpl");
    std::fs::write(&broken, "x={{db.nokey}}\n").unwrap();
    same(&["resolve", broken.to_str().unwrap()]).fails(1, "has no key `nokey`");

    // --server and --token-file on the command line, as for `secret`.
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &read).unwrap();
    let given = run_cli_env(
        None,
        &[
            "resolve",
            "--server",
            &server,
            "--token-file",
            token_file.to_str().unwrap(),
            template,
        ],
        None,
        &[("HOME", job_home)],
    );
    assert_eq!(given.ok(), "dsn=postgres://svc:pw-over-http@db\n");
    assert!(
        std::fs::read_dir(nowhere.path()).unwrap().next().is_none(),
        "no home was created on the client"
    );
}
