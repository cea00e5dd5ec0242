//! `docs/kubernetes.md`, done here without a cluster: its YAML blocks are
//! read from the page (so the page and this suite cannot drift apart) and
//! played against real nodes on PostgreSQL: the request External Secrets
//! Operator's webhook provider makes for each `ExternalSecret` entry (its
//! `url` and `headers` templates, its `result.jsonPath` on the answer, as
//! the provider's source does them), the answers it turns into "deleted"
//! and into sync errors, the audit entries of its reads, the node's
//! Deployment `args` and `env`, and the application container's `flavorbox
//! run` entry point.
//!
//! What it guards against: a page whose manifests ask for a path, header,
//! JSONPath, flag or variable the server does not answer to, or whose
//! `jsonPath` picks the wrong value (a key holding `.`); a template field
//! this suite does not render is a failure, not a skip.
//!
//! Somewhat over 500 lines: the page's three parts share the reading of
//! its manifests and the rendering of ESO's templates, kept with them.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use flavorbox_tests::http_client::{Answer, request};
use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::serve_node::Node;
use flavorbox_tests::{cli_command, flavorbox_bin};
use serde_json::Value;

use crate::nodes::private_ca_and_certificate;
use crate::tokens::id_of;
use crate::{SHARED_KEY, cli_on, database_with_manager, start};

/// The page under test.
const PAGE: &str = include_str!("../../../docs/kubernetes.md");

/// What the suite registers: the secrets the page's `ExternalSecret`s and
/// `run --secret` name, with values that say where they came from.
const SECRETS: &[(&str, &[(&str, &str)])] = &[
    (
        "db_creds",
        &[
            ("username", "app-user"),
            ("password", "pw-from-flavorbox"),
            ("ca.pem", "ca-pem-body"),
        ],
    ),
    (
        "web_tls",
        &[("tls.crt", "crt-body"), ("tls.key", "key-body")],
    ),
];

/// Every YAML document in the page's ```yaml blocks.
fn manifests() -> Vec<Value> {
    let mut found = Vec::new();
    let mut block: Option<String> = None;
    for line in PAGE.lines() {
        match (block.as_mut(), line.trim_end()) {
            (None, "```yaml") => block = Some(String::new()),
            (Some(text), "```") => {
                for document in text.split("\n---\n") {
                    let value = serde_norway::from_str(document)
                        .unwrap_or_else(|e| panic!("a YAML block of the page: {e}\n{document}"));
                    found.push(value);
                }
                block = None;
            }
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(block.is_none(), "a YAML block of the page is never closed");
    found
}

/// The page's manifest of `kind` named `name`.
fn manifest<'a>(all: &'a [Value], kind: &str, name: &str) -> &'a Value {
    all.iter()
        .find(|m| m["kind"] == kind && m["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the page has no {kind} `{name}`"))
}

/// The page's manifests of `kind`.
fn of_kind<'a>(all: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    all.iter().filter(move |m| m["kind"] == kind)
}

/// The string at `value`, which the page must give.
#[track_caller]
fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string in the page, found {value}"))
}

/// `template` rendered as Go's text/template renders ESO's templates, for
/// the one form the page uses (`{{ .a.b }}`, a field of `fields`); any
/// other action fails the test rather than being left in place.
fn render(template: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let length = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("an unclosed `{{{{` in the page's `{template}`"));
        let field = rest[start + 2..start + length].trim();
        let (_, value) = fields
            .iter()
            .find(|(name, _)| *name == field)
            .unwrap_or_else(|| {
                panic!("the page's `{template}` uses `{field}`, which this suite does not render")
            });
        out.push_str(value);
        rest = &rest[start + length + 2..];
    }
    out.push_str(rest);
    out
}

/// The Service the page's URLs must name: `https://NAME.NAMESPACE.svc:PORT`.
fn service_origin(all: &[Value]) -> String {
    let service = manifest(all, "Service", "flavorbox");
    format!(
        "https://{}.{}.svc:{}",
        text(&service["metadata"]["name"]),
        text(&service["metadata"]["namespace"]),
        service["spec"]["ports"][0]["port"]
    )
}

/// A `SecretStore`'s webhook provider, as ESO's source runs it.
struct Provider<'a> {
    webhook: &'a Value,
    origin: String,
}

