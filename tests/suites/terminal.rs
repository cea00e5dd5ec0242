//! The CLI at a real terminal (a pseudo-terminal): `-i` prompts with hidden
//! input where Enter keeps the current value, Ctrl-C at a hidden prompt
//! leaves the terminal as it was (echo and line editing back on), and
//! destructive commands ask before they act.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Session};
use flavorbox_tests::{TestHome, cache_dir, flavorbox_bin};

/// `script` run by `sh` in a fresh pseudo-terminal, `$FB` being the CLI on
/// `home`.
fn terminal(home: &Path, script: &str) -> Session {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env(
            "FB",
            format!("{} --home {}", flavorbox_bin().display(), home.display()),
        )
        .env("FLAVORBOX_CACHE_DIR", cache_dir())
        .env_remove("FLAVORBOX_HOME")
        .env_remove("FLAVORBOX_LOG")
        .env_remove("FLAVORBOX_MASTER_KEY");
    let mut session = Session::spawn(cmd).expect("spawn in a pseudo-terminal");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    session
}

fn rest(session: &mut Session) -> String {
    let captured = session.expect(Eof).expect("the script ends");
    String::from_utf8_lossy(&captured[0]).into_owned()
}

#[test]
fn interactive_update_keeps_values_on_enter_and_never_echoes() {
    let home = TestHome::new();
    home.register_secret("db", &["username=admin", "password=old-password"]);
    let mut term = terminal(home.path(), "$FB secret update db -i; echo EXIT=$?");
    term.expect("password (Enter keeps the current value): ")
        .unwrap();
    term.send("\r").unwrap();
    term.expect("username (Enter keeps the current value): ")
        .unwrap();
    term.send("typed-user\r").unwrap();
    term.expect("new key (empty to finish): ").unwrap();
    term.send_line("extra").unwrap();
    term.expect("extra: ").unwrap();
    term.send("typed-extra\r").unwrap();
    term.expect("new key (empty to finish): ").unwrap();
    term.send_line("").unwrap();
    let out = rest(&mut term);
    assert!(out.contains("updated secret `db` (3 keys"), "{out}");
    assert!(out.contains("EXIT=0"), "{out}");
    assert!(
        !out.contains("typed-user") && !out.contains("typed-extra"),
        "echoed: {out}"
    );

    let got: serde_json::Value = home
        .cli(&["secret", "get", "db", "--reveal", "--output", "json"])
        .json();
    assert_eq!(
        got["values"],
        serde_json::json!({"username": "typed-user", "password": "old-password", "extra": "typed-extra"})
    );

    // The same rules as on the command line: a required key cannot be
    // skipped at registration.
    let mut term = terminal(
        home.path(),
        "$FB secret register web --schema basic_auth -i; echo EXIT=$?",
    );
    term.expect("username: ").unwrap();
    term.send("\r").unwrap();
    term.expect("username is required by schema `basic_auth`")
        .unwrap();
    term.send("u\r").unwrap();
    term.expect("password: ").unwrap();
    term.send("p\r").unwrap();
    let out = rest(&mut term);
    assert!(out.contains("EXIT=0"), "{out}");
}

#[test]
fn ctrl_c_at_a_hidden_prompt_restores_the_terminal_and_writes_nothing() {
    let home = TestHome::new();
    home.register_secret("db", &["password=kept"]);
    let mut term = terminal(
        home.path(),
        // Echo on first (the test harness starts the terminal without it).
        "stty echo; $FB secret update db -i; echo EXIT=$?; stty -a",
    );
    term.expect("password (Enter keeps the current value): ")
        .unwrap();
    term.send("half-typed").unwrap();
    term.send([0x03u8]).unwrap();
    let out = rest(&mut term);
    assert!(out.contains("interrupted; nothing was written"), "{out}");
    assert!(out.contains("EXIT=130"), "{out}");
    let settings: Vec<&str> = out.split(|c: char| c.is_whitespace() || c == ';').collect();
    for on in ["echo", "icanon", "isig"] {
        assert!(settings.contains(&on), "`{on}` is not back on: {out}");
        assert!(!settings.contains(&format!("-{on}").as_str()), "{out}");
    }
    assert!(!out.contains("half-typed"), "{out}");
    assert_eq!(
        home.cli(&["secret", "get", "db", "--key", "password"]).ok(),
        "kept\n"
    );
}

#[test]
fn destructive_commands_ask_on_a_terminal() {
    let home = TestHome::new();
    home.register_secret("a", &["k=v"]);
    home.register_secret("b", &["k=v"]);

    let mut term = terminal(home.path(), "$FB secret delete a; echo EXIT=$?");
    term.expect("delete secret `a` of secrets manager `default`? [y/N] ")
        .unwrap();
    term.send_line("n").unwrap();
    let out = rest(&mut term);
    assert!(
        out.contains("not confirmed; nothing was changed") && out.contains("EXIT=2"),
        "{out}"
    );

    let mut term = terminal(home.path(), "$FB secret delete-all; echo EXIT=$?");
    term.expect("delete every secret of secrets manager `default`? [y/N] ")
        .unwrap();
    term.send_line("y").unwrap();
    let out = rest(&mut term);
    assert!(out.contains("EXIT=0"), "{out}");
    assert_eq!(home.cli(&["secret", "list"]).ok(), "");
}
