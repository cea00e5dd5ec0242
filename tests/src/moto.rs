//! A moto server (the AWS API emulator) on 127.0.0.1 and a free port, one
//! per test binary, for the `aws` suite and the `calls` bench.
//!
//! The binary is `<workspace>/target/moto-venv/bin/moto_server` (installed
//! by `scripts/install-moto.sh`) or `$FLAVORBOX_MOTO_SERVER`. A missing
//! binary fails the test with the command that installs it: the aws tests
//! are never skipped silently. moto runs under a [`Guarded`] `sh` guard.

use std::sync::OnceLock;

use serde_json::Value;

use crate::guarded::{Guarded, Server, wait_until};
use crate::http_client::{Answer, request};

/// Where moto_server is looked for, and the variable that moves it.
const SERVER: crate::Tool = crate::Tool {
    what: "moto_server",
    var: "FLAVORBOX_MOTO_SERVER",
    default: "target/moto-venv/bin/moto_server",
    install: "scripts/install-moto.sh",
};

pub struct Moto {
    pub port: u16,
    _guard: Guarded,
}

impl Moto {
    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One Secrets Manager API request (`target` like `CreateSecret`)
    /// straight to moto (which checks no signature), on a fresh connection.
    pub fn request(&self, target: &str, body: &Value) -> std::io::Result<Answer> {
        let target = format!("secretsmanager.{target}");
        let headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", target.as_str()),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/\
                 aws4_request, SignedHeaders=host, Signature=0",
            ),
        ];
        request(self.port, "POST", "/", &headers, &body.to_string())
    }

    /// [`Moto::request`], which must succeed; its answer's JSON.
    #[track_caller]
    pub fn call(&self, target: &str, body: &Value) -> Value {
        let answer = self
            .request(target, body)
            .unwrap_or_else(|e| panic!("moto {target}: {e}"));
        assert_eq!(answer.status, 200, "moto {target}: {answer:?}");
        answer.body
    }
}

/// The moto server of this test binary, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start)
}

/// The moto server, or why there is none (for the benchmark, which leaves
/// its aws rows out rather than fail).
pub fn try_moto() -> Result<&'static Moto, String> {
    SERVER.find()?;
    Ok(moto())
}

fn start() -> Moto {
    let server = SERVER.installed();
    let port = crate::free_port();
    let log =
        std::env::temp_dir().join(format!("flavorbox-moto-{}-{port}.log", std::process::id()));
    let port_arg = port.to_string();
    let guard = Guarded::start(Server {
        name: "moto-guard",
        command: vec![
            server.as_os_str(),
            "-H".as_ref(),
            "127.0.0.1".as_ref(),
            "-p".as_ref(),
            port_arg.as_ref(),
        ],
        log: &log,
        cleanup: Some(&log),
        signal: "TERM",
        user: None,
    });
    let moto = Moto {
        port,
        _guard: guard,
    };
    wait_until(
        &format!("moto_server ({}) on 127.0.0.1:{port}", server.display()),
        || {
            request(port, "GET", "/moto-api/", &[], "")
                .is_ok_and(|a| a.status == 200)
                .then_some(())
        },
        || std::fs::read_to_string(&log).unwrap_or_default(),
    );
    moto
}
