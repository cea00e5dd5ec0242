//! `run`'s command as flavorbox's stand-in: flavorbox waits for it, passes
//! on the signals meant for it, and takes its exit status.
//!
//! Guards against a signal sent to `flavorbox run` (by a supervisor, a
//! container runtime, `kill`) stopping at flavorbox and leaving the command
//! running orphaned: TERM, INT, HUP, QUIT, USR1 and USR2 are caught and
//! sent on to the command, and flavorbox goes on waiting for it. A signal
//! the kernel sent (a terminal's ^C, ^\ or hang-up) is not sent again: it
//! went to the terminal's whole foreground process group, the command
//! included. A signal is never sent to a process that is not the command:
//! the command is marked reaped, under the lock the forwarding thread holds
//! while it sends, only after its exit was seen and before its process id
//! is released, so a reused id is never signalled.
//!
//! Guards also against the command outliving flavorbox unnoticed when
//! flavorbox itself is killed (SIGKILL cannot be caught): on Linux the
//! command gets SIGKILL when flavorbox dies (`PR_SET_PDEATHSIG`), and a
//! command whose flavorbox died before the mark was set does not start.

use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process, waitid};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

/// The signals `run` passes on to its command.
const FORWARDED: [i32; 6] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2];

/// Starts `command`, hands it to `started` (which may take its pipes),
/// forwards [`FORWARDED`] signals to it until it ends, and returns how it
/// ended.
pub fn run(mut command: Command, started: impl FnOnce(&mut Child)) -> std::io::Result<ExitStatus> {
    // Caught before the command starts: one sent in between is queued and
    // forwarded once the command runs.
    let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED)?;
    tie_to_this_process(&mut command);
    let mut child = command.spawn()?;
    started(&mut child);
    let pid = Pid::from_child(&child);
    let reaped = Arc::new(Mutex::new(false));
    let handle = signals.handle();
    let forwarder = {
        let reaped = Arc::clone(&reaped);
        std::thread::spawn(move || {
            for origin in signals.forever() {
                if origin.cause == Cause::Kernel {
                    continue;
                }
                let Some(signal) = Signal::from_named_raw(origin.signal) else {
                    continue;
                };
                let reaped = reaped.lock().unwrap_or_else(PoisonError::into_inner);
                if !*reaped {
                    // The command may have just exited (it is then a
                    // zombie, its id still its own): nothing to report.
                    let _ = kill_process(pid, signal);
                }
            }
        })
    };
    let waited = wait_for_exit(pid);
    *reaped.lock().unwrap_or_else(PoisonError::into_inner) = true;
    let status = waited.and_then(|()| child.wait());
    handle.close();
    // The thread ends once the handle is closed; it cannot panic.
    let _ = forwarder.join();
    status
}

/// Waits until the command `pid` has exited, without reaping it.
fn wait_for_exit(pid: Pid) -> std::io::Result<()> {
    loop {
        match waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Makes the command die with this process (Linux: `PR_SET_PDEATHSIG`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn tie_to_this_process(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before `exec`; it makes
    // two system calls (prctl, getppid), both async-signal-safe, and
    // allocates nothing (its errors are raw OS errors).
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // flavorbox died before the mark was set: the command would
            // be orphaned from its first instruction.
            if rustix::process::getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no parent-death signal: the command is tied to
/// flavorbox only by the forwarded signals.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn tie_to_this_process(_command: &mut Command) {}