impl Provider<'_> {
    /// The request the provider makes for `key` with the token `token`
    /// (what the Secret `secrets[0]` holds under `token`), sent to `node`.
    fn fetch(&self, node: &Node, key: &str, token: &str) -> Answer {
        // The URL is rendered with url.QueryEscape'd fields: a secret's
        // name is of characters it leaves alone.
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)),
            "{key} would be escaped"
        );
        let secret = &self.webhook["secrets"][0];
        let token_field = format!(".{}.token", text(&secret["name"]));
        let fields = [(".remoteRef.key", key), (token_field.as_str(), token)];
        let url = render(text(&self.webhook["url"]), &fields);
        let path = url.strip_prefix(&self.origin).unwrap_or_else(|| {
            panic!(
                "the store's URL `{url}` is not on the Service {}",
                self.origin
            )
        });
        let method = self.webhook["method"].as_str().unwrap_or("GET");
        let headers: Vec<(String, String)> = self.webhook["headers"]
            .as_object()
            .expect("the store sends its token in a header")
            .iter()
            .map(|(name, value)| (name.clone(), render(text(value), &fields)))
            .collect();
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        request(node.port, method, path, &headers, "")
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// The store's `result.jsonPath` with `property` applied to `answer`,
    /// as the provider's `GetSecret` does it (one value).
    fn value(&self, answer: &Answer, property: &str) -> String {
        let found = self.query(answer, property);
        text(&found).to_string()
    }

    /// The same with no property, as the provider's `GetSecretMap` does it
    /// for `dataFrom.extract` (an object of strings).
    fn map(&self, answer: &Answer) -> BTreeMap<String, String> {
        let found = self.query(answer, "");
        let object = found
            .as_object()
            .unwrap_or_else(|| panic!("dataFrom needs an object, the store's path gave {found}"));
        object
            .iter()
            .map(|(k, v)| (k.clone(), text(v).to_string()))
            .collect()
    }

    fn query(&self, answer: &Answer, property: &str) -> Value {
        assert_eq!(answer.status, 200, "{answer:?}");
        let template = text(&self.webhook["result"]["jsonPath"]);
        let path = render(template, &[(".remoteRef.property", property)]);
        let parsed = serde_json_path::JsonPath::parse(&path)
            .unwrap_or_else(|e| panic!("the page's jsonPath `{path}`: {e}"));
        parsed
            .query(&answer.body)
            .exactly_one()
            .unwrap_or_else(|e| panic!("`{path}` on {}: {e}", answer.body))
            .clone()
    }
}

/// The webhook provider of the page's `SecretStore` `name`.
fn provider<'a>(all: &'a [Value], name: &str) -> Provider<'a> {
    let store = manifest(all, "SecretStore", name);
    let webhook = &store["spec"]["provider"]["webhook"];
    assert!(webhook.is_object(), "SecretStore `{name}` has no webhook");
    Provider {
        webhook,
        origin: service_origin(all),
    }
}

/// Registers [`SECRETS`] on `url`'s `default` manager.
fn register_secrets(url: &str) {
    for (name, pairs) in SECRETS {
        let mut args = vec!["secret", "register", name];
        let given: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        args.extend(given.iter().map(String::as_str));
        cli_on(url, &args).ok();
    }
}

/// The value of `key` of the registered secret `name`.
fn registered(name: &str, key: &str) -> String {
    let (_, pairs) = SECRETS.iter().find(|(n, _)| *n == name).unwrap();
    let (_, value) = pairs.iter().find(|(k, _)| *k == key).unwrap();
    value.to_string()
}

/// The page's `flavorbox token create ...` whose `--name` is `name`, run on
/// `url`: the token it prints.
fn documented_token(url: &str, name: &str) -> String {
    let command = PAGE
        .lines()
        .filter_map(|line| line.split_once("flavorbox token create "))
        .map(|(_, args)| args.trim_end_matches(")\"").trim_end_matches(")\" \\"))
        .find(|args| args.split_whitespace().any(|a| a == name))
        .unwrap_or_else(|| panic!("the page makes no token named {name}"));
    let mut args = vec!["token", "create"];
    args.extend(command.split_whitespace());
    cli_on(url, &args).ok().trim().to_string()
}

/// The page's manifests, after registering [`SECRETS`] on `url` and making
/// the page's token `name` there: that token.
fn prepared(url: &str, name: &str) -> (Vec<Value>, String) {
    register_secrets(url);
    (manifests(), documented_token(url, name))
}

