//! What the CLI is like to read and to pipe: a reader that goes away ends
//! every listing, completion script and man page quietly with exit 0; the
//! manual and `--help` teach (examples, every variable, every exit code);
//! `--server` and `--token-file` shown (help, man pages, completions) and
//! taken by the commands that read secrets (`secret`, `run`, `resolve`) and
//! `whoami` only; `flavor new` refuses a name a flavor
//! has already; `evaluate` names the component it judged and lists each
//! check once (its progress is a live line on a terminal only).

use std::path::Path;
use std::process::Command;

use flavorbox_tests::cli::run;
use flavorbox_tests::{CliHome, Guest, Run, cli_command, guests, run_cli};

/// Runs `cmd` with the read end of its stdout closed: before it writes
/// anything, or (with `read_first`) once its first bytes arrived, as
/// `| head -1` does. The run, stdout empty.
fn with_stdout_closed(mut cmd: Command, read_first: bool) -> Run {
    use std::io::Read;
    let mut child = cmd.spawn().expect("spawn flavorbox");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    if read_first {
        let mut first = [0u8; 16];
        stdout.read_exact(&mut first).expect("the first bytes");
    }
    drop(stdout);
    child.wait_with_output().expect("wait for flavorbox").into()
}

#[track_caller]
fn ends_quietly(what: &str, run: &Run) {
    assert!(!run.stderr.contains("panicked"), "{what}: {run:#?}");
    assert!(run.stderr.is_empty(), "{what}: {run:#?}");
    assert_eq!(run.code, 0, "{what}: {run:#?}");
    assert_eq!(run.signal, None, "{what}: {run:#?}");
}

#[test]
fn a_closed_pipe_ends_every_listing_quietly_with_exit_0() {
    let home = CliHome::new();
    home.cli(&["secret", "register", "db", "user=admin"]).ok();
    let listings: &[&[&str]] = &[
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["man"],
        &["--help"],
        &["flavor", "list"],
        &["flavor", "list", "--output", "json"],
        &["secret", "list"],
        &["secret", "list", "--output", "json"],
        &["schema", "list"],
        &["secrets-manager", "list"],
        &["token", "list"],
        &["audit"],
        &["secret", "get", "db", "--key", "user"],
        &["secret", "get", "db", "--output", "yaml"],
    ];
    for args in listings {
        let mut cmd = cli_command(Some(home.path()));
        cmd.args(*args);
        ends_quietly(&args.join(" "), &with_stdout_closed(cmd, false));
    }
}

#[test]
fn a_reader_that_goes_away_mid_listing_ends_it_quietly() {
    let home = CliHome::new();
    // More than a pipe holds (64 KiB), so the reader leaves mid-write.
    let secrets: Vec<serde_json::Value> = (0..1500)
        .map(|i| {
            serde_json::json!({
                "name": format!("a_rather_long_secret_name_to_fill_the_pipe_{i:05}"),
                "schema": "arbitrary",
                "values": {"k": "v"},
            })
        })
        .collect();
    let export = serde_json::json!({
        "flavorbox_export": 1,
        "manager": "default",
        "secrets": secrets,
    });
    let file = home.path().join("many.json");
    std::fs::write(&file, export.to_string()).unwrap();
    home.cli(&["secret", "import", file.to_str().unwrap()]).ok();
    let listing = home.cli(&["secret", "list"]);
    assert!(listing.ok().len() > 64 * 1024, "{}", listing.stdout.len());

    for args in [&["secret", "list"][..], &["completions", "bash"], &["man"]] {
        let mut cmd = cli_command(Some(home.path()));
        cmd.args(args);
        ends_quietly(&args.join(" "), &with_stdout_closed(cmd, true));
    }
}

/// Every variable the CLI reads.
const VARIABLES: [&str; 10] = [
    "FLAVORBOX_HOME",
    "FLAVORBOX_STORE",
    "FLAVORBOX_SERVER",
    "FLAVORBOX_TOKEN",
    "FLAVORBOX_SERVER_CA",
    "FLAVORBOX_MASTER_KEY",
    "FLAVORBOX_CACHE_DIR",
    "FLAVORBOX_LOG",
    "FLAVORBOX_COMPONENTIZE_PY",
    "FLAVORBOX_COMPONENTIZE_JS",
];

