//! Compiling an untrusted component to native code, bounded in time and
//! memory.
//!
//! Guards against a compile bomb: a small component (one never-called
//! function with tens of thousands of locals live across a thousand loops)
//! can keep Cranelift busy for minutes and take gigabytes, at `flavor
//! register` or `evaluate`, before any call deadline applies. No thread can
//! be stopped from outside, so the compile runs in a child process: the
//! `flavorbox` binary itself, started with the hidden argument
//! [`CHILD_ARG`], which reads the component on stdin and writes the
//! compiled code on stdout. The child's data segment and heap are capped by
//! `RLIMIT_DATA`, its CPU time by `RLIMIT_CPU` (a backstop), its wall time
//! by this process, which kills it at the bound; it dies with its parent.
//! Past either bound the component is refused with one line naming the
//! bound and how to raise it. The defaults (`policy::Limits`: 120 s, and
//! memory scaled with the component's size, `CompileLimits::memory_bytes_for`)
//! admit the Python and JavaScript flavors, whose compile takes tens of
//! seconds, while a small component that makes Cranelift work hard gets
//! little more than the base; the compiled code is cached by digest, so a
//! compile is paid once.
//!
//! Which binary: the one the host names (the `flavorbox` CLI names itself;
//! a library host sets `SandboxConfig::compiler`), else a `flavorbox` next
//! to the running executable or one directory up (a test binary in
//! `target/<profile>/deps` finds `target/<profile>/flavorbox`).
//! Without one, untrusted components are refused rather than compiled
//! unbounded; the built-in `local` flavor is compiled in process.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::policy::CompileLimits;

/// The argument that makes the `flavorbox` binary a compiler child.
pub const CHILD_ARG: &str = "__flavorbox_compile";

/// Most bytes of compiled code read back from the child.
const MAX_COMPILED_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Most bytes of the child's error output kept.
const MAX_STDERR_BYTES: u64 = 16 * 1024;

fn binary_name() -> String {
    format!("flavorbox{}", std::env::consts::EXE_SUFFIX)
}

/// The binary to compile in: `named`, else found as the module
/// documentation says.
fn compiler(named: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = named {
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe().ok();
    let found = exe.as_deref().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .take(2)
            .map(|dir| dir.join(binary_name()))
            .find(|candidate| candidate.is_file())
    });
    found.ok_or_else(|| {
        Error::host(
            "no flavorbox binary to compile untrusted components in a bounded process; \
             name one in the sandbox's configuration (`SandboxConfig::compiler`)",
        )
    })
}

/// What [`compile`] is told: the component, and how to bound it.
pub struct Job<'a> {
    pub wasm: &'a [u8],
    pub limits: CompileLimits,
    /// The `flavorbox` binary to compile in; `None`: one found beside the
    /// running executable.
    pub compiler: Option<&'a Path>,
}

/// Compiles `job.wasm` in a child process within `job.limits`; the compiled
/// code, or why not. A component the compiler rejects, or one past a bound,
/// is `invalid`; a child that cannot be started is a host error.
pub fn compile(job: &Job<'_>) -> Result<Vec<u8>> {
    compile_with(&compiler(job.compiler)?, job)
}

