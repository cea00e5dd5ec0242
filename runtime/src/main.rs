//! The `flavorbox` command line: parsing and dispatch. This crate parses
//! arguments, reads user input and the environment, and prints results;
//! every decision is made by the host library (`flavorbox::Home`), which
//! reads no environment variable and knows nothing of this crate.
//!
//! Every failure is one line on stderr (`flavorbox: ...`), usage errors from
//! argument parsing included: clap's multi-line reports are folded into one
//! line that ends with where to find help.

mod bounded_yaml;
mod carried;
mod docs;
mod encrypted;
mod environment;
mod evaluate;
mod exec;
mod flavor;
mod history;
mod input;
mod key;
mod manager;
mod output;
mod remote;
mod scaffold;
mod schema;
mod secret;
mod serve;
mod terminal;
mod transfer;
mod zenml_file;

use std::path::PathBuf;

use flavorbox::sandbox::{Profile, SandboxConfig};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use flavorbox::{Error, Home, Result};

#[derive(Parser)]
#[command(
    name = "flavorbox",
    version,
    about = "Run secrets-manager flavors as sandboxed WebAssembly components",
    after_long_help = docs::EXAMPLES
)]
struct Cli {
    /// Directory holding the store, its master key, registered flavors and
    /// the compile cache [default: the platform data directory, e.g.
    /// ~/.local/share/flavorbox]
    #[arg(long, global = true, env = environment::HOME, value_name = "DIR")]
    home: Option<PathBuf>,

    /// The store instead of the home's own SQLite file: `sqlite:PATH` or
    /// `postgres://USER@HOST:PORT/DATABASE` (shared by `serve` nodes; add
    /// `?sslmode=verify-full&sslrootcert=CA.pem` to encrypt and check the
    /// server, the default `prefer` encrypts only if the server offers it)
    /// (the URL may hold a password: its value is never shown in help)
    #[arg(
        long,
        global = true,
        env = environment::STORE,
        hide_env_values = true,
        value_name = "STORE"
    )]
    store: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a home (store, master key, the `default` secrets manager)
    /// in DIR, or in --home / FLAVORBOX_HOME; any home but the default one
    /// must be made this way before other commands use it
    Init {
        /// The home to create [default: --home, else the default home]
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// List, register, upgrade, grant, describe and remove flavors
    #[command(subcommand)]
    Flavor(flavor::FlavorCommand),
    /// Configure secrets managers (instances of a flavor)
    #[command(subcommand, name = "secrets-manager")]
    SecretsManager(manager::ManagerCommand),
    /// Register, read, list, update, rename, export, import and delete secrets
    Secret(secret::SecretArgs),
    /// List, describe, register and remove secret schemas
    #[command(subcommand)]
    Schema(schema::SchemaCommand),
    /// Run a command with secrets in its environment
    Run(exec::RunArgs),
    /// Render {{name.key}} and {{manager/name.key}} references in a file
    Resolve(exec::ResolveArgs),
    /// Import the secrets of a ZenML LocalSecretsManager (secrets.yaml)
    #[command(name = "import-zenml")]
    ImportZenml(transfer::ImportZenmlArgs),
    /// Evaluate an untrusted flavor in a throwaway home: conformance,
    /// limits, capabilities, latency and a verdict
    Evaluate(evaluate::EvaluateArgs),
    /// Serve the secret operations over HTTP/JSON to token holders
    Serve(serve::ServeArgs),
    /// Create, list and revoke API tokens of `serve`
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Show what a token is on a `serve` node: its id, name, role, secrets
    /// manager and expiry
    Whoami(remote::WhoamiArgs),
    /// Show the latest requests `serve` answered (never values), or verify
    /// the audit log's hash chain (`audit verify`)
    Audit(serve::AuditArgs),
    /// Rotate the master key that seals the store
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Print a shell completion script (bash, zsh or fish)
    Completions(docs::CompletionsArgs),
    /// Write man pages (to DIR, or the main page to stdout)
    Man(docs::ManArgs),
}

/// How to print results: the same three for every listing and description.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for people (control characters escaped)
    #[default]
    #[value(alias = "text")]
    Table,
    /// JSON for scripts (exact values)
    Json,
    /// YAML for scripts and people (exact values)
    Yaml,
}

