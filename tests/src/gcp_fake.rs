//! The fake Google Cloud Secret Manager (`scripts/fake_gcp_secret_manager.py`,
//! standard-library Python) on 127.0.0.1 and a free port, for the `gcp`
//! suite: one shared per test binary, or a private one.
//!
//! Each fake writes a fresh service-account key (an RSA key generated at
//! start, never committed) into its own temporary directory and accepts it;
//! it also accepts a fixed bearer token for that account, which the tests
//! use to look at and seed the backend directly.
//!
//! The interpreter is `$FLAVORBOX_PYTHON` or `python3`. The fake runs under
//! a [`Guarded`] `sh` guard.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::guarded::{Guarded, Server, wait_until};
use crate::http_client::{Answer, json_request};

/// The bearer token every fake accepts for its key's account.
pub const ACCESS_TOKEN: &str = "ya29.flavorbox-test-token";

/// The project of the keys the fake writes.
pub const PROJECT: &str = "flavorbox-fake";

pub struct FakeGcp {
    pub port: u16,
    // Dropped first: the fake stops before its directory goes.
    _guard: Guarded,
    dir: tempfile::TempDir,
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

    /// The key the fake accepts, as JSON.
    pub fn key(&self) -> Value {
        let text = std::fs::read_to_string(self.key_file()).expect("read the fake's key");
        serde_json::from_str(&text).expect("the fake's key is JSON")
    }

    /// One request to the fake with the test bearer token (`path` like
    /// `/v1/projects/p/secrets`).
    #[track_caller]
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let bearer = format!("Bearer {ACCESS_TOKEN}");
        json_request(
            self.port,
            method,
            path,
            &[("Authorization", bearer.as_str())],
            body,
        )
    }

    /// [`FakeGcp::api`], which must answer 200; the answer's JSON.
    #[track_caller]
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.api(method, path, body.as_ref());
        assert_eq!(answer.status, 200, "{method} {path}: {answer:?}");
        answer.body
    }

    /// The fake's counters (`tokens_issued`, `api_requests`).
    pub fn stats(&self) -> Value {
        json_request(self.port, "GET", "/_fake/stats", &[], None).body
    }
}

/// The fake of this test binary, started on first use.
pub fn fake_gcp() -> &'static FakeGcp {
    static FAKE: OnceLock<FakeGcp> = OnceLock::new();
    FAKE.get_or_init(start)
}

/// The fake's script.
pub fn script() -> PathBuf {
    crate::workspace().join("scripts/fake_gcp_secret_manager.py")
}

/// A fake of its own, for a test that must not share one.
pub fn start() -> FakeGcp {
    let python = std::env::var_os("FLAVORBOX_PYTHON").unwrap_or_else(|| "python3".into());
    let dir = tempfile::tempdir().expect("a temporary directory for the fake");
    let (script, key, log) = (
        script(),
        dir.path().join("key.json"),
        dir.path().join("out.log"),
    );
    let guard = Guarded::start(Server {
        name: "gcp-fake-guard",
        command: vec![
            python.as_os_str(),
            script.as_os_str(),
            "--port".as_ref(),
            "0".as_ref(),
            "--key-file".as_ref(),
            key.as_os_str(),
            "--access-token".as_ref(),
            ACCESS_TOKEN.as_ref(),
        ],
        log: &log,
        // The shared fake is never dropped: its guard removes its key.
        cleanup: Some(dir.path()),
        signal: "TERM",
        user: None,
    });
    // It prints its port once it listens (it generates an RSA key first).
    let output = || std::fs::read_to_string(&log).unwrap_or_default();
    let port = wait_until(
        &format!(
            "the fake GCP ({} {})",
            python.to_string_lossy(),
            script.display()
        ),
        || {
            output()
                .lines()
                .find_map(|l| l.strip_prefix("listening on http://127.0.0.1:"))
                .and_then(|p| p.trim().parse().ok())
        },
        output,
    );
    FakeGcp {
        port,
        _guard: guard,
        dir,
    }
}
