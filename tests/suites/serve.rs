//! `flavorbox serve` on a real PostgreSQL (a throwaway cluster this binary
//! starts, `support/postgres.rs`): the PostgreSQL store under the
//! conformance suite (the store's own rules, on both backends, are the store
//! suite's: `suites/store.rs`), the HTTP API and the CLI's
//! client mode, every role against every operation, two nodes on one
//! database, 100 concurrent updates of one secret spread over two nodes,
//! and a node killed with SIGKILL in the middle of writes.

#[path = "../support/postgres.rs"]
mod postgres;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flavorbox::Home;
use flavorbox::conformance::{Suite, SuiteOptions};
use flavorbox::store::{Database, PostgresDatabase, TxnMode};
use flavorbox_tests::{cache_dir, flavorbox_bin, guest, run_cli, run_cli_env, shared_sandbox};
use postgres::Postgres;
use serde_json::{Value, json};

/// The master key every node and client of one PostgreSQL store shares (a
/// store is sealed under one key; a node with another is refused).
const SHARED_KEY: &str = "7f3c1a9e5b2d48f06c1e9a7b3d5f2c8e0a4b6d8f1c3e5a7b9d0f2e4c6a8b0d1e";

/// A home directory holding the shared master key.
fn keyed_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("master.key"), SHARED_KEY).unwrap();
    home
}

/// A `flavorbox serve` node on a free port, killed when dropped.
struct Node {
    child: Child,
    port: u16,
    _home: tempfile::TempDir,
}

impl Node {
    fn start(store: &str) -> Node {
        Node::start_with(store, &[])
    }

    fn start_with(store: &str, flags: &[&str]) -> Node {
        let home = keyed_home();
        let mut child = Command::new(flavorbox_bin())
            .arg("--home")
            .arg(home.path())
            .args(["--store", store, "serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .env("FLAVORBOX_CACHE_DIR", cache_dir())
            .env_remove("FLAVORBOX_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start flavorbox serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{line}`"));
        // Keep draining stderr so the node never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Node {
            child,
            port,
            _home: home,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        http(self.port, method, path, token, body.map(|b| b.to_string()))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    raw: String,
}

/// One HTTP/1.1 request on its own connection.
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<String>) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the node");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response:?}"));
    let raw = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Answer {
        status,
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
    }
}

/// Creates a token with the CLI on `store`.
fn token(store: &str, manager: &str, role: &str, extra: &[&str]) -> String {
    let home = keyed_home();
    let mut args = vec![
        "--store",
        store,
        "token",
        "create",
        "--manager",
        manager,
        "--role",
        role,
    ];
    args.extend_from_slice(extra);
    let run = run_cli(Some(home.path()), &args, None);
    run.ok().trim().to_string()
}

fn cli_on(store: &str, args: &[&str]) -> flavorbox_tests::Run {
    let home = keyed_home();
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    run_cli(Some(home.path()), &all, None)
}

fn pg_home(url: &str) -> (tempfile::TempDir, Home) {
    let dir = keyed_home();
    let home = Home::builder(dir.path())
        .store(url)
        .shared_sandbox(shared_sandbox())
        .open()
        .unwrap();
    (dir, home)
}

#[test]
fn the_local_flavor_on_postgres_passes_the_conformance_suite() {
    let url = Postgres::shared().database();
    let (_dir, home) = pg_home(&url);
    home.managers()
        .register("other", "local", Default::default(), false)
        .unwrap();
    let mut suite = Suite::new(&home, "default", "other").unwrap();
    suite.run(SuiteOptions { delete_all: true });
    suite.run_probes();
    let failed: Vec<_> = suite.checks.iter().filter(|c| !c.passed()).collect();
    assert!(failed.is_empty(), "conformance failures: {failed:#?}");
    assert!(suite.checks.len() >= 15, "{:#?}", suite.checks);
}

