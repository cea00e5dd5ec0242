//! The `aws` flavor against a real AWS Secrets Manager API: a moto server
//! this binary starts on 127.0.0.1 (`support/moto.rs`; install it with
//! `scripts/install-moto.sh`, a missing server fails the tests). Every test
//! works in its own namespace, so they share the one server.
//!
//! What is tested and why: the shared conformance suite (ZenML semantics,
//! 64 KiB secrets, listing past one 100-secret page), the CLI flow a user
//! runs, isolation between two managers' namespaces, how AWS and transport
//! errors map onto exit codes, 1,000 secrets listed and deleted in one
//! `delete-all` (seeded through moto's API), a per-manager request cap,
//! and a latency figure for `secret get` through the CLI. Signatures are
//! not checked here: moto does not verify them by default, and the sigv4
//! crate has its own test vectors.

#[path = "../support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::net::TcpListener;

use flavorbox::conformance::{Suite, SuiteOptions};
use flavorbox::registry::RegisterOptions;
use flavorbox::sandbox::exports::DeleteAllSecrets;
use flavorbox_tests::{TestHome, guest};
use moto::moto;
use serde_json::Value;

/// moto's Secrets Manager is not thread-safe: `ListSecrets` walks every
/// secret while other requests add and delete, and fails (HTTP 500) when the
/// set changes under it. The tests share one moto; each holds this lock for
/// reading, the 1,000-secret test for writing, so it runs alone.
static MOTO_USE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared_moto() -> std::sync::RwLockReadGuard<'static, ()> {
    MOTO_USE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A namespace unique to this test and this run.
fn namespace(test: &str) -> String {
    format!("flavorbox-tests/{test}-{}", std::process::id())
}

