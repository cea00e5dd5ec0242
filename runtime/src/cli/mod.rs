//! Command-line parsing and dispatch. This layer parses arguments, reads
//! user input and prints results; every decision is made by the library
//! (`flavorbox::Home`), and nothing here touches wasmtime.

mod evaluate;
mod flavor;
mod input;
mod manager;
mod output;
mod remote;
mod scaffold;
mod schema;
mod secret;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use flavorbox::{Error, Home, Result};

#[derive(Parser)]
#[command(
    name = "flavorbox",
    version,
    about = "Run secrets-manager flavors as sandboxed WebAssembly components"
)]
struct Cli {
    /// Directory holding the store, registered flavors and the compile cache
    /// [default: the platform data directory]
    #[arg(long, global = true, env = "FLAVORBOX_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    /// The store instead of the home's own SQLite file: `sqlite:PATH` or
    /// `postgres://USER@HOST:PORT/DATABASE` (shared by `serve` nodes)
    /// (the URL may hold a password: its value is never shown in help)
    #[arg(
        long,
        global = true,
        env = "FLAVORBOX_STORE",
        hide_env_values = true,
        value_name = "STORE"
    )]
    store: Option<String>,

    /// Run `secret` commands on this `flavorbox serve` node (http://HOST:PORT),
    /// with the token from FLAVORBOX_TOKEN or --token-file
    #[arg(long, global = true, env = "FLAVORBOX_SERVER", value_name = "URL")]
    server: Option<String>,

    /// File holding the token for --server
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List, register, describe and remove flavors
    #[command(subcommand)]
    Flavor(flavor::FlavorCommand),
    /// Configure secrets managers (instances of a flavor)
    #[command(subcommand, name = "secrets-manager")]
    SecretsManager(manager::ManagerCommand),
    /// Register, read, list, update and delete secrets
    Secret(secret::SecretArgs),
    /// List, describe and register secret schemas
    #[command(subcommand)]
    Schema(schema::SchemaCommand),
    /// Evaluate an untrusted flavor in a throwaway home: conformance,
    /// limits, capabilities, latency and a verdict
    Evaluate(evaluate::EvaluateArgs),
    /// Serve the secret operations over HTTP/JSON to token holders
    Serve(serve::ServeArgs),
    /// Create, list and revoke API tokens of `serve`
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Show the latest requests `serve` answered (never values)
    Audit(serve::AuditArgs),
}

/// How to print results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

pub fn main() -> ExitCode {
    // The bounded compiler child (see `flavorbox::sandbox::compile`): this
    // binary, started by itself.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(flavorbox::sandbox::compile::CHILD_ARG))
    {
        return flavorbox::sandbox::compile::child_main();
    }
    if let Ok(exe) = std::env::current_exe() {
        flavorbox::sandbox::compile::set_compiler(exe);
    }
    let cli = Cli::parse();
    init_logging();
    flavorbox::sandbox::cache::observe_compiles(compile_progress);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, whatever a flavor put in it.
            let message = flavorbox::text::escape(&err.to_string()).into_owned();
            output::err_line(format_args!("flavorbox: {message}"));
            ExitCode::from(err.exit_code())
        }
    }
}

/// Flavor log lines and host diagnostics go to stderr, filtered by
/// `FLAVORBOX_LOG` (default: flavorbox's own warnings; flavor output and
/// library diagnostics only when asked, e.g. `FLAVORBOX_LOG=flavor=info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLAVORBOX_LOG")
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

fn compile_progress(event: &flavorbox::sandbox::cache::CompileEvent) {
    use flavorbox::sandbox::cache::CompileEvent;
    match *event {
        CompileEvent::Started { wasm_bytes } if wasm_bytes >= COMPILE_PROGRESS_BYTES => {
            output::err_line(format_args!(
                "compiling {:.1} MB component (once: the compiled code is cached)…",
                wasm_bytes as f64 / 1e6
            ));
        }
        CompileEvent::Finished {
            wasm_bytes,
            elapsed,
        } if wasm_bytes >= COMPILE_PROGRESS_BYTES => {
            output::err_line(format_args!("compiled in {:.1} s", elapsed.as_secs_f64()));
        }
        _ => {}
    }
}

fn open_home(dir: Option<PathBuf>, store: Option<&str>) -> Result<Home> {
    let dir = match dir {
        Some(dir) => dir,
        None => flavorbox::home::default_dir()?,
    };
    Home::open_store(&dir, store)
}

fn run(cli: Cli) -> Result<()> {
    let store = cli.store.clone();
    let home = || open_home(cli.home, store.as_deref());
    if let Some(server) = cli.server.as_deref() {
        return match cli.command {
            Command::Secret(args) => remote::run(server, cli.token_file.as_deref(), args),
            _ => Err(Error::invalid(
                "--server works with `secret` commands only; other commands run where the store is",
            )),
        };
    }
    match cli.command {
        Command::Serve(args) => serve::serve(home()?, args),
        Command::Token(cmd) => serve::token(&home()?, cmd),
        Command::Audit(args) => serve::audit(&home()?, args),
        // `evaluate` never touches the user's home.
        Command::Evaluate(args) => evaluate::run(args),
        // `flavor new` and `flavor build` work on a project directory only.
        Command::Flavor(cmd) => match cmd.without_home() {
            Ok(done) => done,
            Err(cmd) => flavor::run(&home()?, *cmd),
        },
        Command::SecretsManager(cmd) => manager::run(&home()?, cmd),
        Command::Secret(args) => secret::run(&home()?, args),
        Command::Schema(cmd) => schema::run(&home()?, cmd),
    }
}

/// Parses `KEY=VALUE` into its parts.
pub fn split_pair(text: &str, what: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(Error::invalid(format!("{what} `{text}` is not KEY=VALUE"))),
    }
}