/// The text of the section `heading` of a man page, up to the next one.
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let start = page
        .find(&format!(".SH {heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading} in:\n{page}"));
    let body = &page[start + 1..];
    let end = body.find("\n.SH ").map_or(body.len(), |at| at + 1);
    &body[..end]
}

/// The manual's EXAMPLES, ENVIRONMENT and EXIT STATUS in `page`.
#[track_caller]
fn teaches(page: &str, examples: &str) {
    assert!(section(page, "EXAMPLES").contains(examples), "{page}");
    let environment = section(page, "ENVIRONMENT");
    for variable in VARIABLES {
        // Bold in roff, `_` as it is.
        assert!(
            environment.contains(&format!("\\fB{variable}\\fR")),
            "{variable} missing:\n{environment}"
        );
    }
    let status = section(page, "\"EXIT STATUS\"");
    for code in ["0", "1", "2", "3"] {
        assert!(
            status.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "{code}:\n{status}"
        );
    }
    assert!(status.contains("bad usage or input"), "{status}");
    assert!(status.contains("broke the sandbox"), "{status}");
    assert!(status.contains("128 + the signal"), "{status}");
}

#[test]
fn the_manual_teaches_examples_environment_and_exit_status() {
    let home = CliHome::new();
    let page = home.cli(&["man"]);
    teaches(page.ok(), "flavorbox secret register db_creds");
    // The after-help of the main command is not repeated as EXTRA.
    assert!(!page.stdout.contains(".SH EXTRA"), "{}", page.stdout);

    let dir = home.path().join("man");
    let wrote = home.cli(&["man", dir.to_str().unwrap()]);
    let count = std::fs::read_dir(&dir).unwrap().count();
    assert!(count > 40, "{count}");
    assert!(
        wrote.ok().contains(&format!("wrote {count} man pages")),
        "{wrote:?}"
    );
    let main = std::fs::read_to_string(dir.join("flavorbox.1")).unwrap();
    teaches(&main, "flavorbox flavor new myvault");
    // A command's page: the examples that run it, and only those.
    let get = std::fs::read_to_string(dir.join("flavorbox-secret-get.1")).unwrap();
    teaches(&get, "flavorbox secret get db_creds");
    assert!(!get.contains("flavorbox evaluate"), "{get}");
    let evaluate = std::fs::read_to_string(dir.join("flavorbox-evaluate.1")).unwrap();
    teaches(&evaluate, "flavorbox evaluate vendor_flavor.wasm");
    // A page without examples of its own still lists the rest.
    let token = std::fs::read_to_string(dir.join("flavorbox-token-list.1")).unwrap();
    assert!(!token.contains(".SH EXAMPLES"), "{token}");
    assert!(section(&token, "ENVIRONMENT").contains("FLAVORBOX_TOKEN"));
    assert!(section(&token, "\"EXIT STATUS\"").contains("\\fB3\\fR"));
}

