//! The fake Google Cloud Secret Manager (`scripts/fake_gcp_secret_manager.py`,
//! standard-library Python) on 127.0.0.1 and a free port, for the
//! `gcp_secrets_manager` tests: one shared per test binary, or a private one.
//!
//! Each fake writes a fresh service-account key (an RSA key generated at
//! start, never committed) into its own temporary directory and accepts it;
//! it also accepts a fixed bearer token for that account, which the tests
//! use to look at and seed the backend directly.
//!
//! The interpreter is `$FLAVORBOX_PYTHON` or `python3`. The fake runs under
//! a small `sh` guard that kills it as soon as its stdin closes, i.e. when
//! this test process ends in whatever way.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use flavorbox_tests::setup_http::{Answer, request};

/// How long the fake may take to start (it generates an RSA key).
const STARTUP: Duration = Duration::from_secs(60);

/// The bearer token every fake accepts for its key's account.
pub const ACCESS_TOKEN: &str = "ya29.flavorbox-test-token";

/// The project of the keys the fake writes.
pub const PROJECT: &str = "flavorbox-fake";

/// Runs the fake, then kills it when its stdin (held by this process) closes.
const GUARD: &str = r#"python="$1"; script="$2"; dir="$3"; token="$4"
"$python" "$script" --port 0 --key-file "$dir/key.json" --access-token "$token" \
    >"$dir/out.log" 2>"$dir/err.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null' EXIT
read -r _ || true
"#;

pub struct FakeGcp {
    pub port: u16,
    dir: tempfile::TempDir,
    _guard: Mutex<(Child, ChildStdin)>,
}

impl FakeGcp {
    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The service-account key file the fake accepts.
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("key.json")
    }

    /// One request to the fake with the test bearer token (`path` like
    /// `/v1/projects/p/secrets`).
    pub fn api(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Answer {
        request(
            self.port,
            method,
            path,
            Some(("Authorization", &format!("Bearer {ACCESS_TOKEN}"))),
            body,
        )
        .unwrap_or_else(|e| panic!("fake GCP {method} {path}: {e}"))
    }

    /// The fake's counters (`tokens_issued`, `api_requests`).
    #[allow(dead_code)]
    pub fn stats(&self) -> serde_json::Value {
        request(self.port, "GET", "/_fake/stats", None, None)
            .expect("fake GCP stats")
            .json()
    }
}

/// The fake of this test binary, started on first use.
pub fn fake_gcp() -> &'static FakeGcp {
    static FAKE: OnceLock<FakeGcp> = OnceLock::new();
    FAKE.get_or_init(start)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The fake's script.
pub fn script() -> PathBuf {
    workspace().join("scripts/fake_gcp_secret_manager.py")
}

/// A fake of its own, for a test that must not share one.
pub fn start() -> FakeGcp {
    let python = std::env::var_os("FLAVORBOX_PYTHON").unwrap_or_else(|| "python3".into());
    let dir = tempfile::tempdir().expect("a temporary directory for the fake");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(GUARD)
        .arg("gcp-fake-guard")
        .arg(&python)
        .arg(script())
        .arg(dir.path())
        .arg(ACCESS_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh for the fake GCP");
    let stdin = child.stdin.take().expect("piped stdin");

    let started = Instant::now();
    let port = loop {
        let out = std::fs::read_to_string(dir.path().join("out.log")).unwrap_or_default();
        if let Some(port) = out
            .lines()
            .find_map(|l| l.strip_prefix("listening on http://127.0.0.1:"))
            .and_then(|p| p.trim().parse().ok())
        {
            break port;
        }
        if started.elapsed() > STARTUP {
            let err = std::fs::read_to_string(dir.path().join("err.log")).unwrap_or_default();
            panic!(
                "the fake GCP ({} {}) did not start within {STARTUP:?}; its output:\n{out}\n{err}",
                python.to_string_lossy(),
                script().display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    FakeGcp {
        port,
        dir,
        _guard: Mutex::new((child, stdin)),
    }
}