/// (A database from a newer flavorbox is refused by the store suite, on
/// both backends.)
#[test]
fn a_database_of_another_program_or_out_of_reach_is_refused() {
    let pg = Postgres::shared();
    let other = pg.database();
    let other_name = other.rsplit('/').next().unwrap();
    pg.sql(other_name, "CREATE TABLE flavors (id int)");
    let run = cli_on(&other, &["secret", "list"]);
    run.fails(1, "not a flavorbox store");
    assert_eq!(pg.sql(other_name, "SELECT count(*) FROM flavors"), "0");

    let run = cli_on("postgres://nobody@127.0.0.1:1/none", &["secret", "list"]);
    run.fails(1, "cannot reach the store postgres://127.0.0.1:1/none");
    let run = cli_on("mysql://x", &["secret", "list"]);
    run.fails(2, "a store is `sqlite:PATH` or `postgres://");
}

#[test]
fn two_nodes_serve_one_database_over_http_and_the_cli() {
    let url = Postgres::shared().database();
    let write = token(&url, "default", "write", &[]);
    let a = Node::start(&url);
    let b = Node::start(&url);

    let health = a.call("GET", "/v1/health", None, None);
    assert_eq!((health.status, &health.body["status"]), (200, &json!("ok")));

    let created = a.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "db", "values": { "user": "bob", "password": "pw-one" } })),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert!(
        !created.raw.contains("pw-one"),
        "a write never echoes values"
    );

    let read = b.call("GET", "/v1/managers/default/secrets/db", Some(&write), None);
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(
        read.body["values"],
        json!({ "user": "bob", "password": "pw-one" })
    );

    let updated = b.call(
        "PATCH",
        "/v1/managers/default/secrets/db",
        Some(&write),
        Some(json!({ "values": { "password": "pw-two" } })),
    );
    assert_eq!(updated.status, 200, "{updated:?}");
    let read = a.call("GET", "/v1/managers/default/secrets/db", Some(&write), None);
    assert_eq!(read.body["values"]["password"], "pw-two");

    let again = a.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "db", "values": { "x": "y" } })),
    );
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (409, Some("already-exists"))
    );
    let bad = a.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "bad name!", "values": { "k": "secret-in-bad-request" } })),
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(!bad.raw.contains("secret-in-bad-request"));
    let garbage = http(
        a.port,
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some("{\"name\": \"n\", \"values\": {\"k\": 12345678}}".to_string()),
    );
    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert!(!garbage.raw.contains("12345678"), "{garbage:?}");
    let huge = http(
        a.port,
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(format!(
            "{{\"name\":\"n\",\"values\":{{\"k\":\"{}\"}}}}",
            "x".repeat(2 << 20)
        )),
    );
    assert_eq!(huge.status, 400, "{:?}", huge.body);

    // The CLI's client mode, on the other node.
    let env = [("FLAVORBOX_TOKEN", write.as_str())];
    let server = b.url();
    let cli = |args: &[&str]| {
        let mut all = vec!["--server", server.as_str(), "secret"];
        all.extend_from_slice(args);
        run_cli_env(None, &all, None, &env)
    };
    let shown = cli(&["get", "db", "--reveal", "--output", "json"]);
    let shown: Value = serde_json::from_str(shown.ok()).unwrap();
    assert_eq!(shown["values"]["password"], "pw-two");
    // The same words as a local run.
    assert_eq!(
        cli(&["register", "api", "key=k-1"]).ok(),
        "registered secret `api` (1 key, schema arbitrary) in secrets manager `default`\n"
    );
    assert_eq!(cli(&["list"]).ok(), "api\ndb\n");
    assert_eq!(
        cli(&["update", "api", "key=k-2", "extra=e"]).ok(),
        "updated secret `api` (2 keys, schema arbitrary)\n"
    );
    // What the API lacks is refused before any input is read.
    for lacking in [
        &["rename", "api", "api2"][..],
        &["export", "--reveal"],
        &["import", "/nonexistent/export.json"],
        &[
            "update",
            "api",
            "k=@/nonexistent/value",
            "--remove-key",
            "extra",
        ],
        &["register", "other", "--interactive"],
    ] {
        cli(lacking).fails(2, "not available with --server");
    }
    cli(&["get", "missing"]).fails(1, "not found");
    cli(&["delete", "api", "--yes"]).ok();
    let gone = a.call(
        "GET",
        "/v1/managers/default/secrets/api",
        Some(&write),
        None,
    );
    assert_eq!(gone.status, 404);
    // Without a token, or with a wrong one: one line, exit 1, nothing else.
    run_cli_env(None, &["--server", &server, "secret", "list"], None, &[])
        .fails(2, "needs a token");
    run_cli_env(
        None,
        &[
            "--server",
            &server,
            "secret",
            "--manager",
            "default",
            "get",
            "db",
        ],
        None,
        &[("FLAVORBOX_TOKEN", "fbx_wrong")],
    )
    .fails(1, "refused the token");

    // Every request was audited, without values.
    let audit = cli_on(&url, &["audit", "--limit", "1000", "--output", "json"]);
    let text = audit.ok();
    for value in ["pw-one", "pw-two", "k-1", "k-2", "secret-in-bad-request"] {
        assert!(!text.contains(value), "audit shows a value: {text}");
    }
    let entries: Vec<Value> = serde_json::from_str(text).unwrap();
    let ops: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["secret"].as_str().unwrap_or("-"),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("register-secret", "db", "ok"),
        ("get-secret", "db", "ok"),
        ("update-secret", "db", "ok"),
        ("register-secret", "db", "already-exists"),
        ("get-secret", "missing", "not-found"),
        ("delete-secret", "api", "ok"),
        ("get-secret", "db", "unauthorized"),
    ] {
        assert!(ops.contains(&expected), "{expected:?} not in {ops:?}");
    }
}

