//! `run --watch` and `resolve --watch` on a home: a secret updated by
//! another process restarts the command with the new value (a command that
//! ignores the restart signal is killed after `--grace`), a change to a
//! secret the command does not use restarts nothing, a change that cannot
//! be used (the secret deleted) leaves the command running, a signal sent
//! to flavorbox still ends the command and flavorbox with it, and a
//! rendered file is replaced whole, 0600, then the reload command runs.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use flavorbox_tests::{CliHome, cli_command, lines_once};

/// A command that appends its `DB_PASSWORD` to `seen` when it starts,
/// then runs until a TERM (which it obeys, or with `ignore_term` ignores).
fn recorder(seen: &Path, ignore_term: bool) -> String {
    let on_term = if ignore_term { "''" } else { "'exit 0'" };
    format!(
        "trap {on_term} TERM; echo \"$DB_PASSWORD\" >> '{}'; while :; do sleep 0.05; done",
        seen.display()
    )
}

fn spawn(home: &CliHome, args: &[&str]) -> Child {
    cli_command(Some(home.path()))
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Ends `child` with SIGTERM and returns how it ended and its stderr.
fn stop(mut child: Child) -> (ExitStatus, String) {
    // SAFETY: kill only sends a signal, to a child this test started.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("flavorbox did not end on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn run_watch_restarts_the_command_with_a_changed_value_and_only_then() {
    let home = CliHome::new();
    home.register_secret("db", &["password=first-value"]);
    home.register_secret("other", &["k=v"]);
    let seen = home.path().join("seen");
    let script = recorder(&seen, false);
    let run = spawn(
        &home,
        &[
            "run", "--watch", "--secret", "db=DB_", "--", "bash", "-c", &script,
        ],
    );
    assert_eq!(lines_once(&seen, 1), ["first-value"]);

    let updated = Instant::now();
    home.cli(&["secret", "update", "db", "password=second-value"])
        .ok();
    assert_eq!(lines_once(&seen, 2), ["first-value", "second-value"]);
    eprintln!(
        "the command restarted with the new value {:?} after the update",
        updated.elapsed()
    );

    // A secret the command was not given, and a write that leaves the
    // value as it is: no restart.
    home.cli(&["secret", "update", "other", "k=w"]).ok();
    home.cli(&["secret", "update", "db", "password=second-value"])
        .ok();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lines_once(&seen, 2).len(), 2, "restarted for nothing");

    // Deleted: nothing to restart with; the command keeps running.
    home.cli(&["secret", "delete", "db", "--yes"]).ok();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lines_once(&seen, 2).len(), 2);
    let (status, stderr) = stop(run);
    assert_eq!(status.code(), Some(0), "the command's own exit: {stderr}");
    assert!(
        stderr.contains("a secret the command uses changed; restarting it (SIGTERM"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the command keeps running with what it has"),
        "{stderr}"
    );
    assert!(stderr.contains("`db` does not exist"), "{stderr}");
    for value in ["first-value", "second-value"] {
        assert!(!stderr.contains(value), "a value on stderr: {stderr}");
    }
}

#[test]
fn a_command_that_ignores_the_restart_signal_is_killed_after_the_grace() {
    let home = CliHome::new();
    home.register_secret("db", &["password=first-value"]);
    let seen = home.path().join("seen");
    let script = recorder(&seen, true);
    let run = spawn(
        &home,
        &[
            "run",
            "--watch",
            "--grace",
            "1",
            "--restart-signal",
            "SIGTERM",
            "--secret",
            "db=DB_",
            "--",
            "bash",
            "-c",
            &script,
        ],
    );
    assert_eq!(lines_once(&seen, 1), ["first-value"]);
    home.cli(&["secret", "update", "db", "password=second-value"])
        .ok();
    assert_eq!(lines_once(&seen, 2), ["first-value", "second-value"]);
    // The command ignores TERM: flavorbox passes it on, then it is killed.
    let mut run = run;
    // SAFETY: kill only sends a signal, to a child this test started.
    unsafe { libc::kill(run.id() as libc::pid_t, libc::SIGKILL) };
    run.wait().unwrap();
}

#[test]
fn watch_flags_need_watch_and_a_known_signal() {
    let home = CliHome::new();
    home.cli(&["run", "--grace", "3", "--", "true"])
        .fails(2, "--watch");
    home.cli(&["run", "--watch", "--restart-signal", "WINCH", "--", "true"])
        .fails(2, "one of TERM");
    home.cli(&["resolve", "--watch", "-"]).fails(2, "--out");
}

#[test]
fn resolve_watch_renders_the_file_again_whole_and_runs_the_reload_command() {
    let home = CliHome::new();
    home.register_secret("db", &["password=first-value"]);
    let template = super::write(
        &home,
        "app.tmpl",
        "password={{db.password}}\nimage={{ .Values.image }}\n",
    );
    let out = home.path().join("app.conf");
    let reloads = home.path().join("reloads");
    let reload = format!("echo reloaded >> '{}'", reloads.display());
    let out_arg = out.to_str().unwrap();
    let watcher = spawn(
        &home,
        &[
            "resolve", &template, "--out", out_arg, "--watch", "--", "sh", "-c", &reload,
        ],
    );
    assert_eq!(lines_once(&reloads, 1).len(), 1);
    let first = std::fs::read_to_string(&out).unwrap();
    assert_eq!(first, "password=first-value\nimage={{ .Values.image }}\n");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    home.cli(&["secret", "update", "db", "password=second-value"])
        .ok();
    assert_eq!(lines_once(&reloads, 2).len(), 2);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "password=second-value\nimage={{ .Values.image }}\n"
    );
    // Nothing half-written was ever left beside it.
    let strays: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".flavorbox-render")
        })
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
    let (_, stderr) = stop(watcher);
    assert!(stderr.contains("rendered"), "{stderr}");
    assert!(!stderr.contains("second-value"), "{stderr}");

    // Without --watch, --out writes once, the same way.
    let once = home.path().join("once.conf");
    home.cli(&["resolve", &template, "-o", once.to_str().unwrap()])
        .ok();
    assert_eq!(
        std::fs::read_to_string(&once).unwrap(),
        "password=second-value\nimage={{ .Values.image }}\n"
    );
}
