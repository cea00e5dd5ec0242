//! What an operator watches: `/metrics` counts requests by route pattern
//! (a made-up path never becomes a label) for admin tokens only;
//! `/v1/ready` fails while the store is unreachable or at another layout
//! and `/v1/health` does not; unknown routes and wrong methods answer the
//! JSON error body; a `403` names what the operation needs; `whoami` on
//! the CLI; `serve`'s default address.

use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::{run_cli, run_cli_env};
use serde_json::json;

use crate::{cli_on, database_with_manager, start, token};

/// The database name of the `postgres://` URL `url`.
fn database_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Asserts `text` has the line `line` (a metric and its value).
#[track_caller]
fn has_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "`{line}` missing from:\n{text}"
    );
}

#[test]
fn metrics_count_requests_by_route_pattern_for_admin_tokens_only() {
    let url = Postgres::shared().database();
    let admin = token(&url, "default", "admin", &[]);
    let read = token(&url, "default", "read", &[]);
    let node = start(&url);
    let secrets = "/v1/managers/default/secrets";
    assert_eq!(node.call("GET", secrets, Some(&read), None).status, 200);
    let missing = node.call("GET", &format!("{secrets}/nope"), Some(&read), None);
    assert_eq!(missing.status, 404, "{missing:?}");
    let made_up = "/v1/made-up-path-4f1c9e";
    assert_eq!(node.call("GET", made_up, None, None).status, 404);
    assert_eq!(node.call("GET", secrets, None, None).status, 401);
    assert_eq!(
        node.call("GET", "/v1/managers", Some(&read), None).status,
        403
    );

    // Not without a token, nor with a token short of admin.
    assert_eq!(node.call("GET", "/metrics", None, None).status, 401);
    let refused = node.call("GET", "/metrics", Some(&read), None);
    assert_eq!(refused.status, 403, "{refused:?}");
    let scraped = node.call("GET", "/metrics", Some(&admin), None);
    assert_eq!(scraped.status, 200, "{scraped:?}");
    assert!(
        scraped
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{scraped:?}"
    );
    let text = &scraped.raw;
    let requests = |route: &str, method: &str, status: u16, manager: &str| {
        format!(
            "flavorbox_http_requests_total{{route=\"{route}\",method=\"{method}\",\
             status=\"{status}\",manager=\"{manager}\"}} 1"
        )
    };
    let pattern = "/v1/managers/{manager}/secrets";
    has_line(text, &requests(pattern, "GET", 200, "default"));
    has_line(text, &requests(pattern, "GET", 401, ""));
    has_line(
        text,
        &requests(
            "/v1/managers/{manager}/secrets/{name}",
            "GET",
            404,
            "default",
        ),
    );
    has_line(text, &requests("/v1/managers", "GET", 403, "default"));
    has_line(text, &requests("/metrics", "GET", 403, "default"));
    has_line(text, &requests("unmatched", "GET", 404, ""));
    assert!(!text.contains("made-up-path"), "{text}");
    has_line(
        text,
        &format!(
            "flavorbox_http_request_duration_seconds_count{{route=\"{pattern}\",method=\"GET\"}} 2"
        ),
    );
    // The list and the get that found nothing each called the flavor.
    has_line(
        text,
        r#"flavorbox_calls_total{flavor="local",outcome="ok"} 1"#,
    );
    has_line(
        text,
        r#"flavorbox_calls_total{flavor="local",outcome="not-found"} 1"#,
    );
    has_line(
        text,
        r#"flavorbox_auth_failures_total{reason="unauthorized"} 2"#,
    );
    has_line(
        text,
        r#"flavorbox_auth_failures_total{reason="forbidden"} 2"#,
    );
    // The scrape is audited as any request with a valid token.
    let audit = cli_on(&url, &["audit", "--output", "json"]).json();
    let scrapes: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "metrics")
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(scrapes.len(), 2, "{audit}");
    assert!(scrapes.contains(&200) && scrapes.contains(&403), "{audit}");
}

#[test]
fn unknown_routes_wrong_methods_and_bad_paths_answer_the_json_error_body() {
    let url = Postgres::shared().database();
    let node = start(&url);
    let unknown = node.call("GET", "/v2/anything", None, None);
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert_eq!(unknown.body["error"], "not-found", "{unknown:?}");
    assert!(
        unknown.body["message"]
            .as_str()
            .unwrap()
            .contains("no such route")
    );
    let wrong = node.call("DELETE", "/v1/health", None, None);
    assert_eq!(wrong.status, 405, "{wrong:?}");
    assert_eq!(wrong.body["error"], "method-not-allowed", "{wrong:?}");
    assert!(wrong.body["message"].as_str().is_some(), "{wrong:?}");
    // A segment that does not decode to text is refused the same way, and
    // not quoted.
    let undecodable = node.call("GET", "/v1/managers/%FF%FE/secrets", None, None);
    assert_eq!(undecodable.status, 400, "{undecodable:?}");
    assert_eq!(undecodable.body["error"], "invalid", "{undecodable:?}");
    assert!(!undecodable.raw.contains("FF"), "{undecodable:?}");
}