/// The status each role gets for each operation on its own manager.
#[test]
fn every_role_against_every_operation() {
    let pg = Postgres::shared();
    let url = pg.database();
    cli_on(
        &url,
        &["secrets-manager", "register", "other", "--flavor", "local"],
    )
    .ok();
    let read = token(&url, "default", "read", &[]);
    let write = token(&url, "default", "write", &[]);
    let admin = token(&url, "default", "admin", &[]);
    let other_admin = token(&url, "other", "admin", &[]);
    let revoked = token(&url, "default", "admin", &[]);
    let expiring = token(&url, "default", "admin", &["--ttl", "1s"]);
    let revoked_id = revoked.split('_').nth(1).unwrap().to_string();
    cli_on(&url, &["token", "revoke", &revoked_id]).ok();
    let listed = cli_on(&url, &["token", "list"]);
    assert!(listed.ok().contains(&revoked_id));
    for token in [&read, &write, &admin] {
        assert!(
            !listed.stdout.contains(token.rsplit('_').next().unwrap()),
            "a token's secret part is never listed"
        );
    }
    // Every refusal below comes from one address: more than the default
    // rate limit allows.
    let node = Node::start_with(&url, &["--auth-failures", "1000"]);
    let seed = |name: &str| {
        let answer = node.call(
            "POST",
            "/v1/managers/default/secrets",
            Some(&admin),
            Some(json!({ "name": name, "values": { "k": "v" } })),
        );
        assert!(answer.status == 201 || answer.status == 409, "{answer:?}");
    };
    std::thread::sleep(Duration::from_millis(1100));

    // (method, path, body, status for read, write, admin)
    type Case = (&'static str, String, Option<Value>, [u16; 3]);
    let cases = |n: &str| -> Vec<Case> {
        let secret = format!("/v1/managers/default/secrets/{n}");
        vec![
            ("GET", "/v1/managers/default/secrets".into(), None, [200; 3]),
            ("GET", secret.clone(), None, [200; 3]),
            (
                "POST",
                "/v1/managers/default/secrets".into(),
                Some(json!({ "name": format!("{n}-new"), "values": { "k": "v" } })),
                [403, 201, 201],
            ),
            (
                "PATCH",
                secret.clone(),
                Some(json!({ "values": { "k2": "v2" } })),
                [403, 200, 200],
            ),
            ("DELETE", secret, None, [403, 200, 200]),
            (
                "DELETE",
                "/v1/managers/default/secrets?force=true".into(),
                None,
                [403, 403, 200],
            ),
            ("GET", "/v1/managers".into(), None, [403, 403, 200]),
            ("GET", "/v1/flavors".into(), None, [403, 403, 200]),
        ]
    };
    for (r, (role, token)) in [("read", &read), ("write", &write), ("admin", &admin)]
        .into_iter()
        .enumerate()
    {
        let name = format!("s-{role}");
        for (method, path, body, expected) in cases(&name) {
            seed(&name);
            let answer = node.call(method, &path, Some(token), body.clone());
            assert_eq!(
                answer.status, expected[r],
                "{role} {method} {path}: {answer:?}"
            );
            if answer.status == 403 {
                assert_eq!(answer.body["error"], "forbidden");
            }
        }
    }
    // Not this token's manager, no token, a wrong, revoked or expired one:
    // the same answer whether or not the secret exists.
    seed("exists");
    for (method, path, body, _) in cases("exists").into_iter().chain(cases("absent")) {
        let foreign = node.call(method, &path, Some(&other_admin), body.clone());
        if path.starts_with("/v1/managers/default") {
            assert_eq!(foreign.status, 403, "{method} {path}: {foreign:?}");
        }
        let mut bodies = Vec::new();
        for bad in [
            None,
            Some("fbx_0_0"),
            Some(revoked.as_str()),
            Some(expiring.as_str()),
        ] {
            let answer = node.call(method, &path, bad, body.clone());
            assert_eq!(answer.status, 401, "{method} {path} {bad:?}: {answer:?}");
            bodies.push(answer.raw);
        }
        bodies.dedup();
        assert_eq!(bodies.len(), 1, "{bodies:?}");
    }
    let managers = node.call("GET", "/v1/managers", Some(&other_admin), None);
    assert_eq!(managers.status, 200);
    assert!(
        !managers.raw.contains("config"),
        "configs may hold credentials"
    );
}

#[test]
fn failed_attempts_are_rate_limited_per_peer() {
    let url = Postgres::shared().database();
    let good = token(&url, "default", "read", &[]);
    let node = Node::start(&url);
    let path = "/v1/managers/default/secrets";
    assert_eq!(node.call("GET", path, Some(&good), None).status, 200);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(node.call("GET", path, Some("fbx_guess"), None).status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429; 2]);
    // Now even the right token is refused from this address, unlooked at.
    let refused = node.call("GET", path, Some(&good), None);
    assert_eq!(refused.status, 429);
    // Another node keeps its own count.
    let other = Node::start(&url);
    assert_eq!(other.call("GET", path, Some(&good), None).status, 200);
}

