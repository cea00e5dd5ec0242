//! The `vault` flavor against a real OpenBao (the open fork of HashiCorp
//! Vault) dev server this binary starts on 127.0.0.1 (`flavorbox_tests::openbao`;
//! install it with `scripts/install-openbao.sh`, a missing server fails the
//! tests). Every test works under its own `namespace` path, so they share
//! the one server.
//!
//! What is tested and why: the shared conformance suite and `evaluate`
//! (ZenML semantics, 64 KiB secrets, listing 150), the CLI flow a user runs
//! with AppRole, that the layout in Vault is ZenML's (flat key-values plus
//! `zenml_schema_name`), that an AppRole token is cached and replaced when
//! revoked, how Vault's refusals map onto exit codes, that a bad config is
//! refused at registration, and that bulk work finishes: 1,000 secrets
//! listed and deleted in one command, and a deletion Vault refuses halfway
//! reports which secrets were and were not deleted.
//!
//! Here: the conformance suite, `evaluate` and the CLI flow; `auth.rs`:
//! credentials and refusals; `bulk.rs`: bulk work; `history.rs`: contract
//! 0.2 on KV version 2 (versions, check-and-set, soft delete and restore,
//! destroy, labels, metadata times).

mod auth;
mod bulk;
mod history;

use std::sync::OnceLock;

use flavorbox::registry::RegisterOptions;
use flavorbox_tests::conformance::{assert_conforms, assert_evaluate_passes};
use flavorbox_tests::home::config;
use flavorbox_tests::openbao::{ROOT_TOKEN, openbao};
use flavorbox_tests::{TestHome, guests};
use serde_json::{Value, json};