fn compile_with(binary: &Path, job: &Job<'_>) -> Result<Vec<u8>> {
    let limits = job.limits;
    let memory_bytes = limits.memory_bytes_for(job.wasm.len());
    let mut command = Command::new(binary);
    command
        .arg(CHILD_ARG)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    bound(&mut command, limits.timeout, memory_bytes);
    let mut child = command.spawn().map_err(|e| {
        Error::host(format!(
            "cannot start the compiler {}: {e}",
            binary.display()
        ))
    })?;
    let started = Instant::now();
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let compiled = std::thread::scope(|scope| {
        // A child that dies early closes its stdin; the write then fails,
        // and the exit status says why.
        scope.spawn(move || {
            let _ = stdin.write_all(job.wasm);
        });
        let out = scope.spawn(move || {
            let mut bytes = Vec::new();
            let _ = (&mut stdout)
                .take(MAX_COMPILED_BYTES)
                .read_to_end(&mut bytes);
            bytes
        });
        let err = scope.spawn(move || {
            let mut bytes = Vec::new();
            let _ = (&mut stderr).take(MAX_STDERR_BYTES).read_to_end(&mut bytes);
            bytes
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if started.elapsed() >= limits.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(());
                }
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::host(format!("waiting for the compiler: {e}")));
                }
            }
        };
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        Ok((status, out, err))
    })?;
    let (status, out, err) = compiled;
    let message = String::from_utf8_lossy(&err);
    let message = crate::text::clip(message.lines().last().unwrap_or_default().trim(), 300);
    let Ok(status) = status else {
        return Err(Error::invalid(format!(
            "compiling the component to native code took longer than {} s, the bound for \
             this flavor; it was stopped (raise it with --compile-timeout if the flavor is \
             trusted to be that large)",
            limits.timeout.as_secs_f64()
        )));
    };
    if status.success() {
        return Ok(out);
    }
    if status.code() == Some(CHILD_INVALID) {
        return Err(Error::invalid(format!("not a valid component: {message}")));
    }
    let memory = memory_failure(&status, &message);
    if memory {
        return Err(Error::invalid(format!(
            "compiling the component to native code needed more than {} MiB, the bound for \
             this flavor; it was stopped (raise it with --compile-memory if the flavor is \
             trusted to be that large)",
            memory_bytes / (1024 * 1024)
        )));
    }
    Err(Error::invalid(format!(
        "the compiler stopped on this component ({status}){}",
        if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        }
    )))
}

/// Whether the child died of its memory bound: an allocation failed (Rust
/// aborts), or it was killed for its CPU time.
fn memory_failure(status: &std::process::ExitStatus, message: &str) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if status.signal() == Some(libc::SIGABRT) || status.signal() == Some(libc::SIGSEGV) {
            return true;
        }
    }
    message.contains("memory allocation") || message.contains("out of memory")
}

/// Applies the bounds to the child before it runs: its data and heap
/// (`RLIMIT_DATA`), its CPU time (a backstop: the wall-clock bound kills it
/// first), no core dump, and death with its parent.
#[cfg(unix)]
fn bound(command: &mut Command, timeout: std::time::Duration, memory_bytes: u64) {
    use std::os::unix::process::CommandExt;
    let memory = memory_bytes as libc::rlim_t;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let cpu = (timeout.as_secs() + 1).saturating_mul(threads) as libc::rlim_t;
    let set = |resource, value: libc::rlim_t| {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit is async-signal-safe and only reads `limit`.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (setrlimit, prctl).
    unsafe {
        command.pre_exec(move || {
            set(libc::RLIMIT_DATA, memory)?;
            set(libc::RLIMIT_CPU, cpu)?;
            set(libc::RLIMIT_CORE, 0)?;
            #[cfg(target_os = "linux")]
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn bound(_command: &mut Command, _timeout: std::time::Duration, _memory_bytes: u64) {}

/// The child's exit code for a component the compiler rejects.
const CHILD_INVALID: i32 = 2;

/// The compiler child: reads a component on stdin, writes its compiled code
/// on stdout. Run by the `flavorbox` binary when its first argument is
/// [`CHILD_ARG`].
pub fn child_main() -> ExitCode {
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut wasm) {
        eprintln!("cannot read the component: {e}");
        return ExitCode::FAILURE;
    }
    let engine = match wasmtime::Engine::new(&super::engine::config(false)) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    match engine.precompile_component(&wasm) {
        Ok(compiled) => match std::io::stdout().lock().write_all(&compiled) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cannot write the compiled code: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{}", super::cache::one_line(&e));
            ExitCode::from(CHILD_INVALID as u8)
        }
    }
}