#[test]
fn the_webhook_provider_exchange_reads_each_documented_key() {
    let url = Postgres::shared().database();
    let (all, token) = prepared(&url, "app-eso");
    let node = start(&url);

    let mut reads = Vec::new();
    let mut synced = BTreeMap::new();
    for external in of_kind(&all, "ExternalSecret") {
        let spec = &external["spec"];
        assert_eq!(spec["secretStoreRef"]["kind"], "SecretStore");
        let store = provider(&all, text(&spec["secretStoreRef"]["name"]));
        let mut data = BTreeMap::new();
        for entry in spec["data"].as_array().into_iter().flatten() {
            let key = text(&entry["remoteRef"]["key"]);
            let property = text(&entry["remoteRef"]["property"]);
            let answer = store.fetch(&node, key, &token);
            reads.push(key.to_string());
            let value = store.value(&answer, property);
            assert_eq!(value, registered(key, property), "{entry}");
            data.insert(text(&entry["secretKey"]).to_string(), value);
        }
        for entry in spec["dataFrom"].as_array().into_iter().flatten() {
            let key = text(&entry["extract"]["key"]);
            let answer = store.fetch(&node, key, &token);
            reads.push(key.to_string());
            data.extend(store.map(&answer));
        }
        synced.insert(text(&spec["target"]["name"]).to_string(), data);
    }
    // The Kubernetes Secrets ESO would write, as the page says.
    let expected = |pairs: &[(&str, String)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    assert_eq!(
        synced,
        BTreeMap::from([
            (
                "db-creds".to_string(),
                expected(&[
                    ("DB_USER", registered("db_creds", "username")),
                    ("DB_PASSWORD", registered("db_creds", "password")),
                    ("db-ca.pem", registered("db_creds", "ca.pem")),
                ])
            ),
            (
                "tls-files".to_string(),
                expected(&[
                    ("tls.crt", registered("web_tls", "tls.crt")),
                    ("tls.key", registered("web_tls", "tls.key")),
                ])
            ),
        ])
    );

    // Each read is audited with the token's id, no value.
    let audit = cli_on(&url, &["audit", "--output", "json"]);
    assert!(!audit.ok().contains("pw-from-flavorbox"));
    let audited: Vec<(String, Value)> = audit
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["token"] == id_of(&token))
        .map(|e| {
            assert_eq!(
                (&e["operation"], &e["manager"], &e["outcome"]),
                (
                    &Value::from("get-secret"),
                    &Value::from("default"),
                    &Value::from("ok")
                ),
                "{e}"
            );
            (text(&e["secret"]).to_string(), e["status"].clone())
        })
        .collect();
    let expected: Vec<(String, Value)> = reads.into_iter().map(|r| (r, 200.into())).collect();
    assert_eq!(audited, expected);
}

#[test]
fn the_webhook_provider_sees_404_for_a_missing_secret_and_401_or_403_for_a_bad_token() {
    let url = database_with_manager("other");
    let (all, token) = prepared(&url, "app-eso");
    let node = start(&url);
    let store = provider(&all, "flavorbox");

    // A secret the manager does not hold: ESO reads 404 as "deleted".
    let missing = store.fetch(&node, "no_such_secret", &token);
    assert_eq!(
        (missing.status, &missing.body["error"]),
        (404, &Value::from("not-found")),
        "{missing:?}"
    );

    // A token of another manager: 403, a sync error.
    let other = crate::token(&url, "other", "read", &[]);
    let elsewhere = store.fetch(&node, "db_creds", &other);
    assert_eq!(elsewhere.status, 403, "{elsewhere:?}");
    assert!(elsewhere.body["error"].is_string(), "{elsewhere:?}");
    assert!(!elsewhere.raw.contains("pw-from-flavorbox"));

    // The token revoked (as the page's rotation ends): 401, a sync error.
    cli_on(&url, &["token", "revoke", id_of(&token)]).ok();
    let revoked = store.fetch(&node, "db_creds", &token);
    assert_eq!(
        (revoked.status, &revoked.body["error"]),
        (401, &Value::from("unauthorized")),
        "{revoked:?}"
    );
    assert!(!revoked.raw.contains("pw-from-flavorbox"));
}

/// `value` from the page with each of `paths` (the cluster's path, the
/// test's) put in place; any other absolute path is a failure.
fn local(value: &str, paths: &[(&str, &Path)]) -> String {
    match paths.iter().find(|(from, _)| *from == value) {
        Some((_, to)) => to.display().to_string(),
        None => {
            assert!(
                !value.starts_with('/'),
                "the page's path {value} has no stand-in here"
            );
            value.to_string()
        }
    }
}

/// The one container of the page's Deployment `name`.
fn container<'a>(all: &'a [Value], name: &str) -> &'a Value {
    let containers = &manifest(all, "Deployment", name)["spec"]["template"]["spec"]["containers"];
    let containers = containers.as_array().expect("a Deployment has containers");
    assert_eq!(containers.len(), 1, "{name}");
    &containers[0]
}

/// A container's `env` with `value`s through [`local`] and each
/// `secretKeyRef` as `secrets` gives it.
fn environment(
    container: &Value,
    paths: &[(&str, &Path)],
    secrets: &[((&str, &str), &str)],
) -> Vec<(String, String)> {
    let env = container["env"].as_array().expect("the container has env");
    env.iter()
        .map(|var| {
            let value = if let Some(value) = var["value"].as_str() {
                local(value, paths)
            } else {
                let from = &var["valueFrom"]["secretKeyRef"];
                let wanted = (text(&from["name"]), text(&from["key"]));
                let (_, value) = secrets
                    .iter()
                    .find(|(which, _)| *which == wanted)
                    .unwrap_or_else(|| panic!("no stand-in for the Secret key {wanted:?}"));
                value.to_string()
            };
            (text(&var["name"]).to_string(), value)
        })
        .collect()
}