fn main() -> ExitCode {
    // The bounded compiler child (see `flavorbox::sandbox::compile`): this
    // binary, started by itself.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(flavorbox::sandbox::compile::CHILD_ARG))
    {
        return flavorbox::sandbox::compile::child_main();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A compile that failed left its spinner running.
            if let Some(bar) = COMPILING.lock().unwrap_or_else(|e| e.into_inner()).take() {
                bar.finish_and_clear();
            }
            // One line, whatever a flavor put in it.
            let message = flavorbox::text::escape(&err.to_string()).into_owned();
            output::err_line(format_args!("flavorbox: {message}"));
            ExitCode::from(err.exit_code())
        }
    }
}

/// Prints help and version as clap does; folds every other parse error into
/// one line naming the command's help.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let path = command_path();
    let rendered = err.render().to_string();
    // The first paragraph, on one line ("...not provided:" is followed by
    // the missing arguments on their own lines).
    let first = rendered
        .trim_start()
        .split("\n\n")
        .next()
        .unwrap_or("invalid usage")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let first = first.trim_start_matches("error: ");
    // clap's tips ("a similar subcommand exists: 'secret'") stay, on the
    // same line.
    let mut tips: Vec<String> = rendered
        .split("\n\n")
        .map(str::trim)
        .filter_map(|paragraph| paragraph.strip_prefix("tip: "))
        .map(|tip| tip.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .collect();
    // `--server` elsewhere: where it goes, instead of a similar flag.
    if err.kind() == ErrorKind::UnknownArgument
        && let Some(clap::error::ContextValue::String(arg)) =
            err.get(clap::error::ContextKind::InvalidArg)
        && ["--server", "--token-file"]
            .iter()
            .any(|flag| arg.split('=').next() == Some(flag))
    {
        tips = vec![match remote::where_it_runs(&path, "--server") {
            Some(runs) => format!("{runs}; {}", remote::SERVER_COMMANDS),
            None => format!(
                "{} (`flavorbox secret --server URL ...`)",
                remote::SERVER_COMMANDS
            ),
        }];
    }
    let message = match err.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            format!("`{path}` needs a subcommand")
        }
        _ if tips.is_empty() => first.to_string(),
        _ => format!("{first}; {}", tips.join("; ")),
    };
    eprintln!(
        "flavorbox: {}; see `{path} --help`",
        flavorbox::text::escape(&message)
    );
    ExitCode::from(2)
}

/// The subcommands named on the command line, for pointing at their help.
fn command_path() -> String {
    let mut cmd = Cli::command();
    let mut path = vec!["flavorbox".to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--home" || arg == "--store" {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        match cmd.find_subcommand(&arg) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                cmd = sub.clone();
            }
            None => break,
        }
    }
    path.join(" ")
}

/// Flavor log lines and host diagnostics go to stderr, filtered by
/// `FLAVORBOX_LOG` (default: flavorbox's own warnings; flavor output and
/// library diagnostics only when asked, e.g. `FLAVORBOX_LOG=flavor=info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(environment::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off,flavorbox=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

/// Components at least this large (a language runtime inside) take long
/// enough to compile that the user is told; Rust flavors stay silent.
const COMPILE_PROGRESS_BYTES: usize = 2 * 1024 * 1024;

/// A spinner on stderr while a large component compiles (drawn only on a
/// terminal): the time it takes is the compiler's, in a bounded child.
static COMPILING: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

fn compile_progress(event: &flavorbox::sandbox::cache::CompileEvent) {
    use flavorbox::sandbox::cache::CompileEvent;
    let mut spinner = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    match *event {
        CompileEvent::Started { wasm_bytes } if wasm_bytes >= COMPILE_PROGRESS_BYTES => {
            output::err_line(format_args!(
                "compiling {:.1} MB component (once: the compiled code is cached)…",
                wasm_bytes as f64 / 1e6
            ));
            let bar = output::live_line(None, "{spinner} compiling ({elapsed})");
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            *spinner = Some(bar);
        }
        CompileEvent::Finished {
            wasm_bytes,
            elapsed,
        } if wasm_bytes >= COMPILE_PROGRESS_BYTES => {
            if let Some(bar) = spinner.take() {
                bar.finish_and_clear();
            }
            output::err_line(format_args!("compiled in {:.1} s", elapsed.as_secs_f64()));
        }
        _ => {}
    }
}

/// The default home: the platform's data directory.
fn default_home() -> Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("flavorbox"))
        .ok_or_else(|| {
            Error::invalid("no home directory found; pass --home DIR or set FLAVORBOX_HOME")
        })
}

/// How this process's sandbox is set up: `profile`, compiled code cached
/// where [`environment::CACHE_DIR`] says (else in the home), untrusted
/// components compiled in this very binary, progress shown for large ones.
fn sandbox_config(profile: Profile) -> SandboxConfig {
    SandboxConfig {
        cache_dir: environment::cache_dir(),
        profile,
        compiler: std::env::current_exe().ok(),
        on_compile: Some(compile_progress),
    }
}

