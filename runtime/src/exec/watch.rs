//! `run --watch` and `resolve --watch`: follow the secrets a command or a
//! file was given, and restart the command or render the file again when
//! one changes.
//!
//! What is followed is each secrets manager's change version (see
//! `flavorbox::managers::ChangeFeed`): in the home, its store; with
//! `--server`, the server's change feed, which sees what any node of a
//! shared store wrote. A move of the version (or `--recheck`'s timer, for
//! a backend changed outside flavorbox) re-reads every secret used, and
//! only values that differ from what the command has restart it.
//!
//! Guards against a watch that hurts what it watches over:
//! - a change that cannot be used (a secret deleted, a key that would now
//!   set a refused variable, the server down) leaves the command running
//!   with what it has, said once on stderr, never a restart into a
//!   refusal;
//! - a command that ignores the restart signal is killed after `--grace`,
//!   so a restart never waits without end;
//! - a signal sent to flavorbox still goes to the command, and one that
//!   arrives between two commands stops flavorbox instead of starting the
//!   next (see `child.rs`); a command that ends by itself ends `run`, with
//!   its exit code: a watch restarts on changes, it does not resurrect;
//! - a rendered file is replaced whole (written beside it, then renamed),
//!   created 0600, so a reader never sees half of one.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use clap::Args;
use flavorbox::managers::ChangeFeed;
use flavorbox::{Error, Result};
use rustix::process::Signal;

use super::launch::{self, Launch, SecretEnv};
use super::{Resolver, RunArgs, Secrets, child, masked};
use crate::output::err_line;

/// How long one wait on a change feed lasts before it is asked again.
const FEED_WAIT: Duration = Duration::from_secs(25);
/// The longest pause between attempts to follow a feed that fails.
const MAX_RETRY: Duration = Duration::from_secs(30);

#[derive(Args)]
pub struct WatchArgs {
    /// Restart the command when a secret it was given changes (the old one
    /// gets --restart-signal, then SIGKILL after --grace)
    #[arg(long)]
    pub watch: bool,
    /// The signal that asks the command to stop before a restart
    #[arg(long, value_name = "SIGNAL", default_value = "TERM", value_parser = parse_signal, requires = "watch")]
    restart_signal: Signal,
    /// Seconds the command has to exit after --restart-signal before it is
    /// killed
    #[arg(long, value_name = "SECONDS", default_value_t = 10, requires = "watch")]
    grace: u64,
    /// Also read the secrets again every SECONDS (for a backend changed
    /// outside flavorbox, whose changes no feed shows)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..), requires = "watch")]
    recheck: Option<u64>,
}

/// The signals a restart may start with.
fn parse_signal(text: &str) -> std::result::Result<Signal, String> {
    let name = text.trim_start_matches("SIG");
    Ok(match name {
        "TERM" => Signal::TERM,
        "INT" => Signal::INT,
        "HUP" => Signal::HUP,
        "QUIT" => Signal::QUIT,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        "KILL" => Signal::KILL,
        _ => return Err("one of TERM, INT, HUP, QUIT, USR1, USR2, KILL".to_string()),
    })
}

/// What the watcher waits for.
enum Event {
    /// A feed's version moved, or the recheck timer fired.
    Changed,
    /// A line to say on stderr (a feed failing, or answering again).
    Said(String),
    /// The command ended.
    Exited(std::io::Result<std::process::ExitStatus>),
}

/// Follows the change feed of every manager `resolver` read from, and
/// `recheck`'s timer, each on a thread of its own, into one channel.
fn follow_all(
    secrets: &Secrets<'_>,
    resolver: &Resolver<'_>,
    recheck: Option<u64>,
) -> Result<(Sender<Event>, Receiver<Event>)> {
    let (events, received) = channel();
    let managers: BTreeSet<Option<String>> = resolver.read.keys().map(|(m, _)| m.clone()).collect();
    for manager in managers {
        let feed = secrets.manager(manager.as_deref())?.change_feed()?;
        let what = match &manager {
            Some(name) => format!("secrets manager `{name}`"),
            None => "the secrets manager".to_string(),
        };
        let events = events.clone();
        std::thread::spawn(move || follow(feed, &events, &what));
    }
    if let Some(seconds) = recheck {
        let events = events.clone();
        std::thread::spawn(move || {
            while events.send(Event::Changed).is_ok() {
                std::thread::sleep(Duration::from_secs(seconds));
            }
        });
    }
    Ok((events, received))
}

