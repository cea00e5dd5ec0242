//! What `run` starts and with which environment: the program (found in
//! flavorbox's own `PATH`), what it inherits, and the variables the
//! secrets set, every rule of `run` checked before anything starts (the
//! rules themselves: `exec.rs`'s top comment and `RUN_RULES`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use flavorbox::environment_names::{family_of, is_flavorbox_own};
use flavorbox::reference::Braces;
use flavorbox::{Error, ErrorKind, Result};

use super::{Resolver, RunArgs, env_name, usable_name};

/// `name` if it can name an environment variable (`what` says where it
/// came from), or an error.
pub(super) fn variable_name(name: &str, what: &str) -> Result<String> {
    if !usable_name(name) {
        return Err(Error::invalid(format!(
            "{what} `{}` is not a usable environment variable name",
            flavorbox::text::clip(name, 60)
        )));
    }
    Ok(name.to_string())
}

/// What the command inherits: flavorbox's environment less every
/// `FLAVORBOX_*` variable, or with `--clean-env` only the `--pass` ones.
pub(super) fn inherited(clean: bool, passes: &[String]) -> Result<BTreeMap<OsString, OsString>> {
    let own = |name: &OsString| is_flavorbox_own(&String::from_utf8_lossy(name.as_encoded_bytes()));
    if !clean {
        return Ok(std::env::vars_os().filter(|(name, _)| !own(name)).collect());
    }
    let mut kept = BTreeMap::new();
    for name in passes {
        let name = variable_name(name, "--pass")?;
        if is_flavorbox_own(&name) {
            return Err(Error::denied(format!(
                "--pass {name}: the command never receives flavorbox's own variables"
            )));
        }
        if let Some(value) = std::env::var_os(&name) {
            kept.insert(OsString::from(name), value);
        }
    }
    Ok(kept)
}

/// The variable a secret's key becomes; a `Denied` error for a key that
/// would set a variable of a refused family (it names the key, the
/// variable and the family), an `Invalid` one for a key no variable can be
/// named after.
pub(super) fn key_variable(secret: &str, prefix: &str, key: &str) -> Result<String> {
    let name = env_name(prefix, key)?;
    match family_of(&name) {
        None => Ok(name),
        Some(family) => Err(Error::denied(format!(
            "secret `{secret}` key `{key}` would set {name}, a {family} variable, which a \
             secret's key never sets"
        ))),
    }
}

/// What `run` starts: the program (found in flavorbox's own `PATH`), its
/// arguments, what it inherits, and what the secrets set.
pub struct Launch {
    program: OsString,
    resolved: PathBuf,
    rest: Vec<OsString>,
    pub(super) inherited: BTreeMap<OsString, OsString>,
}

/// The variables the secrets set: name, then value and where it came from
/// (for messages, never the value).
pub type SecretEnv = BTreeMap<String, (String, String)>;

impl Launch {
    pub(super) fn new(args: &RunArgs, inherited: BTreeMap<OsString, OsString>) -> Result<Launch> {
        let (program, rest) = args
            .command
            .split_first()
            .ok_or_else(|| Error::invalid("no command given after `--`"))?;
        // Looked up in flavorbox's own PATH: the program that runs is the
        // one the operator's shell would find, whatever PATH the command is
        // given.
        let resolved = if program.as_encoded_bytes().contains(&b'/') {
            PathBuf::from(program)
        } else {
            which::which(program).map_err(|e| cannot_run(program, &e))?
        };
        Ok(Launch {
            program: program.clone(),
            resolved,
            rest: rest.to_vec(),
            inherited,
        })
    }

    /// The command, its environment set from `env`.
    pub(super) fn command(&self, env: &SecretEnv) -> std::process::Command {
        let mut command = std::process::Command::new(&self.resolved);
        command
            .arg0(&self.program)
            .args(&self.rest)
            .env_clear()
            .envs(&self.inherited)
            .envs(env.iter().map(|(k, (v, _))| (k, v)));
        command
    }

    pub(super) fn cannot_run(&self, e: &dyn std::fmt::Display) -> Error {
        cannot_run(&self.program, e)
    }
}

pub(super) fn cannot_run(program: &std::ffi::OsStr, e: &dyn std::fmt::Display) -> Error {
    Error::invalid(format!(
        "cannot run `{}`: {e}",
        flavorbox::text::clip(&program.to_string_lossy(), 80)
    ))
}

/// The variables `args` asks for, read through `resolver`; every rule
/// checked before anything starts.
pub(super) fn secret_env(
    resolver: &mut Resolver<'_>,
    args: &RunArgs,
    inherited: &BTreeMap<OsString, OsString>,
) -> Result<SecretEnv> {
    let replaces = args
        .replaces
        .iter()
        .map(|name| variable_name(name, "--replace"))
        .collect::<Result<Vec<_>>>()?;
    let mut env: SecretEnv = BTreeMap::new();
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
    let mut replaced = Vec::new();
    for spec in &args.secrets {
        let (name, prefix) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
        if !prefix.is_empty() {
            env_name(prefix, "")?;
        }
        let secret = resolver.secret(None, name)?.clone();
        for (key, value) in secret.values() {
            let var = key_variable(name, prefix, key).map_err(|e| {
                if !e.is(ErrorKind::Denied) {
                    return e;
                }
                let var = env_name(prefix, key).unwrap_or_default();
                e.map_detail(|refusal| {
                    format!(
                        "{refusal}; refused, nothing was started (to set it anyway, name it: \
                         --env {var}='{{{{{name}.{key}}}}}')"
                    )
                })
            })?;
            if inherited.contains_key(OsString::from(&var).as_os_str()) {
                if !replaces.contains(&var) {
                    return Err(Error::denied(format!(
                        "secret `{name}` key `{key}` would replace {var}, which the command \
                         inherits; refused, nothing was started (allow it with --replace {var}, \
                         or start from --clean-env)"
                    )));
                }
                replaced.push(var.clone());
            }
            set(var, value.clone(), format!("secret `{name}` key `{key}`"))?;
        }
    }
    if let Some(unused) = replaces.iter().find(|name| !replaced.contains(name)) {
        return Err(Error::invalid(format!(
            "--replace {unused}: no --secret key replaces an inherited {unused}"
        )));
    }
    for spec in &args.envs {
        let (var, template) = crate::split_pair(spec, "--env")?;
        let var = variable_name(&var, "--env")?;
        let value = resolver.render(&template, Braces::Others)?;
        set(var.clone(), value, format!("--env {var}"))?;
    }
    Ok(env)
}

/// What masks the command's output: every value of every secret read, not
/// only the ones passed on (the command may have been handed one inside a
/// --env template); `None` with `--no-mask`.
pub(super) fn masker(
    resolver: &Resolver<'_>,
    no_mask: bool,
) -> Option<std::sync::Arc<flavorbox::mask::Masker>> {
    (!no_mask).then(|| {
        let values = resolver.read.values().flat_map(|s| s.values().values());
        std::sync::Arc::new(flavorbox::mask::Masker::new(values.map(String::as_str)))
    })
}

/// The exit code that reports `status`: the command's own, or 128 + the
/// signal that ended it.
pub(super) fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return ExitCode::from((128 + signal).clamp(0, 255) as u8);
    }
    ExitCode::FAILURE
}
