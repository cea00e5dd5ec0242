//! Credentials and refusals: an AppRole token cached in the flavor's
//! storage and replaced once revoked, Vault's refusals mapped onto exit
//! codes without a credential shown, and a bad config refused at
//! registration with nothing stored.

use flavorbox::sandbox::exports::UpdateSecret;
use flavorbox_tests::TestHome;
use flavorbox_tests::openbao::openbao;
use serde_json::{Value, json};

use crate::{
    api, approle_home, namespace, policy, register_flavor, register_manager, token_home, token_with,
};

#[test]
fn an_approle_token_is_cached_and_replaced_once_revoked() {
    let ns = namespace("token-cache");
    // The secret id logs in twice at most: every call past the second
    // works only if the token was cached.
    let (home, role_id, secret_id) = approle_home("token-cache", 2, &ns);
    home.register_secret("one", &["k=v1"]);
    for _ in 0..3 {
        assert_eq!(home.revealed("one", None)["values"]["k"], "v1");
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
    assert_eq!(home.secret_names(None), ["one"]);
    assert_eq!(home.revealed("one", None)["values"]["k"], "v1");

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
    let withheld = home.cli_env(
        &["secret", "get", "one"],
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
    home.register_secret("dup", &["k=first-value"]);
    home.cli(&["secret", "register", "dup", "k=second-value"])
        .fails(
            1,
            "already exists: writing secret `dup`: HTTP 400: check-and-set",
        );
    assert_eq!(home.revealed("dup", None)["values"]["k"], "first-value");
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
    let limited = token_with("flavorbox-read-only");
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
    let managers = home
        .cli(&["secrets-manager", "list", "--output", "json"])
        .json();
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
        .fails(1, "may not reach http://127.0.0.1:9: grant it with");
}
