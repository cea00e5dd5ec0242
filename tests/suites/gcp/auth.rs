//! Credentials and refusals: the access token cached in the flavor's
//! storage and replaced once revoked, Google's refusals mapped onto exit
//! codes without a credential shown, and a bad config refused at
//! registration with nothing stored.

use flavorbox_tests::TestHome;
use flavorbox_tests::gcp_fake::{self, ACCESS_TOKEN, PROJECT, fake_gcp};
use serde_json::{Value, json};

use crate::{FLAVOR, gcp_home, key_config, namespace, register_flavor, register_manager};

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
    home.register_secret("one", &["k=v1"]);
    for _ in 0..3 {
        assert_eq!(home.revealed("one", None)["values"]["k"], "v1");
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
    assert_eq!(home.revealed("one", None)["values"]["k"], "v1");
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
    home.register_secret("dup", &["k=first-value"]);
    // The flavor read its cached access token (a credential the host never
    // saw) before these failed, so the error lines are in the host's words;
    // Google's own are one explicit opt-in away.
    home.cli(&["secret", "register", "dup", "k=second-value"])
        .fails(1, "already exists: secret `dup` already exists");
    let withheld = home.cli_env(
        &["secret", "register", "dup", "k=second-value"],
        &[("FLAVORBOX_LOG", "secret_bearing=info")],
    );
    assert!(
        withheld
            .stderr
            .contains("creating secret `dup`: ALREADY_EXISTS: Secret [projects/"),
        "{withheld:#?}"
    );
    assert_eq!(home.revealed("dup", None)["values"]["k"], "first-value");
    home.cli(&["secret", "get", "missing"])
        .fails(1, "not found: secret `missing` does not exist");
    home.cli(&["secret", "update", "missing", "k=v"])
        .fails(1, "not found");
    // A soft delete (contract 0.2) reads the secret first.
    home.cli(&["secret", "delete", "missing", "--yes"])
        .fails(1, "not found: reading secret `missing`: NOT_FOUND");
    home.cli(&["secret", "delete", "missing", "--purge", "--yes"])
        .fails(1, "not found: reading secret `missing`: NOT_FOUND");
    home.cli(&["secret", "register", "bad", "zenml_schema_name=x"])
        .fails(2, "reserved");

    // A ready access token works; a forged one is refused, and not shown.
    let token_config = [
        ("project_id", PROJECT.to_string()),
        ("access_token", ACCESS_TOKEN.to_string()),
        ("endpoint", fake.origin()),
        ("namespace", ns.clone()),
    ];
    register_manager(&home, "by-token", &token_config, &[]);
    assert_eq!(
        home.revealed("dup", Some("by-token"))["values"]["k"],
        "first-value"
    );
    let mut forged = token_config.clone();
    forged[1].1 = "ya29.forged-token-value".to_string();
    register_manager(&home, "forged", &forged, &[]);
    let line = home
        .cli(&["secret", "list", "--manager", "forged"])
        .fails(1, "denied: listing secrets: UNAUTHENTICATED")
        .to_string();
    assert!(!line.contains("forged-token-value"), "{line}");

    // Another project than the key's: PERMISSION_DENIED.
    let mut elsewhere = key_config(fake, &ns);
    elsewhere[0].1 = "someone-elses".to_string();
    register_manager(&home, "elsewhere", &elsewhere, &[]);
    home.cli(&["secret", "get", "dup", "--manager", "elsewhere"])
        .fails(
            1,
            "denied: get-secret was denied after the flavor read stored or remote data",
        );
    let withheld = home.cli_env(
        &["secret", "get", "dup", "--manager", "elsewhere"],
        &[("FLAVORBOX_LOG", "secret_bearing=info")],
    );
    assert!(
        withheld
            .stderr
            .contains("reading secret `dup`: PERMISSION_DENIED"),
        "{withheld:#?}"
    );

    // A key of an account the token endpoint does not know.
    let mut key = fake.key();
    key["client_email"] = json!("stranger@elsewhere.iam.gserviceaccount.com");
    let stranger = home.path().join("stranger.json");
    std::fs::write(&stranger, key.to_string()).unwrap();
    let mut config = key_config(fake, &ns);
    config[1].1 = format!("@{}", stranger.display());
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
    let key = fake.key();
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
    let managers = home
        .cli(&["secrets-manager", "list", "--output", "json"])
        .json();
    assert_eq!(managers.as_array().unwrap().len(), 1, "{managers:#}");
}
