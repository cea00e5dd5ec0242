//! The `vault` flavor against a real OpenBao (the open fork of HashiCorp
//! Vault) dev server this binary starts on 127.0.0.1 (`support/openbao.rs`;
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

#[path = "../support/openbao.rs"]
mod openbao;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use flavorbox::conformance::{Suite, SuiteOptions};
use flavorbox::registry::RegisterOptions;
use flavorbox::sandbox::exports::UpdateSecret;
use flavorbox_tests::{TestHome, guest, run_cli};
use openbao::{ROOT_TOKEN, openbao};
use serde_json::{Value, json};

/// A namespace unique to this test and this run.
fn namespace(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// Registers the `vault` flavor through the CLI, granted the server's
/// origin and storage (for the AppRole token cache).
fn register_flavor(home: &TestHome) {
    let wasm = guest("vault");
    home.cli(&[
        "flavor",
        "register",
        wasm.to_str().unwrap(),
        "--allow-host",
        &openbao().origin(),
        "--grant",
        "storage",
    ])
    .ok();
}

/// `secrets-manager register NAME --flavor vault` with `config` and
/// `extra` flags.
fn register_manager(home: &TestHome, name: &str, config: &[(&str, &str)], extra: &[&str]) {
    let pairs: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["secrets-manager", "register", name, "--flavor", "vault"];
    for pair in &pairs {
        args.extend(["--config", pair]);
    }
    args.extend_from_slice(extra);
    home.cli(&args).ok();
}

/// A home whose active manager `vault` uses the root token in `namespace`.
fn token_home(namespace: &str, extra: &[&str]) -> TestHome {
    let home = TestHome::new();
    register_flavor(&home);
    let origin = openbao().origin();
    let mut flags = vec!["--set-active"];
    flags.extend_from_slice(extra);
    register_manager(
        &home,
        "vault",
        &[
            ("url", &origin),
            ("token", ROOT_TOKEN),
            ("namespace", namespace),
        ],
        &flags,
    );
    home
}

fn secret_names(home: &TestHome, manager: Option<&str>) -> Vec<String> {
    let mut args = vec!["secret", "list", "--output", "json"];
    if let Some(m) = manager {
        args.extend(["--manager", m]);
    }
    serde_json::from_str(home.cli(&args).ok()).unwrap()
}

fn revealed(home: &TestHome, name: &str) -> Value {
    let args = ["secret", "get", name, "--reveal", "--output", "json"];
    serde_json::from_str(home.cli(&args).ok()).unwrap()
}

/// A Vault API call with the root token that must succeed.
fn api(method: &str, path: &str, body: Option<Value>) -> Value {
    let answer = openbao().api(method, path, body.as_ref());
    assert!(
        (200..300).contains(&answer.status),
        "{method} {path}: {answer:?}"
    );
    answer.json()
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
    let options = RegisterOptions {
        allow_hosts: vec![openbao().origin()],
        grants: [flavorbox::policy::Capability::Storage].into(),
        ..Default::default()
    };
    home.home
        .flavors()
        .register(&guest("vault"), &options)
        .unwrap();
    for (manager, ns) in [("a", "conformance-a"), ("b", "conformance-b")] {
        let config: BTreeMap<String, String> = [
            ("url", openbao().origin()),
            ("token", ROOT_TOKEN.to_string()),
            ("namespace", namespace(ns)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        home.home
            .managers()
            .register(manager, "vault", config, false)
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
fn evaluate_passes_the_vault_flavor_on_openbao() {
    let wasm = guest("vault");
    let origin = openbao().origin();
    let url = format!("url={origin}");
    let token = format!("token={ROOT_TOKEN}");
    let ns = format!("namespace={}", namespace("evaluate"));
    let run = run_cli(
        None,
        &[
            "evaluate",
            wasm.to_str().unwrap(),
            "--config",
            &url,
            "--config",
            &token,
            "--config",
            &ns,
            "--allow-host",
            &origin,
            "--output",
            "json",
        ],
        None,
    );
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
fn a_user_manages_secrets_on_vault_with_approle_through_the_cli() {
    let ns = namespace("cli-flow");
    policy(
        "flavorbox-cli-flow",
        &[(
            "secret/*",
            "\"create\", \"read\", \"update\", \"delete\", \"list\"",
        )],
    );
    let (role_id, secret_id) = approle("cli-flow", &["flavorbox-cli-flow"], 0);
    let home = TestHome::new();
    register_flavor(&home);
    register_manager(
        &home,
        "vault",
        &[
            ("url", &openbao().origin()),
            ("role_id", &role_id),
            ("secret_id", &secret_id),
            ("namespace", &ns),
        ],
        &["--set-active"],
    );
    let listed = home.cli(&["secrets-manager", "list"]);
    assert!(!listed.ok().contains(&secret_id), "{listed:?}");

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

    home.cli(&["secret", "register", "API", "token=t0ken-value"])
        .ok();
    assert_eq!(secret_names(&home, None), ["API", "db.creds"]);

    home.cli(&["secret", "update", "db.creds", "password=rotated-pw"])
        .ok();
    let secret = revealed(&home, "db.creds");
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
    // Deleted with every version: nothing left behind in Vault.
    let gone = openbao().api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{ns}/API"),
        None,
    );
    assert_eq!(gone.status, 404, "{gone:?}");
    assert_eq!(secret_names(&home, None), ["db.creds"]);

    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(all.ok().contains("deleted all 1 secret of"), "{all:?}");
    assert!(secret_names(&home, None).is_empty());
}

#[test]
fn an_approle_token_is_cached_and_replaced_once_revoked() {
    let ns = namespace("token-cache");
    policy(
        "flavorbox-token-cache",
        &[(
            "secret/*",
            "\"create\", \"read\", \"update\", \"delete\", \"list\"",
        )],
    );
    // The secret id logs in twice at most: every call past the second
    // works only if the token was cached.
    let (role_id, secret_id) = approle("token-cache", &["flavorbox-token-cache"], 2);
    let home = TestHome::new();
    register_flavor(&home);
    register_manager(
        &home,
        "vault",
        &[
            ("url", &openbao().origin()),
            ("role_id", &role_id),
            ("secret_id", &secret_id),
            ("namespace", &ns),
        ],
        &["--set-active"],
    );
    home.cli(&["secret", "register", "one", "k=v1"]).ok();
    for _ in 0..3 {
        assert_eq!(revealed(&home, "one")["values"]["k"], "v1");
    }
    let cached = home.raw_storage("vault");
    assert_eq!(cached.len(), 1, "{:?}", cached.keys());
    let (key, entry) = cached.into_iter().next().unwrap();
    assert!(key.starts_with("vault/token/"), "{key}");
    assert!(!key.contains(&secret_id), "{key}");
    let entry: Value = serde_json::from_slice(&entry).unwrap();
    let token = entry["token"].as_str().unwrap().to_string();
    assert!(entry["use_until"].as_u64().is_some(), "{entry}");

    // Revoked behind the flavor's back: the next call logs in again.
    api(
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({ "token": token })),
    );
    assert_eq!(secret_names(&home, None), ["one"]);
    assert_eq!(revealed(&home, "one")["values"]["k"], "v1");

    // Both logins are used up: once this token is revoked too, the call is
    // refused, and says so without printing a credential.
    let entry: Value =
        serde_json::from_slice(home.raw_storage("vault").values().next().unwrap()).unwrap();
    let second = entry["token"].as_str().unwrap().to_string();
    assert_ne!(second, token);
    api(
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({ "token": second })),
    );
    // The flavor read its cached token (a credential the host never saw)
    // first, so the line is in the host's words; Vault's own is one
    // explicit opt-in away, still without a credential.
    let refused = home.cli(&["secret", "get", "one"]);
    let line = refused.fails(1, "denied: get-secret was denied after the flavor read");
    for credential in [&role_id, &secret_id, &token, &second] {
        assert!(!line.contains(credential.as_str()), "{line}");
    }
    let withheld = flavorbox_tests::run_cli_env(
        Some(home.path()),
        &["secret", "get", "one"],
        None,
        &[("FLAVORBOX_LOG", "secret_bearing=info")],
    );
    assert!(
        withheld.stderr.contains("AppRole login: HTTP 400"),
        "{withheld:#?}"
    );
    for credential in [&role_id, &secret_id, &token, &second] {
        assert!(
            !withheld.stderr.contains(credential.as_str()),
            "{withheld:#?}"
        );
    }
    api(
        "DELETE",
        &format!("/v1/secret/metadata/flavorbox/{ns}/one"),
        None,
    );
}

#[test]
fn vault_refusals_map_to_exit_codes() {
    let ns = namespace("errors");
    let home = token_home(&ns, &[]);
    home.cli(&["secret", "register", "dup", "k=first-value"])
        .ok();
    home.cli(&["secret", "register", "dup", "k=second-value"])
        .fails(
            1,
            "already exists: writing secret `dup`: HTTP 400: check-and-set",
        );
    assert_eq!(revealed(&home, "dup")["values"]["k"], "first-value");
    home.cli(&["secret", "get", "missing"])
        .fails(1, "not found: reading secret `missing`: HTTP 404");
    home.cli(&["secret", "update", "missing", "k=v"])
        .fails(1, "not found");
    home.cli(&["secret", "delete", "missing", "--yes"])
        .fails(1, "not found");
    home.cli(&["secret", "register", "bad", "zenml_schema_name=x"])
        .fails(2, "reserved");

    // Another tool soft-deleted the current version: the secret is gone for
    // flavorbox, and an update does not bring it back.
    api(
        "DELETE",
        &format!("/v1/secret/data/flavorbox/{ns}/dup"),
        None,
    );
    home.cli(&["secret", "get", "dup"]).fails(1, "not found");
    home.cli(&["secret", "update", "dup", "k=again"])
        .fails(1, "not found");
    // The same through the contract, where update-secret replaces values
    // without reading them first. It read Vault's metadata (stored data),
    // so the message is the host's; the flavor's is withheld.
    let again = flavorbox::Secret::new("dup", "arbitrary", [("k".into(), "again".into())]).unwrap();
    let manager = home.home.manager(None).unwrap();
    let outcome = manager.call_contract(&UpdateSecret(&again)).unwrap();
    match outcome.result {
        Err(err) if err.is(flavorbox::ErrorKind::NotFound) => {
            assert_eq!(err.detail(), "secret `dup` does not exist")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        outcome.logs.iter().any(|r| r
            .message
            .contains("secret `dup`: its current version was deleted")),
        "{:?}",
        outcome.logs
    );

    // A token without the right policy: denied, exit 1, token not shown.
    policy(
        "flavorbox-read-only",
        &[(&format!("secret/data/flavorbox/{ns}/*"), "\"read\"")],
    );
    let limited = api(
        "POST",
        "/v1/auth/token/create",
        Some(json!({ "policies": ["flavorbox-read-only"], "ttl": "10m" })),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    register_manager(
        &home,
        "reader",
        &[
            ("url", &openbao().origin()),
            ("token", &limited),
            ("namespace", &ns),
        ],
        &[],
    );
    let line = home
        .cli(&["secret", "register", "nope", "k=v", "--manager", "reader"])
        .fails(
            1,
            "denied: writing secret `nope`: HTTP 403: permission denied",
        )
        .to_string();
    assert!(!line.contains(&limited), "{line}");
    register_manager(
        &home,
        "forged",
        &[
            ("url", &openbao().origin()),
            ("token", "not-a-real-token"),
            ("namespace", &ns),
        ],
        &[],
    );
    home.cli(&["secret", "list", "--manager", "forged"])
        .fails(1, "denied: listing secrets: HTTP 403");
    api(
        "DELETE",
        &format!("/v1/secret/metadata/flavorbox/{ns}/dup"),
        None,
    );
}

#[test]
fn a_bad_config_is_refused_at_registration_and_nothing_is_stored() {
    let home = TestHome::new();
    register_flavor(&home);
    let origin = openbao().origin();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("token", "t")], "requires config key `url`"),
        (
            &[("url", &origin)],
            "give `token`, or `role_id` and `secret_id`",
        ),
        (
            &[("url", &origin), ("token", "t"), ("role_id", "r")],
            "not both",
        ),
        (&[("url", &origin), ("role_id", "r")], "needs both"),
        (
            &[("url", "ftp://vault:8200"), ("token", "t")],
            "config `url`",
        ),
        (
            &[("url", "http://user@vault/"), ("token", "t")],
            "user info",
        ),
        (
            &[("url", &origin), ("token", "t"), ("mount", "secret/../sys")],
            "config `mount`",
        ),
        (
            &[("url", &origin), ("token", "t"), ("namespace", "a b")],
            "config `namespace`",
        ),
        (
            &[("url", &origin), ("token", "two words")],
            "config `token`",
        ),
        (
            &[("url", &origin), ("token", "t"), ("color", "x")],
            "takes no config key `color`",
        ),
    ];
    for (config, needle) in cases {
        let pairs: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["secrets-manager", "register", "bad", "--flavor", "vault"];
        for pair in &pairs {
            args.extend(["--config", pair]);
        }
        home.cli(&args).fails(2, needle);
    }
    let managers = home.cli(&["secrets-manager", "list", "--output", "json"]);
    let managers: Value = serde_json::from_str(managers.ok()).unwrap();
    assert_eq!(managers.as_array().unwrap().len(), 1, "{managers:#}");

    // What only the server can judge (is anything listening?) is judged at
    // first use: registration makes no request.
    register_manager(
        &home,
        "unreachable",
        &[("url", "http://127.0.0.1:9"), ("token", "t")],
        &[],
    );
    home.cli(&["secret", "list", "--manager", "unreachable"])
        .fails(3, "not granted");
}

#[test]
fn delete_all_of_1000_secrets_finishes_in_one_command() {
    let ns = namespace("thousand");
    let other = namespace("thousand-other");
    seed(&ns, 1000);
    seed(&other, 2);
    let home = token_home(&ns, &[]);
    let names = secret_names(&home, None);
    assert_eq!(names.len(), 1000);
    assert_eq!(names[0], "s0000");
    assert_eq!(names[999], "s0999");
    assert_eq!(revealed(&home, "s0999")["values"]["k"], "v999");

    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(
        all.ok()
            .contains("deleted all 1000 secrets of secrets manager `vault`"),
        "{all:?}"
    );
    assert!(secret_names(&home, None).is_empty());
    let empty = openbao().api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{ns}/?list=true"),
        None,
    );
    assert_eq!(empty.status, 404, "{empty:?}");
    // Another namespace on the same mount is untouched.
    let kept = api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{other}/?list=true"),
        None,
    );
    assert_eq!(kept["data"]["keys"], json!(["s0000", "s0001"]));
    for name in ["s0000", "s0001"] {
        api(
            "DELETE",
            &format!("/v1/secret/metadata/flavorbox/{other}/{name}"),
            None,
        );
    }
}