/// A namespace unique to this test and this run.
fn namespace(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// Registers the `vault` flavor through the CLI, granted the server's
/// origin and storage (for the AppRole token cache).
fn register_flavor(home: &TestHome) {
    let origin = openbao().origin();
    home.register_flavor(
        guests::VAULT,
        &["--allow-host", &origin, "--grant", "storage"],
    )
    .ok();
}

/// `secrets-manager register NAME --flavor vault` with `config` and
/// `extra` flags.
fn register_manager(home: &TestHome, name: &str, config: &[(&str, &str)], extra: &[&str]) {
    home.register_manager(name, "vault", config, extra);
}

/// A home whose active manager `vault` logs in with `credentials` (a
/// `token`, or a `role_id` and `secret_id`) and works in `namespace`,
/// registered with `extra` flags.
fn vault_home(credentials: &[(&str, &str)], namespace: &str, extra: &[&str]) -> TestHome {
    let home = TestHome::new();
    register_flavor(&home);
    let origin = openbao().origin();
    let mut config = vec![("url", origin.as_str())];
    config.extend_from_slice(credentials);
    config.push(("namespace", namespace));
    let mut flags = vec!["--set-active"];
    flags.extend_from_slice(extra);
    register_manager(&home, "vault", &config, &flags);
    home
}

/// A home whose active manager `vault` uses the root token in `namespace`.
fn token_home(namespace: &str, extra: &[&str]) -> TestHome {
    vault_home(&[("token", ROOT_TOKEN)], namespace, extra)
}

/// A Vault API call with the root token that must succeed.
fn api(method: &str, path: &str, body: Option<Value>) -> Value {
    openbao().call(method, path, body)
}

/// AppRole enabled once per server.
fn enable_approle() {
    static ENABLED: OnceLock<()> = OnceLock::new();
    ENABLED.get_or_init(|| {
        api(
            "POST",
            "/v1/sys/auth/approle",
            Some(json!({ "type": "approle" })),
        );
    });
}

/// A policy `name` granting `capabilities` on each of `paths`.
fn policy(name: &str, rules: &[(&str, &str)]) {
    let text: String = rules
        .iter()
        .map(|(path, caps)| format!("path \"{path}\" {{ capabilities = [{caps}] }}\n"))
        .collect();
    api(
        "POST",
        &format!("/v1/sys/policies/acl/{name}"),
        Some(json!({ "policy": text })),
    );
}

/// An AppRole role with `policies` whose secret id can log in `uses`
/// times; returns (role_id, secret_id).
fn approle(role: &str, policies: &[&str], uses: u32) -> (String, String) {
    enable_approle();
    api(
        "POST",
        &format!("/v1/auth/approle/role/{role}"),
        Some(json!({
            "token_policies": policies,
            "secret_id_num_uses": uses,
            "token_ttl": "1h",
        })),
    );
    let role_id = api(
        "GET",
        &format!("/v1/auth/approle/role/{role}/role-id"),
        None,
    )["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret_id = api(
        "POST",
        &format!("/v1/auth/approle/role/{role}/secret-id"),
        None,
    )["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    (role_id, secret_id)
}

/// Writes `count` secrets `s0000`.. under `flavorbox/<namespace>/` through
/// Vault's own API (fast: no CLI process per secret).
fn seed(namespace: &str, count: usize) {
    for i in 0..count {
        api(
            "POST",
            &format!("/v1/secret/data/flavorbox/{namespace}/s{i:04}"),
            Some(json!({ "data": { "k": format!("v{i}"), "zenml_schema_name": "arbitrary" } })),
        );
    }
}

#[test]
fn the_vault_flavor_passes_the_conformance_suite_on_openbao() {
    let home = TestHome::new();
    let origin = openbao().origin();
    let options = RegisterOptions {
        allow_hosts: vec![origin.clone()],
        grants: [flavorbox::policy::Capability::Storage].into(),
        ..Default::default()
    };
    let manager = |ns: &str| {
        let ns = namespace(ns);
        config(&[("url", &origin), ("token", ROOT_TOKEN), ("namespace", &ns)])
    };
    home.register_in_library(
        guests::VAULT,
        &options,
        &[
            ("a", manager("conformance-a")),
            ("b", manager("conformance-b")),
        ],
    );
    assert_conforms(&home.home, "a", "b");
}

#[test]
fn evaluate_passes_the_vault_flavor_on_openbao() {
    let origin = openbao().origin();
    let ns = namespace("evaluate");
    assert_evaluate_passes(
        &guests::VAULT.path(),
        &[("url", &origin), ("token", ROOT_TOKEN), ("namespace", &ns)],
        &["--allow-host", &origin],
    );
}

/// A home whose active manager `vault` logs in with AppRole `role` (its
/// secret id good for `uses` logins, 0 for any number) to a policy that
/// may do anything under `secret/`, in `namespace`; and the role's ids.
fn approle_home(role: &str, uses: u32, namespace: &str) -> (TestHome, String, String) {
    let policy_name = format!("flavorbox-{role}");
    policy(
        &policy_name,
        &[(
            "secret/*",
            "\"create\", \"read\", \"update\", \"delete\", \"list\"",
        )],
    );
    let (role_id, secret_id) = approle(role, &[&policy_name], uses);
    let home = vault_home(
        &[("role_id", &role_id), ("secret_id", &secret_id)],
        namespace,
        &[],
    );
    (home, role_id, secret_id)
}

/// A token with the policy `policy` only, for ten minutes.
fn token_with(policy: &str) -> String {
    let created = api(
        "POST",
        "/v1/auth/token/create",
        Some(json!({ "policies": [policy], "ttl": "10m" })),
    );
    created["auth"]["client_token"]
        .as_str()
        .expect("a client token")
        .to_string()
}

#[test]
fn a_user_manages_secrets_on_vault_with_approle_through_the_cli() {
    let ns = namespace("cli-flow");
    let (home, _, secret_id) = approle_home("cli-flow", 0, &ns);
    let listed = home.cli(&["secrets-manager", "list"]);
    assert!(!listed.ok().contains(&secret_id), "{listed:?}");

    home.register_login("db.creds");

    // ZenML's layout, readable by any Vault client.
    let raw = api(
        "GET",
        &format!("/v1/secret/data/flavorbox/{ns}/db.creds"),
        None,
    );
    assert_eq!(
        raw["data"]["data"],
        json!({ "username": "admin", "password": "hunter2-pw", "zenml_schema_name": "basic_auth" })
    );

    home.register_secret("API", &["token=t0ken-value"]);
    assert_eq!(home.secret_names(None), ["API", "db.creds"]);

    home.cli(&["secret", "update", "db.creds", "password=rotated-pw"])
        .ok();
    let secret = home.revealed("db.creds", None);
    assert_eq!(secret["schema"], "basic_auth");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["password"], "rotated-pw");
    let metadata = api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{ns}/db.creds"),
        None,
    );
    assert_eq!(metadata["data"]["current_version"], 2);

    home.cli(&["secret", "delete", "API", "--yes"]).ok();
    home.cli(&["secret", "get", "API"]).fails(1, "not found");
    // A soft delete (contract 0.2): Vault keeps the version, marked
    // deleted, until it is restored or purged.
    let kept = api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{ns}/API"),
        None,
    );
    assert_ne!(kept["data"]["versions"]["1"]["deletion_time"], "");
    assert_eq!(home.secret_names(None), ["db.creds"]);

    // Removing every secret purges those listed; the one soft-deleted
    // before is purged by name.
    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(all.ok().contains("deleted all 1 secret of"), "{all:?}");
    assert!(home.secret_names(None).is_empty());
    home.cli(&["secret", "delete", "API", "--yes", "--purge"])
        .ok();
    let gone = openbao().api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{ns}/API"),
        None,
    );
    assert_eq!(gone.status, 404, "{gone:?}");
}