#[test]
fn the_documented_nodes_and_run_wrapper_work_together() {
    let url = Postgres::shared().database();
    let (all, token) = prepared(&url, "app-run");
    let certificates = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca_and_certificate(certificates.path());

    // The node, as the Deployment `flavorbox` starts it.
    let serve = container(&all, "flavorbox");
    // The volume: the node makes its home in it.
    let volume = tempfile::tempdir().unwrap();
    let paths = [
        ("/etc/flavorbox/tls/tls.crt", cert.as_path()),
        ("/etc/flavorbox/tls/tls.key", key.as_path()),
        ("/var/lib/flavorbox", volume.path()),
    ];
    let args: Vec<String> = serve["args"]
        .as_array()
        .expect("the serve container has args")
        .iter()
        .map(|arg| match text(arg) {
            "0.0.0.0:8200" => "127.0.0.1:0".to_string(),
            other => local(other, &paths),
        })
        .collect();
    let store_secrets = [
        (("flavorbox-store", "url"), url.as_str()),
        (("flavorbox-store", "master-key"), SHARED_KEY),
    ];
    // (With the suites' shared compile cache, FLAVORBOX_CACHE_DIR.)
    let mut command = cli_command(None);
    command
        .args(&args)
        .envs(environment(serve, &paths, &store_secrets));
    // A container has no XDG_DATA_HOME: HOME places the default home.
    command.env_remove("XDG_DATA_HOME");
    let home = volume.path().join(".local/share/flavorbox");
    let node = Node::spawn(command, volume);
    let mode = std::fs::metadata(&home).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o700), "the node's home {}", home.display());

    // The application's container, as the Deployment `app` starts it.
    let app = container(&all, "app");
    let init =
        &manifest(&all, "Deployment", "app")["spec"]["template"]["spec"]["initContainers"][0];
    let copied_to = text(&init["command"][2]);
    assert_eq!(text(&app["command"][0]), copied_to, "runs what init copied");
    assert!(
        PAGE.contains(&format!(
            "COPY target/release/flavorbox {}\n",
            text(&init["command"][1])
        )),
        "the init container copies the image's binary"
    );
    let origin = service_origin(&all);
    let local_origin = format!("https://127.0.0.1:{}", node.port);
    let mut args: Vec<String> = app["args"]
        .as_array()
        .expect("the app container has args")
        .iter()
        .map(|arg| text(arg).replace(&origin, &local_origin))
        .collect();
    assert!(
        args.contains(&local_origin),
        "run names the Service: {args:?}"
    );
    // The program: its environment, written where the test reads it.
    assert_eq!(args.pop().as_deref(), Some("./app"));
    let seen = tempfile::tempdir().unwrap();
    let seen_file = seen.path().join("env");
    args.extend(["sh", "-c", "env > \"$SEEN_FILE\""].map(String::from));
    let app_secrets = [(("flavorbox-app-token", "token"), token.as_str())];
    let paths = [("/etc/flavorbox/ca/ca.crt", ca.as_path())];
    // Only what the container's env sets, a PATH and an empty HOME.
    let container_home = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(flavorbox_bin());
    command
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", container_home.path())
        .env("SEEN_FILE", &seen_file)
        .envs(environment(app, &paths, &app_secrets));
    let ran = command.output().expect("run flavorbox run");
    assert!(ran.status.success(), "{ran:?}");
    let written: Vec<_> = std::fs::read_dir(container_home.path()).unwrap().collect();
    assert!(written.is_empty(), "run wrote {written:?} under HOME");

    let seen = std::fs::read_to_string(&seen_file).unwrap();
    let seen: BTreeMap<&str, &str> = seen.lines().filter_map(|l| l.split_once('=')).collect();
    for (var, key) in [
        ("DB_USERNAME", "username"),
        ("DB_PASSWORD", "password"),
        ("DB_CA_PEM", "ca.pem"),
    ] {
        assert_eq!(
            seen.get(var).copied(),
            Some(registered("db_creds", key).as_str())
        );
    }
    let leaked: Vec<&&str> = seen
        .keys()
        .filter(|k| k.starts_with("FLAVORBOX_"))
        .collect();
    assert!(leaked.is_empty(), "the program saw {leaked:?}");
    // The read is the app token's.
    let audit = cli_on(&url, &["audit", "--output", "json"]).json();
    let by_app = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["token"] == id_of(&token) && e["secret"] == "db_creds")
        .count();
    assert!(by_app >= 1, "{audit}");
}
