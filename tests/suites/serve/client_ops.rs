//! The CLI's client mode for every secret command: rename (refused while a
//! config refers to the secret, `--force`), `update --remove-key`,
//! `register -i` and `update -i` (prompting on the client against the
//! server's schema), export and import (`client_transfer.rs`) say and do
//! over `--server` what they say and do locally: the same stdout, stderr
//! and exit code, run side by side on twin stores. A read token is refused
//! rename and import (`403` naming the role); an import body past its
//! bound is `413` with nothing written; operator commands refuse a server
//! with one line saying where they run.

use std::time::Duration;

use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::serve_node::Node;
use flavorbox_tests::{Run, run_cli_env};
use serde_json::{Value, json};

use crate::{cli_on, start, token};

/// Two stores set up alike: a command runs on `here` locally and on
/// `there` through a node, and both runs are compared.
pub(crate) struct Twins {
    pub(crate) here: String,
    pub(crate) there: String,
    pub(crate) node: Node,
    url: String,
    token: String,
    /// An empty HOME for the client: no home is opened or created.
    client_home: tempfile::TempDir,
}

impl Twins {
    /// Twin stores, a node on `there`, and a token of `role` on `default`.
    pub(crate) fn new(role: &str) -> Twins {
        let (here, there) = (Postgres::shared().database(), Postgres::shared().database());
        let token = token(&there, "default", role, &[]);
        let node = start(&there);
        Twins {
            url: node.url(),
            node,
            here,
            there,
            token,
            client_home: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs `args` locally on both stores (setting them up alike).
    pub(crate) fn both(&self, args: &[&str]) {
        cli_on(&self.here, args).ok();
        cli_on(&self.there, args).ok();
    }

    /// The environment a client of the node runs in, with `token`.
    pub(crate) fn env<'a>(&'a self, token: &'a str) -> [(&'a str, &'a str); 3] {
        [
            ("FLAVORBOX_SERVER", self.url.as_str()),
            ("FLAVORBOX_TOKEN", token),
            ("HOME", self.client_home.path().to_str().unwrap()),
        ]
    }

    /// `args` through the node, with this pair's token.
    pub(crate) fn remote(&self, args: &[&str]) -> Run {
        self.remote_with(&self.token, args)
    }

    /// `args` through the node, with `token`.
    pub(crate) fn remote_with(&self, token: &str, args: &[&str]) -> Run {
        run_cli_env(None, args, None, &self.env(token))
    }

    /// `args` locally on `here` and through the node on `there`: the same
    /// exit code, stdout and stderr; the remote run.
    #[track_caller]
    pub(crate) fn same(&self, args: &[&str]) -> Run {
        let (local, remote) = (cli_on(&self.here, args), self.remote(args));
        assert_eq!(
            (local.code, &local.stdout, &local.stderr),
            (remote.code, &remote.stdout, &remote.stderr),
            "{args:?}: locally {local:?}, over HTTP {remote:?}"
        );
        remote
    }

    /// Secret `name` of `manager` on `there`, read locally.
    pub(crate) fn values_there(&self, name: &str, manager: &str) -> Value {
        let args = [
            "secret", "-m", manager, "get", name, "--reveal", "--output", "json",
        ];
        let shown: Value = serde_json::from_str(cli_on(&self.there, &args).ok()).unwrap();
        shown["values"].clone()
    }
}

#[test]
fn rename_is_refused_while_referenced_and_forced_alike_over_a_server() {
    let twins = Twins::new("write");
    twins.both(&["secret", "register", "db", "user=u", "password=pw"]);
    let keys = ["aws_access_key_id=A", "aws_secret_access_key=S"];
    twins.both(&["secret", "register", "aws_creds", keys[0], keys[1]]);
    let mut register = vec!["secrets-manager", "register", "prod", "--flavor", "aws"];
    for config in [
        "region=us-east-1",
        "aws_access_key_id=x",
        "aws_secret_access_key={{aws_creds.aws_secret_access_key}}",
        "endpoint=http://127.0.0.1:9",
    ] {
        register.extend(["--config", config]);
    }
    twins.both(&register);

    let renamed = twins.same(&["secret", "rename", "db", "db2"]);
    assert_eq!(
        renamed.ok(),
        "renamed secret `db` to `db2` in secrets manager `default`\n"
    );
    assert_eq!(twins.values_there("db2", "default")["password"], "pw");
    twins
        .same(&["secret", "rename", "db", "db3"])
        .fails(1, "`db` does not exist");
    twins
        .same(&["secret", "rename", "db2", "aws_creds"])
        .fails(1, "aws_creds");
    twins
        .same(&["secret", "rename", "db2", "bad name"])
        .fails(2, "bad name");
    let referrer = "config `aws_secret_access_key` of secrets manager `prod`";
    twins
        .same(&["secret", "rename", "aws_creds", "aws2"])
        .fails(1, referrer);
    let forced = twins.same(&["secret", "rename", "aws_creds", "aws2", "--force"]);
    assert_eq!(
        forced.ok(),
        "renamed secret `aws_creds` to `aws2` in secrets manager `default`\n"
    );
    assert!(
        forced
            .stderr
            .contains(&format!("renamed secret `aws_creds` broke {referrer}")),
        "{forced:?}"
    );
    assert_eq!(
        twins.values_there("aws2", "default")["aws_secret_access_key"],
        "S"
    );
}

#[test]
fn update_remove_key_works_over_a_server_as_locally() {
    let twins = Twins::new("write");
    twins.both(&["secret", "register", "api", "a=1", "b=2", "c=3"]);
    let updated = twins.same(&["secret", "update", "api", "--remove-key", "a", "d=4"]);
    assert_eq!(
        updated.ok(),
        "updated secret `api` (3 keys, schema arbitrary)\n"
    );
    assert_eq!(
        twins.values_there("api", "default"),
        json!({ "b": "2", "c": "3", "d": "4" })
    );
    twins.same(&[
        "secret",
        "update",
        "api",
        "--remove-key",
        "b",
        "--remove-key",
        "c",
    ]);
    assert_eq!(twins.values_there("api", "default"), json!({ "d": "4" }));
    for refused in [
        &["secret", "update", "api", "--remove-key", "nope"][..],
        &["secret", "update", "api", "--remove-key", "d"],
        &["secret", "update", "api"],
        &["secret", "update", "ghost", "--remove-key", "d"],
    ] {
        let run = twins.same(refused);
        assert_ne!(run.code, 0, "{refused:?}: {run:?}");
    }
}

/// `script` run by `sh` in a pseudo-terminal, `$FB` being the CLI as a
/// client of the twins' node.
pub(crate) fn client_terminal(twins: &Twins, script: &str) -> expectrl::Session {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env("FB", flavorbox_tests::cli::flavorbox_bin())
        .env("FLAVORBOX_CACHE_DIR", flavorbox_tests::cli::cache_dir())
        .envs(twins.env(&twins.token))
        .env_remove("FLAVORBOX_HOME")
        .env_remove("FLAVORBOX_LOG");
    let mut session = expectrl::Session::spawn(cmd).expect("spawn in a pseudo-terminal");
    session.set_expect_timeout(Some(Duration::from_secs(60)));
    session
}

/// What the terminal shows until the script ends.
pub(crate) fn rest(session: &mut expectrl::Session) -> String {
    let captured = session.expect(expectrl::Eof).expect("the script ends");
    String::from_utf8_lossy(&captured[0]).into_owned()
}

#[test]
fn register_and_update_prompt_on_the_client_against_the_servers_schema() {
    let twins = Twins::new("write");
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("api.json");
    let text = r#"{"name":"api_key","required":["token"],"optional":["url"]}"#;
    std::fs::write(&schema, text).unwrap();
    cli_on(
        &twins.there,
        &["schema", "register", schema.to_str().unwrap()],
    )
    .ok();

    // A built-in schema: a required key cannot be skipped.
    let script = "$FB secret register web --schema basic_auth -i; echo EXIT=$?";
    let mut term = client_terminal(&twins, script);
    term.expect("username: ").unwrap();
    term.send("\r").unwrap();
    term.expect("username is required by schema `basic_auth`")
        .unwrap();
    term.send("typed-user\r").unwrap();
    term.expect("password: ").unwrap();
    term.send("typed-password\r").unwrap();
    let out = rest(&mut term);
    assert!(
        out.contains("registered secret `web` (2 keys, schema basic_auth)"),
        "{out}"
    );
    assert!(out.contains("EXIT=0") && !out.contains("typed-"), "{out}");
    assert_eq!(
        twins.values_there("web", "default"),
        json!({ "username": "typed-user", "password": "typed-password" })
    );

    // A user schema of the server's store, then an update where Enter
    // keeps the current value.
    let script = "$FB secret register key --schema api_key -i; echo EXIT=$?";
    let mut term = client_terminal(&twins, script);
    term.expect("token: ").unwrap();
    term.send("t-1\r").unwrap();
    term.expect("url (optional, empty to skip): ").unwrap();
    term.send("\r").unwrap();
    assert!(rest(&mut term).contains("EXIT=0"));
    let script = "$FB secret update key -i; echo EXIT=$?";
    let mut term = client_terminal(&twins, script);
    term.expect("token (Enter keeps the current value): ")
        .unwrap();
    term.send("\r").unwrap();
    term.expect("url (optional, empty to skip): ").unwrap();
    term.send("https://x\r").unwrap();
    let out = rest(&mut term);
    assert!(
        out.contains("updated secret `key` (2 keys, schema api_key)"),
        "{out}"
    );
    assert_eq!(
        twins.values_there("key", "default"),
        json!({ "token": "t-1", "url": "https://x" })
    );
    // A schema the server does not have: the local words, exit 2.
    let missing = twins.remote(&["secret", "register", "x", "--schema", "nope", "-i"]);
    let local = cli_on(
        &twins.here,
        &["secret", "register", "x", "--schema", "nope", "-i"],
    );
    assert_eq!((missing.code, &missing.stderr), (local.code, &local.stderr));
}

#[test]
fn a_read_token_is_refused_rename_and_import_naming_the_role() {
    let twins = Twins::new("read");
    cli_on(&twins.there, &["secret", "register", "db", "k=v"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.json");
    let doc = json!({ "flavorbox_export": 1, "manager": "m",
                      "secrets": [{ "name": "n", "schema": "arbitrary", "values": { "k": "v" } }] });
    std::fs::write(&file, doc.to_string()).unwrap();
    for (args, operation) in [
        (&["secret", "rename", "db", "db2"][..], "rename-secret"),
        (
            &["secret", "import", file.to_str().unwrap()],
            "import-secrets",
        ),
        (
            &["secret", "update", "db", "--remove-key", "k"],
            "update-secret",
        ),
    ] {
        twins.remote(args).fails(
            1,
            &format!(
                "{operation} needs role write on secrets manager `default`; this token has \
                 role read"
            ),
        );
    }
    // What it may read, it reads: the export and a schema.
    let export = twins.remote(&["secret", "export", "--reveal"]);
    assert!(export.ok().contains("\"k\": \"v\""), "{export:?}");
    let schema = twins.node.call(
        "GET",
        "/v1/managers/default/schemas/aws",
        Some(&twins.token),
        None,
    );
    assert_eq!(schema.status, 200, "{schema:?}");
    assert_eq!(schema.body["required"][0], "aws_access_key_id");
    assert_eq!(
        cli_on(&twins.there, &["secret", "list"]).ok(),
        "db\n",
        "nothing renamed or imported"
    );
}

/// Sends `body` as a request to the node at `port` from another thread
/// (the node may stop reading it and close) and reads the answer.
fn hostile_post(port: u16, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    sending.join().unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

#[test]
fn an_import_body_past_its_bound_is_413_and_writes_nothing() {
    let twins = Twins::new("write");
    let bound = flavorbox::serve::MAX_IMPORT_BODY_BYTES;
    // Valid secrets, more of them than the bound holds.
    let value = "v".repeat(60_000);
    let count = bound / value.len() + 10;
    let secrets: Vec<Value> = (0..count)
        .map(|i| json!({ "name": format!("s{i}"), "values": { "k": value } }))
        .collect();
    let body = serde_json::to_vec(&json!({ "secrets": secrets })).unwrap();
    assert!(body.len() > bound);
    let path = "/v1/managers/default/import";
    let (status, answer) = hostile_post(twins.node.port, path, &twins.token, body);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"], "too-large", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains(&bound.to_string())),
        "{answer}"
    );
    assert_eq!(cli_on(&twins.there, &["secret", "list"]).ok(), "");
    // Any other route past its own bound (1 MiB) alike.
    let huge = format!(
        r#"{{"name":"n","values":{{"k":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let secrets = "/v1/managers/default/secrets";
    let (status, answer) = hostile_post(twins.node.port, secrets, &twins.token, huge.into());
    assert_eq!((status, &answer["error"]), (413, &json!("too-large")));
    assert_eq!(cli_on(&twins.there, &["secret", "list"]).ok(), "");
}

#[test]
fn operator_commands_refuse_a_server_saying_where_they_run() {
    let twins = Twins::new("admin");
    for (args, path) in [
        (&["token", "list"][..], "flavorbox token list"),
        (&["audit"], "flavorbox audit"),
        (&["serve"], "flavorbox serve"),
        (&["flavor", "list"], "flavorbox flavor list"),
        (
            &["secrets-manager", "list"],
            "flavorbox secrets-manager list",
        ),
    ] {
        let err = twins
            .remote(args)
            .fails(2, "FLAVORBOX_SERVER is set, but")
            .to_string();
        assert!(
            err.contains(&format!(
                "`{path}` runs where the store is: on the server's machine, without \
                 FLAVORBOX_SERVER (unset it); --server and --token-file go with `secret`, \
                 `run`, `resolve` and `whoami` only"
            )),
            "{err}"
        );
        let mut given = args.to_vec();
        given.extend(["--server", twins.url.as_str()]);
        let err = run_cli_env(None, &given, None, &[])
            .fails(2, "--server")
            .to_string();
        assert!(
            err.contains(&format!(
                "`{path}` runs where the store is: on the server's machine, without --server"
            )),
            "{err}"
        );
    }
}