/// The `--config` values of a manager on moto in `namespace`.
fn config(endpoint: &str, namespace: &str) -> BTreeMap<String, String> {
    [
        ("region", "us-east-1"),
        ("aws_access_key_id", "testing"),
        ("aws_secret_access_key", "testing"),
        ("endpoint", endpoint),
        ("namespace", namespace),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Registers the `aws` flavor through the CLI, granted moto's origin and
/// `extra` flags.
fn register_flavor(home: &TestHome, extra: &[&str]) {
    let wasm = guest("aws");
    let origin = moto().origin();
    let mut args = vec![
        "flavor",
        "register",
        wasm.to_str().unwrap(),
        "--allow-host",
        &origin,
    ];
    args.extend_from_slice(extra);
    home.cli(&args).ok();
}

/// Registers manager `name` on `aws` through the CLI, talking to
/// `endpoint` in `namespace`.
fn register_manager(home: &TestHome, name: &str, endpoint: &str, namespace: &str, active: bool) {
    let pairs: Vec<String> = config(endpoint, namespace)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut args = vec!["secrets-manager", "register", name, "--flavor", "aws"];
    for pair in &pairs {
        args.extend(["--config", pair]);
    }
    if active {
        args.push("--set-active");
    }
    home.cli(&args).ok();
}

/// A home whose active manager `aws` is on moto in `namespace`.
fn aws_home(namespace: &str) -> TestHome {
    let home = TestHome::new();
    register_flavor(&home, &[]);
    register_manager(&home, "aws", &moto().origin(), namespace, true);
    home
}

fn with_manager<'a>(args: &[&'a str], manager: Option<&'a str>) -> Vec<&'a str> {
    let mut args = args.to_vec();
    if let Some(m) = manager {
        args.extend(["--manager", m]);
    }
    args
}

fn secret_names(home: &TestHome, manager: Option<&str>) -> Vec<String> {
    let args = with_manager(&["secret", "list", "--output", "json"], manager);
    serde_json::from_str(home.cli(&args).ok()).unwrap()
}

fn revealed(home: &TestHome, name: &str, manager: Option<&str>) -> Value {
    let args = with_manager(
        &["secret", "get", name, "--reveal", "--output", "json"],
        manager,
    );
    serde_json::from_str(home.cli(&args).ok()).unwrap()
}

#[test]
fn the_aws_flavor_passes_the_conformance_suite_on_moto() {
    let _moto = shared_moto();
    let home = TestHome::new();
    let options = RegisterOptions {
        allow_hosts: vec![moto().origin()],
        // Room for delete-all and cleanup over many secrets in one call.
        http_requests: Some(1000),
        ..Default::default()
    };
    home.home
        .flavors()
        .register(&guest("aws"), &options)
        .unwrap();
    for (manager, ns) in [("a", "conformance-a"), ("b", "conformance-b")] {
        home.home
            .managers()
            .register(
                manager,
                "aws",
                config(&moto().origin(), &namespace(ns)),
                false,
            )
            .unwrap();
    }

    let mut suite = Suite::new(&home.home, "a", "b").unwrap();
    suite.run(SuiteOptions { delete_all: true });
    suite.run_probes();
    let failed: Vec<_> = suite.checks.iter().filter(|c| !c.passed()).collect();
    assert!(failed.is_empty(), "conformance failures: {failed:#?}");
    assert!(
        suite.checks.iter().all(|c| c.passed()),
        "{:#?}",
        suite.checks
    );
    assert!(
        suite
            .checks
            .iter()
            .any(|c| c.name == "150 secrets are all listed"),
        "{:#?}",
        suite.checks
    );
    for observation in &suite.observations {
        assert!(observation.report.violation.is_none(), "{observation:#?}");
    }
}

#[test]
fn a_user_manages_secrets_on_aws_through_the_cli() {
    let _moto = shared_moto();
    let home = aws_home(&namespace("cli-flow"));

    home.cli(&[
        "secret",
        "register",
        "db_creds",
        "--schema",
        "basic_auth",
        "username=admin",
        "password=hunter2-pw",
    ])
    .ok();

    let masked = home.cli(&["secret", "get", "db_creds"]);
    assert!(masked.ok().contains("password  ***"), "{masked:?}");
    assert!(!masked.stdout.contains("hunter2-pw"), "{masked:?}");
    let secret = revealed(&home, "db_creds", None);
    assert_eq!(secret["schema"], "basic_auth");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["password"], "hunter2-pw");

    home.cli(&["secret", "register", "api", "token=t0ken-value"])
        .ok();
    assert_eq!(secret_names(&home, None), ["api", "db_creds"]);

    // `secret update` merges into the stored values, re-validated against
    // the schema; the schema stays.
    home.cli(&["secret", "update", "db_creds", "password=rotated-pw"])
        .ok();
    let secret = revealed(&home, "db_creds", None);
    assert_eq!(secret["schema"], "basic_auth");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["password"], "rotated-pw");
    home.cli(&["secret", "update", "api", "url=https://api.example"])
        .ok();
    let api = revealed(&home, "api", None);
    assert_eq!(api["schema"], "arbitrary");
    assert_eq!(api["values"]["token"], "t0ken-value");
    assert_eq!(api["values"]["url"], "https://api.example");

    home.cli(&["secret", "delete", "api", "--yes"]).ok();
    home.cli(&["secret", "get", "api"]).fails(1, "not found");
    assert_eq!(secret_names(&home, None), ["db_creds"]);

    home.cli(&["secret", "delete-all", "--force"]).ok();
    assert!(secret_names(&home, None).is_empty());
}

#[test]
fn two_managers_in_different_namespaces_never_see_each_other() {
    let _moto = shared_moto();
    let home = aws_home(&namespace("isolation-a"));
    register_manager(
        &home,
        "team_b",
        &moto().origin(),
        &namespace("isolation-b"),
        false,
    );
    let b = Some("team_b");

    home.cli(&["secret", "register", "shared_name", "owner=team-a"])
        .ok();
    home.cli(&["secret", "register", "only_a", "k=value-a"])
        .ok();
    home.cli(&with_manager(
        &["secret", "register", "shared_name", "owner=team-b"],
        b,
    ))
    .ok();

    assert_eq!(secret_names(&home, None), ["only_a", "shared_name"]);
    assert_eq!(secret_names(&home, b), ["shared_name"]);
    home.cli(&with_manager(&["secret", "get", "only_a"], b))
        .fails(1, "not found");
    assert_eq!(
        revealed(&home, "shared_name", b)["values"]["owner"],
        "team-b"
    );
    assert_eq!(
        revealed(&home, "shared_name", None)["values"]["owner"],
        "team-a"
    );

    home.cli(&with_manager(&["secret", "delete-all", "--force"], b))
        .ok();
    assert!(secret_names(&home, b).is_empty());
    assert_eq!(secret_names(&home, None), ["only_a", "shared_name"]);
    home.cli(&["secret", "delete-all", "--force"]).ok();
}