#[test]
fn server_flags_are_shown_and_taken_by_the_commands_that_read_secrets_only() {
    let home = CliHome::new();
    let shows = |args: &[&str]| {
        let help = home.cli(args).ok().to_string();
        let (server, token_file) = (help.contains("--server"), help.contains("--token-file"));
        assert_eq!(server, token_file, "{args:?}: {help}");
        server
    };
    for args in [
        &["--help"][..],
        &["flavor", "list", "--help"],
        &["serve", "--help"],
        &["token", "create", "--help"],
    ] {
        assert!(!shows(args), "{args:?}");
    }
    for args in [
        &["secret", "--help"][..],
        &["secret", "list", "--help"],
        &["secret", "register", "--help"],
        &["run", "--help"],
        &["resolve", "--help"],
        &["whoami", "--help"],
    ] {
        assert!(shows(args), "{args:?}");
    }
    let dir = home.path().join("man");
    home.cli(&["man", dir.to_str().unwrap()]).ok();
    let options = |page: &str| {
        let page = std::fs::read_to_string(dir.join(page)).unwrap();
        section(&page, "OPTIONS").contains("\\-\\-server")
    };
    assert!(!options("flavorbox.1"));
    assert!(!options("flavorbox-flavor-list.1"));
    assert!(options("flavorbox-secret-list.1"));
    let fish = home.cli(&["completions", "fish"]);
    let offered: Vec<&str> = fish
        .ok()
        .lines()
        .filter(|l| l.contains("-l server") || l.contains("-l token-file"))
        .collect();
    assert!(offered.len() > 10, "{offered:#?}");
    for line in offered {
        assert!(
            ["secret;", "run\"", "resolve\"", "whoami\""]
                .iter()
                .any(|command| line.contains(&format!("using_subcommand {command}"))),
            "{line}"
        );
    }

    // Elsewhere, clap's one line, saying where they go.
    for args in [
        &["flavor", "list", "--server", "http://x"][..],
        &["--server", "http://x", "secret", "list"],
        &["schema", "list", "--token-file", "t"],
    ] {
        let err = home
            .cli(args)
            .fails(2, "unexpected argument '--")
            .to_string();
        assert!(
            err.contains("go with `secret`, `run`, `resolve` and `whoami` only"),
            "{err}"
        );
        assert!(!err.contains("--store"), "no other flag suggested: {err}");
    }
    // Set in the environment (a CI job's), it is refused by the commands
    // that run where the store is, and no concern of those that never do.
    let env = [("FLAVORBOX_SERVER", "http://127.0.0.1:9")];
    for (args, path) in [
        (&["flavor", "list"][..], "flavor list"),
        (&["init"], "init"),
        (&["key", "rotate"], "key rotate"),
    ] {
        home.cli_env(args, &env).fails(
            2,
            &format!(
                "FLAVORBOX_SERVER is set, but `flavorbox {path}` runs where the store is: on \
                 the server's machine, without FLAVORBOX_SERVER (unset it); --server and \
                 --token-file go with `secret`, `run`, `resolve` and `whoami` only"
            ),
        );
    }
    home.cli_env(&["completions", "bash"], &env).ok();
    // The secret commands take it as --server (and need a token for it).
    let mut cmd = cli_command(Some(home.path()));
    cmd.args(["secret", "list"])
        .envs(env)
        .env_remove("FLAVORBOX_TOKEN");
    run(cmd, None).fails(2, "--server needs a token");
}

#[test]
fn long_help_ends_with_the_examples_and_short_help_stays_short() {
    let long = run_cli(None, &["--help"], None);
    let text = long.ok();
    let examples = text.find("\nExamples:\n").expect(text);
    assert!(
        text[examples..].contains("flavorbox secret register db_creds"),
        "{text}"
    );
    assert!(text[examples..].contains("flavorbox evaluate"), "{text}");
    let short = run_cli(None, &["-h"], None);
    assert!(!short.ok().contains("Examples:"), "{short:?}");
}

/// `flavorbox [--home HOME] flavor new NAME --lang rust` in `at`, with
/// `env` set.
fn flavor_new(home: Option<&Path>, name: &str, at: &Path, env: &[(&str, &Path)]) -> Run {
    let mut cmd = cli_command(home);
    cmd.args(["flavor", "new", name, "--lang", "rust"])
        .current_dir(at);
    for (key, value) in env {
        cmd.env(key, value);
    }
    run(cmd, None)
}

