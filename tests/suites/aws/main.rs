//! The `aws` flavor against a real AWS Secrets Manager API: a moto server
//! this binary starts on 127.0.0.1 (`flavorbox_tests::moto`; install it with
//! `scripts/install-moto.sh`, a missing server fails the tests). Every test
//! works in its own namespace, so they share the one server.
//!
//! What is tested and why: the shared conformance suite (ZenML semantics,
//! 64 KiB secrets, listing past one 100-secret page), the CLI flow a user
//! runs (on the bundled flavor: one register, the one grant it names), isolation between two managers' namespaces, how AWS and transport
//! errors map onto exit codes, 1,000 secrets listed and deleted in one
//! `delete-all` (seeded through moto's API), a per-manager request cap,
//! `run --watch` restarting on a change made through flavorbox (which
//! moves the manager's change version though `aws` keeps nothing in its
//! storage) and, with `--recheck`, on one made on AWS directly,
//! and a latency figure for `secret get` through the CLI. Signatures are
//! not checked here: moto does not verify them by default, and the sigv4
//! crate has its own test vectors.
//!
//! Here: all of that; `history.rs`: contract 0.2 on Secrets Manager's own
//! versions, soft delete and tags (versions, check-and-set, delete and
//! restore, labels, metadata times, a refused destroy, a bad config).
//! This file is a little over 500 lines: the suite's shared setup and the
//! 0.1-era tests it has always held stay together.

mod history;

use flavorbox::registry::RegisterOptions;
use flavorbox::sandbox::exports::DeleteAllSecrets;
use flavorbox_tests::conformance::assert_conforms;
use flavorbox_tests::home::config;
use flavorbox_tests::moto::moto;
use flavorbox_tests::{TestHome, free_port, guests, lines_once};
use serde_json::json;

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

/// The config of a manager on `endpoint` in `namespace`.
fn manager_config<'a>(endpoint: &'a str, namespace: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("region", "us-east-1"),
        ("aws_access_key_id", "testing"),
        ("aws_secret_access_key", "testing"),
        ("endpoint", endpoint),
        ("namespace", namespace),
    ]
}

/// Registers the `aws` flavor through the CLI, granted moto's origin and
/// `extra` flags.
fn register_flavor(home: &TestHome, extra: &[&str]) {
    let origin = moto().origin();
    let mut flags = vec!["--allow-host", origin.as_str()];
    flags.extend_from_slice(extra);
    home.register_flavor(guests::AWS, &flags).ok();
}

/// Registers manager `name` on `aws` through the CLI, talking to
/// `endpoint` in `namespace`, with `flags`.
fn register_manager(home: &TestHome, name: &str, endpoint: &str, namespace: &str, flags: &[&str]) {
    home.register_manager(name, "aws", &manager_config(endpoint, namespace), flags);
}

/// A home whose active manager `aws` is on moto in `namespace`.
fn aws_home(namespace: &str) -> TestHome {
    let home = TestHome::new();
    register_flavor(&home, &[]);
    register_manager(&home, "aws", &moto().origin(), namespace, &["--set-active"]);
    home
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
    let origin = moto().origin();
    let (a, b) = (namespace("conformance-a"), namespace("conformance-b"));
    home.register_in_library(
        guests::AWS,
        &options,
        &[
            ("a", config(&manager_config(&origin, &a))),
            ("b", config(&manager_config(&origin, &b))),
        ],
    );
    let suite = assert_conforms(&home.home, "a", "b");
    // Listing pages past one 100-secret page.
    assert!(
        suite
            .checks
            .iter()
            .any(|c| c.name == "150 secrets are all listed"),
        "{:#?}",
        suite.checks
    );
}

