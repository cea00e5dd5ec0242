//! The flavors bundled with the binary: listed on a fresh home with their
//! version and digest, registered (with nothing granted) when first used,
//! and upgraded with the binary as `--replace` would, digests before and
//! after; a flavor an operator registered from a file, or one a newer
//! flavorbox registered in a shared store, is left alone.

use flavorbox::registry::BUNDLED;
use flavorbox_tests::{TestHome, guests};
use serde_json::Value;

/// The home's SQLite store, opened beside flavorbox (as an older or newer
/// flavorbox sharing it would write it).
fn store(home: &TestHome) -> rusqlite::Connection {
    rusqlite::Connection::open(home.path().join("flavorbox.db")).unwrap()
}

/// The `aws` component with a custom section appended: the same code
/// under another digest, standing in for the component an older
/// flavorbox bundled. Returns its path and digest.
fn older_aws(home: &TestHome) -> (String, String) {
    let mut wasm = guests::AWS.bytes();
    wasm.extend_from_slice(&[0, 4, 3, b'o', b'l', b'd']);
    let digest = flavorbox::sandbox::cache::digest(&wasm);
    let path = home.path().join("aws-older.wasm");
    std::fs::write(&path, wasm).unwrap();
    (path.to_str().unwrap().to_string(), digest)
}

/// `flavor list -o json`: (name, bundled, registered, digest) of each.
fn listed(home: &TestHome) -> Vec<(String, bool, bool, String)> {
    let run = home.cli(&["flavor", "list", "-o", "json"]);
    let flavors: Vec<Value> = serde_json::from_str(run.ok()).unwrap();
    flavors
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["bundled"].as_bool().unwrap(),
                f["registered"].as_bool().unwrap(),
                f["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_fresh_home_lists_the_four_flavors_with_version_and_digest() {
    let home = TestHome::new();
    let mut expected = vec![(
        "local".to_string(),
        true,
        true,
        flavorbox::registry::LOCAL_DIGEST.to_string(),
    )];
    expected.extend(
        BUNDLED
            .iter()
            .map(|f| (f.name.to_string(), true, false, f.digest.to_string())),
    );
    assert_eq!(listed(&home), expected);

    let table = home.cli(&["flavor", "list"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 5, "{table:?}");
    assert!(lines[0].starts_with("FLAVOR"), "{table:?}");
    assert!(lines[1].starts_with("local "), "{table:?}");
    for (line, flavor) in lines[2..].iter().zip(BUNDLED) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], flavor.name, "{line}");
        assert_eq!(&words[2..5], ["bundled,", "not", "registered"], "{line}");
        assert_eq!(words[5], &flavor.digest[..19], "{line}");
    }
    // Listing registers nothing.
    assert!(!listed(&home)[1].2);
}

#[test]
fn an_upgraded_binary_replaces_the_bundled_flavor_keeping_grants_and_managers() {
    let home = TestHome::new();
    let origin = "http://127.0.0.1:9";
    home.register_manager(
        "prod",
        "aws",
        &[
            ("region", "us-east-1"),
            ("aws_access_key_id", "testing"),
            ("aws_secret_access_key", "testing"),
            ("endpoint", origin),
        ],
        &[],
    );
    home.cli(&["flavor", "grant", "aws", "--allow-host", origin])
        .ok();
    let bundled = &BUNDLED[0];
    assert_eq!(bundled.name, "aws");

    // What an older flavorbox left: its own component, recorded as bundled,
    // of an older version.
    let (older, older_digest) = older_aws(&home);
    home.cli(&["flavor", "register", &older, "--replace", "aws"])
        .ok();
    store(&home)
        .execute(
            "UPDATE flavors SET bundled = 1, info = json_set(info, '$.version', '0.0.1') \
             WHERE name = 'aws'",
            [],
        )
        .unwrap();

    // The next command (any that opens the home) upgrades it, once.
    let run = home.cli(&["secrets-manager", "list"]);
    run.ok();
    // The guests share the workspace's version.
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        format!(
            "flavorbox: upgraded bundled flavor `aws`: 0.0.1 ({older_digest}) -> {version} ({}); \
             grants, limits, secrets managers and secrets are kept",
            bundled.digest
        ),
        "{run:?}"
    );
    assert_eq!(
        listed(&home)[1],
        ("aws".to_string(), true, true, bundled.digest.to_string())
    );
    let again = home.cli(&["flavor", "describe", "aws"]);
    assert_eq!(again.stderr, "", "upgraded once: {again:?}");
    assert!(
        again.ok().contains(&format!("http origins: {origin}\n")),
        "the grant is kept: {again:?}"
    );
    assert!(home.cli(&["secrets-manager", "list"]).ok().contains("prod"));
}

