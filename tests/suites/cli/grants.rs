//! Grants that cannot be mistyped, end to end through the binary: what
//! `--allow-host` accepts (one origin, or a `https://*.domain` pattern) at
//! `flavor register`, `flavor grant` and `evaluate`, one line for anything
//! else; a grant the flavor does not declare refused as a typo; and a call
//! refused for want of a grant the flavor declared told as the operator's
//! omission (exit 1, the command that grants it), while what the flavor
//! alone chose stays its breach (exit 3, no command offered).
//!
//! HTTP goes to the `http` suite's server on 127.0.0.1
//! (`flavorbox_tests::http_server`); the `http_probe` flavor reports what
//! the guest saw as values, the `aws` flavor fails on a refusal.

use flavorbox_tests::http_server::TestServer;
use flavorbox_tests::{TestHome, free_port, guests};
use serde_json::Value;

/// What every wildcard refusal shows as the allowed form.
const ALLOWED_FORM: &str = "as in `https://*.example.com`";

/// A home with `http_probe` registered with `flags`.
fn probe_home(flags: &[&str]) -> TestHome {
    let home = TestHome::new();
    home.register_flavor(guests::HTTP_PROBE, flags).ok();
    home
}

/// `GET <url>/ok` through a manager `manager` aimed at `url`: the guest's
/// error (`none`, or the `wasi:http` error code).
fn probe_error(home: &TestHome, manager: &str, url: &str) -> String {
    home.register_manager(manager, "http_probe", &[("url", url)], &[]);
    let values: Value = home.revealed("ok", Some(manager))["values"].clone();
    values["error"].as_str().unwrap().to_string()
}

/// A home with a copy of the `aws` flavor registered with `flags`, and an
/// active manager `aws` with `config` besides the test credentials. The
/// copy has a custom section appended: the same code under another digest,
/// so a flavor this binary does not carry, judged like any other (the
/// bundled one is trusted, see the test below).
fn untrusted_aws_home(flags: &[&str], config: &[(&str, &str)]) -> TestHome {
    let home = TestHome::new();
    let mut wasm = guests::AWS.bytes();
    wasm.extend_from_slice(&[0, 2, 1, b'x']);
    let path = home.path().join("aws-untrusted.wasm");
    std::fs::write(&path, wasm).unwrap();
    let mut args = vec!["flavor", "register", path.to_str().unwrap()];
    args.extend_from_slice(flags);
    let registered = home.cli(&args);
    assert!(!registered.ok().contains("bundled"), "{registered:?}");
    let mut all = vec![
        ("region", "us-east-1"),
        ("aws_access_key_id", "testing"),
        ("aws_secret_access_key", "testing"),
    ];
    all.extend_from_slice(config);
    home.register_manager("aws", "aws", &all, &["--set-active"]);
    home
}

/// The one line a call through the active manager is refused with, as the
/// operator's to fix (exit 1).
#[track_caller]
fn operators_refusal(home: &TestHome) -> String {
    home.cli(&["secret", "get", "anything"])
        .fails(1, "")
        .to_string()
}

/// The command an error line tells the operator to run (between its last
/// two backticks), without the leading `flavorbox`.
fn command_in(line: &str) -> Vec<String> {
    let quoted = line.trim_end().strip_suffix('`').expect(line);
    let command = &quoted[quoted.rfind('`').expect(line) + 1..];
    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    assert_eq!(words[0], "flavorbox", "{line}");
    words[1..].to_vec()
}

/// Runs `args` in `home`; must succeed.
fn run_ok(home: &TestHome, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    home.cli(&args).ok();
}