/// A fresh home set up as a new user would: one `secrets-manager register`
/// on the bundled `aws` flavor (no `flavor register`), then the one grant
/// it names, run as printed.
fn bundled_aws_home(namespace: &str) -> TestHome {
    let home = TestHome::new();
    let origin = moto().origin();
    let pairs: Vec<String> = manager_config(&origin, namespace)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut args = vec!["secrets-manager", "register", "aws", "--flavor", "aws"];
    for pair in &pairs {
        args.extend(["--config", pair.as_str()]);
    }
    args.push("--set-active");
    let registered = home.cli(&args);
    assert!(
        registered
            .ok()
            .starts_with("registered bundled flavor `aws` "),
        "{registered:?}"
    );
    let grant = format!("flavorbox flavor grant aws --allow-host {origin}");
    assert!(
        registered
            .stderr
            .trim_end()
            .ends_with(&format!("grant it with: {grant}")),
        "{registered:?}"
    );
    let words: Vec<&str> = grant.split_whitespace().skip(1).collect();
    home.cli(&words).ok();
    home
}

#[test]
fn a_user_manages_secrets_on_aws_through_the_cli() {
    let _moto = shared_moto();
    let ns = namespace("cli-flow");
    let home = bundled_aws_home(&ns);

    home.register_login("db_creds");

    home.register_secret("api", &["token=t0ken-value"]);
    assert_eq!(home.secret_names(None), ["api", "db_creds"]);

    // `secret update` merges into the stored values, re-validated against
    // the schema; the schema stays.
    home.cli(&["secret", "update", "db_creds", "password=rotated-pw"])
        .ok();
    let secret = home.revealed("db_creds", None);
    assert_eq!(secret["schema"], "basic_auth");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["password"], "rotated-pw");
    home.cli(&["secret", "update", "api", "url=https://api.example"])
        .ok();
    let api = home.revealed("api", None);
    assert_eq!(api["schema"], "arbitrary");
    assert_eq!(api["values"]["token"], "t0ken-value");
    assert_eq!(api["values"]["url"], "https://api.example");

    // A soft delete (contract 0.2): AWS keeps the secret, scheduled for
    // deletion, until it is restored or purged.
    home.delete_secret("api", &["db_creds"]);
    let kept = moto().call(
        "DescribeSecret",
        &json!({ "SecretId": format!("{ns}/api") }),
    );
    assert!(!kept["DeletedDate"].is_null(), "{kept}");

    home.cli(&["secret", "delete-all", "--force"]).ok();
    assert!(home.secret_names(None).is_empty());
    home.cli(&["secret", "delete", "api", "--purge", "--yes"])
        .ok();
    assert_gone(&format!("{ns}/api"));
}

/// Asserts that moto has no secret `aws_name`, not even one scheduled for
/// deletion (moto answers 404 where AWS answers 400: the error type tells).
#[track_caller]
fn assert_gone(aws_name: &str) {
    let gone = moto()
        .request("DescribeSecret", &json!({ "SecretId": aws_name }))
        .unwrap();
    assert_eq!(gone.body["__type"], "ResourceNotFoundException", "{gone:?}");
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
        &[],
    );
    let b = Some("team_b");

    home.register_secret("shared_name", &["owner=team-a"]);
    home.register_secret("only_a", &["k=value-a"]);
    home.on(
        "team_b",
        &["secret", "register", "shared_name", "owner=team-b"],
    )
    .ok();

    assert_eq!(home.secret_names(None), ["only_a", "shared_name"]);
    assert_eq!(home.secret_names(b), ["shared_name"]);
    home.on("team_b", &["secret", "get", "only_a"])
        .fails(1, "not found");
    assert_eq!(home.revealed("shared_name", b)["values"]["owner"], "team-b");
    assert_eq!(
        home.revealed("shared_name", None)["values"]["owner"],
        "team-a"
    );

    home.on("team_b", &["secret", "delete-all", "--force"]).ok();
    assert!(home.secret_names(b).is_empty());
    assert_eq!(home.secret_names(None), ["only_a", "shared_name"]);
    home.cli(&["secret", "delete-all", "--force"]).ok();
}