/// A port on 127.0.0.1 that nothing listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn aws_and_transport_errors_map_to_exit_codes() {
    let _moto = shared_moto();
    let home = TestHome::new();
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let ungranted = loop {
        let other = format!("http://127.0.0.1:{}", dead_port());
        if other != dead {
            break other;
        }
    };
    register_flavor(&home, &["--allow-host", &dead]);
    let ns = namespace("errors");
    register_manager(&home, "aws", &moto().origin(), &ns, true);
    register_manager(&home, "dead", &dead, &ns, false);
    register_manager(&home, "ungranted", &ungranted, &ns, false);

    home.cli(&["secret", "register", "dup", "k=first-value"])
        .ok();
    // AWS's refusals (HTTP errors) are shown as the flavor words them.
    home.cli(&["secret", "register", "dup", "k=second-value"])
        .fails(1, "already exists: ResourceExistsException");
    assert_eq!(revealed(&home, "dup", None)["values"]["k"], "first-value");

    home.cli(&["secret", "get", "missing"])
        .fails(1, "not found: ResourceNotFoundException");
    home.cli(&["secret", "update", "missing", "k=v"])
        .fails(1, "not found");
    home.cli(&["secret", "delete", "missing", "--yes"])
        .fails(1, "not found");

    // An endpoint that was not granted: the host refuses, the flavor fails,
    // the CLI names the origin.
    home.cli(&["secret", "get", "dup", "--manager", "ungranted"])
        .fails(
            3,
            &format!("sandbox: denied: HTTP request to origin {ungranted}, which was not granted"),
        );
    // A granted endpoint where nothing listens: the backend failed. (The
    // CLI also prints a wasmtime warning line here; see
    // `a_refused_connection_prints_one_error_line` in the http suite.)
    let refused = home.cli(&["secret", "get", "dup", "--manager", "dead"]);
    assert_eq!(refused.code, 1, "{refused:#?}");
    let last = refused.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("flavorbox: backend: GetSecretValue to {dead} failed: connection refused"),
        "{refused:#?}"
    );

    home.cli(&["secret", "delete", "dup", "--yes"]).ok();
}

