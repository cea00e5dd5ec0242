//! The `gcp_secrets_manager` flavor against the fake Secret Manager
//! (`scripts/fake_gcp_secret_manager.py`, started by `support/gcp_fake.rs`
//! on 127.0.0.1), which one test first checks against Google's own client
//! (`google-cloud-secret-manager` over REST with google-auth, installed by
//! `scripts/install-gcp-client.sh`; a missing client fails that test). Every
//! other test works in its own namespace, so they share one fake.
//!
//! What is tested and why: that the fake answers Google's client as Google
//! does (so the flavor is tested against the API, not against our reading
//! of it); the shared conformance suite and `evaluate` (ZenML semantics,
//! 64 KiB secrets, listing 150); the CLI flow with a service-account key
//! whose JWT the fake verifies; the layout in GCP (ids, labels,
//! annotations, the payload); every awkward name round-tripping (dots,
//! case, 128 characters, leading digits, names that collide when encoded
//! naively); the token cached in storage and replaced when revoked; how
//! Google's refusals map onto exit codes; a bad config refused at
//! registration; and 1,000 secrets listed and deleted in one command.

#[path = "../support/gcp_fake.rs"]
mod gcp_fake;

use std::collections::BTreeMap;
use std::process::Command;

use flavorbox::Secret;
use flavorbox::conformance::{Suite, SuiteOptions};
use flavorbox::registry::RegisterOptions;
use flavorbox_tests::{TestHome, guest, run_cli};
use gcp_fake::{ACCESS_TOKEN, FakeGcp, PROJECT, fake_gcp};
use serde_json::{Value, json};

const FLAVOR: &str = "gcp_secrets_manager";

