//! An OpenBao dev server (the open fork of HashiCorp Vault) on 127.0.0.1
//! and a free port, one per test binary, for the `vault` and `sdk` suites.
//!
//! The binary is `<workspace>/target/openbao-venv/bin/bao` (installed by
//! `scripts/install-openbao.sh`) or `$FLAVORBOX_BAO`. A missing binary fails
//! the test with the command that installs it: the vault tests are never
//! skipped silently.
//!
//! The dev server keeps everything in memory, mounts KV version 2 at
//! `secret/` and accepts the root token chosen here. It runs under a
//! [`Guarded`] `sh` guard.

use std::sync::OnceLock;

use serde_json::Value;

use crate::guarded::{Guarded, Server, wait_until};
use crate::http_client::{Answer, json_request, request};

/// The dev server's root token (it only ever listens on loopback).
pub const ROOT_TOKEN: &str = "flavorbox-test-root";

/// Where bao is looked for, and the variable that moves it.
const BAO: crate::Tool = crate::Tool {
    what: "bao (OpenBao)",
    var: "FLAVORBOX_BAO",
    default: "target/openbao-venv/bin/bao",
    install: "scripts/install-openbao.sh",
};

pub struct OpenBao {
    pub port: u16,
    _guard: Guarded,
}

impl OpenBao {
    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One request to the server's API (`path` like `/v1/sys/auth/approle`)
    /// with the root token; for setting up the server in tests.
    #[track_caller]
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        json_request(
            self.port,
            method,
            path,
            &[("X-Vault-Token", ROOT_TOKEN)],
            body,
        )
    }

    /// [`OpenBao::api`], which must succeed (2xx); the answer's JSON.
    #[track_caller]
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.api(method, path, body.as_ref());
        assert!(
            (200..300).contains(&answer.status),
            "{method} {path}: {answer:?}"
        );
        answer.body
    }
}

/// The OpenBao server of this test binary, started on first use.
pub fn openbao() -> &'static OpenBao {
    static SERVER: OnceLock<OpenBao> = OnceLock::new();
    SERVER.get_or_init(|| start(None))
}

/// A dev server of its own that also reads the configuration file
/// `config` (e.g. an `audit` stanza: OpenBao enables audit devices only
/// from its configuration); stopped when dropped.
pub fn openbao_with_config(config: &std::path::Path) -> OpenBao {
    start(Some(config))
}

fn start(config: Option<&std::path::Path>) -> OpenBao {
    let bao = BAO.installed();
    let port = crate::free_port();
    let log = std::env::temp_dir().join(format!("flavorbox-bao-{}-{port}.log", std::process::id()));
    let listen = format!("-dev-listen-address=127.0.0.1:{port}");
    let token = format!("-dev-root-token-id={ROOT_TOKEN}");
    let config_arg = config.map(|path| format!("-config={}", path.display()));
    let guard = Guarded::start(Server {
        name: "bao-guard",
        command: vec![
            bao.as_os_str(),
            "server".as_ref(),
            "-dev".as_ref(),
            listen.as_ref(),
            token.as_ref(),
        ]
        .into_iter()
        .chain(config_arg.as_deref().map(std::ffi::OsStr::new))
        .collect(),
        log: &log,
        cleanup: Some(&log),
        signal: "TERM",
        user: None,
    });
    // Unsealed and active.
    wait_until(
        &format!("bao ({}) on 127.0.0.1:{port}", bao.display()),
        || {
            request(port, "GET", "/v1/sys/health", &[], "")
                .is_ok_and(|a| a.status == 200)
                .then_some(())
        },
        || std::fs::read_to_string(&log).unwrap_or_default(),
    );
    OpenBao {
        port,
        _guard: guard,
    }
}
