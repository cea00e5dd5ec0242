//! A throwaway PostgreSQL cluster on 127.0.0.1 and a free port, one per test
//! binary, for the `serve` suite and bench: `initdb` and `postgres` from the
//! binaries on the machine (`pg_config --bindir`, or `$FLAVORBOX_PG_BINDIR`),
//! in a temporary directory, with a fresh database per test.
//!
//! PostgreSQL refuses to run as root, and tests run as root in CI: then the
//! cluster runs as the unprivileged `nobody` (its directory handed to it,
//! see [`unprivileged`]), otherwise as the current user. Missing binaries
//! fail the test with what to install: the tests are never skipped silently.
//!
//! The server runs under a [`Guarded`] `sh` guard, stopped (immediate
//! shutdown) when this test process ends.

use std::ffi::OsStr;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::cli::{User, tempdir_for, unprivileged};
use crate::guarded::{Guarded, Server, wait_until};

/// The cluster's superuser (trust authentication, loopback only).
pub const USER: &str = "flavorbox";

pub struct Postgres {
    pub port: u16,
    bindir: PathBuf,
    /// The user the cluster runs as, when dropped from root.
    user: Option<User>,
    /// Stops the server when dropped (before its directory goes).
    guard: Option<Guarded>,
    dir: tempfile::TempDir,
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

impl Postgres {
    /// The cluster of this test binary, started at first use.
    pub fn shared() -> &'static Postgres {
        static PG: OnceLock<Postgres> = OnceLock::new();
        PG.get_or_init(Postgres::start)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        command.env("LC_ALL", "C").env_remove("PGPASSWORD");
        if let Some(user) = self.user {
            user.apply(&mut command);
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
        let dir = tempdir_for(user, "flavorbox-pg");
        let data = dir.path().join("data");
        let mut pg = Postgres {
            port: crate::free_port(),
            bindir,
            user,
            guard: None,
            dir,
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
        let (postgres, port) = (pg.bindir.join("postgres"), pg.port.to_string());
        let log = data.join("server.log");
        let settings = [
            "listen_addresses=127.0.0.1",
            "max_connections=200",
            "shared_buffers=32MB",
        ];
        let mut command: Vec<&OsStr> = vec![
            postgres.as_os_str(),
            "-D".as_ref(),
            data.as_os_str(),
            "-p".as_ref(),
            port.as_ref(),
            "-k".as_ref(),
            data.as_os_str(),
            "-F".as_ref(),
        ];
        for setting in settings {
            command.extend([OsStr::new("-c"), OsStr::new(setting)]);
        }
        pg.guard = Some(Guarded::start(Server {
            name: "pg-guard",
            command,
            log: &log,
            // The shared cluster is never dropped: its guard removes it.
            cleanup: Some(pg.dir.path()),
            // Immediate shutdown.
            signal: "QUIT",
            user,
        }));
        pg.wait_ready(&data);
        pg
    }

    fn wait_ready(&self, data: &Path) {
        wait_until(
            &format!("postgres on 127.0.0.1:{}", self.port),
            || {
                let ready = TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                    && self
                        .command("pg_isready")
                        .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                        .stdout(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                ready.then_some(())
            },
            || std::fs::read_to_string(data.join("server.log")).unwrap_or_default(),
        )
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
