//! Running the `flavorbox` binary of this build the way a user does, and
//! what one run did: exit code or signal, output, wall time and peak
//! resident memory.
//!
//! What it guards against: a test reading the environment of whoever runs
//! it (`FLAVORBOX_HOME`, `FLAVORBOX_LOG`, `FLAVORBOX_MASTER_KEY` are
//! removed), a test binary blocking on a child's full pipe (both pipes are
//! drained on their own threads), and a test run as root believing it
//! checked what only an unprivileged user is refused ([`unprivileged`]).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace's target directory (tests run from `target/<profile>/deps`).
pub(crate) fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| crate::workspace().join("target"))
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
        "{} is missing; build it first (`cargo build -p flavorbox-cli`; scripts/test.sh builds it \
         with the tests)",
        bin.display()
    );
    bin
}

/// The CLI with `--home` (if given), the shared compile cache, and none of
/// the caller's `FLAVORBOX_*` settings; nothing on stdin, output piped.
pub fn cli_command(home: Option<&Path>) -> Command {
    let mut cmd = Command::new(flavorbox_bin());
    if let Some(home) = home {
        cmd.arg("--home").arg(home);
    }
    cmd.env("FLAVORBOX_CACHE_DIR", cache_dir())
        .env_remove("FLAVORBOX_HOME")
        .env_remove("FLAVORBOX_LOG")
        .env_remove("FLAVORBOX_MASTER_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
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
    pub elapsed: Duration,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        &self.stdout
    }

    /// Asserts success and reads stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
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
    let mut cmd = cli_command(home);
    cmd.args(args).envs(env.iter().copied());
    run(cmd, stdin)
}

/// Runs `cmd` (made by [`cli_command`], then changed as a test needs),
/// feeding it `stdin`, and waits for it, measuring its peak memory.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    #[allow(clippy::zombie_processes, reason = "reaped by wait4 in wait_measured")]
    let mut child = cmd.spawn().expect("spawn flavorbox");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let read = |mut pipe: Box<dyn Read + Send>| {
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
            elapsed: Duration::ZERO,
        }
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

/// An unprivileged user to run a process as, when this one is root: root
/// ignores file permissions, and some programs (PostgreSQL) refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

impl User {
    /// Makes `cmd` run as this user (with no supplementary groups).
    pub fn apply(self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        cmd.uid(self.uid).gid(self.gid);
    }

    /// Hands `path` to this user.
    pub fn chown(self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .unwrap_or_else(|e| panic!("chown {} to uid {}: {e}", path.display(), self.uid));
    }
}

/// `nobody` when this process is root; `None` when it is not root (it is
/// unprivileged itself). Panics when root has no `nobody` to become: a test
/// that needs an unprivileged user must not pass as root unchecked.
pub fn unprivileged() -> Option<User> {
    // Looked up once: getpwnam's answer is static storage another thread's
    // call would overwrite.
    static USER: OnceLock<Option<User>> = OnceLock::new();
    *USER.get_or_init(|| {
        // SAFETY: geteuid has no preconditions; getpwnam returns a pointer
        // to static storage, read at once and only under this OnceLock.
        unsafe {
            if libc::geteuid() != 0 {
                return None;
            }
            let pw = libc::getpwnam(c"nobody".as_ptr());
            assert!(
                !pw.is_null(),
                "running as root, and there is no user `nobody` to run unprivileged as"
            );
            Some(User {
                uid: (*pw).pw_uid,
                gid: (*pw).pw_gid,
            })
        }
    })
}

/// A temporary directory `user` (if given) owns and can reach: under
/// `/tmp`, not under a `$TMPDIR` private to root.
pub fn tempdir_for(user: Option<User>, prefix: &str) -> tempfile::TempDir {
    let parent = match user {
        Some(_) => PathBuf::from("/tmp"),
        None => std::env::temp_dir(),
    };
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .expect("temp dir");
    if let Some(user) = user {
        user.chown(dir.path());
    }
    dir
}

/// Writes an export file (what `secret export` writes) of `secrets`, each
/// a name and its `password`, as `file` in `dir`; its path.
pub fn export_file(dir: &Path, file: &str, secrets: &[(&str, &str)]) -> String {
    let doc = serde_json::json!({
        "flavorbox_export": 1,
        "manager": "elsewhere",
        "secrets": secrets
            .iter()
            .map(|(name, password)| serde_json::json!({
                "name": name, "schema": "arbitrary", "values": {"password": password}
            }))
            .collect::<Vec<_>>(),
    });
    let path = dir.join(file);
    std::fs::write(&path, doc.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

/// Writes `text` as `file` in `dir`, readable by its owner only (as a key
/// or passphrase file must be); its path.
pub fn private_file(dir: &Path, file: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_string()
}