#[test]
fn a_hundred_concurrent_updates_over_two_nodes_lose_nothing() {
    let url = Postgres::shared().database();
    let write = token(&url, "default", "write", &[]);
    let nodes = [Node::start(&url), Node::start(&url)];
    let created = nodes[0].call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "shared", "values": { "start": "0" } })),
    );
    assert_eq!(created.status, 201);
    let ports = [nodes[0].port, nodes[1].port];
    let conflicts = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for t in 0..20 {
            let (write, conflicts) = (&write, &conflicts);
            s.spawn(move || {
                for j in 0..5 {
                    let i = t * 5 + j;
                    let body = json!({ "values": { format!("k{i}"): format!("v{i}") } });
                    // A 409 conflict wrote nothing and may be retried.
                    loop {
                        let answer = http(
                            ports[i % 2],
                            "PATCH",
                            "/v1/managers/default/secrets/shared",
                            Some(write),
                            Some(body.to_string()),
                        );
                        match answer.status {
                            200 => break,
                            409 => {
                                conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            other => panic!("update {i}: {other} {answer:?}"),
                        }
                    }
                }
            });
        }
    });
    let answer = nodes[1].call(
        "GET",
        "/v1/managers/default/secrets/shared",
        Some(&write),
        None,
    );
    let values = answer.body["values"].as_object().unwrap();
    assert_eq!(values.len(), 101, "every update is in: {values:?}");
    for i in 0..100 {
        assert_eq!(values[&format!("k{i}")], format!("v{i}"));
    }
    eprintln!(
        "100 updates over 2 nodes: {} conflict answers retried",
        conflicts.into_inner()
    );
}