/// A namespace unique to this test and this run.
fn namespace(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// Registers the flavor through the CLI, granted the fake's origin (API
/// and token endpoint both) and storage (for the token cache).
fn register_flavor(home: &TestHome, fake: &FakeGcp) {
    let wasm = guest(FLAVOR);
    home.cli(&[
        "flavor",
        "register",
        wasm.to_str().unwrap(),
        "--allow-host",
        &fake.origin(),
        "--grant",
        "storage",
    ])
    .ok();
}

/// `--config` pairs of a manager on `fake` in `namespace`, with the key.
fn key_config(fake: &FakeGcp, namespace: &str) -> Vec<String> {
    vec![
        format!("project_id={PROJECT}"),
        format!("credentials=@{}", fake.key_file().display()),
        format!("endpoint={}", fake.origin()),
        format!("namespace={namespace}"),
    ]
}

fn register_manager(home: &TestHome, name: &str, config: &[String], extra: &[&str]) {
    let mut args = vec!["secrets-manager", "register", name, "--flavor", FLAVOR];
    for pair in config {
        args.extend(["--config", pair]);
    }
    args.extend_from_slice(extra);
    home.cli(&args).ok();
}

/// A home whose active manager `gcp` uses the fake's key in `namespace`.
fn gcp_home(namespace: &str) -> TestHome {
    let home = TestHome::new();
    register_flavor(&home, fake_gcp());
    register_manager(
        &home,
        "gcp",
        &key_config(fake_gcp(), namespace),
        &["--set-active"],
    );
    home
}

fn secret_names(home: &TestHome) -> Vec<String> {
    serde_json::from_str(home.cli(&["secret", "list", "--output", "json"]).ok()).unwrap()
}

fn revealed(home: &TestHome, name: &str) -> Value {
    let args = ["secret", "get", name, "--reveal", "--output", "json"];
    serde_json::from_str(home.cli(&args).ok()).unwrap()
}

/// A fake API call that must succeed.
fn api(method: &str, path: &str, body: Option<Value>) -> Value {
    let answer = fake_gcp().api(method, path, body.as_ref());
    assert_eq!(answer.status, 200, "{method} {path}: {answer:?}");
    answer.json()
}

fn secrets_path(id: &str) -> String {
    format!("/v1/projects/{PROJECT}/secrets/{id}")
}

/// The payload of secret `id`'s latest version, as JSON.
fn payload(id: &str) -> Value {
    let reply = api(
        "GET",
        &format!("{}/versions/latest:access", secrets_path(id)),
        None,
    );
    let data = reply["payload"]["data"].as_str().unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn google_s_own_client_finds_the_fake_faithful() {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/gcp-venv/bin/python");
    assert!(
        venv.is_file(),
        "{} is missing: run scripts/install-gcp-client.sh (it installs Google's \
         google-cloud-secret-manager into target/gcp-venv)",
        venv.display()
    );
    // A fake of its own: the check counts every secret of its project.
    let fake = gcp_fake::start();
    let check =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("support/gcp_client_check.py");
    let output = Command::new(&venv)
        .arg(&check)
        .arg(fake.origin())
        .arg(fake.key_file())
        .arg(gcp_fake::script())
        .output()
        .expect("run the google client check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "google client check failed:\n{stdout}\n{stderr}"
    );
    let passed: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("google client: "))
        .and_then(|l| l.strip_suffix(" checks passed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    assert!(passed >= 70, "{stdout}");
}

#[test]
fn the_gcp_flavor_passes_the_conformance_suite_on_the_fake() {
    let fake = fake_gcp();
    let home = TestHome::new();
    let options = RegisterOptions {
        allow_hosts: vec![fake.origin()],
        grants: [flavorbox::policy::Capability::Storage].into(),
        ..Default::default()
    };
    home.home
        .flavors()
        .register(&guest(FLAVOR), &options)
        .unwrap();
    let key = std::fs::read_to_string(fake.key_file()).unwrap();
    for (manager, ns) in [("a", "conformance-a"), ("b", "conformance-b")] {
        let config: BTreeMap<String, String> = [
            ("project_id", PROJECT.to_string()),
            ("credentials", key.clone()),
            ("endpoint", fake.origin()),
            ("namespace", namespace(ns)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        home.home
            .managers()
            .register(manager, FLAVOR, config, false)
            .unwrap();
    }
    let mut suite = Suite::new(&home.home, "a", "b").unwrap();
    suite.run(SuiteOptions { delete_all: true });
    suite.run_probes();
    assert!(
        suite.checks.iter().all(|c| c.passed()),
        "{:#?}",
        suite.checks
    );
    assert!(suite.checks.len() > 15, "{:#?}", suite.checks);
    for observation in &suite.observations {
        assert!(observation.report.violation.is_none(), "{observation:#?}");
    }
}

#[test]
fn evaluate_passes_the_gcp_flavor_on_the_fake() {
    let fake = fake_gcp();
    let wasm = guest(FLAVOR);
    let mut args = vec!["evaluate".to_string(), wasm.to_str().unwrap().to_string()];
    for pair in key_config(fake, &namespace("evaluate")) {
        args.extend(["--config".to_string(), pair]);
    }
    args.extend([
        "--samples".to_string(),
        "5".to_string(),
        "--allow-host".to_string(),
        fake.origin(),
        "--output".to_string(),
        "json".to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_cli(None, &args, None);
    let report: Value = serde_json::from_str(run.ok()).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "pass"),
        "{report:#}"
    );
}

#[test]
fn a_user_manages_secrets_on_gcp_through_the_cli() {
    let ns = namespace("cli.flow");
    let home = gcp_home(&ns);
    let listed = home.cli(&["secrets-manager", "list"]);
    assert!(listed.ok().contains("credentials=***"), "{listed:?}");
    assert!(!listed.stdout.contains("PRIVATE KEY"), "{listed:?}");

    home.cli(&[
        "secret",
        "register",
        "db.creds",
        "--schema",
        "basic_auth",
        "username=admin",
        "password=hunter2-pw",
    ])
    .ok();
    let masked = home.cli(&["secret", "get", "db.creds"]);
    assert!(masked.ok().contains("password  ***"), "{masked:?}");
    let secret = revealed(&home, "db.creds");
    assert_eq!(secret["schema"], "basic_auth");
    assert_eq!(secret["values"]["password"], "hunter2-pw");

    // The layout in GCP: a readable id, labels to filter by, the exact
    // name in annotations, ZenML's flat payload.
    let id = format!("{}__db_dcreds", ns.replace('.', "_d"));
    let stored = api("GET", &secrets_path(&id), None);
    assert_eq!(
        stored["labels"],
        json!({ "flavorbox_namespace": ns.replace('.', "-"), "zenml_schema_name": "basic_auth" })
    );
    assert_eq!(
        stored["annotations"],
        json!({ "flavorbox-name": "db.creds", "flavorbox-namespace": ns })
    );
    assert_eq!(
        payload(&id),
        json!({ "username": "admin", "password": "hunter2-pw", "zenml_schema_name": "basic_auth" })
    );

    home.cli(&["secret", "register", "API", "token=t0ken-value"])
        .ok();
    assert_eq!(secret_names(&home), ["API", "db.creds"]);

    home.cli(&[
        "secret",
        "update",
        "db.creds",
        "password=rotated-pw",
        "--schema",
        "arbitrary",
    ])
    .ok();
    let secret = revealed(&home, "db.creds");
    assert_eq!(secret["schema"], "arbitrary");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["password"], "rotated-pw");
    let stored = api("GET", &secrets_path(&id), None);
    assert_eq!(stored["labels"]["zenml_schema_name"], "arbitrary");
    let versions = api("GET", &format!("{}/versions", secrets_path(&id)), None);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);

    home.cli(&["secret", "delete", "API", "--yes"]).ok();
    home.cli(&["secret", "get", "API"]).fails(1, "not found");
    assert_eq!(secret_names(&home), ["db.creds"]);

    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(all.ok().contains("deleted all 1 secret of"), "{all:?}");
    assert!(secret_names(&home).is_empty());
    let gone = fake_gcp().api("GET", &secrets_path(&id), None);
    assert_eq!(gone.status, 404, "{gone:?}");
}

#[test]
fn every_valid_name_round_trips_even_where_naive_encodings_collide() {
    let ns = namespace("names.Edge_case");
    let home = gcp_home(&ns);
    let long_dots = format!("a{}", ".".repeat(127));
    let long_mixed = format!("Z{}", "_.-9".repeat(31)) + "abc";
    let mut names: Vec<String> = [
        "a.b", "a_b", "a-b", "a_db", "a_ub", "a__b", "a._b", "DB", "db", "Db", "0", "1abc", "9.9",
        "x_", "x.", "x-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend([
        "a".repeat(128),
        long_dots.clone(),
        long_mixed.clone(),
        format!("{}b", "a.".repeat(63)),
        format!("{}c", "a.".repeat(63)),
    ]);
    // Through the library: one process, no CLI start per call.
    let manager = home.home.manager(None).unwrap();
    for (i, name) in names.iter().enumerate() {
        let secret = Secret::new(name.clone(), "arbitrary", [("value".into(), i.to_string())]);
        manager.register_secret(&secret.unwrap()).unwrap();
    }
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(secret_names(&home), expected);
    for (i, name) in names.iter().enumerate() {
        let got = manager.get_secret(name).unwrap();
        assert_eq!(got.name(), name);
        assert_eq!(got.values()["value"], i.to_string(), "{name}");
    }
    // The CLI takes them too.
    assert_eq!(revealed(&home, &long_dots)["values"]["value"], "17");
    // Every id is a valid GCP id; the long ones were hashed.
    let listing = api(
        "GET",
        &format!(
            "/v1/projects/{PROJECT}/secrets?filter=labels.flavorbox_namespace%3D%22{}%22",
            ns.to_ascii_lowercase().replace('.', "-")
        ),
        None,
    );
    let ids: Vec<String> = listing["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["name"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), names.len(), "{ids:?}");
    assert!(ids.iter().any(|id| id.contains("___h")), "{ids:?}");
    assert!(ids.iter().all(|id| id.len() <= 255), "{ids:?}");

    // Another namespace that folds to the same label sees none of them.
    let other = gcp_home(&ns.to_ascii_lowercase().replace('.', "-"));
    assert!(secret_names(&other).is_empty());
    home.cli(&["secret", "delete-all", "--force"]).ok();
    assert!(secret_names(&home).is_empty());
}

#[test]
fn the_token_is_cached_and_replaced_once_revoked() {
    // A fake of its own: it counts the tokens it issues.
    let fake = gcp_fake::start();
    let home = TestHome::new();
    register_flavor(&home, &fake);
    register_manager(
        &home,
        "gcp",
        &key_config(&fake, &namespace("token")),
        &["--set-active"],
    );
    home.cli(&["secret", "register", "one", "k=v1"]).ok();
    for _ in 0..3 {
        assert_eq!(revealed(&home, "one")["values"]["k"], "v1");
    }
    assert_eq!(fake.stats()["tokens_issued"], 1);
    let cached = home.raw_storage("gcp");
    assert_eq!(cached.len(), 1, "{:?}", cached.keys());
    let (key, entry) = cached.into_iter().next().unwrap();
    assert!(key.starts_with("gcp/token/"), "{key}");
    let entry: Value = serde_json::from_slice(&entry).unwrap();
    let token = entry["token"].as_str().unwrap().to_string();
    assert!(entry["use_until"].as_u64().is_some(), "{entry}");

    // Revoked behind the flavor's back: one 401, a new token, the call
    // succeeds.
    assert_eq!(fake.api("POST", "/_fake/revoke-tokens", None).status, 200);
    assert_eq!(revealed(&home, "one")["values"]["k"], "v1");
    assert_eq!(fake.stats()["tokens_issued"], 2);
    let entry: Value =
        serde_json::from_slice(home.raw_storage("gcp").values().next().unwrap()).unwrap();
    assert_ne!(entry["token"].as_str().unwrap(), token);
    home.cli(&["secret", "delete", "one", "--yes"]).ok();
}

#[test]
fn google_s_refusals_map_to_exit_codes() {
    let fake = fake_gcp();
    let ns = namespace("errors");
    let home = gcp_home(&ns);
    home.cli(&["secret", "register", "dup", "k=first-value"])
        .ok();
    // The flavor read its cached access token (a credential the host never
    // saw) before these failed, so the error lines are in the host's words;
    // Google's own are one explicit opt-in away.
    home.cli(&["secret", "register", "dup", "k=second-value"])
        .fails(1, "already exists: secret `dup` already exists");
    let withheld = flavorbox_tests::run_cli_env(
        Some(home.path()),
        &["secret", "register", "dup", "k=second-value"],
        None,
        &[("FLAVORBOX_LOG", "secret_bearing=info")],
    );
    assert!(
        withheld
            .stderr
            .contains("creating secret `dup`: ALREADY_EXISTS: Secret [projects/"),
        "{withheld:#?}"
    );
    assert_eq!(revealed(&home, "dup")["values"]["k"], "first-value");
    home.cli(&["secret", "get", "missing"])
        .fails(1, "not found: secret `missing` does not exist");
    home.cli(&["secret", "update", "missing", "k=v"])
        .fails(1, "not found");
    home.cli(&["secret", "delete", "missing", "--yes"])
        .fails(1, "not found: deleting secret `missing`: NOT_FOUND");
    home.cli(&["secret", "register", "bad", "zenml_schema_name=x"])
        .fails(2, "reserved");

    // A ready access token works; a forged one is refused, and not shown.
    let token_config = [
        format!("project_id={PROJECT}"),
        format!("access_token={ACCESS_TOKEN}"),
        format!("endpoint={}", fake.origin()),
        format!("namespace={ns}"),
    ];
    register_manager(&home, "by-token", &token_config, &[]);
    assert_eq!(
        serde_json::from_str::<Value>(
            home.cli(&[
                "secret",
                "get",
                "dup",
                "--reveal",
                "--output",
                "json",
                "--manager",
                "by-token"
            ])
            .ok()
        )
        .unwrap()["values"]["k"],
        "first-value"
    );
    let mut forged = token_config.clone();
    forged[1] = "access_token=ya29.forged-token-value".to_string();
    register_manager(&home, "forged", &forged, &[]);
    let line = home
        .cli(&["secret", "list", "--manager", "forged"])
        .fails(1, "denied: listing secrets: UNAUTHENTICATED")
        .to_string();
    assert!(!line.contains("forged-token-value"), "{line}");

    // Another project than the key's: PERMISSION_DENIED.
    let mut elsewhere = key_config(fake, &ns);
    elsewhere[0] = "project_id=someone-elses".to_string();
    register_manager(&home, "elsewhere", &elsewhere, &[]);
    home.cli(&["secret", "get", "dup", "--manager", "elsewhere"])
        .fails(
            1,
            "denied: get-secret was denied after the flavor read stored or remote data",
        );
    let withheld = flavorbox_tests::run_cli_env(
        Some(home.path()),
        &["secret", "get", "dup", "--manager", "elsewhere"],
        None,
        &[("FLAVORBOX_LOG", "secret_bearing=info")],
    );
    assert!(
        withheld
            .stderr
            .contains("reading secret `dup`: PERMISSION_DENIED"),
        "{withheld:#?}"
    );

    // A key of an account the token endpoint does not know.
    let mut key: Value =
        serde_json::from_str(&std::fs::read_to_string(fake.key_file()).unwrap()).unwrap();
    key["client_email"] = json!("stranger@elsewhere.iam.gserviceaccount.com");
    let stranger = home.path().join("stranger.json");
    std::fs::write(&stranger, key.to_string()).unwrap();
    let mut config = key_config(fake, &ns);
    config[1] = format!("credentials=@{}", stranger.display());
    register_manager(&home, "stranger", &config, &[]);
    let line = home
        .cli(&["secret", "get", "dup", "--manager", "stranger"])
        .fails(1, "denied: the token endpoint http://127.0.0.1:")
        .to_string();
    assert!(line.contains("invalid_grant"), "{line}");
    assert!(!line.contains("PRIVATE KEY"), "{line}");
    home.cli(&["secret", "delete", "dup", "--yes"]).ok();
}

#[test]
fn a_bad_config_is_refused_at_registration_and_nothing_is_stored() {
    let fake = fake_gcp();
    let home = TestHome::new();
    register_flavor(&home, fake);
    let dir = home.path();
    let key: Value =
        serde_json::from_str(&std::fs::read_to_string(fake.key_file()).unwrap()).unwrap();
    let write = |name: &str, value: &Value| {
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        format!("credentials=@{}", path.display())
    };
    let not_json = {
        let path = dir.join("not-json.txt");
        std::fs::write(&path, "hello").unwrap();
        format!("credentials=@{}", path.display())
    };
    let user_key = write("user.json", &json!({ "type": "authorized_user" }));
    let no_key = write("no-key.json", &{
        let mut k = key.clone();
        k.as_object_mut().unwrap().remove("private_key");
        k
    });
    let garbage_key = write("garbage.json", &{
        let mut k = key.clone();
        k["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        k
    });
    let bad_uri = write("bad-uri.json", &{
        let mut k = key.clone();
        k["token_uri"] = json!("ftp://tokens");
        k
    });
    let good = format!("credentials=@{}", fake.key_file().display());
    let project = format!("project_id={PROJECT}");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![good.clone()], "requires config key `project_id`"),
        (vec![project.clone()], "give `credentials`"),
        (
            vec!["project_id=Bad_Project".into(), good.clone()],
            "config `project_id`",
        ),
        (
            vec![project.clone(), not_json],
            "config `credentials` is not JSON",
        ),
        (
            vec![project.clone(), user_key],
            "is not a service-account key",
        ),
        (vec![project.clone(), no_key], "has no `private_key`"),
        (
            vec![project.clone(), garbage_key],
            "not an RSA key in PKCS#8 PEM",
        ),
        (
            vec![project.clone(), bad_uri],
            "config `credentials` has an unusable URL",
        ),
        (
            vec![project.clone(), good.clone(), "access_token=t".into()],
            "not both",
        ),
        (
            vec![
                project.clone(),
                good.clone(),
                "endpoint=http://h/?x=1".into(),
            ],
            "config `endpoint` must not have a query",
        ),
        (
            vec![
                project.clone(),
                good.clone(),
                format!("namespace={}", "n".repeat(65)),
            ],
            "config `namespace`",
        ),
        (
            vec![project.clone(), "credentials=@/nonexistent/key.json".into()],
            "cannot read config file for key `credentials`",
        ),
    ];
    for (config, needle) in cases {
        let mut args = vec!["secrets-manager", "register", "bad", "--flavor", FLAVOR];
        for pair in &config {
            args.extend(["--config", pair.as_str()]);
        }
        home.cli(&args).fails(2, needle);
    }
    let managers = home.cli(&["secrets-manager", "list", "--output", "json"]);
    let managers: Value = serde_json::from_str(managers.ok()).unwrap();
    assert_eq!(managers.as_array().unwrap().len(), 1, "{managers:#}");
}

/// Creates `count` secrets `s0000`.. in `namespace` in the flavor's layout
/// through the fake's API (no CLI process per secret), on a few threads.
fn seed(namespace: &str, count: usize) {
    const THREADS: usize = 4;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                for i in (t..count).step_by(THREADS) {
                    let name = format!("s{i:04}");
                    let id = format!("{namespace}__{name}");
                    api(
                        "POST",
                        &format!("/v1/projects/{PROJECT}/secrets?secretId={id}"),
                        Some(json!({
                            "replication": { "automatic": {} },
                            "labels": {
                                "flavorbox_namespace": namespace,
                                "zenml_schema_name": "arbitrary",
                            },
                            "annotations": {
                                "flavorbox-name": name,
                                "flavorbox-namespace": namespace,
                            },
                        })),
                    );
                    let data = json!({ "k": format!("v{i}"), "zenml_schema_name": "arbitrary" });
                    use base64::Engine as _;
                    let data = base64::engine::general_purpose::STANDARD.encode(data.to_string());
                    api(
                        "POST",
                        &format!("{}:addVersion", secrets_path(&id)),
                        Some(json!({ "payload": { "data": data } })),
                    );
                }
            });
        }
    });
}

#[test]
fn delete_all_of_1000_secrets_finishes_in_one_command() {
    let ns = namespace("thousand");
    seed(&ns, 1000);
    let home = gcp_home(&ns);
    // Two pages of 500.
    let names = secret_names(&home);
    assert_eq!(names.len(), 1000);
    assert_eq!((names[0].as_str(), names[999].as_str()), ("s0000", "s0999"));
    assert_eq!(revealed(&home, "s0999")["values"]["k"], "v999");

    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(
        all.ok()
            .contains("deleted all 1000 secrets of secrets manager `gcp`"),
        "{all:?}"
    );
    assert!(secret_names(&home).is_empty());
    let left = api(
        "GET",
        &format!("/v1/projects/{PROJECT}/secrets?filter=labels.flavorbox_namespace%3D%22{ns}%22"),
        None,
    );
    assert_eq!(left, json!({}), "{left}");
}
