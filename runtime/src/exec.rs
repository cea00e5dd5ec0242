//! `flavorbox run` and `flavorbox resolve`: secrets into a process's
//! environment, and references rendered into text.
//!
//! Guards against values leaking where they are easy to see: `run` passes
//! values only through the child's environment (never its command line, so
//! `ps` does not show them, and never a log line), and `resolve` prints
//! nothing unless every reference resolved, so a half-rendered file never
//! reaches a config system. Every reference is read before anything runs or
//! prints, and an error names the reference, never a value.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use flavorbox::reference::{self, Reference};
use flavorbox::{Error, ErrorKind, Home, Result, Secret};

use super::input;

/// Largest template `resolve` reads.
const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

#[derive(Args)]
pub struct RunArgs {
    /// Read secrets from this secrets manager instead of the active one
    #[arg(long, value_name = "NAME")]
    manager: Option<String>,
    /// Put every key of this secret into the environment, upper-cased
    /// (`.` and `-` become `_`), after PREFIX if given; repeatable
    #[arg(long = "secret", value_name = "NAME[=PREFIX]")]
    secrets: Vec<String>,
    /// Set VAR to a value with {{name.key}} or {{manager/name.key}}
    /// references; repeatable
    #[arg(long = "env", value_name = "VAR=TEMPLATE")]
    envs: Vec<String>,
    /// The command and its arguments (after `--`)
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

#[derive(Args)]
pub struct ResolveArgs {
    /// Resolve references without a manager in this secrets manager instead
    /// of the active one
    #[arg(long, value_name = "NAME")]
    manager: Option<String>,
    /// The template to render (`-` or nothing for stdin)
    file: Option<PathBuf>,
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
    if name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::invalid(format!(
            "`{}` is not a usable environment variable name",
            flavorbox::text::clip(&name, 60)
        )));
    }
    Ok(name)
}

/// Reads references through one home, each secret once.
pub struct Resolver<'h> {
    home: &'h Home,
    manager: Option<String>,
    read: BTreeMap<(Option<String>, String), Secret>,
}

impl<'h> Resolver<'h> {
    pub fn new(home: &'h Home, manager: Option<String>) -> Self {
        Resolver {
            home,
            manager,
            read: BTreeMap::new(),
        }
    }

    fn secret(&mut self, manager: Option<&str>, name: &str) -> Result<&Secret> {
        let manager = manager.map(str::to_string).or(self.manager.clone());
        let key = (manager.clone(), name.to_string());
        if !self.read.contains_key(&key) {
            let secret = self.home.manager(manager.as_deref())?.get_secret(name)?;
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

    /// `template` with every reference replaced.
    pub fn render(&mut self, template: &str) -> Result<String> {
        reference::render(template, |r| self.value(r))
    }
}

/// Starts the command with the secrets in its environment and returns its
/// exit code (128 + signal if a signal ended it).
pub fn run(home: &Home, args: RunArgs) -> Result<ExitCode> {
    let mut resolver = Resolver::new(home, args.manager.clone());
    let mut env: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut set = |name: String, value: String, from: String| {
        if let Some((_, earlier)) = env.get(&name) {
            return Err(Error::invalid(format!(
                "environment variable `{name}` would be set by both {earlier} and {from}"
            )));
        }
        if value.contains('\0') {
            return Err(Error::invalid(format!(
                "the value for `{name}` ({from}) holds a NUL byte, which no environment \
                 variable can"
            )));
        }
        env.insert(name, (value, from));
        Ok(())
    };
    for spec in &args.secrets {
        let (name, prefix) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
        if !prefix.is_empty() {
            env_name(prefix, "")?;
        }
        let secret = resolver.secret(None, name)?.clone();
        for (key, value) in secret.values() {
            set(
                env_name(prefix, key)?,
                value.clone(),
                format!("secret `{name}` key `{key}`"),
            )?;
        }
    }
    for spec in &args.envs {
        let (var, template) = super::split_pair(spec, "--env")?;
        if !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || var.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(Error::invalid(format!(
                "--env `{}` is not a usable environment variable name",
                flavorbox::text::clip(&var, 60)
            )));
        }
        let value = resolver.render(&template)?;
        set(var.clone(), value, format!("--env {var}"))?;
    }
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Error::invalid("no command given after `--`"))?;
    let status = std::process::Command::new(program)
        .args(rest)
        .envs(env.iter().map(|(k, (v, _))| (k, v)))
        .status()
        .map_err(|e| {
            Error::invalid(format!(
                "cannot run `{}`: {e}",
                flavorbox::text::clip(&program.to_string_lossy(), 80)
            ))
        })?;
    if let Some(code) = status.code() {
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return Ok(ExitCode::from((128 + signal).clamp(0, 255) as u8));
    }
    Ok(ExitCode::FAILURE)
}

/// Renders a template to stdout, or fails without printing anything.
pub fn resolve(home: &Home, args: ResolveArgs) -> Result<()> {
    let path = args.file.unwrap_or_else(|| PathBuf::from("-"));
    let template = input::read_text(&path, "template", MAX_TEMPLATE_BYTES)?;
    // Parse first: a malformed template fails before any secret is read.
    reference::find_all(&template)?;
    let rendered = Resolver::new(home, args.manager).render(&template)?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(rendered.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::host(format!("cannot write the result: {e}")))
}
