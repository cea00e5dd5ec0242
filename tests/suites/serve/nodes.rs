//! Nodes under stress: 100 concurrent updates of one secret over two
//! nodes, a node killed with SIGKILL mid-writes, TLS with a certificate the
//! client checks, a client that never finishes its headers, and a node
//! stopped with a call in flight.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::serve_node::call_port;
use flavorbox_tests::{guests, run_cli, run_cli_env};
use serde_json::{Value, json};

use crate::{keyed_home, register_on, start, start_with, token};

#[test]
fn a_hundred_concurrent_updates_over_two_nodes_lose_nothing() {
    let url = Postgres::shared().database();
    let write = token(&url, "default", "write", &[]);
    let nodes = [start(&url), start(&url)];
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
                        let answer = call_port(
                            ports[i % 2],
                            "PATCH",
                            "/v1/managers/default/secrets/shared",
                            Some(write),
                            &body.to_string(),
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
    let mut victim = start(&url);
    let survivor = start(&url);
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

/// A private CA and a server certificate for 127.0.0.1 it signed, made in
/// `dir`: the paths of the CA's certificate, the server's certificate and
/// its key.
pub(crate) fn private_ca_and_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let made = Command::new("sh")
        .current_dir(dir)
        .args(["-ec", MAKE_CERTS])
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{made:?}");
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn a_node_serves_https_and_the_client_checks_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca_and_certificate(dir.path());
    let url = Postgres::shared().database();
    let write = token(&url, "default", "write", &[]);
    let node = start_with(
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
        let mut all = vec!["secret", "--server", server.as_str()];
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
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.db").display());
    let node = start(&store);
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
fn a_stopped_node_finishes_the_call_in_flight_and_each_call_keeps_its_deadline() {
    let url = Postgres::shared().database();
    register_on(&url, guests::HOSTILE_SLEEP, "slow", &["--timeout", "2"]);
    let read = token(&url, "slow", "read", &[]);
    let mut node = start(&url);
    let port = node.port;
    // The flavor sleeps an hour in get-secret: the request ends at the
    // call's 2 s deadline, as from the CLI.
    let in_flight = std::thread::spawn(move || {
        call_port(port, "GET", "/v1/managers/slow/secrets/x", Some(&read), "")
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
