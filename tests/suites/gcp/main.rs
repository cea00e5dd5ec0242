//! The `gcp_secrets_manager` flavor against the fake Secret Manager
//! (`scripts/fake_gcp_secret_manager.py`, started by `flavorbox_tests::gcp_fake`
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
//!
//! Here: the fake's faithfulness, the conformance suite, `evaluate`, the CLI
//! flow and names; `auth.rs`: credentials and refusals; `bulk.rs`: bulk
//! work; `history.rs`: contract 0.2 on Secret Manager's versions (history,
//! check-and-set, soft delete and restore, destroy, labels, metadata
//! times).

mod auth;
mod bulk;
mod history;

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavorbox::Secret;
use flavorbox::registry::RegisterOptions;
use flavorbox_tests::conformance::{assert_conforms, assert_evaluate_passes};
use flavorbox_tests::gcp_fake::{self, FakeGcp, PROJECT, fake_gcp};
use flavorbox_tests::home::config;
use flavorbox_tests::{TestHome, guests};
use serde_json::{Value, json};

/// The flavor under test, as its `info()` names it.
const FLAVOR: &str = "gcp_secrets_manager";

/// A namespace unique to this test and this run.
fn namespace(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// Registers the flavor through the CLI, granted the fake's origin (API
/// and token endpoint both) and storage (for the token cache).
fn register_flavor(home: &TestHome, fake: &FakeGcp) {
    let origin = fake.origin();
    home.register_flavor(
        guests::GCP_SECRETS_MANAGER,
        &["--allow-host", &origin, "--grant", "storage"],
    )
    .ok();
}

/// The config of a manager on `fake` in `namespace`, with the key (read
/// from its file by the CLI).
fn key_config(fake: &FakeGcp, namespace: &str) -> Vec<(&'static str, String)> {
    vec![
        ("project_id", PROJECT.to_string()),
        ("credentials", format!("@{}", fake.key_file().display())),
        ("endpoint", fake.origin()),
        ("namespace", namespace.to_string()),
    ]
}

fn register_manager(home: &TestHome, name: &str, config: &[(&str, String)], extra: &[&str]) {
    let pairs: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    home.register_manager(name, FLAVOR, &pairs, extra);
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

/// A call to the shared fake's API that must succeed.
fn api(method: &str, path: &str, body: Option<Value>) -> Value {
    fake_gcp().call(method, path, body)
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
    serde_json::from_slice(&BASE64.decode(data).unwrap()).unwrap()
}

#[test]
fn google_s_own_client_finds_the_fake_faithful() {
    let venv = flavorbox_tests::Tool {
        what: "the Python with Google's google-cloud-secret-manager",
        var: "FLAVORBOX_GCP_PYTHON",
        default: "target/gcp-venv/bin/python",
        install: "scripts/install-gcp-client.sh",
    }
    .installed();
    // A fake of its own: the check counts every secret of its project.
    let fake = gcp_fake::start();
    let check = flavorbox_tests::workspace().join("tests/support/gcp_client_check.py");
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
    // Through the library: the key itself, not a file to read.
    let key = std::fs::read_to_string(fake.key_file()).unwrap();
    let origin = fake.origin();
    let manager = |ns: &str| {
        let ns = namespace(ns);
        config(&[
            ("project_id", PROJECT),
            ("credentials", &key),
            ("endpoint", &origin),
            ("namespace", &ns),
        ])
    };
    home.register_in_library(
        guests::GCP_SECRETS_MANAGER,
        &options,
        &[
            ("a", manager("conformance-a")),
            ("b", manager("conformance-b")),
        ],
    );
    assert_conforms(&home.home, "a", "b");
}

#[test]
fn evaluate_passes_the_gcp_flavor_on_the_fake() {
    let fake = fake_gcp();
    let config = key_config(fake, &namespace("evaluate"));
    let pairs: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_evaluate_passes(
        &guests::GCP_SECRETS_MANAGER.path(),
        &pairs,
        &["--samples", "5", "--allow-host", &fake.origin()],
    );
}

#[test]
fn a_user_manages_secrets_on_gcp_through_the_cli() {
    let ns = namespace("cli.flow");
    let home = gcp_home(&ns);
    let listed = home.cli(&["secrets-manager", "list"]);
    assert!(listed.ok().contains("credentials=***"), "{listed:?}");
    assert!(!listed.stdout.contains("PRIVATE KEY"), "{listed:?}");

    home.register_login("db.creds");

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

    home.register_secret("API", &["token=t0ken-value"]);
    assert_eq!(home.secret_names(None), ["API", "db.creds"]);

    home.cli(&[
        "secret",
        "update",
        "db.creds",
        "password=rotated-pw",
        "--schema",
        "arbitrary",
    ])
    .ok();
    let secret = home.revealed("db.creds", None);
    assert_eq!(secret["schema"], "arbitrary");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["password"], "rotated-pw");
    let stored = api("GET", &secrets_path(&id), None);
    assert_eq!(stored["labels"]["zenml_schema_name"], "arbitrary");
    let versions = api("GET", &format!("{}/versions", secrets_path(&id)), None);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);

    home.delete_secret("API", &["db.creds"]);
    // A soft delete (contract 0.2): GCP keeps the secret, its version
    // disabled and the secret marked, until it is restored or purged.
    let api_id = format!("{}__API", ns.replace('.', "_d"));
    let kept = api(
        "GET",
        &format!("{}/versions/1", secrets_path(&api_id)),
        None,
    );
    assert_eq!(kept["state"], "DISABLED", "{kept}");

    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(all.ok().contains("deleted all 1 secret of"), "{all:?}");
    assert!(home.secret_names(None).is_empty());
    let gone = fake_gcp().api("GET", &secrets_path(&id), None);
    assert_eq!(gone.status, 404, "{gone:?}");
    // The soft-deleted one is purged by name.
    home.cli(&["secret", "delete", "API", "--purge", "--yes"])
        .ok();
    let gone = fake_gcp().api("GET", &secrets_path(&api_id), None);
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
    assert_eq!(home.secret_names(None), expected);
    for (i, name) in names.iter().enumerate() {
        let got = manager.get_secret(name).unwrap();
        assert_eq!(got.name(), name);
        assert_eq!(got.values()["value"], i.to_string(), "{name}");
    }
    // The CLI takes them too.
    assert_eq!(home.revealed(&long_dots, None)["values"]["value"], "17");
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
    assert!(other.secret_names(None).is_empty());
    home.cli(&["secret", "delete-all", "--force"]).ok();
    assert!(home.secret_names(None).is_empty());
}