/// One Secrets Manager API call straight to moto (which checks no
/// signature), for seeding: `target` like `CreateSecret`.
fn moto_call(target: &str, body: &Value) -> Value {
    use std::io::{Read, Write};
    let port = moto().port;
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: secretsmanager.{target}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{target}: {answer}");
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Creates `count` secrets `s0000`.. in `namespace` through moto's API, in
/// the flavor's layout (no CLI process per secret). One request at a time:
/// moto's server is not thread-safe and answers concurrent writes with 500s.
fn seed(namespace: &str, count: usize) {
    for i in 0..count {
        moto_call(
            "CreateSecret",
            &serde_json::json!({
                "Name": format!("{namespace}/s{i:04}"),
                "SecretString": format!(
                    r#"{{"values":{{"k":"v{i}"}},"zenml_schema_name":"arbitrary"}}"#
                ),
            }),
        );
    }
}

#[test]
fn delete_all_of_1000_secrets_finishes_in_one_command() {
    let _alone = MOTO_USE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let ns = namespace("thousand");
    seed(&ns, 1000);
    let home = aws_home(&ns);
    // Listing pages through 10 pages of 100, within the default cap.
    let names = secret_names(&home, None);
    assert_eq!(names.len(), 1000);
    assert_eq!((names[0].as_str(), names[999].as_str()), ("s0000", "s0999"));
    assert_eq!(revealed(&home, "s0999", None)["values"]["k"], "v999");

    // The cap that counts is the manager's: this one allows fewer requests
    // than the listing takes, and says so.
    let capped = TestHome::new();
    register_flavor(&capped, &[]);
    let pairs: Vec<String> = config(&moto().origin(), &ns)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut args = vec![
        "secrets-manager",
        "register",
        "capped",
        "--flavor",
        "aws",
        "--set-active",
        "--http-requests",
        "5",
    ];
    for pair in &pairs {
        args.extend(["--config", pair]);
    }
    capped.cli(&args).ok();
    capped.cli(&["secret", "list"]).fails(
        3,
        "sandbox: denied: more than 5 HTTP requests in one call (to http://127.0.0.1:",
    );

    // The flavor's own delete-all-secrets, which one call runs, stops at
    // the cap; the breach keeps what the flavor reported about how far it
    // got. (10 secrets: a listing and 4 deletions fit in 5 requests.)
    let small = namespace("thousand-small");
    seed(&small, 10);
    let pairs: Vec<String> = config(&moto().origin(), &small)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut args = vec![
        "secrets-manager",
        "register",
        "small",
        "--flavor",
        "aws",
        "--http-requests",
        "5",
    ];
    for pair in &pairs {
        args.extend(["--config", pair]);
    }
    capped.cli(&args).ok();
    let outcome = capped
        .home
        .manager(Some("small"))
        .unwrap()
        .call_contract(&DeleteAllSecrets { force: true })
        .unwrap();
    let err = outcome.result.unwrap_err().to_string();
    assert!(
        err.starts_with("sandbox: denied: more than 5 HTTP requests in one call")
            && err.contains("; the flavor then reported denied: deleted 4 of 10 secrets, then: "),
        "{err}"
    );
    capped
        .cli(&["secret", "delete-all", "--force", "--manager", "small"])
        .ok();

    // One command deletes all of them: a listing, then one call (with its
    // own budget and deadline) per secret.
    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(
        all.ok()
            .contains("deleted all 1000 secrets of secrets manager `aws`"),
        "{all:?}"
    );
    assert!(secret_names(&home, None).is_empty());
    let left = moto_call(
        "ListSecrets",
        &serde_json::json!({ "Filters": [{ "Key": "name", "Values": [format!("{ns}/")] }] }),
    );
    assert_eq!(left["SecretList"], serde_json::json!([]), "{left}");
}

#[test]
fn credentials_come_from_a_reference_rotate_in_place_and_the_flavor_upgrades() {
    // The README's operating flow: credentials kept as a secret of the
    // local manager and referenced from the aws manager's config, rotated
    // with `secrets-manager update`, and the flavor replaced by a new build
    // while the manager and its secrets stay.
    let home = TestHome::new();
    register_flavor(&home, &[]);
    home.cli(&[
        "secret",
        "register",
        "aws_creds",
        "--schema",
        "aws",
        "aws_access_key_id=testing",
        "aws_secret_access_key=referenced-secret-key",
    ])
    .ok();
    let ns = namespace("rotation");
    let endpoint = format!("endpoint={}", moto().origin());
    let namespace_arg = format!("namespace={ns}");
    home.cli(&[
        "secrets-manager",
        "register",
        "prod",
        "--flavor",
        "aws",
        "--config",
        "region=us-east-1",
        "--config",
        "aws_access_key_id={{aws_creds.aws_access_key_id}}",
        "--config",
        "aws_secret_access_key={{aws_creds.aws_secret_access_key}}",
        "--config",
        &endpoint,
        "--config",
        &namespace_arg,
    ])
    .ok();
    home.cli(&[
        "secret",
        "register",
        "db",
        "password=pw-1",
        "--manager",
        "prod",
    ])
    .ok();
    assert_eq!(
        revealed(&home, "db", Some("prod"))["values"]["password"],
        "pw-1"
    );

    // Rotate: a new key from stdin, then back to the reference.
    home.cli_with_stdin(
        &[
            "secrets-manager",
            "update",
            "prod",
            "--config",
            "aws_secret_access_key=-",
        ],
        Some(b"rotated-secret-key\n"),
    )
    .ok();
    let described = home.cli(&["secrets-manager", "describe", "prod"]);
    assert!(
        !described.ok().contains("rotated-secret-key"),
        "{described:?}"
    );
    assert!(
        described.stdout.contains("aws_secret_access_key  ***"),
        "{described:?}"
    );
    assert_eq!(secret_names(&home, Some("prod")), ["db"]);

    // Upgrade the flavor in place: same manager, same secrets.
    let mut wasm = std::fs::read(guest("aws")).unwrap();
    wasm.extend_from_slice(&[0, 4, 2, b'v', b'2', b'!']);
    let v2 = home.path().join("aws-v2.wasm");
    std::fs::write(&v2, wasm).unwrap();
    let replaced = home.cli(&["flavor", "register", v2.to_str().unwrap(), "--replace"]);
    assert!(replaced.ok().contains(" -> "), "{replaced:?}");
    assert_eq!(
        revealed(&home, "db", Some("prod"))["values"]["password"],
        "pw-1"
    );
    home.cli(&["secret", "delete", "db", "--yes", "--manager", "prod"])
        .ok();
}
