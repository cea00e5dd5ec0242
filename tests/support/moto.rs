//! A moto server (the AWS API emulator) on 127.0.0.1 and a free port, one
//! per test binary, for the `aws` suite.
//!
//! The binary is `<workspace>/target/moto-venv/bin/moto_server` (installed
//! by `scripts/install-moto.sh`) or `$FLAVORBOX_MOTO_SERVER`. A missing
//! binary fails the test with the command that installs it: the aws tests
//! are never skipped silently.
//!
//! moto runs under a small `sh` guard that kills it as soon as its stdin
//! closes, i.e. when this test process ends in whatever way (a static's
//! `Drop` never runs, and a killed test binary runs nothing at all).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long moto may take to answer its first request.
const STARTUP: Duration = Duration::from_secs(60);

/// Runs moto, then kills it when its stdin (held by this process) closes.
const GUARD: &str = r#"moto="$1"; port="$2"; log="$3"
"$moto" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -f "$log"' EXIT
read -r _ || true
"#;

pub struct Moto {
    pub port: u16,
    _guard: Mutex<(Child, ChildStdin)>,
}

impl Moto {
    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The moto server of this test binary, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start)
}

/// The moto server, or why there is none (for the benchmark, which leaves
/// its aws rows out rather than fail).
#[allow(dead_code)]
pub fn try_shared() -> Result<&'static Moto, String> {
    if !moto_server_candidate().is_file() {
        return Err(format!(
            "no moto_server at {} (run scripts/install-moto.sh)",
            moto_server_candidate().display()
        ));
    }
    Ok(moto())
}

impl Moto {
    /// One Secrets Manager API request (`ListSecrets`) on a fresh
    /// connection, as a flavor makes it, and its whole answer read.
    #[allow(dead_code)]
    pub fn round_trip(&self) -> std::io::Result<()> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        let body = "{}";
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: secretsmanager.ListSecrets\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        if answer.starts_with(b"HTTP/1.1 200") {
            Ok(())
        } else {
            Err(std::io::Error::other("moto did not answer 200"))
        }
    }
}

fn moto_server_candidate() -> PathBuf {
    std::env::var_os("FLAVORBOX_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/moto-venv/bin/moto_server"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Where moto_server is; panics with how to install it when it is not.
pub fn moto_server_path() -> PathBuf {
    let (path, origin) = match std::env::var_os("FLAVORBOX_MOTO_SERVER") {
        Some(path) => (PathBuf::from(path), "$FLAVORBOX_MOTO_SERVER"),
        None => (
            workspace().join("target/moto-venv/bin/moto_server"),
            "the default location",
        ),
    };
    assert!(
        path.is_file(),
        "moto_server is missing at {} ({origin}). The aws tests need a real moto \
         server: run `scripts/install-moto.sh` in the workspace (it creates \
         target/moto-venv), or set FLAVORBOX_MOTO_SERVER to a moto_server binary.",
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

fn start() -> Moto {
    let server = moto_server_path();
    let port = free_port();
    let log =
        std::env::temp_dir().join(format!("flavorbox-moto-{}-{port}.log", std::process::id()));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(GUARD)
        .arg("moto-guard")
        .arg(&server)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh for moto_server");
    let stdin = child.stdin.take().expect("piped stdin");

    let started = Instant::now();
    while !answers(port) {
        if started.elapsed() > STARTUP {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "moto_server ({}) did not answer on 127.0.0.1:{port} within {STARTUP:?}; \
                 its output:\n{output}",
                server.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        port,
        _guard: Mutex::new((child, stdin)),
    }
}

/// Whether moto answers an HTTP request on `port`.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
