//! The `http` capability's rules, one test each, end to end: the CLI runs
//! the `http_probe` test flavor against a small HTTP server this test starts
//! on 127.0.0.1 (`flavorbox_tests::http_server`). The probe turns every outcome
//! into secret values (`status`, `error`, `body_len`, `body`), so the tests
//! see exactly what the guest saw; the library's call report shows what the
//! host recorded as a sandbox breach, and the server's log shows what
//! actually reached the network.
//!
//! Why: `WasiHttpHooks::send_request` is the only door from a flavor to the
//! network. These tests pin down that it opens only for granted origins,
//! refuses internal addresses reached through a host name, never follows a
//! redirect, caps both bodies, bounds time by the call's deadline and counts
//! requests, and that a raw socket stays shut. The ignored tests at the end
//! are host bugs these tests found (run them with `--ignored`).

use std::time::{Duration, Instant};

use flavorbox::Violation;
use flavorbox::capabilities::log::Masker;
use flavorbox::sandbox::exports::GetSecret;
use flavorbox_tests::http_server::{HUGE_LEN, OK_BODY, TestServer};
use flavorbox_tests::{Run, TestHome, free_port, guests};
use serde_json::Value;

const MANAGER: &str = "probe";

/// Registers the `http_probe` flavor with `flags` (e.g. `--allow-host URL`).
fn register_probe(home: &TestHome, flags: &[&str]) -> Run {
    home.register_flavor(guests::HTTP_PROBE, flags)
}

/// Adds the active manager `probe` whose probes go to `url`.
fn add_manager(home: &TestHome, url: &str) {
    home.register_manager(MANAGER, "http_probe", &[("url", url)], &["--set-active"]);
}

/// A home with `http_probe` registered (`flags`) and a manager aimed at `url`.
fn probe_home(flags: &[&str], url: &str) -> TestHome {
    let home = TestHome::new();
    register_probe(&home, flags).ok();
    add_manager(&home, url);
    home
}

/// A home whose probe is granted `server`'s origin (with `flags`) and aimed
/// at it.
fn granted_probe(server: &TestServer, flags: &[&str]) -> TestHome {
    let origin = server.origin();
    let mut all = vec!["--allow-host", origin.as_str()];
    all.extend_from_slice(flags);
    probe_home(&all, &origin)
}

/// `GET <url>/<name>` through the CLI; the probe's values.
fn probe(home: &TestHome, name: &str) -> Value {
    home.revealed(name, None)["values"].clone()
}

/// What the host recorded as a sandbox breach while the probe `name` ran
/// (through the library, whose call report shows it even when the probe
/// succeeds), and the values the probe returned.
fn recorded_breach(home: &TestHome, name: &str) -> (Option<(Violation, String)>, Vec<String>) {
    let outcome = home.call(Some(MANAGER), &GetSecret(name));
    let values = match &outcome.result {
        Ok(secret) => secret.values().values().cloned().collect(),
        Err(_) => Vec::new(),
    };
    (outcome.report.violation, values)
}

/// Asserts the host recorded a `denied` breach containing `needle` when the
/// probe `name` ran. The host masks every value the call handled in what it
/// records, and the probe's values are short words such as `32` or `0`, so
/// `needle` is masked the same way before comparing.
#[track_caller]
fn assert_denied_breach(home: &TestHome, name: &str, needle: &str) {
    let (breach, values) = recorded_breach(home, name);
    let needle = Masker::new(values.iter().map(String::as_str)).mask(needle);
    match breach {
        Some((Violation::Denied, detail)) => {
            assert!(
                detail.contains(&needle),
                "expected `{needle}` in `{detail}`"
            )
        }
        other => panic!("expected a `denied` breach naming `{needle}`, got {other:?}"),
    }
}

#[track_caller]
fn assert_no_breach(home: &TestHome, name: &str) {
    let (breach, _) = recorded_breach(home, name);
    assert_eq!(breach, None);
}

#[track_caller]
fn assert_refused(values: &Value) {
    assert_eq!(values["status"], "error", "{values:#}");
    assert_eq!(
        values["error"], "ErrorCode::HttpRequestDenied",
        "{values:#}"
    );
}

/// Registers the `aws` flavor with `flags` and an active manager whose
/// endpoint is `endpoint`: a flavor that fails when a request is refused,
/// so the CLI shows the refusal itself.
fn aws_home(flags: &[&str], endpoint: &str) -> TestHome {
    let home = TestHome::new();
    home.register_flavor(guests::AWS, flags).ok();
    home.register_manager(
        "aws",
        "aws",
        &[
            ("region", "us-east-1"),
            ("aws_access_key_id", "testing"),
            ("aws_secret_access_key", "testing"),
            ("endpoint", endpoint),
        ],
        &["--set-active"],
    );
    home
}

