//! `flavorbox serve` under load: requests/s and p50/p99 latency of
//! `GET /v1/managers/default/secrets/NAME` over loopback keep-alive
//! connections, on SQLite with one node and on PostgreSQL with one and two
//! nodes, next to the baseline of the same run: a bare `SELECT 1` round trip
//! through the same driver and pool the PostgreSQL store uses.
//!
//! Run: `cargo build --release -p flavorbox-cli && cargo bench -p flavorbox-tests
//! --bench serve`. `FLAVORBOX_BENCH_SECS` (default 5) sets each row's length,
//! `FLAVORBOX_BENCH_CONNECTIONS` (default 8) the connections. Nothing is
//! asserted about time: the numbers are printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use flavorbox::store::PostgresDatabase;
use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::run_cli;
use flavorbox_tests::serve_node::Node;

/// A keep-alive HTTP/1.1 connection.
struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(port: u16) -> Connection {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        Connection {
            reader: BufReader::new(stream),
        }
    }

    /// Sends one request; its status.
    fn request(&mut self, method: &str, path: &str, token: &str, body: &str) -> u16 {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        status
    }
}

struct Row {
    name: String,
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `op` from `connections` threads for `secs`; each thread makes its
/// own state with `open` (thread index), then times each `op`.
fn load<S>(
    name: &str,
    connections: usize,
    secs: u64,
    open: impl Fn(usize) -> S + Sync,
    op: impl Fn(&mut S) + Sync,
) -> Row {
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|i| {
                let (open, op) = (&open, &op);
                s.spawn(move || {
                    let mut state = open(i);
                    let mut times = Vec::new();
                    while Instant::now() < until {
                        let t = Instant::now();
                        op(&mut state);
                        times.push(t.elapsed());
                    }
                    times
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Row {
        name: name.to_string(),
        requests: latencies.len(),
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn get_row(name: &str, ports: &[u16], token: &str, connections: usize, secs: u64) -> Row {
    path_row(
        name,
        "/v1/managers/default/secrets/bench",
        ports,
        token,
        connections,
        secs,
    )
}

/// `GET path` on `ports` (round robin over the connections).
fn path_row(
    name: &str,
    path: &str,
    ports: &[u16],
    token: &str,
    connections: usize,
    secs: u64,
) -> Row {
    load(
        name,
        connections,
        secs,
        |i| Connection::open(ports[i % ports.len()]),
        |c| {
            let status = c.request("GET", path, token, "");
            assert_eq!(status, 200);
        },
    )
}

fn seed(port: u16, token: &str) {
    let body = r#"{"name":"bench","values":{"user":"bench","password":"bench-pw"}}"#;
    let status =
        Connection::open(port).request("POST", "/v1/managers/default/secrets", token, body);
    assert_eq!(status, 201);
}

/// A token for `role` on the `default` manager of the home `home` (whose
/// store is `store` if given).
fn token(home: &std::path::Path, store: Option<&str>, role: &str) -> String {
    let mut args = vec![];
    if let Some(store) = store {
        args.extend(["--store", store]);
    }
    args.extend(["token", "create", "--manager", "default", "--role", role]);
    run_cli(Some(home), &args, None).ok().trim().to_string()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs = env_or("FLAVORBOX_BENCH_SECS", 5);
    let connections = env_or("FLAVORBOX_BENCH_CONNECTIONS", 8) as usize;
    let mut rows = Vec::new();

    // SQLite, one node (its home holds the store).
    {
        let home = tempfile::tempdir().unwrap();
        let (write, read) = (
            token(home.path(), None, "write"),
            token(home.path(), None, "read"),
        );
        let node = Node::start(home, None, &[]);
        seed(node.port, &write);
        get_row("warm-up", &[node.port], &read, connections, 1);
        rows.push(get_row(
            "get, sqlite, 1 node",
            &[node.port],
            &read,
            connections,
            secs,
        ));
        rows.push(path_row(
            "  whoami, sqlite (token + audit, no call)",
            "/v1/whoami",
            &[node.port],
            &read,
            connections,
            secs,
        ));
    }

    // PostgreSQL: the bare round trip, then one and two nodes.
    let url = Postgres::shared().database();
    let db = PostgresDatabase::open(&url).unwrap();
    rows.push(load(
        "baseline: SELECT 1, same driver and pool",
        connections,
        secs,
        |_| (),
        |_| db.ping().unwrap(),
    ));
    // Each node and client of one PostgreSQL store shares its master key.
    let keyed = tempfile::tempdir().unwrap();
    let (write, read) = (
        token(keyed.path(), Some(&url), "write"),
        token(keyed.path(), Some(&url), "read"),
    );
    let key = std::fs::read(keyed.path().join("master.key")).expect("the store's master key");
    // A key file others may read is refused: written 0600.
    let keyed_home = || {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let home = tempfile::tempdir().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(home.path().join("master.key"))
            .and_then(|mut file| file.write_all(&key))
            .unwrap();
        home
    };
    let a = Node::start(keyed_home(), Some(&url), &[]);
    let b = Node::start(keyed_home(), Some(&url), &[]);
    seed(a.port, &write);
    get_row("warm-up", &[a.port, b.port], &read, connections, 1);
    rows.push(get_row(
        "get, postgres, 1 node",
        &[a.port],
        &read,
        connections,
        secs,
    ));
    rows.push(path_row(
        "  whoami, postgres (token + audit, no call)",
        "/v1/whoami",
        &[a.port],
        &read,
        connections,
        secs,
    ));
    rows.push(get_row(
        "get, postgres, 2 nodes",
        &[a.port, b.port],
        &read,
        connections,
        secs,
    ));

    println!(
        "\nflavorbox serve, {connections} keep-alive connections, {secs} s per row (loopback)\n"
    );
    println!("{:<42} {:>10} {:>10} {:>10}", "row", "req/s", "p50", "p99");
    let baseline = rows
        .iter()
        .find(|r| r.name.starts_with("baseline"))
        .map(|r| r.p50);
    for row in &rows {
        let rate = row.requests as f64 / row.elapsed.as_secs_f64();
        let ratio = match baseline {
            Some(base) if row.name.contains("postgres") => {
                format!(
                    "  p50 = {:.1}x SELECT 1",
                    row.p50.as_secs_f64() / base.as_secs_f64()
                )
            }
            _ => String::new(),
        };
        println!(
            "{:<42} {:>10.0} {:>8.2}ms {:>8.2}ms{ratio}",
            row.name,
            rate,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3
        );
    }
}
