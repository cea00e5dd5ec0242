//! A throwaway PostgreSQL cluster on 127.0.0.1 and a free port, one per test
//! binary, for the `serve` tests: `initdb` and `postgres` from the binaries
//! on the machine (`pg_config --bindir`, or `$FLAVORBOX_PG_BINDIR`), in a
//! temporary directory, with a fresh database per test.
//!
//! PostgreSQL refuses to run as root, and tests run as root in CI: then the
//! cluster runs as the unprivileged `nobody` (its directory handed to it),
//! otherwise as the current user. Missing binaries fail the test with what
//! to install: the tests are never skipped silently.
//!
//! The server runs under a small `sh` guard that stops it as soon as its
//! stdin closes, i.e. when this test process ends in whatever way.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the cluster may take to accept connections.
const STARTUP: Duration = Duration::from_secs(60);

/// The cluster's superuser (trust authentication, loopback only).
pub const USER: &str = "flavorbox";

/// Runs postgres, then stops it (immediate shutdown) when stdin closes.
const GUARD: &str = r#"bin="$1"; dir="$2"; port="$3"; data="$dir/data"
"$bin/postgres" -D "$data" -p "$port" -k "$data" -c listen_addresses=127.0.0.1 -F \
    -c max_connections=200 -c shared_buffers=32MB >"$data/server.log" 2>&1 &
pid=$!
trap 'kill -QUIT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
read -r _ || true
"#;

pub struct Postgres {
    pub port: u16,
    bindir: PathBuf,
    /// (uid, gid) the cluster runs as, when dropped from root.
    user: Option<(u32, u32)>,
    _dir: tempfile::TempDir,
    guard: Mutex<Option<(Child, ChildStdin)>>,
    next_db: AtomicU32,
}

fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLAVORBOX_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let out = Command::new("pg_config").arg("--bindir").output();
    match out {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        _ => panic!(
            "pg_config not found: install PostgreSQL's server binaries \
             (Debian: apt-get install postgresql) or set FLAVORBOX_PG_BINDIR"
        ),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `nobody`'s uid and gid, when this process is root.
fn unprivileged() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions; getpwnam returns a pointer to
    // static storage read at once, before any other passwd call.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let pw = libc::getpwnam(c"nobody".as_ptr());
        assert!(
            !pw.is_null(),
            "running as root, and there is no user `nobody`"
        );
        Some(((*pw).pw_uid, (*pw).pw_gid))
    }
}

impl Postgres {
    /// The cluster of this test binary, started at first use.
    pub fn shared() -> &'static Postgres {
        static PG: OnceLock<Postgres> = OnceLock::new();
        PG.get_or_init(Postgres::start)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        command.env("LC_ALL", "C").env_remove("PGPASSWORD");
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn start() -> Postgres {
        let bindir = bindir();
        assert!(
            bindir.join("initdb").is_file(),
            "{} has no initdb: install PostgreSQL's server binaries",
            bindir.display()
        );
        let user = unprivileged();
        // `nobody` must be able to reach the directory: under /tmp, not
        // under a $TMPDIR private to root.
        let parent = match user {
            Some(_) => PathBuf::from("/tmp"),
            None => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("flavorbox-pg")
            .tempdir_in(parent)
            .expect("temp dir");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the pg dir");
        }
        let data = dir.path().join("data");
        let mut pg = Postgres {
            port: free_port(),
            bindir,
            user,
            _dir: dir,
            guard: Mutex::new(None),
            next_db: AtomicU32::new(0),
        };
        let out = pg
            .command("initdb")
            .args(["-D", data.to_str().unwrap(), "-U", USER, "--auth=trust"])
            .args(["-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child = Command::new("sh");
        child
            .args(["-c", GUARD, "pg-guard"])
            .arg(&pg.bindir)
            .arg(pg._dir.path())
            .arg(pg.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = user {
            child.uid(uid).gid(gid);
        }
        let mut child = child.spawn().expect("start the postgres guard");
        let stdin = child.stdin.take().unwrap();
        *pg.guard.get_mut().unwrap() = Some((child, stdin));
        pg.wait_ready(&data);
        pg
    }

    fn wait_ready(&self, data: &Path) {
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let ready = self
                    .command("pg_isready")
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ready {
                    return;
                }
            }
            if started.elapsed() > STARTUP {
                let log = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
                panic!("postgres did not start within {STARTUP:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new, empty database; its `postgres://` URL.
    pub fn database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            self.next_db.fetch_add(1, Ordering::SeqCst)
        );
        // PostgreSQL refuses to copy template1 for two databases at once.
        static CREATING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = CREATING.lock().unwrap_or_else(|p| p.into_inner());
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `sql` on `database` with psql; its output (unaligned, tuples only).
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let out = self
            .command("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((mut child, mut stdin)) = self.guard.lock().unwrap().take() {
            let _ = stdin.write_all(b"\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}