#[test]
fn flavor_new_refuses_a_name_a_flavor_has_already() {
    let at = tempfile::tempdir().unwrap();
    let here = at.path();
    for (name, why) in [
        ("local", "built-in flavor's"),
        ("aws", "a flavor bundled with flavorbox"),
        ("vault", "a flavor bundled with flavorbox"),
        ("gcp_secrets_manager", "a flavor bundled with flavorbox"),
    ] {
        flavor_new(None, name, here, &[]).fails(2, why);
    }

    // A name registered in the home --home or FLAVORBOX_HOME names.
    let home = CliHome::new();
    home.register_flavor(guests::KV_JSON, &["--grant", "storage"])
        .ok();
    let taken = guests::KV_JSON.name();
    flavor_new(Some(home.path()), taken, here, &[]).fails(2, "is registered in home");
    flavor_new(None, taken, here, &[("FLAVORBOX_HOME", home.path())])
        .fails(2, "is registered in home");
    // Nothing was written for a refused name.
    assert!(std::fs::read_dir(here).unwrap().next().is_none());

    // Free elsewhere: a home that does not exist is not created to check.
    let nowhere = here.join("no-home");
    let made = flavor_new(Some(&nowhere), taken, here, &[]);
    assert!(made.ok().contains(&format!("flavor `{taken}`")), "{made:?}");
    assert!(!nowhere.exists());
    let other = flavor_new(Some(home.path()), "mine", here, &[]);
    assert!(other.ok().contains("flavor `mine`"), "{other:?}");
}

/// `sha256:<hex>` of `path`, by the system's own `sha256sum`.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils) is needed by this test");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

/// `evaluate WASM` with one latency sample.
fn evaluate_args(wasm: &str) -> [&str; 6] {
    ["evaluate", wasm, "--samples", "1", "--budget", "30"]
}

/// `evaluate` of `guest` (one latency sample), in text and JSON.
fn evaluate(guest: Guest) -> (Run, Run) {
    let wasm = guest.arg();
    let args = evaluate_args(&wasm);
    let text = run_cli(None, &args, None);
    let mut json_args = args.to_vec();
    json_args.extend(["--output", "json"]);
    (text, run_cli(None, &json_args, None))
}

#[test]
fn evaluate_names_the_component_it_judged() {
    let guest = guests::KV_JSON;
    let digest = sha256sum(&guest.path());
    let size = guest.bytes().len();
    let (text, json) = evaluate(guest);
    let out = text.ok();
    assert!(
        out.contains(&format!("\ndigest:       {digest}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("\nsize:         {size} bytes\n")),
        "{out}"
    );
    assert!(
        out.contains("\ncontract:     flavorbox:secrets@0.1.0\n"),
        "{out}"
    );
    let report = json.json();
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["size_bytes"], size);
    assert_eq!(report["contract"], "flavorbox:secrets@0.1.0");
    assert_eq!(report["passed"], true);

    // Refused before it loaded: still named, its contract unknown.
    let guest = guests::HOSTILE_CLAIMS_LOCAL;
    let digest = sha256sum(&guest.path());
    let (text, json) = evaluate(guest);
    assert_eq!(text.code, 1, "{text:?}");
    assert!(text.stdout.contains(&format!("digest:       {digest}")));
    assert!(text.stdout.contains("contract:     unknown"), "{text:?}");
    assert_eq!(json.code, 1, "{json:?}");
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["contract"], serde_json::Value::Null);
}

#[test]
fn evaluate_lists_each_check_once_and_shows_progress_only_on_a_terminal() {
    let wasm = guests::KV_JSON.arg();
    let args = evaluate_args(&wasm);
    // stderr a pipe, as in `evaluate X 2>&1 | tee log`: the report alone.
    let piped = run_cli(None, &args, None);
    let report = piped.ok();
    assert_eq!(piped.stderr, "", "{piped:?}");
    let checks: Vec<&str> = report
        .lines()
        .filter_map(|l| l.strip_prefix("  pass  "))
        .collect();
    assert!(checks.len() > 5, "{report}");
    for check in checks {
        assert_eq!(report.matches(check).count(), 1, "{check}: {report}");
    }

    // On a terminal, each step as it runs, on one live line.
    let mut session = crate::on_a_terminal(None, &args);
    session
        .expect("evaluate: check pass")
        .expect("a live line on the terminal");
    session
        .expect("verdict: PASS")
        .expect("the evaluation finishes");
}
