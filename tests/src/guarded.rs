//! A server a test binary starts (moto, OpenBao, the fake GCP, PostgreSQL)
//! run under a small `sh` guard that stops it as soon as the guard's stdin
//! closes, i.e. when the test process ends in whatever way (a static's
//! `Drop` never runs, and a killed test binary runs nothing at all); and
//! the bounded wait for such a server to answer.
//!
//! What it guards against: servers outliving the tests that started them,
//! and a server that never comes up hanging a test instead of failing it
//! with the server's own output.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cli::User;

/// How long a server may take to answer its first request.
pub const STARTUP: Duration = Duration::from_secs(60);

/// Runs the server (`$@` after the first three arguments) with its output
/// in `$log`, then, once stdin closes, stops it with signal `$sig`, waits
/// for it, and removes `$cleanup` (if not empty).
const GUARD: &str = r#"sig="$1"; log="$2"; cleanup="$3"; shift 3
"$@" >"$log" 2>&1 &
pid=$!
trap 'kill -s "$sig" "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; [ -z "$cleanup" ] || rm -rf "$cleanup"' EXIT
read -r _ || true
"#;

/// How a guarded server is run and stopped.
pub struct Server<'a> {
    /// The guard's name in `ps`.
    pub name: &'a str,
    /// The program and its arguments.
    pub command: Vec<&'a OsStr>,
    /// Where its stdout and stderr go.
    pub log: &'a Path,
    /// What to remove once it stopped (its directory, its log), if anything.
    pub cleanup: Option<&'a Path>,
    /// The signal that stops it (`TERM`; PostgreSQL's immediate shutdown
    /// is `QUIT`).
    pub signal: &'a str,
    /// Who it runs as, when not this process's user.
    pub user: Option<User>,
}

/// The guard of one server; dropping it stops the server and waits for the
/// guard to end.
pub struct Guarded {
    child: Mutex<Option<(Child, ChildStdin)>>,
}

impl Guarded {
    /// Starts `server` under the guard.
    pub fn start(server: Server) -> Guarded {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(GUARD)
            .arg(server.name)
            .arg(server.signal)
            .arg(server.log)
            .arg(server.cleanup.map(Path::as_os_str).unwrap_or_default())
            .args(&server.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(user) = server.user {
            user.apply(&mut command);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sh for {}: {e}", server.name));
        let stdin = child.stdin.take().expect("piped stdin");
        Guarded {
            child: Mutex::new(Some((child, stdin))),
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let guard = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some((mut child, mut stdin)) = guard.take() {
            let _ = stdin.write_all(b"\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// Polls `ready` until it gives an answer, for at most [`STARTUP`]; then
/// panics with `what` and the server's output from `log`.
pub fn wait_until<T>(
    what: &str,
    mut ready: impl FnMut() -> Option<T>,
    log: impl FnOnce() -> String,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(answer) = ready() {
            return answer;
        }
        if started.elapsed() > STARTUP {
            panic!(
                "{what} did not answer within {STARTUP:?}; its output:\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