#[test]
fn aws_and_transport_errors_map_to_exit_codes() {
    let _moto = shared_moto();
    let home = TestHome::new();
    // Ports nothing listens on.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let ungranted = loop {
        let other = format!("http://127.0.0.1:{}", free_port());
        if other != dead {
            break other;
        }
    };
    register_flavor(&home, &["--allow-host", &dead]);
    let ns = namespace("errors");
    register_manager(&home, "aws", &moto().origin(), &ns, &["--set-active"]);
    register_manager(&home, "dead", &dead, &ns, &[]);
    register_manager(&home, "ungranted", &ungranted, &ns, &[]);

    home.register_secret("dup", &["k=first-value"]);
    // AWS's refusals (HTTP errors) are shown as the flavor words them.
    home.cli(&["secret", "register", "dup", "k=second-value"])
        .fails(1, "already exists: ResourceExistsException");
    assert_eq!(home.revealed("dup", None)["values"]["k"], "first-value");

    home.cli(&["secret", "get", "missing"])
        .fails(1, "not found: ResourceNotFoundException");
    home.cli(&["secret", "update", "missing", "k=v"])
        .fails(1, "not found");
    home.cli(&["secret", "delete", "missing", "--yes"])
        .fails(1, "not found");

    // An endpoint that was not granted: the host refuses, the flavor fails,
    // the CLI names the origin and the grant the operator left out.
    home.cli(&["secret", "get", "dup", "--manager", "ungranted"])
        .fails(
            1,
            &format!(
                "denied: flavor `aws` may not reach {ungranted}: grant it with \
                 `flavorbox flavor grant aws --allow-host {ungranted}`"
            ),
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

/// Creates `count` secrets `s0000`.. in `namespace` through moto's API, in
/// the flavor's layout (no CLI process per secret). One request at a time:
/// moto's server is not thread-safe and answers concurrent writes with 500s.
fn seed(namespace: &str, count: usize) {
    for i in 0..count {
        moto().call(
            "CreateSecret",
            &json!({
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
    let names = home.secret_names(None);
    assert_eq!(names.len(), 1000);
    assert_eq!((names[0].as_str(), names[999].as_str()), ("s0000", "s0999"));
    assert_eq!(home.revealed("s0999", None)["values"]["k"], "v999");

    // The cap that counts is the manager's: this one allows fewer requests
    // than the listing takes, and says so.
    let capped = TestHome::new();
    register_flavor(&capped, &[]);
    let origin = moto().origin();
    register_manager(
        &capped,
        "capped",
        &origin,
        &ns,
        &["--set-active", "--http-requests", "5"],
    );
    capped.cli(&["secret", "list"]).fails(
        3,
        "sandbox: denied: more than 5 HTTP requests in one call (to http://127.0.0.1:",
    );

    // The flavor's own delete-all-secrets, which one call runs, stops at
    // the cap; the breach keeps what the flavor reported about how far it
    // got. (10 secrets: a listing and 4 deletions fit in 5 requests.)
    let small = namespace("thousand-small");
    seed(&small, 10);
    register_manager(&capped, "small", &origin, &small, &["--http-requests", "5"]);
    let outcome = capped.call(Some("small"), &DeleteAllSecrets { force: true });
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
    assert!(home.secret_names(None).is_empty());
    let left = moto().call(
        "ListSecrets",
        &json!({ "Filters": [{ "Key": "name", "Values": [format!("{ns}/")] }] }),
    );
    assert_eq!(left["SecretList"], json!([]), "{left}");
}

#[test]
fn credentials_come_from_a_reference_rotate_in_place_and_the_flavor_upgrades() {
    // The README's operating flow: credentials kept as a secret of the
    // local manager and referenced from the aws manager's config, rotated
    // with `secrets-manager update`, and the flavor replaced by a new build
    // while the manager and its secrets stay.
    let home = TestHome::new();
    register_flavor(&home, &[]);
    home.register_secret(
        "aws_creds",
        &[
            "--schema",
            "aws",
            "aws_access_key_id=testing",
            "aws_secret_access_key=referenced-secret-key",
        ],
    );
    let ns = namespace("rotation");
    let origin = moto().origin();
    home.register_manager(
        "prod",
        "aws",
        &[
            ("region", "us-east-1"),
            ("aws_access_key_id", "{{aws_creds.aws_access_key_id}}"),
            (
                "aws_secret_access_key",
                "{{aws_creds.aws_secret_access_key}}",
            ),
            ("endpoint", &origin),
            ("namespace", &ns),
        ],
        &[],
    );
    home.register_secret("db", &["password=pw-1", "--manager", "prod"]);
    assert_eq!(
        home.revealed("db", Some("prod"))["values"]["password"],
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
    assert_eq!(home.secret_names(Some("prod")), ["db"]);

    // Upgrade the flavor in place: same manager, same secrets.
    let mut wasm = guests::AWS.bytes();
    wasm.extend_from_slice(&[0, 4, 2, b'v', b'2', b'!']);
    let v2 = home.path().join("aws-v2.wasm");
    std::fs::write(&v2, wasm).unwrap();
    let replaced = home.cli(&[
        "flavor",
        "register",
        v2.to_str().unwrap(),
        "--replace",
        "aws",
    ]);
    assert!(replaced.ok().contains(" -> "), "{replaced:?}");
    assert_eq!(
        home.revealed("db", Some("prod"))["values"]["password"],
        "pw-1"
    );
    home.cli(&["secret", "delete", "db", "--yes", "--manager", "prod"])
        .ok();
}

/// `run --watch` on `aws` with `flags`, recording each start's
/// `DB_PASSWORD` in `seen`.
fn watching(home: &TestHome, seen: &std::path::Path, flags: &[&str]) -> std::process::Child {
    let script = format!(
        "trap 'exit 0' TERM; echo \"$DB_PASSWORD\" >> '{}'; while :; do sleep 0.05; done",
        seen.display()
    );
    flavorbox_tests::cli_command(Some(home.path()))
        .args(["run", "--watch", "--secret", "db=DB_"])
        .args(flags)
        .args(["--", "bash", "-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Ends a `run` with SIGTERM (the command exits 0 on it).
fn stop(mut run: std::process::Child) {
    // SAFETY: kill only sends a signal, to a child this test started.
    unsafe { libc::kill(run.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(run.wait().unwrap().code(), Some(0));
}

/// The secrets of `aws` live in AWS, not in the flavor's storage: an update
/// through flavorbox still moves the manager's change version, so a
/// watching command restarts (no timer involved); one made on AWS directly
/// is seen by `--recheck`.
#[test]
fn a_watched_command_restarts_when_its_secret_on_aws_changes() {
    let _moto = shared_moto();
    let namespace = namespace("watch");
    let home = bundled_aws_home(&namespace);
    home.register_secret("db", &["password=first-value"]);
    let seen = home.path().join("seen");
    let run = watching(&home, &seen, &[]);
    assert_eq!(lines_once(&seen, 1), ["first-value"]);
    home.cli(&["secret", "update", "db", "password=second-value"])
        .ok();
    assert_eq!(lines_once(&seen, 2)[1], "second-value");
    stop(run);

    let run = watching(&home, &seen, &["--recheck", "1"]);
    assert_eq!(lines_once(&seen, 3)[2], "second-value");
    moto().call(
        "PutSecretValue",
        &json!({
            "SecretId": format!("{namespace}/db"),
            "SecretString": r#"{"values":{"password":"third-value"},"zenml_schema_name":"arbitrary"}"#,
        }),
    );
    assert_eq!(lines_once(&seen, 4)[3], "third-value");
    stop(run);
}
