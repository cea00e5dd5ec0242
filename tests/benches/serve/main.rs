//! `flavorbox serve` under load next to the peer a team would run instead,
//! in the same run: requests/s and p50/p99 latency of `GET` of one two-key
//! secret, measured by `wrk` over loopback keep-alive connections, on
//! OpenBao's dev server (without and with a file audit device), on a
//! `flavorbox serve` node on SQLite and on PostgreSQL (one node, two
//! nodes), with `whoami` (a token check and an audit entry, no flavor
//! call) and a bare `SELECT 1` through the PostgreSQL store's driver and
//! pool to show what a request costs besides its call. Prints the ratios.
//!
//! Run: `scripts/bench.sh` (which installs wrk and OpenBao and builds the
//! CLI), or after those `cargo bench -p flavorbox-tests --bench serve`.
//! `FLAVORBOX_BENCH_SECS` (default 10) sets each row's length,
//! `FLAVORBOX_BENCH_CONNECTIONS` (default 8) the connections. Nothing is
//! asserted about time: the numbers are printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod peer;
mod wrk;

use flavorbox::store::PostgresDatabase;
use flavorbox_tests::openbao::openbao;
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
    rate: f64,
    p50: Duration,
    p99: Duration,
}

/// wrk's threads: one per core of this machine, as it would be run.
const WRK_THREADS: u32 = 2;

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
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
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

/// `GET path` on a flavorbox node through wrk, with a bearer token.
fn flavorbox_row(name: &str, port: u16, path: &str, token: &str, secs: u64) -> Row {
    wrk_row(
        name,
        format!("http://127.0.0.1:{port}{path}"),
        "Authorization",
        &format!("Bearer {token}"),
        secs,
    )
}

fn wrk_row(name: &str, url: String, header: &str, value: &str, secs: u64) -> Row {
    let measured = wrk::Load {
        url,
        header,
        value,
        threads: WRK_THREADS,
        connections: connections() as u32,
        secs,
    }
    .run();
    Row {
        name: name.to_string(),
        rate: measured.rate,
        p50: measured.p50,
        p99: measured.p99,
    }
}

fn connections() -> usize {
    env_or("FLAVORBOX_BENCH_CONNECTIONS", 8) as usize
}

const SECRET_PATH: &str = "/v1/managers/default/secrets/bench";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs = env_or("FLAVORBOX_BENCH_SECS", 10);
    let mut rows = Vec::new();

    // The peer: OpenBao's dev server, without and with a file audit device.
    let bao = openbao();
    let bao_token = peer::seed(bao);
    let bao_url = format!("{}{}", bao.origin(), peer::PATH);
    wrk_row("warm-up", bao_url.clone(), "X-Vault-Token", &bao_token, 1);
    rows.push(wrk_row(
        "peer: OpenBao, no audit device",
        bao_url.clone(),
        "X-Vault-Token",
        &bao_token,
        secs,
    ));
    let audit_dir = tempfile::tempdir().unwrap();
    let audited = peer::audited(audit_dir.path());
    let audited_token = peer::seed(&audited);
    let audited_url = format!("{}{}", audited.origin(), peer::PATH);
    wrk_row(
        "warm-up",
        audited_url.clone(),
        "X-Vault-Token",
        &audited_token,
        1,
    );
    rows.push(wrk_row(
        PEER_AUDITED,
        audited_url,
        "X-Vault-Token",
        &audited_token,
        secs,
    ));
    drop(audited);

    // SQLite, one node (its home holds the store).
    {
        let home = tempfile::tempdir().unwrap();
        let (write, read) = (
            token(home.path(), None, "write"),
            token(home.path(), None, "read"),
        );
        let node = Node::start(home, None, &[]);
        seed(node.port, &write);
        flavorbox_row("warm-up", node.port, SECRET_PATH, &read, 1);
        rows.push(flavorbox_row(
            SQLITE_GET,
            node.port,
            SECRET_PATH,
            &read,
            secs,
        ));
        rows.push(flavorbox_row(
            "  whoami, sqlite (token + audit, no call)",
            node.port,
            "/v1/whoami",
            &read,
            secs,
        ));
    }

    // PostgreSQL: the bare round trip, then one and two nodes.
    let url = Postgres::shared().database();
    let db = PostgresDatabase::open(&url).unwrap();
    rows.push(load(
        "  SELECT 1, same driver and pool",
        connections(),
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
    flavorbox_row("warm-up", a.port, SECRET_PATH, &read, 1);
    rows.push(flavorbox_row(
        POSTGRES_GET,
        a.port,
        SECRET_PATH,
        &read,
        secs,
    ));
    rows.push(flavorbox_row(
        "  whoami, postgres (token + audit, no call)",
        a.port,
        "/v1/whoami",
        &read,
        secs,
    ));
    // Two nodes, each loaded by its own wrk at once.
    let (rate_a, rate_b) = std::thread::scope(|s| {
        let first = s.spawn(|| flavorbox_row("a", a.port, SECRET_PATH, &read, secs));
        let second = flavorbox_row("b", b.port, SECRET_PATH, &read, secs);
        (first.join().unwrap(), second)
    });
    rows.push(Row {
        name: "get, postgres, 2 nodes (rates summed)".into(),
        rate: rate_a.rate + rate_b.rate,
        p50: rate_a.p50.max(rate_b.p50),
        p99: rate_a.p99.max(rate_b.p99),
    });

    report(&rows, &peer::version(bao), secs);
}

/// Rows named so that the ratios can find them.
const PEER_AUDITED: &str = "peer: OpenBao, file audit device on";
const SQLITE_GET: &str = "get, sqlite, 1 node (audited)";
const POSTGRES_GET: &str = "get, postgres, 1 node (audited)";

fn report(rows: &[Row], peer: &str, secs: u64) {
    println!(
        "\nGET of one two-key secret, wrk -t{WRK_THREADS} -c{} -d{secs}s on loopback \
         (the load generator on the same cores); peer: {peer}\n",
        connections()
    );
    println!("{:<46} {:>10} {:>10} {:>10}", "row", "req/s", "p50", "p99");
    for row in rows {
        println!(
            "{:<46} {:>10.0} {:>8.2}ms {:>8.2}ms",
            row.name,
            row.rate,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3
        );
    }
    let rate = |name: &str| rows.iter().find(|r| r.name == name).map(|r| r.rate);
    if let (Some(peer), Some(sqlite), Some(postgres)) =
        (rate(PEER_AUDITED), rate(SQLITE_GET), rate(POSTGRES_GET))
    {
        println!();
        println!(
            "ratio  flavorbox (sqlite) / OpenBao, both audited: {:.2}x req/s (target >= 2x)",
            sqlite / peer
        );
        println!(
            "ratio  flavorbox (postgres) / OpenBao, both audited: {:.2}x req/s",
            postgres / peer
        );
        println!(
            "ratio  postgres node / sqlite node: {:.2}x req/s (target >= 0.9x)",
            postgres / sqlite
        );
    }
}
