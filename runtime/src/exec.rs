//! `flavorbox run` and `flavorbox resolve`: secrets into a process's
//! environment, and references rendered into text, read from the home or,
//! with `--server`, from a `flavorbox serve` node (a CI job holding only a
//! token), with the same output and exit codes.
//!
//! Guards against values leaking where they are easy to see: `run` passes
//! values only through the child's environment (never its command line, so
//! `ps` does not show them, and never a log line), and `resolve` prints
//! nothing unless every reference resolved, so a half-rendered file never
//! reaches a config system. Every reference is read before anything runs or
//! prints, and an error names the reference, never a value.
//!
//! Guards also against a secret's writer taking over the process that
//! receives it: a secret's key never sets a variable of a
//! [`flavorbox::environment_names::Family`] (the loader, shell start-up,
//! search paths, ...) and never replaces one the child inherits unless the
//! operator names it (`--env`, `--replace`); `run` refuses such a secret and
//! starts nothing, `secret get --output env` leaves such a key out with a
//! warning. The child never inherits flavorbox's own `FLAVORBOX_*`
//! variables, and its command is looked up in flavorbox's own `PATH`.
//! Signals and the child's life: `src/exec/child.rs`; what the child prints,
//! masked: `src/exec/masked.rs`; the command and its environment:
//! `src/exec/launch.rs`; `--watch`: `src/exec/watch.rs`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use flavorbox::managers::SecretsApi;
use flavorbox::reference::{self, Braces, Reference};
use flavorbox::{Error, ErrorKind, Home, Result, Secret};

use super::input;
use super::output::{err_line, out};
use super::remote::RemoteArgs;
use super::secret::shell_quote;

mod child;
mod launch;
mod masked;
mod watch;

use launch::{Launch, inherited, key_variable, masker, secret_env};

/// What `run --help` adds after the options: the rules that keep a secret
/// from taking over the command.
const RUN_RULES: &str = "\
What a secret may not do:
  A secret's key never sets a variable that changes how programs load or
  start: the dynamic loader (LD_*, DYLD_*, GLIBC_TUNABLES), shell start-up
  (BASH_ENV, ENV, BASH_*, PS1-PS4, PROMPT_COMMAND, SHELLOPTS, IFS, CDPATH),
  locale (LANG, LC_*, TZ), search paths (PATH and every *PATH, PERL5LIB,
  RUBYLIB), interpreter start-up (PYTHON*, PERL*, RUBY*, NODE_OPTIONS,
  JAVA_TOOL_OPTIONS, ...), command hooks (GIT_*, EDITOR, PAGER, LESS*, ...),
  configuration locations (HOME, XDG_*, TMPDIR, SHELL, OPENSSL_*, ...),
  network trust (*_PROXY, SSL_CERT_*, ...) and FLAVORBOX_*. `run` refuses
  such a secret with one error line naming the key and the family, and
  starts nothing. To set such a variable from a secret, name it yourself:
  --env PATH='{{tools.path}}'.
  A secret's key never replaces a variable the command would inherit
  unless --replace names that variable (or --clean-env dropped it).
  The command never inherits a FLAVORBOX_* variable (master key, token,
  server, store, ...), and is looked up in flavorbox's own PATH.

What the command prints:
  Its stdout and stderr pass through flavorbox line by line, every value
  of the secrets it was given replaced by `***` (a line over 1 MiB is shown
  as `***`), so a command that echoes its password does not put it in a
  log. Both are then pipes, not the terminal; --no-mask hands the command
  flavorbox's own stdout and stderr (interactive programs, binary output).
  Output a process the command left running writes more than a second
  after the command exited is not shown.