#[test]
fn a_node_killed_during_writes_leaves_nothing_partial_and_the_other_serves() {
    let url = Postgres::shared().database();
    let write = token(&url, "default", "write", &[]);
    let mut victim = Node::start(&url);
    let survivor = Node::start(&url);
    let port = victim.port;
    // Writers register secrets of 8 keys each on the victim until it dies.
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let write = write.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let name = format!("w{t}-{i}");
                    let values: serde_json::Map<String, Value> = (0..8)
                        .map(|k| (format!("k{k}"), json!("x".repeat(512))))
                        .collect();
                    let body = json!({ "name": name, "values": values }).to_string();
                    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
                        break;
                    };
                    let request = format!(
                        "POST /v1/managers/default/secrets HTTP/1.1\r\nHost: x\r\n\
                         Connection: close\r\nAuthorization: Bearer {write}\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(request.as_bytes()).is_err() {
                        break;
                    }
                    let mut response = String::new();
                    if stream.read_to_string(&mut response).is_err() || response.is_empty() {
                        break;
                    }
                    if response.starts_with("HTTP/1.1 201") {
                        acknowledged.push(name);
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Killed once writes flow (the first call may compile the flavor),
    // while the writers keep sending.
    let started = Instant::now();
    while done.load(std::sync::atomic::Ordering::SeqCst) < 20 {
        assert!(started.elapsed() < Duration::from_secs(120), "no writes");
        std::thread::sleep(Duration::from_millis(10));
    }
    victim.child.kill().unwrap(); // SIGKILL
    victim.child.wait().unwrap();
    let acknowledged: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "the victim took writes before it died"
    );

    // Every secret the store holds is whole; every acknowledged one is there.
    let list = survivor.call("GET", "/v1/managers/default/secrets", Some(&write), None);
    assert_eq!(list.status, 200, "{list:?}");
    let names: Vec<String> = serde_json::from_value(list.body["secrets"].clone()).unwrap();
    for name in &acknowledged {
        assert!(names.contains(name), "acknowledged {name} is missing");
    }
    for name in &names {
        let secret = survivor.call(
            "GET",
            &format!("/v1/managers/default/secrets/{name}"),
            Some(&write),
            None,
        );
        assert_eq!(secret.status, 200, "{name}: {secret:?}");
        assert_eq!(
            secret.body["values"].as_object().unwrap().len(),
            8,
            "{name}"
        );
    }
    // And the survivor keeps taking writes.
    let after = survivor.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "after", "values": { "k": "v" } })),
    );
    assert_eq!(after.status, 201, "{after:?}");
}

const MAKE_CERTS: &str = "
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=flavorbox-test-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=127.0.0.1 -keyout key.pem -out req.pem 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf
openssl x509 -req -in req.pem -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -days 1 -extfile ext.cnf -out cert.pem 2>/dev/null
";

#[test]
fn a_node_serves_https_and_the_client_checks_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    // A private CA and a server certificate for 127.0.0.1 it signed.
    let made = Command::new("sh")
        .current_dir(dir.path())
        .args(["-ec", MAKE_CERTS])
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{made:?}");
    let url = Postgres::shared().database();
    let write = token(&url, "default", "write", &[]);
    let node = Node::start_with(
        &url,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let server = format!("https://127.0.0.1:{}", node.port);
    let cli = |args: &[&str], ca: Option<&str>| {
        let mut env = vec![("FLAVORBOX_TOKEN", write.as_str())];
        if let Some(ca) = ca {
            env.push(("FLAVORBOX_SERVER_CA", ca));
        }
        let mut all = vec!["--server", server.as_str(), "secret"];
        all.extend_from_slice(args);
        run_cli_env(None, &all, None, &env)
    };
    let ca = ca.to_str().unwrap();
    cli(&["register", "tls", "k=over-tls"], Some(ca)).ok();
    let shown = cli(&["get", "tls", "--reveal"], Some(ca));
    assert!(shown.ok().contains("over-tls"));
    // A certificate the client does not trust: refused before the token
    // is sent.
    cli(&["list"], None).fails(1, "TLS");
    // Plain HTTP to the TLS port gets no answer.
    let mut stream = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    // A key that does not fit the certificate: one line, exit 2.
    let other_key = dir.path().join("other.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-out"])
        .arg(&other_key)
        .output()
        .unwrap();
    assert!(made.status.success());
    let home = keyed_home();
    run_cli(
        Some(home.path()),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            other_key.to_str().unwrap(),
        ],
        None,
    )
    .fails(2, "do not fit");
}

