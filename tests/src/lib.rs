//! Shared helpers for the end-to-end tests: where the guest components and
//! the `flavorbox` binary are, throwaway homes, running the CLI, and reading
//! a manager's raw storage to prove a failed call changed nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use flavorbox::Home;
use flavorbox::sandbox::{Sandbox, SandboxConfig};
use flavorbox::store::TxnMode;

pub mod setup_http;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
use generated::guest_path;

/// A guest component's path. `local` is the component embedded in the
/// runtime, written out once per run.
pub fn guest(name: &str) -> PathBuf {
    if name == "local" {
        return embedded_local();
    }
    PathBuf::from(guest_path(name))
}

fn embedded_local() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = target_dir().join("test-artifacts");
        std::fs::create_dir_all(&dir).expect("create test-artifacts");
        let path = dir.join(format!(
            "local-{}.wasm",
            &flavorbox::registry::LOCAL_DIGEST[7..19]
        ));
        if !path.is_file() {
            let tmp = dir.join(format!(".local-{}.tmp", std::process::id()));
            std::fs::write(&tmp, flavorbox::registry::LOCAL_WASM).expect("write local.wasm");
            std::fs::rename(&tmp, &path).expect("move local.wasm into place");
        }
        path
    })
    .clone()
}

/// The workspace's target directory (tests run from `target/<profile>/deps`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| exe.parent().unwrap().join("..").join(".."))
}

/// Compiled components shared by every home in this test run (each home
/// loads only the files it recorded itself, see `sandbox::cache`).
pub fn cache_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_dir().join("test-compile-cache");
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).expect("create the test compile cache");
        dir
    })
    .clone()
}

/// The `flavorbox` binary of this build.
pub fn flavorbox_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join(format!("flavorbox{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing; build it first (`cargo build -p flavorbox-cli`), as scripts/test.sh does",
        bin.display()
    );
    bin
}

/// One engine and compiled flavors for all library-level tests of a binary.
pub fn shared_sandbox() -> Arc<Sandbox> {
    static SANDBOX: OnceLock<Arc<Sandbox>> = OnceLock::new();
    SANDBOX
        .get_or_init(|| {
            Arc::new(Sandbox::new(SandboxConfig::cached_in(cache_dir())).expect("sandbox"))
        })
        .clone()
}

/// A home in a temporary directory, deleted on drop.
pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub home: Home,
}