#[test]
fn a_403_names_the_role_and_manager_needed_and_the_tokens_own() {
    let url = database_with_manager("team-a");
    // Tokens made while the node runs are seen at once: it keeps none.
    let node = start(&url);
    let read = token(&url, "default", "read", &[]);
    let other = token(&url, "team-a", "admin", &[]);
    let secrets = "/v1/managers/default/secrets";
    let body = json!({ "name": "db", "values": { "k": "v" } });
    let short = node.call("POST", secrets, Some(&read), Some(body));
    assert_eq!(short.status, 403, "{short:?}");
    assert_eq!(short.body["error"], "forbidden");
    assert_eq!(
        short.body["message"],
        "register-secret needs role write on secrets manager `default`; \
         this token has role read on secrets manager `default`"
    );
    let elsewhere = node.call("GET", secrets, Some(&other), None);
    assert_eq!(elsewhere.status, 403, "{elsewhere:?}");
    assert_eq!(
        elsewhere.body["message"],
        "get-all-secret-keys needs role read on secrets manager `default`; \
         this token has role admin on secrets manager `team-a`"
    );
    let unmanaged = node.call("GET", "/v1/flavors", Some(&read), None);
    assert_eq!(
        unmanaged.body["message"],
        "list-flavors needs role admin; this token has role read on secrets manager `default`"
    );
}

#[test]
fn ready_needs_the_store_at_this_layout_and_health_needs_only_the_process() {
    let postgres = Postgres::shared();
    let url = postgres.database();
    let database = database_of(&url);
    let node = start(&url);
    let ready = node.call("GET", "/v1/ready", None, None);
    assert_eq!(
        (ready.status, &ready.body),
        (200, &json!({ "status": "ready" }))
    );

    // Another node of a newer flavorbox moved the store on.
    postgres.sql(
        database,
        "UPDATE flavorbox_layout SET version = version + 1",
    );
    let moved = node.call("GET", "/v1/ready", None, None);
    assert_eq!(moved.status, 503, "{moved:?}");
    assert_eq!(moved.body["error"], "not-ready");
    assert!(
        moved.body["message"].as_str().unwrap().contains("layout"),
        "{moved:?}"
    );
    assert_eq!(node.call("GET", "/v1/health", None, None).status, 200);
    postgres.sql(
        database,
        "UPDATE flavorbox_layout SET version = version - 1",
    );
    assert_eq!(node.call("GET", "/v1/ready", None, None).status, 200);

    // The store goes away: not ready, still alive.
    postgres.sql(
        "postgres",
        &format!("DROP DATABASE {database} WITH (FORCE)"),
    );
    let gone = node.call("GET", "/v1/ready", None, None);
    assert_eq!(gone.status, 503, "{gone:?}");
    assert_eq!(gone.body["error"], "not-ready");
    let health = node.call("GET", "/v1/health", None, None);
    assert_eq!(
        (health.status, &health.body),
        (200, &json!({ "status": "ok" }))
    );
}

#[test]
fn whoami_shows_the_tokens_id_role_manager_and_expiry() {
    let url = Postgres::shared().database();
    let lasting = token(&url, "default", "write", &["--name", "ci-deploy"]);
    let expiring = token(&url, "default", "read", &["--ttl", "2d"]);
    let node = start(&url);
    let server = node.url();
    let whoami = |token: &str| {
        let env = [("FLAVORBOX_TOKEN", token)];
        run_cli_env(None, &["whoami", "--server", &server], None, &env)
    };
    let shown = whoami(&lasting);
    let id = lasting.split('_').nth(1).unwrap();
    assert_eq!(
        shown.ok(),
        format!(
            "token    {id}\nname     ci-deploy\nrole     write\nmanager  default\nexpires  never\n"
        )
    );
    let shown = whoami(&expiring);
    let expires = shown.ok().lines().last().unwrap().to_string();
    assert!(expires.starts_with("expires  20"), "{shown:?}");
    assert!(shown.ok().contains("role     read\n"), "{shown:?}");
    assert!(shown.ok().contains("name     -\n"), "{shown:?}");

    // The token from a file, as JSON.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, &lasting).unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "whoami",
        "--server",
        &server,
        "--token-file",
        file,
        "-o",
        "json",
    ];
    let json = run_cli(None, &args, None).json();
    assert_eq!(
        (&json["token"], &json["name"], &json["role"]),
        (&json!(id), &json!("ci-deploy"), &json!("write"))
    );

    // A wrong token is the server's 401; no server is a usage error.
    whoami("fbx_000000000000_wrong").fails(1, "refused the token");
    run_cli_env(
        None,
        &["whoami"],
        None,
        &[("FLAVORBOX_TOKEN", lasting.as_str())],
    )
    .fails(2, "--server");
}

#[test]
fn serve_listens_on_loopback_port_8200_by_default() {
    let help = run_cli(None, &["serve", "--help"], None);
    assert!(help.ok().contains("[default: 127.0.0.1:8200]"), "{help:?}");
    // A node given no address takes that one (or says it is taken).
    let home = crate::keyed_home();
    let mut node = flavorbox_tests::cli::cli_command(Some(home.path()))
        .args(["serve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(node.stderr.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = node.kill();
    let _ = node.wait();
    assert!(
        first.contains("serving on http://127.0.0.1:8200")
            || first.contains("cannot listen on 127.0.0.1:8200"),
        "{first}"
    );
}