#[test]
fn managers_stay_apart_over_http_and_delete_all_empties_one() {
    let url = Postgres::shared().database();
    cli_on(
        &url,
        &["secrets-manager", "register", "other", "--flavor", "local"],
    )
    .ok();
    let here = token(&url, "default", "admin", &[]);
    let there = token(&url, "other", "admin", &[]);
    let node = Node::start(&url);
    for (token, manager, name) in [
        (&here, "default", "a"),
        (&here, "default", "b"),
        (&there, "other", "a"),
    ] {
        let created = node.call(
            "POST",
            &format!("/v1/managers/{manager}/secrets"),
            Some(token),
            Some(json!({ "name": name, "values": { "owner": manager } })),
        );
        assert_eq!(created.status, 201, "{created:?}");
    }
    let list = |token: &str, manager: &str| {
        let answer = node.call(
            "GET",
            &format!("/v1/managers/{manager}/secrets"),
            Some(token),
            None,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["secrets"].clone()
    };
    assert_eq!(list(&here, "default"), json!(["a", "b"]));
    assert_eq!(list(&there, "other"), json!(["a"]));
    let theirs = node.call("GET", "/v1/managers/other/secrets/a", Some(&there), None);
    assert_eq!(theirs.body["values"]["owner"], "other");

    let refused = node.call("DELETE", "/v1/managers/default/secrets", Some(&here), None);
    assert_eq!(
        refused.status, 400,
        "delete-all needs ?force=true: {refused:?}"
    );
    assert_eq!(list(&here, "default"), json!(["a", "b"]));
    let deleted = node.call(
        "DELETE",
        "/v1/managers/default/secrets?force=true",
        Some(&here),
        None,
    );
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(list(&here, "default"), json!([]));
    assert_eq!(
        list(&there, "other"),
        json!(["a"]),
        "the other manager keeps its own"
    );
}

#[test]
fn an_answer_that_cannot_be_audited_is_withheld() {
    // An embedded store, and an audit file every write to fails (ENOSPC).
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.db").display());
    let write = token(&store, "default", "write", &[]);
    let node = Node::start_with(&store, &["--audit-file", "/dev/full"]);
    let created = node.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "kept", "values": { "k": "value-never-shown" } })),
    );
    assert_eq!(created.status, 500, "{created:?}");
    assert!(created.raw.contains("could not be audited"), "{created:?}");
    let read = node.call(
        "GET",
        "/v1/managers/default/secrets/kept",
        Some(&write),
        None,
    );
    assert_eq!(read.status, 500, "{read:?}");
    assert!(!read.raw.contains("value-never-shown"), "{read:?}");
    // The store's own audit table still has both entries.
    let audit = cli_on(&store, &["audit", "--output", "json"]);
    let entries: Vec<Value> = serde_json::from_str(audit.ok()).unwrap();
    let ops: Vec<&str> = entries
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["register-secret", "get-secret"]);
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.db").display());
    let node = Node::start(&store);
    let mut slow = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    slow.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Far past the server's header timeout: the read must end because the
    // server closed the connection, not because this wait ran out.
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = Vec::new();
    let read = slow.read_to_end(&mut answer);
    assert!(read.is_ok(), "still open: {read:?}");
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    // Meanwhile, and after, the node serves others.
    assert_eq!(node.call("GET", "/v1/health", None, None).status, 200);
}

