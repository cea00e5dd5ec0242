//! What the node answers for the console, over raw HTTP.

use flavorbox::serve::{CONSOLE_POLICY, MAX_AUDIT_ENTRIES};
use flavorbox_tests::http_client::request;

use crate::{Console, MARKUP};

#[test]
fn the_console_is_served_embedded_with_a_policy_that_allows_no_inline_script_and_no_framing() {
    let console = Console::start(3);
    let port = console.node.port;
    for (path, media) in [
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let answer = request(port, "GET", path, &[], "").unwrap();
        assert_eq!(answer.status, 200, "{path}");
        assert!(
            answer.header("content-type").unwrap().starts_with(media),
            "{path}"
        );
        assert_eq!(
            answer.header("content-security-policy"),
            Some(CONSOLE_POLICY)
        );
        assert_eq!(answer.header("x-frame-options"), Some("DENY"));
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    assert!(CONSOLE_POLICY.contains("script-src 'self'"));
    assert!(CONSOLE_POLICY.contains("frame-ancestors 'none'"));
    assert!(!CONSOLE_POLICY.contains("unsafe"));
    let moved = request(port, "GET", "/ui", &[], "").unwrap();
    assert_eq!(
        (moved.status, moved.header("location")),
        (308, Some("/ui/"))
    );
    // An API answer, a secret's values among them, is never cached, framed,
    // sniffed or run as a page.
    let read = console.node.call(
        "GET",
        "/v1/managers/default/secrets/db_creds",
        Some(&console.read),
        None,
    );
    assert_eq!(read.status, 200);
    assert_eq!(read.header("cache-control"), Some("no-store"));
    assert_eq!(
        read.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    assert_eq!(read.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn the_console_ships_no_inline_script_and_builds_no_element_from_text() {
    // The browser suite shows payloads inert; this keeps the means from
    // coming back: no HTML parser is reached from the script, no inline
    // script or style in the page.
    let root = flavorbox_tests::workspace();
    let dir = root.join("runtime/host/src/serve/console");
    let script = std::fs::read_to_string(dir.join("app.js")).unwrap();
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "srcdoc",
        "DOMParser",
        "createContextualFragment",
        "localStorage",
        "sessionStorage",
        "document.cookie",
    ] {
        assert!(!script.contains(sink), "app.js uses {sink}");
    }
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(page.matches("<script").count(), 1);
    assert!(page.contains("<script src=\"/ui/app.js\" defer></script>"));
    assert!(!page.contains("style=") && !page.contains("<style") && !page.contains(" on"));
}

#[test]
fn a_state_changing_request_from_another_sites_page_is_refused_before_anything_is_written() {
    let console = Console::start(1);
    let port = console.node.port;
    let bearer = format!("Bearer {}", console.admin);
    let auth = ("Authorization", bearer.as_str());
    let body = r#"{"values":{"password":"changed"}}"#;
    let path = "/v1/managers/default/secrets/db_creds";
    for browser_says in [
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
    ] {
        for (method, sent) in [("PATCH", body), ("DELETE", ""), ("POST", "{}")] {
            let target = if method == "POST" {
                "/v1/managers/default/secrets"
            } else {
                path
            };
            let refused = request(port, method, target, &[auth, browser_says], sent).unwrap();
            assert_eq!(refused.status, 403, "{method} with {browser_says:?}");
            assert_eq!(refused.body["error"], "cross-origin");
        }
    }
    let read = console.node.call(
        "GET",
        &format!("{path}?key=password"),
        Some(&console.read),
        None,
    );
    assert_eq!(
        read.body["values"]["password"], "hunter2-db",
        "nothing was written"
    );
    // The console's own origin passes.
    let own = format!("http://127.0.0.1:{port}");
    let headers = [
        auth,
        ("Origin", own.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    let written = request(port, "PATCH", path, &headers, body).unwrap();
    assert_eq!(written.status, 200, "{}", written.raw);
}

#[test]
fn one_key_is_read_alone_audited_as_a_read_and_key_names_come_without_values() {
    let console = Console::start(1);
    let path = "/v1/managers/default/secrets/db_creds";
    let one = console.node.call(
        "GET",
        &format!("{path}?key=password"),
        Some(&console.read),
        None,
    );
    assert_eq!(one.status, 200);
    assert_eq!(
        one.body["values"],
        serde_json::json!({"password": "hunter2-db"})
    );
    let missing = console.node.call(
        "GET",
        &format!("{path}?key=nope"),
        Some(&console.read),
        None,
    );
    assert_eq!(
        (missing.status, missing.body["error"].as_str()),
        (404, Some("not-found"))
    );
    // A key the caller chose is named clipped, not echoed whole.
    let long = console.node.call(
        "GET",
        &format!("{path}?key={}", "k".repeat(5_000)),
        Some(&console.read),
        None,
    );
    assert_eq!(long.status, 404);
    let said = long.body["message"].as_str().unwrap();
    assert!(said.contains("has no key") && said.len() < 600, "{said}");
    // A misspelt parameter never answers every value.
    let misspelt = console.node.call(
        "GET",
        &format!("{path}?kye=password"),
        Some(&console.read),
        None,
    );
    assert_eq!(misspelt.status, 400);
    assert!(!misspelt.raw.contains("hunter2"));
    let keys = console
        .node
        .call("GET", &format!("{path}/keys"), Some(&console.read), None);
    assert_eq!(keys.status, 200);
    assert_eq!(
        keys.body["keys"],
        serde_json::json!(["password", "username"])
    );
    assert_eq!(keys.body["schema"], "arbitrary");
    assert!(!keys.raw.contains("hunter2") && !keys.raw.contains("admin\""));
    let audit = console.node.call(
        "GET",
        "/v1/audit?token=&limit=10",
        Some(&console.admin),
        None,
    );
    let operations: Vec<&str> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert!(
        operations.ends_with(&["get-secret", "get-secret", "get-secret", "get-secret-keys"]),
        "{operations:?}"
    );
}

#[test]
fn the_audit_log_is_read_filtered_by_an_admin_only_and_its_query_is_bounded() {
    let console = Console::start(1);
    let forbidden = console.node.call(
        "GET",
        "/v1/managers/default/secrets/db_creds",
        Some(&console.read),
        None,
    );
    assert_eq!(forbidden.status, 200);
    let refused = console.node.call(
        "DELETE",
        "/v1/managers/default/secrets/db_creds",
        Some(&console.read),
        None,
    );
    assert_eq!(refused.status, 403);
    for token in [&console.read, &console.write] {
        let asked = console.node.call("GET", "/v1/audit", Some(token), None);
        assert_eq!(asked.status, 403, "{}", asked.raw);
    }
    let only = console.node.call(
        "GET",
        "/v1/audit?outcome=forbidden",
        Some(&console.admin),
        None,
    );
    let entries = only.body["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["outcome"] == "forbidden"),
        "{entries:?}"
    );
    // The CLI's `audit` takes the same filters and finds the same entries.
    let cli = flavorbox_tests::run_cli(
        Some(&console.home),
        &[
            "audit",
            "--outcome",
            "forbidden",
            "--since",
            "1h",
            "--output",
            "json",
        ],
        None,
    );
    assert_eq!(cli.json(), only.body["entries"]);
    let id = console.read.split('_').nth(1).unwrap();
    let by_token = console.node.call(
        "GET",
        &format!("/v1/audit?token={id}&outcome=ok"),
        Some(&console.admin),
        None,
    );
    let entries = by_token.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["operation"], "get-secret");
    let future = console.node.call(
        "GET",
        "/v1/audit?since_ms=99999999999999",
        Some(&console.admin),
        None,
    );
    assert_eq!(future.body["entries"], serde_json::json!([]));
    let most = format!("/v1/audit?limit={}", MAX_AUDIT_ENTRIES + 1);
    for bad in [
        "/v1/audit?limit=0",
        most.as_str(),
        "/v1/audit?since_ms=yesterday",
        "/v1/audit?secret=x",
        "/v1/audit?limit=1&limit=2",
    ] {
        let answer = console.node.call("GET", bad, Some(&console.admin), None);
        assert_eq!(answer.status, 400, "{bad}: {}", answer.raw);
        assert_eq!(answer.body["error"], "invalid");
        assert!(
            answer.body["message"]
                .as_str()
                .unwrap()
                .contains("limit (1 to 1000)")
        );
    }
}

#[test]
fn the_last_evaluate_report_recorded_is_served_for_its_flavor_to_an_admin() {
    let console = Console::start(1);
    let flavors = console
        .node
        .call("GET", "/v1/flavors", Some(&console.admin), None);
    let listed = flavors.body["flavors"].as_array().unwrap();
    let markup = listed
        .iter()
        .find(|f| f["name"] == "hostile_markup")
        .expect("listed");
    assert_eq!(markup["evaluated"], true);
    assert!(
        markup["description"].as_str().unwrap().contains("<img"),
        "kept as data"
    );
    assert_eq!(
        markup["policy"]["grants"]["capabilities"],
        serde_json::json!(["storage"])
    );
    let local = listed.iter().find(|f| f["name"] == "local").unwrap();
    assert_eq!(
        (local["evaluated"].as_bool(), local["builtin"].as_bool()),
        (Some(false), Some(true))
    );
    let report = console.node.call(
        "GET",
        "/v1/flavors/hostile_markup/evaluation",
        Some(&console.admin),
        None,
    );
    assert_eq!(report.status, 200, "{}", report.raw);
    assert_eq!(report.body["digest"], markup["digest"]);
    assert_eq!(report.body["report"]["passed"], false);
    let checks = report.body["report"]["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["status"] == "fail" && c["detail"].as_str().unwrap().contains("<script>"))
    );
    assert!(
        !report.body["report"]["p50_micros"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    let none = console.node.call(
        "GET",
        "/v1/flavors/local/evaluation",
        Some(&console.admin),
        None,
    );
    assert_eq!(none.status, 404);
    assert!(
        none.body["message"]
            .as_str()
            .unwrap()
            .contains("flavorbox evaluate FILE --record")
    );
    let unknown = console.node.call(
        "GET",
        "/v1/flavors/nope/evaluation",
        Some(&console.admin),
        None,
    );
    assert_eq!(unknown.status, 404);
    let refused = console.node.call(
        "GET",
        "/v1/flavors/hostile_markup/evaluation",
        Some(&console.write),
        None,
    );
    assert_eq!(refused.status, 403);
    // The markup is data in the API; the browser suite shows it inert.
    assert!(MARKUP.contains("onerror"));
}
