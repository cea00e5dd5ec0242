//! A `flavorbox serve` node on a free port of 127.0.0.1, for the `serve`
//! suite and bench, and one request to it as an HTTP client makes it.
//!
//! What it guards against: a node outliving its test (it is killed when
//! dropped), a node blocking on a full stderr pipe (drained on a thread),
//! and a test racing a node that has not bound its port yet (the port is
//! read from the line it prints once it listens).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::cli::cli_command;
use crate::http_client::{Answer, request};

/// A running `flavorbox serve`, killed when dropped.
pub struct Node {
    pub child: Child,
    pub port: u16,
    _home: tempfile::TempDir,
}

impl Node {
    /// `flavorbox --home HOME [--store STORE] serve --listen 127.0.0.1:0
    /// FLAGS`; the node owns `home` (deleted with it).
    pub fn start(home: tempfile::TempDir, store: Option<&str>, flags: &[&str]) -> Node {
        let mut command = cli_command(Some(home.path()));
        if let Some(store) = store {
            command.args(["--store", store]);
        }
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags);
        Node::spawn(command, home)
    }

    /// Starts `command`, a `flavorbox serve` a test put together itself
    /// (made by [`cli_command`], listening on port 0 of 127.0.0.1); the
    /// node owns `home` (deleted with it), whatever `command` uses it for.
    pub fn spawn(mut command: Command, home: tempfile::TempDir) -> Node {
        let mut child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("start flavorbox serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        // The line naming the address; warnings (e.g. a home tightened to
        // 0700) may come first.
        let mut seen = String::new();
        let port = (0..20)
            .find_map(|_| {
                let mut line = String::new();
                stderr.read_line(&mut line).expect("read the node's stderr");
                seen.push_str(&line);
                line.trim().rsplit(':').next().and_then(|p| p.parse().ok())
            })
            .unwrap_or_else(|| panic!("no port in the node's first lines `{seen}`"));
        // Keep draining stderr so the node never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Node {
            child,
            port,
            _home: home,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One request to this node with an optional bearer token and JSON body.
    #[track_caller]
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        call_port(self.port, method, path, token, &body)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request to the node on `port` with an optional bearer token and a
/// body sent as it is; it must get an answer.
#[track_caller]
pub fn call_port(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| ("Authorization", b))
        .into_iter()
        .collect();
    request(port, method, path, &headers, body)
        .unwrap_or_else(|e| panic!("{method} {path} on the node at 127.0.0.1:{port}: {e}"))
}