Signals and exit:
  TERM, INT, HUP, QUIT, USR1 and USR2 sent to flavorbox go to the command
  (a terminal's ^C reaches both directly and is not sent twice). flavorbox
  exits with the command's exit code, or 128 + the signal that ended it.
  On Linux the command is killed if flavorbox itself dies.";

/// Largest template `resolve` reads.
const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

#[derive(Args)]
#[command(after_help = RUN_RULES)]
pub struct RunArgs {
    /// Read secrets from this secrets manager instead of the active one
    #[arg(short, long, value_name = "NAME")]
    manager: Option<String>,
    /// Put every key of this secret into the environment, upper-cased
    /// (`.` and `-` become `_`), after PREFIX if given; repeatable
    #[arg(long = "secret", value_name = "NAME[=PREFIX]")]
    secrets: Vec<String>,
    /// Set VAR to a value with {{name.key}} or {{manager/name.key}}
    /// references; repeatable. Any VAR may be named here, PATH included:
    /// naming it is the operator's choice
    #[arg(long = "env", value_name = "VAR=TEMPLATE")]
    envs: Vec<String>,
    /// Let a --secret key replace VAR, which the command would otherwise
    /// inherit from flavorbox's environment; repeatable (the refused
    /// families stay refused: name those with --env)
    #[arg(long = "replace", value_name = "VAR")]
    replaces: Vec<String>,
    /// Start the command from an empty environment: only the secrets' keys,
    /// --env and --pass
    #[arg(long)]
    clean_env: bool,
    /// With --clean-env: keep VAR from flavorbox's environment (never a
    /// FLAVORBOX_* one); repeatable
    #[arg(long = "pass", value_name = "VAR", requires = "clean_env")]
    passes: Vec<String>,
    /// Hand the command flavorbox's own stdout and stderr instead of
    /// masking the secrets' values in what it prints
    #[arg(long)]
    no_mask: bool,
    #[command(flatten)]
    watch: watch::WatchArgs,
    #[command(flatten)]
    remote: RemoteArgs,
    /// The command and its arguments (after `--`)
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// What `resolve --help` adds after the options: the template syntax.
const RESOLVE_SYNTAX: &str = "\
References:
  {{name.key}} and {{manager/name.key}} are replaced by the key's value; a
  secret whose name holds a `.` is written in quotes: {{\"db.prod\".password}}.
  Whitespace inside the braces is ignored. Any other {{ ... }} (Helm's
  {{ .Values.image }}, Jinja's {{ user | upper }}, GitHub Actions'
  ${{ github.sha }}) is left as it is, or refused with --strict; \\{{ is a literal {{ either way. Nothing is printed
  unless every reference resolved.";

#[derive(Args)]
#[command(after_help = RESOLVE_SYNTAX)]
pub struct ResolveArgs {
    /// Resolve references without a manager in this secrets manager instead
    /// of the active one
    #[arg(short, long, value_name = "NAME")]
    manager: Option<String>,
    /// The template to render (`-` or nothing for stdin)
    file: Option<PathBuf>,
    /// Refuse a `{{` that is not a reference (by default it is left as it
    /// is, for the file's other templating: Helm, Jinja, GitHub Actions)
    #[arg(long)]
    strict: bool,
    /// Write the rendered text to FILE (created 0600, replaced whole)
    /// instead of stdout
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Keep running: render FILE again whenever a secret the template uses
    /// changes (then run the reload command given after `--`, if any)
    #[arg(long, requires = "out")]
    watch: bool,
    /// With --watch: a command to run after each render, e.g. `-- nginx -s
    /// reload` (found in flavorbox's PATH; it gets no secret)
    #[arg(last = true, value_name = "RELOAD", requires = "watch")]
    reload: Vec<OsString>,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Where `run` and `resolve` read secrets: the home's secrets managers, or
/// a `flavorbox serve` node's (`--server`), through the one interface both
/// offer, so the two say and do the same.
pub enum Secrets<'h> {
    Home(&'h Home),
    Server { url: String, remote: RemoteArgs },
}

impl Secrets<'_> {
    /// The named secrets manager, or the default one (the home's active
    /// manager; on a server, the token's own).
    fn manager(&self, name: Option<&str>) -> Result<Box<dyn SecretsApi + '_>> {
        Ok(match self {
            Secrets::Home(home) => Box::new(home.manager(name)?),
            Secrets::Server { url, remote } => Box::new(super::remote::connect(
                url,
                remote,
                name.map(str::to_string),
            )?),
        })
    }
}

/// Runs `command` (`run` or `resolve`) against `--server` if given, else
/// against the home `open_home` opens.
pub fn with_secrets<T>(
    remote: &RemoteArgs,
    open_home: impl FnOnce() -> Result<Home>,
    command: impl FnOnce(&Secrets<'_>) -> Result<T>,
) -> Result<T> {
    match &remote.server {
        Some(url) => command(&Secrets::Server {
            url: url.clone(),
            remote: remote.clone(),
        }),
        None => command(&Secrets::Home(&open_home()?)),
    }
}

impl RunArgs {
    /// Where the secrets are read (see [`with_secrets`]).
    pub fn remote(&self) -> &RemoteArgs {
        &self.remote
    }
}

impl ResolveArgs {
    /// Where the secrets are read (see [`with_secrets`]).
    pub fn remote(&self) -> &RemoteArgs {
        &self.remote
    }
}

/// An environment variable name for `key` after `prefix`: upper-cased, `.`
/// and `-` as `_`.
pub fn env_name(prefix: &str, key: &str) -> Result<String> {
    let name: String = format!("{prefix}{key}")
        .chars()
        .map(|c| match c {
            '.' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if !usable_name(&name) {
        return Err(Error::invalid(format!(
            "`{}` is not a usable environment variable name",
            flavorbox::text::clip(&name, 60)
        )));
    }
    Ok(name)
}

/// Whether `name` is `[A-Za-z_][A-Za-z0-9_]*`, a name every shell accepts.
fn usable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads references through one home or server, each secret once.
pub struct Resolver<'s> {
    secrets: &'s Secrets<'s>,
    manager: Option<String>,
    read: BTreeMap<(Option<String>, String), Secret>,
}

impl<'s> Resolver<'s> {
    pub fn new(secrets: &'s Secrets<'s>, manager: Option<String>) -> Self {
        Resolver {
            secrets,
            manager,
            read: BTreeMap::new(),
        }
    }

    fn secret(&mut self, manager: Option<&str>, name: &str) -> Result<&Secret> {
        let manager = manager.map(str::to_string).or(self.manager.clone());
        let key = (manager.clone(), name.to_string());
        if !self.read.contains_key(&key) {
            let secret = self.secrets.manager(manager.as_deref())?.get_secret(name)?;
            self.read.insert(key.clone(), secret);
        }
        Ok(&self.read[&key])
    }

    /// The value `reference` names; an error names the reference.
    pub fn value(&mut self, reference: &Reference) -> Result<String> {
        let named = |e: Error| {
            let message = format!("reference {reference}: {}", e.quoted());
            match e.kind() {
                kind @ (ErrorKind::NotFound | ErrorKind::Invalid | ErrorKind::Sandbox(_)) => {
                    Error::new(kind, message)
                }
                _ => Error::backend(message),
            }
        };
        let secret = self
            .secret(reference.manager.as_deref(), &reference.secret)
            .map_err(named)?;
        secret.values().get(&reference.key).cloned().ok_or_else(|| {
            Error::not_found(format!(
                "reference {reference}: secret `{}` has no key `{}`",
                reference.secret, reference.key
            ))
        })
    }

    /// `template` with every reference replaced; other `{{` taken as
    /// `braces` says.
    pub fn render(&mut self, template: &str, braces: Braces) -> Result<String> {
        reference::render(template, braces, |r| self.value(r))
    }
}

/// Starts the command with the secrets in its environment and returns its
/// exit code (128 + signal if a signal ended it); with `--watch`, restarts
/// it whenever a secret it was given changes (see `exec/watch.rs`).
pub fn run(secrets: &Secrets<'_>, args: RunArgs) -> Result<ExitCode> {
    let mut resolver = Resolver::new(secrets, args.manager.clone());
    let inherited = inherited(args.clean_env, &args.passes)?;
    let env = secret_env(&mut resolver, &args, &inherited)?;
    let launch = Launch::new(&args, inherited)?;
    if args.watch.watch {
        return watch::run_watching(secrets, &args, &launch, resolver, env);
    }
    let masker = masker(&resolver, args.no_mask);
    let mut command = launch.command(&env);
    if masker.is_some() {
        masked::pipe(&mut command);
    }
    let mut streams = None;
    let status = child::run(command, |child| {
        streams = masker.map(|masker| masked::forward(child, masker));
    })
    .map_err(|e| launch.cannot_run(&e))?;
    if let Some(streams) = streams {
        streams.finish();
    }
    Ok(launch::exit_code(status))
}

/// `secret get --output env`: `KEY='value'` lines for a POSIX shell. A key
/// of a refused family (see [`flavorbox::environment_names`]) is left out
/// with a warning on stderr naming the key and the family; the other keys
/// are printed and the command succeeds.
///
/// Two keys that name one variable (`db-host` and `DB_HOST`) are refused
/// before anything is printed: whichever came last would win in the shell.
pub fn print_env<'a>(
    secret: &str,
    values: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    let mut lines: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for (key, value) in values {
        match key_variable(secret, "", key) {
            Ok(name) => {
                if let Some((earlier, _)) = lines.get(&name) {
                    return Err(Error::invalid(format!(
                        "secret `{secret}` keys `{earlier}` and `{key}` would both set {name}; \
                         rename one, or read them with --output json"
                    )));
                }
                lines.insert(name, (key, value));
            }
            Err(refusal) if refusal.is(ErrorKind::Denied) => err_line(format_args!(
                "flavorbox: warning: {}; left out",
                refusal.detail()
            )),
            Err(e) => return Err(e),
        }
    }
    for (name, (_, value)) in lines {
        out!("{name}={}", shell_quote(value));
    }
    Ok(())
}

/// Renders a template to stdout, or fails without printing anything.
pub fn resolve(secrets: &Secrets<'_>, args: ResolveArgs) -> Result<()> {
    let path = args.file.unwrap_or_else(|| PathBuf::from("-"));
    let template = input::read_text(&path, "template", MAX_TEMPLATE_BYTES)?;
    let braces = match args.strict {
        true => Braces::Strict,
        false => Braces::Others,
    };
    // Parse first: a malformed template fails before any secret is read.
    reference::find_all(&template, braces)?;
    if let (true, Some(out)) = (args.watch, &args.out) {
        let never =
            watch::resolve_watching(secrets, args.manager, &template, braces, out, &args.reload)?;
        match never {}
    }
    let rendered = Resolver::new(secrets, args.manager).render(&template, braces)?;
    match &args.out {
        Some(out) => watch::write_atomically(out, &rendered),
        None => {
            super::output::raw(rendered.as_bytes());
            Ok(())
        }
    }
}