impl TestHome {
    pub fn new() -> TestHome {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = Home::builder(dir.path())
            .shared_sandbox(shared_sandbox())
            .open()
            .expect("open home");
        TestHome { dir, home }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the CLI on this home.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_with_stdin(args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        run_cli(Some(self.path()), args, stdin)
    }

    /// Registers the test flavor `flavor` (the guest crate of that name)
    /// through the CLI with the `storage` grant and `flags` (e.g.
    /// `--timeout 1`), and the secrets manager `manager` on it (made active
    /// if `set_active`).
    pub fn cli_register(&self, flavor: &str, manager: &str, flags: &[&str], set_active: bool) {
        let wasm = guest(flavor);
        let mut args = vec![
            "flavor",
            "register",
            wasm.to_str().unwrap(),
            "--grant",
            "storage",
        ];
        args.extend_from_slice(flags);
        self.cli(&args).ok();
        let mut args = vec!["secrets-manager", "register", manager, "--flavor", flavor];
        if set_active {
            args.push("--set-active");
        }
        self.cli(&args).ok();
    }

    /// Registers the guest component `guest_name` through the library with
    /// the `storage` grant, and secrets managers `managers` on its flavor.
    pub fn register_with_storage(&self, guest_name: &str, managers: &[&str]) {
        let options = flavorbox::registry::RegisterOptions {
            grants: [flavorbox::policy::Capability::Storage].into(),
            ..Default::default()
        };
        let flavor = self
            .home
            .flavors()
            .register(&guest(guest_name), &options)
            .expect("register the flavor")
            .entry
            .description
            .name;
        for manager in managers {
            self.home
                .managers()
                .register(manager, &flavor, Default::default(), false)
                .expect("register the manager");
        }
    }

    /// Every key and value in `manager`'s storage namespace, read directly
    /// from the store.
    pub fn raw_storage(&self, manager: &str) -> BTreeMap<String, Vec<u8>> {
        let db = self.home.db();
        let id = db
            .manager(manager)
            .expect("read manager")
            .unwrap_or_else(|| panic!("no manager {manager}"))
            .id;
        let mut txn = db.namespace(id, TxnMode::Read).expect("namespace");
        txn.list_keys("")
            .expect("list")
            .into_iter()
            .map(|key| {
                let value = txn.get(&key).expect("get").expect("listed key exists");
                (key, value)
            })
            .collect()
    }

    /// Writes raw entries into `manager`'s namespace (test fixtures).
    pub fn put_raw(&self, manager: &str, entries: &[(&str, &[u8])]) {
        let db = self.home.db();
        let id = db.manager(manager).unwrap().unwrap().id;
        let mut txn = db.namespace(id, TxnMode::Write).unwrap();
        for (key, value) in entries {
            txn.set(key, value).unwrap();
        }
        txn.commit().unwrap();
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}

/// What a CLI run did.
#[derive(Debug)]
pub struct Run {
    /// The exit code, or 128 + the signal that ended the process.
    pub code: i32,
    /// The signal that ended the process, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The process's peak resident memory, in bytes (with that of any
    /// child it waited for).
    pub peak_rss: u64,
    /// Its wall time.
    pub elapsed: std::time::Duration,
}

impl From<std::process::Output> for Run {
    /// A run whose output was collected by `std` (peak memory unknown: 0).
    fn from(output: std::process::Output) -> Run {
        use std::os::unix::process::ExitStatusExt;
        let signal = output.status.signal();
        Run {
            code: output
                .status
                .code()
                .unwrap_or_else(|| 128 + signal.unwrap_or(0)),
            signal,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            peak_rss: 0,
            elapsed: std::time::Duration::ZERO,
        }
    }
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        &self.stdout
    }

    /// Asserts exit `code` with exactly one stderr line containing `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) -> &str {
        assert_eq!(self.code, code, "expected exit {code}, got {self:#?}");
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "expected one error line, got {self:#?}");
        assert!(lines[0].starts_with("flavorbox: "), "{self:#?}");
        assert!(
            lines[0].contains(needle),
            "expected `{needle}` in {self:#?}"
        );
        lines[0]
    }
}

/// Runs the CLI with `--home` (if given), the shared compile cache and
/// optional stdin.
pub fn run_cli(home: Option<&Path>, args: &[&str], stdin: Option<&[u8]>) -> Run {
    run_cli_env(home, args, stdin, &[])
}

/// [`run_cli`] with extra environment variables (`FLAVORBOX_LOG`, ...).
pub fn run_cli_env(
    home: Option<&Path>,
    args: &[&str],
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = Command::new(flavorbox_bin());
    if let Some(home) = home {
        cmd.arg("--home").arg(home);
    }
    cmd.args(args)
        .env("FLAVORBOX_CACHE_DIR", cache_dir())
        .env_remove("FLAVORBOX_HOME")
        .env_remove("FLAVORBOX_LOG")
        .env_remove("FLAVORBOX_MASTER_KEY")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    #[allow(clippy::zombie_processes, reason = "reaped by wait4 in wait_measured")]
    let mut child = cmd.spawn().expect("spawn flavorbox");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).expect("read the CLI's output");
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let (code, signal, peak_rss) = wait_measured(&child);
    Run {
        code,
        signal,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        peak_rss,
        elapsed: started.elapsed(),
    }
}

/// Waits for `child` with `wait4`, for its peak resident memory (`std`
/// only gives the status). The child is reaped here.
fn wait_measured(child: &std::process::Child) -> (i32, Option<i32>, u64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child, not yet reaped; the pointers are
        // valid for the call.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::Interrupted,
            "wait4 failed: {err}"
        );
    }
    let peak_rss = usage.ru_maxrss as u64 * 1024;
    if libc::WIFEXITED(status) {
        (libc::WEXITSTATUS(status), None, peak_rss)
    } else {
        let signal = libc::WTERMSIG(status);
        (128 + signal, Some(signal), peak_rss)
    }
}
