//! Secrets and spoofing: no secret value or secret config reaches the
//! terminal without `--reveal`, nothing a flavor says can forge a line,
//! built-in names cannot be twinned, and a closed pipe ends quietly.

use flavorbox::Secret;
use flavorbox::sandbox::exports::UpdateSecret;
use flavorbox_tests::{Run, TestHome, cli_command, guests};

use crate::{store_secret, with_guest};

#[test]
fn no_secret_reaches_the_terminal_without_reveal() {
    const PASSWORD: &str = "sw0rdfish-Passw0rd";
    const TOKEN: &str = "tok-8a9b-SECRET";
    let home = TestHome::new();
    let guest = guests::HOSTILE_SECRET_ERROR;
    home.register_flavor(guest, &["--grant", "storage"]).ok();
    home.register_manager(
        "h",
        guest.name(),
        &[("token", TOKEN), ("region", "eu")],
        &[],
    );
    store_secret(&home, "stored", "password", PASSWORD);
    let leaked = |run: &Run| run.stdout.contains(PASSWORD) || run.stderr.contains(PASSWORD);
    let quiet = [("FLAVORBOX_LOG", "flavor=trace")];

    // A failed get-secret read the value the host never saw: its message
    // is replaced by the host's words, its log lines are withheld.
    for env in [&[][..], &quiet[..]] {
        let run = home.cli_env(&["secret", "get", "stored", "--manager", "h"], env);
        assert_eq!(run.code, 1, "{run:#?}");
        assert!(!leaked(&run), "{run:#?}");
        assert!(
            run.stderr
                .contains("backend: get-secret failed in the backend"),
            "{run:#?}"
        );
        assert!(run.stderr.contains("secret_bearing"), "{run:#?}");
    }
    // update-secret reads the stored values too, and then names a key
    // built from one: the breach is told without the key, and what the
    // flavor said after it is withheld.
    let update = Secret::new(
        "stored",
        "arbitrary",
        [("password".to_string(), "new-value".to_string())],
    )
    .unwrap();
    let outcome = home.call(Some("h"), &UpdateSecret(&update));
    let err = outcome.result.unwrap_err().to_string();
    assert!(
        err.starts_with("sandbox: denied: update-secret broke the sandbox (denied)"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(outcome.report.secret_bearing);
    let (_, detail) = outcome.report.violation.unwrap();
    assert!(!detail.contains(PASSWORD), "{detail}");

    // A config value the flavor marks secret is masked in its errors and
    // logs, and in the manager listing.
    let run = home.cli_env(
        &["secret", "register", "x", "k=v", "--manager", "h"],
        &quiet,
    );
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("denied: token *** was rejected"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(TOKEN), "{run:#?}");
    let list = home.cli(&["secrets-manager", "list", "--output", "json"]);
    assert!(list.ok().contains("\"token\": \"***\""), "{list:#?}");
    assert!(list.stdout.contains("\"region\": \"eu\""), "{list:#?}");
    assert!(!list.stdout.contains(TOKEN));

    // Asked for, the withheld lines are there (masked where the host can).
    let run = home.cli_env(
        &["secret", "get", "stored", "--manager", "h"],
        &[("FLAVORBOX_LOG", "secret_bearing=info")],
    );
    assert!(run.stderr.contains("cannot decode password="), "{run:#?}");
}

/// Whether `text` holds a character that must not reach a terminal as
/// itself (a line break ends a line; it is fine between lines).
fn unsafe_chars(text: &str) -> Vec<char> {
    text.lines()
        .flat_map(str::chars)
        .filter(|c| flavorbox::text::is_unsafe(*c))
        .collect()
}

#[test]
fn nothing_a_flavor_says_can_spoof_the_terminal() {
    let home = with_guest(guests::HOSTILE_SPOOF, &[]);
    let log = [("FLAVORBOX_LOG", "flavor=trace")];
    home.on("h", &["secret", "get", "x"])
        .fails(1, "backend: ok\\nflavorbox: secret `x` deleted");
    let runs = [
        home.cli(&["flavor", "describe", "hostile_spoof"]),
        home.cli(&["flavor", "list"]),
        home.cli_env(&["secret", "get", "x", "--manager", "h"], &log),
    ];
    for run in &runs {
        for text in [&run.stdout, &run.stderr] {
            assert!(unsafe_chars(text).is_empty(), "{run:#?}");
            for line in text.lines() {
                assert!(
                    !line.starts_with("flavorbox: secret `x` deleted")
                        && !line.starts_with("flavorbox: forged")
                        && !line.starts_with("flavorbox: registered flavor `local`"),
                    "a forged line: {line:?}"
                );
            }
        }
    }
    let described = &runs[0].stdout;
    assert!(described.contains("\\u{202e}"), "{described}");
    assert!(described.contains("\\n"), "{described}");
    assert!(
        runs[2].stderr.contains("INFO flavor: ok\\nflavorbox"),
        "{:#?}",
        runs[2]
    );
}

#[test]
fn flavor_names_are_lowercase_and_never_a_twin_of_a_built_in() {
    let home = TestHome::new();
    home.register_flavor(guests::HOSTILE_SHOUTS_LOCAL, &[])
        .fails(2, "flavor name `LOCAL` must start with a lowercase letter");
    home.cli(&["flavor", "describe", "LOCAL"])
        .fails(1, "not registered");
}

#[test]
fn a_broken_pipe_ends_quietly() {
    use std::io::Read;
    let home = TestHome::new();
    let mut child = cli_command(Some(home.path()))
        .args(["flavor", "describe", "local"])
        .spawn()
        .unwrap();
    // Read one line, then hang up, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        output.status.signal() == Some(libc::SIGPIPE) || output.status.success(),
        "{:?}",
        output.status
    );
}