/// Whether a command may create its home: only `init`, and any command on
/// the default home.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Create {
    DefaultOnly,
    Always,
}

/// The home a command runs on: a one-shot sandbox, except for `serve`,
/// which takes calls until it is stopped. A home named by --home or
/// FLAVORBOX_HOME must exist unless `create` says otherwise. Its bundled
/// flavors are brought up to this binary's first.
fn open_home(
    dir: Option<PathBuf>,
    store: Option<&str>,
    profile: Profile,
    create: Create,
) -> Result<Home> {
    // A server in the environment is for `secret`, `run` and `resolve`,
    // which never open a home with one; any other command refuses it here.
    remote::refuse_server_from_environment(&command_path())?;
    let create_missing = create == Create::Always || dir.is_none();
    let dir = match dir {
        Some(dir) => dir,
        None => default_home()?,
    };
    let key = environment::master_key()?;
    if key.is_none()
        && let Some(refused) = key::rotation_in_progress(&dir)
    {
        return Err(refused);
    }
    let mut builder = Home::builder(dir)
        .sandbox(sandbox_config(profile))
        .create_missing(create_missing);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    if let Some(key) = key {
        builder = builder.master_key(key);
    }
    let home = builder.open()?;
    flavor::upgrade_bundled(&home);
    Ok(home)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let store = cli.store.clone();
    let home_dir = cli.home.clone();
    let home = || {
        open_home(
            cli.home,
            store.as_deref(),
            Profile::OneShot,
            Create::DefaultOnly,
        )
    };
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Init { dir } => {
            let dir = dir.or(home_dir);
            let existed = dir.as_ref().is_some_and(|d| d.exists());
            let home = open_home(dir, store.as_deref(), Profile::OneShot, Create::Always)?;
            let path = flavorbox::text::escape(&home.dir().display().to_string()).into_owned();
            if existed {
                output::out!("home {path} is ready");
            } else {
                output::out!("created home {path}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => done(serve::serve(
            open_home(
                home_dir,
                store.as_deref(),
                Profile::Service,
                Create::DefaultOnly,
            )?,
            args,
        )),
        Command::Token(cmd) => done(serve::token(&home()?, cmd)),
        Command::Whoami(args) => done(remote::whoami(args)),
        Command::Audit(args) => serve::audit(&home()?, args),
        Command::Key(cmd) => {
            remote::refuse_server_from_environment(&command_path())?;
            done(key::run(
                &match home_dir {
                    Some(dir) => dir,
                    None => default_home()?,
                },
                store.as_deref(),
                cmd,
            ))
        }
        // These never touch the user's home (evaluate only to record its
        // report, when asked): FLAVORBOX_SERVER, for `secret` commands, is
        // no concern of theirs.
        Command::Evaluate(args) => done(evaluate::run(args, home)),
        Command::Completions(args) => done(docs::completions(args, Cli::command())),
        Command::Man(args) => done(docs::man(args, Cli::command())),
        // `flavor new` and `flavor build` work on a project directory only.
        Command::Flavor(cmd) => done(match cmd.without_home() {
            Ok(done) => done,
            Err(cmd) => flavor::run(&home()?, *cmd),
        }),
        Command::SecretsManager(cmd) => done(manager::run(&home()?, cmd)),
        Command::Secret(args) => match args.remote.server.as_deref() {
            Some(server) => {
                let remote = remote::connect(server, &args.remote, args.manager)?;
                done(secret::run(&remote, args.command))
            }
            None => {
                let home = home()?;
                done(secret::run(
                    &home.manager(args.manager.as_deref())?,
                    args.command,
                ))
            }
        },
        Command::Schema(cmd) => done(schema::run(&home()?, cmd)),
        Command::Run(args) => {
            exec::with_secrets(&args.remote().clone(), home, |s| exec::run(s, args))
        }
        Command::Resolve(args) => done(exec::with_secrets(&args.remote().clone(), home, |s| {
            exec::resolve(s, args)
        })),
        Command::ImportZenml(args) => done(transfer::import_zenml(&home()?, args)),
    }
}

/// Parses `KEY=VALUE` into its parts.
pub fn split_pair(text: &str, what: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(Error::invalid(format!(
            "{what} `{}` is not KEY=VALUE",
            flavorbox::text::clip(text, 60)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help` describes every argument of every command.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if arg.is_hide_set() || matches!(arg.get_id().as_str(), "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "flavorbox", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
        Cli::command().debug_assert();
    }
}