#[test]
fn a_granted_origin_is_reached_and_its_answers_come_back_as_they_are() {
    let server = TestServer::start();
    let home = granted_probe(&server, &[]);

    let ok = probe(&home, "ok");
    assert_eq!(ok["status"], "200", "{ok:#}");
    assert_eq!(ok["error"], "none");
    assert_eq!(ok["body"], OK_BODY);
    assert_eq!(ok["body_len"], OK_BODY.len().to_string());

    let missing = probe(&home, "missing");
    assert_eq!(missing["status"], "404", "{missing:#}");
    assert_eq!(missing["error"], "none");

    assert_eq!(server.paths(), ["/ok", "/missing"]);
    assert_no_breach(&home, "ok");
}

#[test]
fn http_is_denied_by_default() {
    let server = TestServer::start();
    let home = TestHome::new();
    let registered = register_probe(&home, &[]);
    registered.ok();
    assert!(
        registered
            .stderr
            .contains("declares capability `http`, which was not granted"),
        "{registered:?}"
    );
    add_manager(&home, &server.origin());

    // Without the grant not even a request can be built: the first
    // `wasi:http` constructor stops the call. The flavor declares `http`:
    // the operator's to grant, named with the origin its config names.
    home.cli(&["secret", "get", "ok"]).fails(
        1,
        &format!(
            "denied: flavor `http_probe` declares capability `http`, which was not granted: \
             grant it with `flavorbox flavor grant http_probe --allow-host {}`",
            server.origin()
        ),
    );
    assert_denied_breach(&home, "ok", "capability `http`, which was not granted");

    // A bundled flavor (trusted) is refused at its request instead, and
    // names the origin it asked for: the same one line, the same grant.
    let aws = aws_home(&[], &server.origin());
    aws.cli(&["secret", "get", "anything"]).fails(
        1,
        &format!(
            "denied: flavor `aws` may not reach {0}: grant it with `flavorbox flavor grant aws \
             --allow-host {0}`",
            server.origin()
        ),
    );
    assert!(server.hits().is_empty(), "{:?}", server.hits());
}

#[test]
fn an_origin_that_was_not_granted_is_denied_and_named() {
    let granted = TestServer::start();
    let other = TestServer::start();

    // Same host, another port.
    let home = probe_home(&["--allow-host", &granted.origin()], &other.origin());
    assert_refused(&probe(&home, "ok"));
    let other_origin = format!("http://127.0.0.1:{}", other.port);
    assert_denied_breach(
        &home,
        "ok",
        &format!("HTTP request to origin {other_origin}, which was not granted"),
    );

    // Same address and port, but named `localhost`: another origin.
    let localhost = format!("http://localhost:{}", granted.port);
    let home = probe_home(&["--allow-host", &granted.origin()], &localhost);
    assert_refused(&probe(&home, "ok"));
    assert_denied_breach(
        &home,
        "ok",
        &format!("HTTP request to origin {localhost}, which was not granted"),
    );

    // The manager's endpoint names the origin: the operator's to grant.
    let aws = aws_home(&["--allow-host", &granted.origin()], &other.origin());
    aws.cli(&["secret", "get", "anything"]).fails(
        1,
        &format!(
            "denied: flavor `aws` may not reach {other_origin}: grant it with \
             `flavorbox flavor grant aws --allow-host {other_origin}`"
        ),
    );

    assert!(granted.hits().is_empty(), "{:?}", granted.hits());
    assert!(other.hits().is_empty(), "{:?}", other.hits());
}

#[test]
fn a_host_name_resolving_to_an_internal_address_is_refused_unless_the_ip_is_granted() {
    let server = TestServer::start();

    // `localhost` is granted by name, but resolves to loopback: only a
    // grant of the exact IP literal unlocks an internal address.
    let localhost = format!("http://localhost:{}", server.port);
    let home = probe_home(&["--allow-host", &localhost], &localhost);
    assert_refused(&probe(&home, "ok"));
    assert_denied_breach(&home, "ok", "resolves to internal address");
    assert_denied_breach(
        &home,
        "ok",
        "which only a grant of that exact address allows",
    );
    assert!(server.hits().is_empty(), "{:?}", server.hits());

    // The same server granted by its IP literal is reached.
    let home = granted_probe(&server, &[]);
    assert_eq!(probe(&home, "ok")["status"], "200");
    assert_eq!(server.paths(), ["/ok"]);
}

#[test]
fn a_redirect_is_returned_to_the_flavor_and_never_followed() {
    let server = TestServer::start();
    let home = granted_probe(&server, &[]);

    let redirect = probe(&home, "redirect");
    assert_eq!(redirect["status"], "302", "{redirect:#}");
    assert_eq!(redirect["error"], "none");
    assert_eq!(
        server.paths(),
        ["/redirect"],
        "the host followed the redirect"
    );
}

#[test]
fn a_response_body_over_the_cap_is_cut_off() {
    let server = TestServer::start();
    let home = granted_probe(&server, &[]);
    const { assert!(HUGE_LEN > 4 * 1024 * 1024) };

    let huge = probe(&home, "huge");
    assert_eq!(huge["status"], "error", "{huge:#}");
    assert_eq!(huge["body_len"], "0", "{huge:#}");
    // See `a_capped_response_body_reaches_the_guest_as_its_error_code` for
    // the exact code the guest should get.
    let error = huge["error"].as_str().unwrap();
    assert!(
        error.contains("HttpResponseBodySize")
            || error.contains("HTTP response body size exceeds limit: 4194304 bytes"),
        "{huge:#}"
    );
    assert_denied_breach(
        &home,
        "huge",
        &format!(
            "HTTP response body from {} exceeded the 4194304-byte cap",
            server.origin()
        ),
    );
}