#[test]
fn every_wildcard_but_a_leading_label_is_refused_wherever_origins_are_given() {
    let home = probe_home(&["--allow-host", "https://*.amazonaws.com"]);
    let described = home.cli(&["flavor", "describe", "http_probe"]);
    assert!(
        described
            .ok()
            .contains("http origins: https://*.amazonaws.com\n"),
        "{described:?}"
    );
    let wasm = guests::HTTP_PROBE.arg();
    for bad in [
        "https://*foo.com",
        "https://**.amazonaws.com",
        "*",
        "https://*",
        "https://api.*.example.com",
        "https://*.example.com/*",
        "https://*.example.com:*",
    ] {
        for args in [
            vec!["flavor", "grant", "http_probe", "--allow-host", bad],
            vec!["flavor", "register", wasm.as_str(), "--allow-host", bad],
            vec!["evaluate", wasm.as_str(), "--allow-host", bad],
        ] {
            let line = home.cli(&args).fails(2, ALLOWED_FORM).to_string();
            assert!(line.contains(&format!("--allow-host `{bad}`")), "{line}");
        }
    }
    // A pattern over a top-level domain or an address is refused too.
    home.cli(&[
        "flavor",
        "grant",
        "http_probe",
        "--allow-host",
        "https://*.com",
    ])
    .fails(2, "a wildcard takes a domain of two or more labels");
    home.cli(&[
        "flavor",
        "grant",
        "http_probe",
        "--allow-host",
        "http://*.0.0.1",
    ])
    .fails(2, "a wildcard takes a domain name, not an IP address");
    let after = home.cli(&["flavor", "describe", "http_probe"]);
    assert_eq!(after.ok(), described.ok(), "nothing was granted");
}

#[test]
fn an_origin_without_a_scheme_is_refused_with_the_one_it_meant() {
    let home = probe_home(&[]);
    let wasm = guests::HTTP_PROBE.arg();
    for (text, meant) in [
        ("127.0.0.1:4566", "http://127.0.0.1:4566"),
        ("localhost:8200", "http://localhost:8200"),
        (
            "secretsmanager.us-east-1.amazonaws.com",
            "https://secretsmanager.us-east-1.amazonaws.com",
        ),
        ("*.amazonaws.com", "https://*.amazonaws.com"),
    ] {
        let said = format!(
            "flavorbox: invalid: --allow-host `{text}` has no scheme; did you mean `{meant}`?"
        );
        for args in [
            vec!["flavor", "grant", "http_probe", "--allow-host", text],
            vec!["flavor", "register", wasm.as_str(), "--allow-host", text],
            vec!["evaluate", wasm.as_str(), "--allow-host", text],
        ] {
            assert_eq!(home.cli(&args).fails(2, "has no scheme"), said);
        }
        // What it meant is accepted.
        home.cli(&["flavor", "grant", "http_probe", "--allow-host", meant])
            .ok();
    }
}

#[test]
fn a_grant_the_flavor_does_not_declare_is_refused_naming_what_it_declares() {
    let home = TestHome::new();
    home.register_flavor(guests::KV_JSON, &["--grant", "storage"])
        .ok();
    home.cli(&[
        "flavor",
        "grant",
        "kv_json",
        "--allow-host",
        "http://127.0.0.1:9",
    ])
    .fails(
        2,
        "--allow-host: flavor `kv_json` does not declare capability `http`, so it could \
             never use the grant (it declares: storage)",
    );
    home.cli(&["flavor", "grant", "kv_json", "--grant", "http"])
        .fails(
            2,
            "--grant http: flavor `kv_json` does not declare capability `http`",
        );
    let described = home.cli(&["flavor", "describe", "kv_json"]);
    assert!(!described.ok().contains("http"), "{described:?}");

    // At registration too: nothing is registered.
    home.register_flavor(guests::HTTP_PROBE, &["--grant", "storage"])
        .fails(
            2,
            "--grant storage: flavor `http_probe` does not declare capability `storage`, so it \
             could never use the grant (it declares: http)",
        );
    let listed = home.cli(&["flavor", "list"]);
    assert!(!listed.ok().contains("http_probe"), "{listed:?}");
}