/// Sends [`Event::Changed`] each time `feed`'s version moves (and once at
/// first: the secrets may have changed since they were read), until no
/// one listens.
fn follow(mut feed: Box<dyn ChangeFeed>, events: &Sender<Event>, what: &str) {
    let mut since = None;
    let mut retry = Duration::from_secs(1);
    let mut failing = false;
    loop {
        let event = match feed.next(since, FEED_WAIT) {
            Ok(version) if since == Some(version) && !failing => continue,
            Ok(version) => {
                since = Some(version);
                retry = Duration::from_secs(1);
                if std::mem::take(&mut failing) {
                    let said = format!("flavorbox: watch: {what} answers again");
                    if events.send(Event::Said(said)).is_err() {
                        return;
                    }
                }
                Event::Changed
            }
            Err(err) => {
                let first = !std::mem::replace(&mut failing, true);
                std::thread::sleep(retry);
                retry = (retry * 2).min(MAX_RETRY);
                if !first {
                    continue;
                }
                Event::Said(format!(
                    "flavorbox: watch: cannot follow changes of {what}: {}; trying again",
                    err.quoted()
                ))
            }
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// What ends one command's run under the watch.
enum Next {
    /// It ended by itself: so does `run`.
    Ended(std::io::Result<std::process::ExitStatus>),
    /// A secret it uses changed: it is restarted with these.
    Restart(SecretEnv, Option<std::sync::Arc<flavorbox::mask::Masker>>),
}

/// `run --watch`: runs the command, and restarts it with the new values
/// whenever a secret it was given changes; returns the exit code of the
/// command that ended by itself.
pub fn run_watching(
    secrets: &Secrets<'_>,
    args: &RunArgs,
    launch: &Launch,
    resolver: Resolver<'_>,
    env: SecretEnv,
) -> Result<ExitCode> {
    let watch = &args.watch;
    let (sender, events) = follow_all(secrets, &resolver, watch.recheck)?;
    let supervisor = child::Supervisor::new().map_err(|e| launch.cannot_run(&e))?;
    let (mut env, mut masker) = (env, launch::masker(&resolver, args.no_mask));
    let exited = loop {
        let mut command = launch.command(&env);
        if masker.is_some() {
            masked::pipe(&mut command);
        }
        let mut streams = None;
        let started = supervisor.start(command, |child| {
            streams = masker.take().map(|masker| masked::forward(child, masker));
        });
        let running = match started.map_err(|e| launch.cannot_run(&e))? {
            Some(running) => running,
            None => break Ok(child::killed_by(supervisor.stopped_by().unwrap_or(0))),
        };
        let waiter = sender.clone();
        std::thread::spawn(move || {
            let _ = waiter.send(Event::Exited(running.wait()));
        });
        let next = loop {
            match events.recv() {
                Ok(Event::Exited(status)) => break Next::Ended(status),
                Ok(Event::Said(line)) => err_line(format_args!("{line}")),
                Ok(Event::Changed) => {
                    let mut resolver = Resolver::new(secrets, args.manager.clone());
                    match launch::secret_env(&mut resolver, args, &launch.inherited) {
                        Ok(new) if new == env => {}
                        Ok(new) => {
                            break Next::Restart(new, launch::masker(&resolver, args.no_mask));
                        }
                        Err(err) => err_line(format_args!(
                            "flavorbox: watch: a secret the command uses changed, but {}; \
                             the command keeps running with what it has",
                            err.quoted()
                        )),
                    }
                }
                Err(_) => unreachable!("the channel's sender is kept"),
            }
        };
        match next {
            Next::Ended(status) => {
                if let Some(streams) = streams {
                    streams.finish();
                }
                break status;
            }
            Next::Restart(new_env, new_masker) => {
                err_line(format_args!(
                    "flavorbox: watch: a secret the command uses changed; restarting it \
                     (SIG{}, SIGKILL after {} s)",
                    signal_name(watch.restart_signal),
                    watch.grace
                ));
                stop(&supervisor, &events, watch);
                if let Some(streams) = streams {
                    streams.finish();
                }
                (env, masker) = (new_env, new_masker);
            }
        }
    };
    supervisor.finish();
    let status = exited.map_err(|e: std::io::Error| launch.cannot_run(&e))?;
    Ok(launch::exit_code(status))
}

/// Asks the command to stop (`--restart-signal`), kills it after
/// `--grace`, and returns once it has ended.
fn stop(supervisor: &child::Supervisor, events: &Receiver<Event>, watch: &WatchArgs) {
    supervisor.signal(watch.restart_signal);
    let killed_at = Instant::now() + Duration::from_secs(watch.grace);
    let mut killed = false;
    loop {
        let left = killed_at.saturating_duration_since(Instant::now());
        let event = if killed {
            events.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            events.recv_timeout(left)
        };
        match event {
            Ok(Event::Exited(_)) => return,
            Ok(Event::Said(line)) => err_line(format_args!("{line}")),
            Ok(Event::Changed) => {}
            Err(RecvTimeoutError::Timeout) => {
                supervisor.signal(Signal::KILL);
                killed = true;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::TERM => "TERM",
        Signal::INT => "INT",
        Signal::HUP => "HUP",
        Signal::QUIT => "QUIT",
        Signal::USR1 => "USR1",
        Signal::USR2 => "USR2",
        _ => "KILL",
    }
}

/// `resolve --watch`: renders `template` into `out` (and runs `reload`)
/// now and each time a secret it uses changes, until flavorbox is stopped.
pub fn resolve_watching(
    secrets: &Secrets<'_>,
    manager: Option<String>,
    template: &str,
    braces: flavorbox::reference::Braces,
    out: &Path,
    reload: &[OsString],
) -> Result<std::convert::Infallible> {
    let mut resolver = Resolver::new(secrets, manager.clone());
    let mut rendered = resolver.render(template, braces)?;
    write_atomically(out, &rendered)?;
    run_reload(reload);
    let (_keep, events) = follow_all(secrets, &resolver, None)?;
    loop {
        match events.recv() {
            Ok(Event::Changed) => {
                let mut resolver = Resolver::new(secrets, manager.clone());
                match resolver.render(template, braces) {
                    Ok(new) if new == rendered => {}
                    Ok(new) => {
                        write_atomically(out, &new)?;
                        rendered = new;
                        err_line(format_args!(
                            "flavorbox: watch: a secret the template uses changed; rendered {} again",
                            out.display()
                        ));
                        run_reload(reload);
                    }
                    Err(err) => err_line(format_args!(
                        "flavorbox: watch: a secret the template uses changed, but {}; {} keeps \
                         what it has",
                        err.quoted(),
                        out.display()
                    )),
                }
            }
            Ok(Event::Said(line)) => err_line(format_args!("{line}")),
            Ok(Event::Exited(_)) => {}
            Err(_) => unreachable!("the channel's sender is kept"),
        }
    }
}

/// Replaces `path` with `text` whole: written to a file beside it (0600),
/// then renamed over it.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let cannot =
        |e: &dyn std::fmt::Display| Error::invalid(format!("cannot write {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut staged = tempfile::Builder::new()
        .prefix(".flavorbox-render")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| cannot(&e))?;
    staged.write_all(text.as_bytes()).map_err(|e| cannot(&e))?;
    staged.as_file().sync_all().map_err(|e| cannot(&e))?;
    staged.persist(path).map_err(|e| cannot(&e.error))?;
    Ok(())
}

/// Runs the reload command, if one was given, and says if it failed (the
/// watch goes on).
fn run_reload(reload: &[OsString]) {
    let Some((program, rest)) = reload.split_first() else {
        return;
    };
    let ran = launch::inherited(false, &[])
        .map_err(|e| e.to_string())
        .and_then(|env| {
            let resolved = which::which(program).map_err(|e| e.to_string())?;
            std::process::Command::new(resolved)
                .args(rest)
                .env_clear()
                .envs(env)
                .status()
                .map_err(|e| e.to_string())
        });
    let shown = flavorbox::text::escape(&flavorbox::text::clip(&program.to_string_lossy(), 80))
        .into_owned();
    match ran {
        Ok(status) if status.success() => {}
        Ok(status) => err_line(format_args!(
            "flavorbox: watch: the reload command `{shown}` failed ({status})"
        )),
        Err(e) => err_line(format_args!(
            "flavorbox: watch: cannot run the reload command `{shown}`: {e}"
        )),
    }
}