#[test]
fn a_deletion_refused_halfway_reports_what_was_and_was_not_deleted() {
    let ns = namespace("halfway");
    seed(&ns, 15);
    // This token may delete s0000-s0009 only.
    policy(
        "flavorbox-halfway",
        &[
            (&format!("secret/metadata/flavorbox/{ns}"), "\"list\""),
            (&format!("secret/metadata/flavorbox/{ns}/"), "\"list\""),
            (
                &format!("secret/metadata/flavorbox/{ns}/s000*"),
                "\"read\", \"delete\"",
            ),
            (&format!("secret/metadata/flavorbox/{ns}/*"), "\"read\""),
        ],
    );
    let token = api(
        "POST",
        "/v1/auth/token/create",
        Some(json!({ "policies": ["flavorbox-halfway"], "ttl": "10m" })),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let home = TestHome::new();
    register_flavor(&home);
    register_manager(
        &home,
        "vault",
        &[
            ("url", &openbao().origin()),
            ("token", &token),
            ("namespace", &ns),
        ],
        &["--set-active"],
    );
    let line = home
        .cli(&["secret", "delete-all", "--force"])
        .fails(
            1,
            "delete-all stopped at secret `s0010`: 10 of 15 secrets deleted, 5 not \
             (`s0010`, `s0011`, `s0012`, `s0013`, `s0014`); deleting it failed with denied: \
             deleting secret `s0010`: HTTP 403: permission denied",
        )
        .to_string();
    assert!(line.starts_with("flavorbox: denied: "), "{line}");
    assert_eq!(
        secret_names(&home, None),
        ["s0010", "s0011", "s0012", "s0013", "s0014"]
    );

    // A request cap hit is a sandbox breach (exit 3), reported the same way:
    // here each deletion needs two requests and the manager allows one.
    let capped = TestHome::new();
    register_flavor(&capped);
    register_manager(
        &capped,
        "vault",
        &[
            ("url", &openbao().origin()),
            ("token", ROOT_TOKEN),
            ("namespace", &ns),
        ],
        &["--set-active", "--http-requests", "1"],
    );
    capped.cli(&["secret", "delete-all", "--force"]).fails(
        3,
        "sandbox: denied: delete-all stopped at secret `s0010`: 0 of 5 secrets deleted, \
             5 not (`s0010`, `s0011`, `s0012`, `s0013`, `s0014`); deleting it failed with \
             denied: more than 1 HTTP requests in one call",
    );
    let listed = capped.cli(&["secrets-manager", "list"]);
    assert!(listed.ok().contains("(http-requests 1)"), "{listed:?}");
    capped
        .cli(&[
            "secrets-manager",
            "register",
            "x",
            "--flavor",
            "vault",
            "--http-requests",
            "0",
        ])
        .fails(2, "--http-requests must be 1-10000, not 0");

    let root = token_home(&ns, &[]);
    root.cli(&["secret", "delete-all", "--force"]).ok();
    assert!(secret_names(&root, None).is_empty());
}
