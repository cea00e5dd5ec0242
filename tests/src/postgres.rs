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
//!
//! TLS is on (`ssl = on`): the server's certificate, for `localhost` and
//! 127.0.0.1, is signed by a CA made for this cluster alone
//! ([`Postgres::ca_file`]), so the store's `sslmode`s can be proven against
//! it; plaintext connections are still accepted, as by default.

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

/// A certificate authority of its own: its certificate and its key.
pub struct TestCa {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    /// The CA's certificate, PEM.
    pub pem: String,
}

impl TestCa {
    /// A new CA named `name`, trusted by nothing.
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().expect("generate a CA key");
        let pem = params.self_signed(&key).expect("self-sign the CA").pem();
        TestCa { params, key, pem }
    }

    /// A server certificate for `names` (host names or IP addresses),
    /// signed by this CA, and its private key: both PEM.
    pub fn server_cert(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("server names");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "flavorbox test server");
        let key = rcgen::KeyPair::generate().expect("generate a server key");
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign the server");
        (cert.pem(), key.serialize_pem())
    }
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
        pg.install_certificate(&data);
        let (postgres, port) = (pg.bindir.join("postgres"), pg.port.to_string());
        let log = data.join("server.log");
        let settings = [
            "listen_addresses=127.0.0.1",
            "max_connections=200",
            "shared_buffers=32MB",
            // server.crt and server.key in the data directory.
            "ssl=on",
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

    /// Makes this cluster's CA ([`Postgres::ca_file`]) and gives the server
    /// a certificate it signed, for `localhost` and 127.0.0.1. PostgreSQL
    /// reads the key only if the server's user owns it and no one else may.
    fn install_certificate(&self, data: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let ca = TestCa::new("flavorbox test cluster CA");
        let (cert, key) = ca.server_cert(&["localhost", "127.0.0.1"]);
        std::fs::write(self.ca_file(), &ca.pem).expect("write the CA certificate");
        for (name, text, mode) in [("server.crt", &cert, 0o644), ("server.key", &key, 0o600)] {
            let path = data.join(name);
            std::fs::write(&path, text).expect("write the server's certificate");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .expect("set the certificate's mode");
            if let Some(user) = self.user {
                user.chown(&path);
            }
        }
    }

    /// The PEM file of the CA that signed this cluster's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
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