#[test]
fn a_flavor_from_a_file_or_from_a_newer_flavorbox_is_never_replaced() {
    let home = TestHome::new();
    home.register_flavor(guests::AWS, &[]).ok();
    let (older, older_digest) = older_aws(&home);

    // The operator's own component under the bundled name: theirs.
    home.cli(&["flavor", "register", &older, "--replace", "aws"])
        .ok();
    let run = home.cli(&["flavor", "list", "-o", "json"]);
    assert_eq!(run.stderr, "", "{run:?}");
    assert_eq!(
        listed(&home)[1],
        ("aws".to_string(), false, true, older_digest.clone())
    );

    // A bundled flavor a newer flavorbox sharing the store registered.
    store(&home)
        .execute(
            "UPDATE flavors SET bundled = 1, info = json_set(info, '$.version', '99.0.0') \
             WHERE name = 'aws'",
            [],
        )
        .unwrap();
    let run = home.cli(&["flavor", "list", "-o", "json"]);
    assert_eq!(run.stderr, "", "{run:?}");
    assert_eq!(
        listed(&home)[1],
        ("aws".to_string(), true, true, older_digest)
    );
}

#[test]
fn the_first_manager_registers_the_flavor_and_names_each_grant_it_needs() {
    let home = TestHome::new();
    let url = "https://vault.example.com:8200";
    let register = |name: &str, auth: &[&str]| {
        let mut args = vec![
            "secrets-manager",
            "register",
            name,
            "--flavor",
            "vault",
            "--config",
        ];
        let url_pair = format!("url={url}");
        args.push(&url_pair);
        for pair in auth {
            args.extend(["--config", pair]);
        }
        let run = home.cli(&args);
        run.ok();
        run
    };

    // AppRole keeps its token in the manager's storage: that comes first.
    let approle = register("approle", &["role_id=r", "secret_id=s"]);
    assert!(
        approle
            .stdout
            .starts_with("registered bundled flavor `vault` "),
        "{approle:?}"
    );
    assert_eq!(
        approle.stderr.trim_end(),
        "flavorbox: flavor `vault` uses capability `storage` for this config, which is not \
         granted; grant it with: flavorbox flavor grant vault --grant storage"
    );
    // A plain token goes straight to the server; registered once only.
    let token = register("token", &["token=t"]);
    assert!(!token.stdout.contains("bundled"), "{token:?}");
    assert_eq!(
        token.stderr.trim_end(),
        format!(
            "flavorbox: flavor `vault` needs {url} for this config, which is not granted; \
             grant it with: flavorbox flavor grant vault --allow-host {url}"
        )
    );
    home.cli(&["flavor", "grant", "vault", "--allow-host", url])
        .ok();
    let granted = register("again", &["token=t"]);
    assert_eq!(granted.stderr, "", "nothing left to grant: {granted:?}");
}

#[test]
fn a_config_the_bundled_flavor_refuses_registers_nothing() {
    let home = TestHome::new();
    home.cli(&[
        "secrets-manager",
        "register",
        "g",
        "--flavor",
        "gcp_secrets_manager",
        "--config",
        "project_id=P!",
        "--config",
        "access_token=t",
    ])
    .fails(2, "flavor `gcp_secrets_manager` refuses this config");
    assert_eq!(listed(&home)[2].0, "gcp_secrets_manager");
    assert!(!listed(&home)[2].2, "not registered: {:?}", listed(&home));
}