#[test]
fn a_widening_origin_at_replace_is_shown_and_needs_confirmation() {
    let home = probe_home(&["--allow-host", "http://127.0.0.1:9"]);
    // The same component under another digest (a custom section appended).
    let mut wasm = guests::HTTP_PROBE.bytes();
    wasm.extend_from_slice(&[0, 3, 1, b'v', b'2']);
    let v2 = home.path().join("http_probe_v2.wasm");
    std::fs::write(&v2, wasm).unwrap();
    let v2 = v2.to_str().unwrap();
    let replace = |yes: &[&str]| {
        let mut args = vec![
            "flavor",
            "register",
            v2,
            "--replace",
            "http_probe",
            "--allow-host",
            "https://*.example.com",
        ];
        args.extend_from_slice(yes);
        home.cli(&args)
    };
    let widening = replace(&[]);
    assert!(
        widening
            .stdout
            .contains("  + granted HTTP origin https://*.example.com\n"),
        "{widening:?}"
    );
    widening.fails(2, "needs confirmation; pass --yes");
    replace(&["--yes"]).ok();
    let revoked = home.cli(&[
        "flavor",
        "revoke",
        "http_probe",
        "--allow-host",
        "https://*.example.com",
    ]);
    assert!(
        revoked.ok().contains("http origins: http://127.0.0.1:9\n"),
        "{revoked:?}"
    );
}

#[test]
fn a_pattern_admits_the_subdomains_of_its_domain_with_its_scheme_and_port_only() {
    let port = free_port();
    let home = probe_home(&["--allow-host", &format!("http://*.example.test:{port}")]);
    let denied = "ErrorCode::HttpRequestDenied";
    // Past the grant (the name then does not resolve): not refused by it.
    for (manager, host) in [("one", "api.example.test"), ("two", "a.b.example.test")] {
        let error = probe_error(&home, manager, &format!("http://{host}:{port}"));
        assert_ne!(error, denied, "{host}");
    }
    for (manager, url) in [
        ("bare", format!("http://example.test:{port}")),
        (
            "suffix",
            format!("http://api.example.test.evil.test:{port}"),
        ),
        ("query", format!("http://evil.test:{port}/?x=.example.test")),
        ("scheme", format!("https://api.example.test:{port}")),
        ("port", format!("http://api.example.test:{}", port ^ 1)),
    ] {
        assert_eq!(probe_error(&home, manager, &url), denied, "{url}");
    }
}

#[test]
fn a_declared_capability_the_operator_did_not_grant_is_the_operators_to_grant() {
    let home = TestHome::new();
    let registered = home.register_flavor(guests::KV_JSON, &[]);
    registered.ok();
    assert!(
        registered
            .stderr
            .contains("(grant it with `flavorbox flavor grant kv_json --grant storage`)"),
        "{registered:?}"
    );
    home.register_manager("kv", "kv_json", &[], &["--set-active"]);
    let line = home
        .cli(&["secret", "register", "s", "k=v"])
        .fails(1, "")
        .to_string();
    assert_eq!(
        line,
        "flavorbox: denied: flavor `kv_json` declares capability `storage`, which was not \
         granted: grant it with `flavorbox flavor grant kv_json --grant storage`"
    );
    run_ok(&home, &command_in(&line));
    home.cli(&["secret", "register", "s", "k=v"]).ok();
    assert_eq!(home.revealed("s", None)["values"]["k"], "v");
}