#[test]
fn a_registered_flavor_lives_in_postgres_and_serves_from_every_node() {
    let pg = Postgres::shared();
    let url = pg.database();
    let wasm = guest("kv_json");
    cli_on(
        &url,
        &[
            "flavor",
            "register",
            wasm.to_str().unwrap(),
            "--grant",
            "storage",
        ],
    )
    .ok();
    cli_on(
        &url,
        &["secrets-manager", "register", "kv", "--flavor", "kv_json"],
    )
    .ok();
    // The component's bytes are in the database, whole.
    let name = url.rsplit('/').next().unwrap();
    let stored = pg.sql(
        name,
        "SELECT octet_length(component) FROM flavors WHERE name = 'kv_json'",
    );
    assert_eq!(stored, std::fs::metadata(&wasm).unwrap().len().to_string());

    let write = token(&url, "kv", "write", &[]);
    let nodes = [Node::start(&url), Node::start(&url)];
    let created = nodes[0].call(
        "POST",
        "/v1/managers/kv/secrets",
        Some(&write),
        Some(json!({ "name": "s", "values": { "k": "v1" } })),
    );
    assert_eq!(created.status, 201, "{created:?}");
    for round in 0..3 {
        for node in &nodes {
            let read = node.call("GET", "/v1/managers/kv/secrets/s", Some(&write), None);
            assert_eq!(read.status, 200, "round {round}: {read:?}");
            assert_eq!(read.body["values"]["k"], "v1");
        }
    }
    // Removing the flavor while a manager uses it is refused, as on SQLite.
    cli_on(&url, &["flavor", "remove", "kv_json"]).fails(1, "used by secrets manager");
}

#[test]
fn a_stopped_node_finishes_the_call_in_flight_and_each_call_keeps_its_deadline() {
    let url = Postgres::shared().database();
    let wasm = guest("hostile_sleep");
    let args = [
        "flavor",
        "register",
        wasm.to_str().unwrap(),
        "--grant",
        "storage",
        "--timeout",
        "2",
    ];
    cli_on(&url, &args).ok();
    cli_on(
        &url,
        &[
            "secrets-manager",
            "register",
            "slow",
            "--flavor",
            "hostile_sleep",
        ],
    )
    .ok();
    let read = token(&url, "slow", "read", &[]);
    let mut node = Node::start(&url);
    let port = node.port;
    // The flavor sleeps an hour in get-secret: the request ends at the
    // call's 2 s deadline, as from the CLI.
    let in_flight = std::thread::spawn(move || {
        http(
            port,
            "GET",
            "/v1/managers/slow/secrets/x",
            Some(&read),
            None,
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signals the node this test started.
    let sent = unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let answer = in_flight.join().unwrap();
    assert_eq!(answer.status, 502, "{answer:?}");
    assert_eq!(answer.body["error"], "deadline", "{answer:?}");
    let status = node.child.wait().unwrap();
    assert!(status.success(), "the node stops cleanly: {status:?}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_transaction_whose_connection_dies_before_commit_leaves_nothing() {
    let pg = Postgres::shared();
    let url = pg.database();
    let name = url.rsplit('/').next().unwrap().to_string();
    let db = PostgresDatabase::open(&url).unwrap();
    let mut txn = db.namespace(3, TxnMode::Write).unwrap();
    for i in 0..100 {
        txn.set(&format!("secrets/k{i}"), b"value").unwrap();
    }
    // What a node killed mid-call leaves: a transaction whose connection
    // is gone. PostgreSQL ends the backend; the commit cannot happen.
    let ended = pg.sql(
        &name,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    );
    assert_eq!(ended, "1");
    let err = txn.commit().unwrap_err();
    assert_eq!(err.kind().as_str(), "host", "{err}");
    let mut read = db.namespace(3, TxnMode::Read).unwrap();
    assert!(read.list_keys("").unwrap().is_empty());
    assert_eq!(read.version().unwrap(), 0);
}
