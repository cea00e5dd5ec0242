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
//! With `run --watch` one command replaces another ([`Supervisor`]): a
//! signal that arrives between the two is not lost, it stops flavorbox
//! and the next command is not started.
//!
//! Guards also against the command outliving flavorbox unnoticed when
//! flavorbox itself is killed (SIGKILL cannot be caught): on Linux the
//! command gets SIGKILL when flavorbox dies (`PR_SET_PDEATHSIG`), and a
//! command whose flavorbox died before the mark was set does not start.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process, waitid};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;

/// The signals `run` passes on to its command.
const FORWARDED: [i32; 6] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2];

/// Stands in for the command, and for each command that replaces it (`run
/// --watch` restarts it): catches [`FORWARDED`] signals from before the
/// first one starts until [`Supervisor::finish`], and sends each to the
/// command running then. One that arrives between two commands is kept as
/// a stop ([`Supervisor::stopped_by`]): the next is not started.
pub struct Supervisor {
    /// The command running now, until it is reaped.
    current: Arc<Mutex<Option<Pid>>>,
    /// A signal that found no command to go to (0: none).
    unsent: Arc<AtomicI32>,
    handle: Handle,
    forwarder: std::thread::JoinHandle<()>,
}

/// A command started by a [`Supervisor`].
pub struct Running {
    pid: Pid,
    child: Child,
    current: Arc<Mutex<Option<Pid>>>,
}

impl Supervisor {
    /// Catches the forwarded signals (one sent before a command starts is
    /// queued and forwarded once it runs).
    pub fn new() -> std::io::Result<Supervisor> {
        let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED)?;
        let current: Arc<Mutex<Option<Pid>>> = Arc::new(Mutex::new(None));
        let unsent = Arc::new(AtomicI32::new(0));
        let handle = signals.handle();
        let forwarder = {
            let (current, unsent) = (Arc::clone(&current), Arc::clone(&unsent));
            std::thread::spawn(move || {
                for origin in signals.forever() {
                    let Some(signal) = Signal::from_named_raw(origin.signal) else {
                        continue;
                    };
                    let current = current.lock().unwrap_or_else(PoisonError::into_inner);
                    match *current {
                        // The kernel sent it to the terminal's whole
                        // foreground group, the command included.
                        Some(_) if origin.cause == Cause::Kernel => {}
                        // The command may have just exited (it is then a
                        // zombie, its id still its own): nothing to report.
                        Some(pid) => {
                            let _ = kill_process(pid, signal);
                        }
                        None => unsent.store(origin.signal, Ordering::SeqCst),
                    }
                }
            })
        };
        Ok(Supervisor {
            current,
            unsent,
            handle,
            forwarder,
        })
    }

    /// Starts `command` and hands it to `started` (which may take its
    /// pipes); `None`, starting nothing, if a signal meant to stop flavorbox
    /// arrived while no command ran ([`Supervisor::stopped_by`]).
    pub fn start(
        &self,
        mut command: Command,
        started: impl FnOnce(&mut Child),
    ) -> std::io::Result<Option<Running>> {
        tie_to_this_process(&mut command);
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if self.stopped_by().is_some() {
            return Ok(None);
        }
        let mut child = command.spawn()?;
        let pid = Pid::from_child(&child);
        *current = Some(pid);
        drop(current);
        started(&mut child);
        Ok(Some(Running {
            pid,
            child,
            current: Arc::clone(&self.current),
        }))
    }

    /// Sends `signal` to the command running now, if one is.
    pub fn signal(&self, signal: Signal) {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pid) = *current {
            let _ = kill_process(pid, signal);
        }
    }

    /// The signal that arrived while no command ran, if one did: the
    /// operator meant to stop.
    pub fn stopped_by(&self) -> Option<i32> {
        Some(self.unsent.load(Ordering::SeqCst)).filter(|&signal| signal != 0)
    }

    /// Stops catching the signals.
    pub fn finish(self) {
        self.handle.close();
        // The thread ends once the handle is closed; it cannot panic.
        let _ = self.forwarder.join();
    }
}

impl Running {
    /// Waits for the command to end and returns how it did. It is marked
    /// reaped, under the lock the forwarder holds while it sends, after
    /// its exit was seen and before its id is released.
    pub fn wait(mut self) -> std::io::Result<ExitStatus> {
        let waited = wait_for_exit(self.pid);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
        waited.and_then(|()| self.child.wait())
    }
}

/// Starts `command`, hands it to `started` (which may take its pipes),
/// forwards [`FORWARDED`] signals to it until it ends, and returns how it
/// ended (as if ended by the signal, if one came before it could start).
pub fn run(command: Command, started: impl FnOnce(&mut Child)) -> std::io::Result<ExitStatus> {
    let supervisor = Supervisor::new()?;
    let status = match supervisor.start(command, started) {
        Ok(Some(running)) => running.wait(),
        Ok(None) => Ok(killed_by(supervisor.stopped_by().unwrap_or(SIGTERM))),
        Err(e) => Err(e),
    };
    supervisor.finish();
    status
}

/// The status of a process a signal ended.
pub fn killed_by(signal: i32) -> ExitStatus {
    std::os::unix::process::ExitStatusExt::from_raw(signal & 0x7f)
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