#[test]
fn an_origin_the_manager_names_but_the_operator_did_not_grant_is_the_operators_to_grant() {
    let server = TestServer::start();
    let origin = server.origin();
    let endpoint = [("endpoint", origin.as_str())];

    // `http` declared, not granted at all.
    let home = untrusted_aws_home(&[], &endpoint);
    let run = home.cli(&["secret", "get", "anything"]);
    let line = run.fails(1, "");
    assert_eq!(
        line,
        format!(
            "flavorbox: denied: flavor `aws` declares capability `http`, which was not granted: \
             grant it with `flavorbox flavor grant aws --allow-host {origin}`"
        )
    );

    // `http` granted, another origin.
    let other = format!("http://127.0.0.1:{}", free_port());
    let home = untrusted_aws_home(&["--allow-host", &other], &endpoint);
    let line = operators_refusal(&home);
    assert_eq!(
        line,
        format!(
            "flavorbox: denied: flavor `aws` may not reach {origin}: grant it with \
             `flavorbox flavor grant aws --allow-host {origin}`"
        )
    );
    assert!(server.hits().is_empty(), "{:?}", server.hits());
    // The command it names is the fix: the request now reaches the server.
    run_ok(&home, &command_in(&line));
    home.cli(&["secret", "get", "anything"]);
    assert!(!server.hits().is_empty(), "the granted origin was reached");
}

#[test]
fn a_bundled_flavor_names_the_origin_its_config_implies_and_the_grant_that_opens_it() {
    // No `flavor register`: the manager's registration registers the
    // bundled flavor, grants it nothing, and names the one grant it needs
    // for this config (the regional endpoint no config value names).
    let home = TestHome::new();
    let origin = "https://secretsmanager.eu-west-1.amazonaws.com:443";
    let grant = format!("flavorbox flavor grant aws --allow-host {origin}");
    let registered = home.cli(&[
        "secrets-manager",
        "register",
        "prod",
        "--flavor",
        "aws",
        "--config",
        "region=eu-west-1",
        "--config",
        "aws_access_key_id=testing",
        "--config",
        "aws_secret_access_key=testing",
        "--set-active",
    ]);
    assert!(
        registered
            .ok()
            .starts_with("registered bundled flavor `aws` "),
        "{registered:?}"
    );
    assert!(
        registered.stdout.contains(", nothing granted\n"),
        "{registered:?}"
    );
    assert_eq!(
        registered.stderr.trim_end(),
        format!(
            "flavorbox: flavor `aws` needs {origin} for this config, which is not granted; \
             grant it with: {grant}"
        )
    );
    let listed = home.cli(&["flavor", "describe", "aws"]);
    assert!(
        listed.ok().contains("source:       bundled\n"),
        "{listed:?}"
    );
    assert!(listed.stdout.contains("granted:      -\n"), "{listed:?}");

    // Every call says the same, as the operator's to grant (exit 1).
    let line = operators_refusal(&home);
    assert_eq!(
        line,
        format!("flavorbox: denied: flavor `aws` may not reach {origin}: grant it with `{grant}`")
    );
    run_ok(&home, &command_in(&line));
    let described = home.cli(&["flavor", "describe", "aws"]);
    assert!(
        described
            .ok()
            .contains(&format!("http origins: {origin}\n")),
        "{described:?}"
    );
}

#[test]
fn what_the_flavor_alone_chose_stays_its_breach_and_no_grant_is_offered() {
    // An origin no config names (the aws default endpoint), asked for by a
    // flavor this binary does not carry.
    let server = TestServer::start();
    let home = untrusted_aws_home(&["--allow-host", &server.origin()], &[]);
    let run = home.cli(&["secret", "get", "anything"]);
    let line = run.fails(
        3,
        "sandbox: denied: HTTP request to origin https://secretsmanager.us-east-1.amazonaws.com:443, \
         which was not granted",
    );
    assert!(!line.contains("flavor grant"), "{line}");

    // A capability it does not declare: refused at run time as its breach,
    // and never grantable.
    let home = TestHome::new();
    home.cli_register(guests::HOSTILE_UNDECLARED_HTTP, "h", &[], true);
    let run = home.cli(&["secret", "get", "s"]);
    let line = run.fails(
        3,
        "sandbox: denied: the flavor used capability `http`, which was not granted",
    );
    assert!(!line.contains("flavor grant"), "{line}");
    home.cli(&[
        "flavor",
        "grant",
        "hostile_undeclared_http",
        "--allow-host",
        "https://collector.example",
    ])
    .fails(2, "does not declare capability `http`");
}