#[test]
fn a_request_body_over_the_cap_is_refused() {
    let server = TestServer::start();
    let home = granted_probe(&server, &[]);

    // See `a_capped_request_body_reaches_the_guest_as_its_error_code` for
    // the exact code the guest should get.
    let post = probe(&home, "post");
    assert_eq!(post["status"], "error", "{post:#}");
    assert_denied_breach(
        &home,
        "post",
        &format!(
            "HTTP request body to {} exceeded the 1048576-byte cap",
            server.origin()
        ),
    );
    for hit in server.hits() {
        assert_eq!(hit.method, "POST");
        assert!(
            hit.body_len <= 1024 * 1024,
            "more than the cap reached the server: {hit:?}"
        );
    }
}

#[test]
fn requests_per_call_are_counted() {
    let server = TestServer::start();
    let home = granted_probe(&server, &[]);
    let many = probe(&home, "many");
    assert_eq!(many["count"], "32", "{many:#}");
    assert_refused(&many);
    assert_eq!(server.paths().len(), 32);
    assert_denied_breach(&home, "many", "more than 32 HTTP requests in one call");

    let raised = TestServer::start();
    let home = granted_probe(&raised, &["--http-requests", "50"]);
    let many = probe(&home, "many");
    assert_eq!(many["count"], "40", "{many:#}");
    assert_eq!(many["status"], "200");
    assert_eq!(raised.paths().len(), 40);
    assert_no_breach(&home, "many");
}

#[test]
fn a_slow_server_cannot_hold_a_call_past_its_deadline() {
    let server = TestServer::start();
    let home = granted_probe(&server, &["--timeout", "1"]);

    let started = Instant::now();
    let run = home.cli(&["secret", "get", "slow", "--reveal", "--output", "json"]);
    let elapsed = started.elapsed();

    // Either the host's per-request bound fires first and the probe reports
    // a timeout, or the call's own deadline stops it.
    if run.code == 0 {
        let values: Value = serde_json::from_str(&run.stdout).unwrap();
        let values = &values["values"];
        assert_eq!(values["status"], "error", "{values:#}");
        assert!(
            values["error"].as_str().unwrap().contains("Timeout"),
            "{values:#}"
        );
    } else {
        run.fails(3, "sandbox: deadline");
    }
    assert!(
        elapsed < Duration::from_secs(4),
        "the call took {elapsed:?} with a 1 s deadline and a 5 s server"
    );
    assert_eq!(server.paths(), ["/slow"]);
}

#[test]
fn a_raw_socket_is_refused_and_recorded() {
    let home = TestHome::new();
    home.cli_register(guests::HOSTILE_WASI_PROBE, MANAGER, &[], true);

    let attack = probe(&home, "attack");
    for key in ["tcp", "dns"] {
        let value = attack[key].as_str().unwrap();
        assert!(value.starts_with("denied"), "{key}: {attack:#}");
    }
    for key in ["args", "env", "preopens"] {
        assert_eq!(attack[key], "0", "{key}: {attack:#}");
    }
    // The implicit bind before the connect is the first thing refused.
    assert_denied_breach(
        &home,
        "attack",
        "the flavor tried to bind a raw TCP socket to 0.0.0.0:0",
    );
}

// ----- the finer points: precise error codes, messages, one error line ------

#[test]
fn a_capped_response_body_reaches_the_guest_as_its_error_code() {
    let server = TestServer::start();
    let home = granted_probe(&server, &[]);
    let huge = probe(&home, "huge");
    assert_eq!(
        huge["error"], "ErrorCode::HttpResponseBodySize(Some(4194304))",
        "{huge:#}"
    );
}

#[test]
fn a_capped_request_body_reaches_the_guest_as_its_error_code() {
    let server = TestServer::start();
    let home = granted_probe(&server, &[]);
    let post = probe(&home, "post");
    assert!(
        post["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestBodySize"),
        "{post:#}"
    );
}

#[test]
fn a_denied_origin_is_named_even_when_a_secret_value_is_a_digit() {
    let granted = TestServer::start();
    let other = TestServer::start();
    let aws = aws_home(&["--allow-host", &granted.origin()], &other.origin());
    aws.cli(&["secret", "register", "s", "k=0"]).fails(
        1,
        &format!(
            "may not reach {0}: grant it with `flavorbox flavor grant aws --allow-host {0}`",
            other.origin()
        ),
    );
}

#[test]
fn a_refused_connection_prints_one_error_line() {
    // Granted, but nothing listens there.
    let origin = format!("http://127.0.0.1:{}", free_port());
    let aws = aws_home(&["--allow-host", &origin], &origin);
    let line = aws
        .cli(&["secret", "get", "anything"])
        .fails(1, "failed: connection refused")
        .to_string();
    // Words for people, not the type's debug text.
    assert!(!line.contains("ErrorCode"), "{line}");
}
