//! `flavorbox secret ...`, on a manager of the home or, with `--server`, on
//! one behind a `flavorbox serve` node: one dispatch over
//! `flavorbox::managers::SecretsApi`, so both print the same.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use flavorbox::managers::{
    BulkBound, Deletion, Feature, Referrer, SecretSummary, SecretUpdate, SecretsApi,
};
use flavorbox::text::escape;
use flavorbox::{Error, Result, Secret};
use serde::Serialize;

use super::output::{err_line, json, out, table, yaml};
use super::terminal::confirm;
use super::{OutputFormat, exec, history, input, transfer};

#[derive(Args)]
pub struct SecretArgs {
    /// Use this secrets manager instead of the active one
    #[arg(short, long, global = true, value_name = "NAME")]
    pub(super) manager: Option<String>,

    #[command(flatten)]
    pub(super) remote: super::remote::RemoteArgs,

    #[command(subcommand)]
    pub(super) command: SecretCommand,
}

/// How `secret get` prints a secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum GetFormat {
    /// A table of keys and values (control characters escaped)
    #[default]
    #[value(alias = "text")]
    Table,
    /// {"name", "schema", "values"}: what --from-json reads back
    Json,
    /// The same fields as YAML, which --from-json reads back too
    Yaml,
    /// KEY='value' lines for a POSIX shell (keys upper-cased); a key that
    /// would set a variable changing how programs load or start (PATH,
    /// LD_*, BASH_ENV, ...: see `run --help`) is left out with a warning
    Env,
}

#[derive(Subcommand)]
pub(super) enum SecretCommand {
    /// Create a secret
    Register {
        /// The secret's name
        name: String,
        /// The secret's schema [default: arbitrary, or the schema in --from-json]
        #[arg(long)]
        schema: Option<String>,
        /// KEY=- (value from stdin), KEY=@FILE (from a file), or -i to be
        /// prompted: a value in KEY=VALUE is on the command line, which
        /// every local user can read (/proc/PID/cmdline) while it runs.
        /// KEY=@@... is a literal @
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// Prompt for the schema's keys with hidden input
        #[arg(short, long, conflicts_with_all = ["values", "from_json"])]
        interactive: bool,
        /// Read the key-values from a JSON or YAML mapping of strings, or
        /// from what `secret get --reveal --output json` (or yaml) prints
        /// (`-` for stdin)
        #[arg(long, value_name = "FILE", conflicts_with = "values")]
        from_json: Option<PathBuf>,
    },
    /// Show a secret (values masked unless --reveal or --key)
    #[command(visible_alias = "show")]
    Get {
        /// The secret's name
        name: String,
        /// Print only this key's value, raw (for scripts); a newline follows
        /// unless --no-newline
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// With --key: print the value exactly, without a trailing newline
        #[arg(long, requires = "key")]
        no_newline: bool,
        /// Print the values
        #[arg(long)]
        reveal: bool,
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: GetFormat,
        /// Show this version instead of the current one (see `secret
        /// history`)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        version: Option<u64>,
    },
    /// List the names of the secrets (soft-deleted ones are not listed)
    #[command(visible_alias = "ls")]
    List {
        /// Only names matching this glob (`*`, `?`, `[...]`), e.g. 'db_*'
        pattern: Option<String>,
        /// Only secrets carrying this label with this value; repeatable
        /// (all must match)
        #[arg(long, value_name = "KEY=VALUE")]
        label: Vec<String>,
        /// Show each secret's schema, version, update time and labels
        #[arg(short, long)]
        long: bool,
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Merge key-values into a secret, re-validated against its schema
    Update {
        /// The secret's name
        name: String,
        /// KEY=-, KEY=@FILE, KEY=VALUE (visible to local users while it
        /// runs), KEY=@@... (as for register)
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// Remove this key; repeatable
        #[arg(long = "remove-key", value_name = "KEY")]
        remove_keys: Vec<String>,
        /// Switch the secret to another schema
        #[arg(long)]
        schema: Option<String>,
        /// Prompt for each key with hidden input; Enter keeps the current value
        #[arg(short, long, conflicts_with_all = ["values", "from_json"])]
        interactive: bool,
        /// Merge the key-values of a JSON or YAML file (as for register; `-`
        /// for stdin)
        #[arg(long, value_name = "FILE", conflicts_with = "values")]
        from_json: Option<PathBuf>,
        /// Write only if the secret is still at version N (as `secret get`
        /// or `history` showed it): else refused, nothing written
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        if_version: Option<u64>,
    },
    /// Rename a secret (registers the new name, then purges the old one:
    /// the old name's history does not follow, and the name is free again)
    Rename {
        /// The secret's current name
        old: String,
        /// Its new name
        new: String,
        /// Rename it even though a secrets manager's config refers to it
        /// (`{{name.key}}`); those references are left pointing at the old
        /// name, so broken, and named on stderr
        #[arg(long)]
        force: bool,
    },
    /// Delete a secret: soft where the flavor keeps history (`secret
    /// restore NAME` brings it back; its name stays taken until then or a
    /// purge), for good on a flavor that keeps none
    #[command(visible_alias = "rm")]
    Delete {
        /// The secret's name
        name: String,
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
        /// Delete it for good, with every version and label (a
        /// soft-deleted secret too)
        #[arg(long)]
        purge: bool,
        /// Delete it even though a secrets manager's config refers to it
        /// (`{{name.key}}`); those references are broken, and named on
        /// stderr. Implies --yes
        #[arg(long)]
        force: bool,
    },
    /// Delete every secret of the secrets manager (refused while a secrets
    /// manager's config refers to one of them: delete those one by one)
    DeleteAll {
        /// Do not ask for confirmation (required when not on a terminal);
        /// it does not delete secrets that configs refer to
        #[arg(long, visible_alias = "yes")]
        force: bool,
        /// Most delete calls a flavor granted `http` is driven through, one
        /// per secret; a larger listing is refused before anything is
        /// deleted [default: 10000]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_calls: Option<u64>,
        /// Longest such a deletion runs; it stops there and says what was
        /// and was not deleted [default: 600]
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
        max_time: Option<u64>,
    },
    /// Print secrets with their values as JSON, for `secret import`
    Export {
        /// Secrets to export [default: all]
        names: Vec<String>,
        /// Required: the output holds every value in clear
        #[arg(long)]
        reveal: bool,
        /// Write to this new file (created 0600; an existing file is never
        /// replaced) instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Also each secret's earlier versions (a flavor keeping history;
        /// its labels are exported either way), which `import` writes back
        /// in order
        #[arg(long)]
        history: bool,
        #[command(flatten)]
        encrypt: transfer::EncryptArgs,
    },
    /// Register every secret of an export file, all or nothing
    Import {
        /// A file written by `secret export` (`-` for stdin)
        file: PathBuf,
        #[command(flatten)]
        how: transfer::ImportArgs,
        #[command(flatten)]
        decrypt: transfer::DecryptArgs,
    },
    #[command(flatten)]
    History(history::HistoryCommand),
}

#[derive(Serialize)]
pub(super) struct SecretView<'a> {
    pub(super) name: &'a str,
    pub(super) schema: &'a str,
    /// The version the values are, where the flavor keeps versions (what
    /// `update --if-version` takes); `--from-json` reads past it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) version: Option<u64>,
    pub(super) values: BTreeMap<&'a str, &'a str>,
}

pub(super) fn view(secret: &Secret, reveal: bool, version: Option<u64>) -> SecretView<'_> {
    SecretView {
        name: secret.name(),
        schema: secret.schema(),
        version,
        values: secret
            .values()
            .iter()
            .map(|(k, v)| (k.as_str(), if reveal { v.as_str() } else { "***" }))
            .collect(),
    }
}

/// How a written secret is named in what is printed.
fn summary(written: &SecretSummary) -> String {
    format!(
        "`{}` ({} key{}, schema {})",
        escape(&written.name),
        written.keys.len(),
        if written.keys.len() == 1 { "" } else { "s" },
        escape(&written.schema)
    )
}

/// Runs a `secret` command on `api`: a manager of the home, or one on a
/// `flavorbox serve` node (`--server`), printing the same either way. An
/// option a side lacks (`delete-all`'s bound on a server) is refused by
/// that side ([`SecretsApi::require`]) before any input is read.
pub fn run(api: &dyn SecretsApi, command: SecretCommand) -> Result<()> {
    match command {
        SecretCommand::Register {
            name,
            schema,
            values,
            interactive,
            from_json,
        } => {
            let (pairs, schema) = if interactive {
                let schema = schema.unwrap_or_else(|| "arbitrary".to_string());
                (input::prompt(&api.schema(&schema)?)?, schema)
            } else if let Some(path) = from_json {
                let read = input::secret_file(&path)?;
                let schema = schema
                    .or(read.schema)
                    .unwrap_or_else(|| "arbitrary".to_string());
                (read.pairs, schema)
            } else {
                (
                    input::pairs(&values)?,
                    schema.unwrap_or_else(|| "arbitrary".to_string()),
                )
            };
            let secret = Secret::new(name, schema, pairs)?;
            api.register_secret(&secret)?;
            out!(
                "registered secret {} in secrets manager `{}`",
                summary(&SecretSummary::of(&secret)),
                api.manager_name()
            );
            Ok(())
        }
        SecretCommand::Get {
            name,
            key,
            no_newline,
            reveal,
            output,
            version,
        } => {
            let (secret, version) = match version {
                Some(asked) => (api.get_secret_version(&name, asked)?, Some(asked)),
                None => api.get_secret_versioned(&name)?,
            };
            let shown = Shown {
                reveal,
                key: key.as_deref(),
                no_newline,
                output,
                version,
            };
            print_secret(&secret, &shown)
        }
        SecretCommand::List {
            pattern,
            label,
            long,
            output,
        } => history::Listing::new(pattern.as_deref(), &label, long)?.print(api, output),
        SecretCommand::Update {
            name,
            values,
            remove_keys,
            schema,
            interactive,
            from_json,
            if_version,
        } => {
            let mut schema = schema;
            let changes = if interactive {
                let current = match if_version {
                    Some(version) => api.get_secret_version(&name, version)?,
                    None => api.get_secret(&name)?,
                };
                let schema_name = schema.clone().unwrap_or(current.schema().to_string());
                input::prompt_update(&api.schema(&schema_name)?, current.values())?
            } else if let Some(path) = from_json {
                let read = input::secret_file(&path)?;
                schema = schema.or(read.schema);
                read.pairs
            } else {
                input::pairs(&values)?
            };
            let update = SecretUpdate {
                set: changes,
                remove: remove_keys,
                schema,
            };
            if interactive && update.is_empty() {
                out!("secret `{name}` unchanged");
                return Ok(());
            }
            if let Some(expected) = if_version {
                let (updated, written) = api.update_secret_if(&name, &update, expected)?;
                out!(
                    "updated secret {} from version {expected} to version {written}",
                    summary(&updated)
                );
                return Ok(());
            }
            let updated = api.update_secret(&name, &update)?;
            out!("updated secret {}", summary(&updated));
            Ok(())
        }
        SecretCommand::Rename { old, new, force } => {
            if force {
                let (_, broken) = api.rename_secret_breaking(&old, &new)?;
                tell_broken(&broken, &format!("renamed secret `{old}`"));
            } else {
                api.rename_secret(&old, &new)?;
            }
            out!(
                "renamed secret `{old}` to `{new}` in secrets manager `{}`",
                api.manager_name()
            );
            Ok(())
        }
        SecretCommand::Delete {
            name,
            yes,
            purge,
            force,
        } => {
            let (how, what) = if purge {
                (Deletion::Purge, "purge (delete for good)")
            } else {
                (Deletion::Soft, "delete")
            };
            confirm(
                &format!(
                    "{what} secret `{name}` of secrets manager `{}`?",
                    api.manager_name()
                ),
                yes || force,
                "--yes",
            )?;
            if force {
                let broken = api.delete_secret_breaking(&name, how)?;
                tell_broken(&broken, &format!("deleted secret `{name}`"));
            } else {
                api.delete_secret(&name, how)?;
            }
            out!(
                "{} secret `{name}`",
                if purge { "purged" } else { "deleted" }
            );
            Ok(())
        }
        SecretCommand::DeleteAll {
            force,
            max_calls,
            max_time,
        } => {
            let mut bound = BulkBound::default();
            if max_calls.is_some() || max_time.is_some() {
                api.require(Feature::BulkBound)?;
            }
            if let Some(calls) = max_calls {
                bound.calls = usize::try_from(calls).unwrap_or(usize::MAX);
            }
            if let Some(secs) = max_time {
                bound.time = std::time::Duration::from_secs(secs);
            }
            let target = api.manager_name();
            confirm(
                &format!("delete every secret of secrets manager `{target}`?"),
                force,
                "--force",
            )?;
            let line = transfer::ProgressLine::new("deleting");
            let deleted = api.delete_all_secrets(bound, &|done, total| line.tell(done, total));
            drop(line);
            match deleted? {
                Some(count) => out!(
                    "deleted all {count} secret{} of secrets manager `{target}`",
                    if count == 1 { "" } else { "s" }
                ),
                None => out!("deleted all secrets of secrets manager `{target}`"),
            }
            Ok(())
        }
        SecretCommand::Export {
            names,
            reveal,
            output,
            history,
            encrypt,
        } => transfer::export(api, &names, reveal, history, &encrypt, output.as_deref()),
        SecretCommand::Import { file, how, decrypt } => transfer::import(api, &file, how, &decrypt),
        SecretCommand::History(command) => history::run(api, command),
    }
}

/// Says on stderr which config references `what` (a forced delete or
/// rename) left broken, and how to mend each.
fn tell_broken(broken: &[Referrer], what: &str) {
    for referrer in broken {
        err_line(format_args!(
            "flavorbox: warning: {what} broke {}; mend it with `flavorbox secrets-manager \
             update {} --config {}=...`",
            escape(&referrer.to_string()),
            escape(&referrer.manager),
            escape(&referrer.key)
        ));
    }
}

/// How `secret get` shows a secret.
struct Shown<'a> {
    reveal: bool,
    /// Only this key's raw value.
    key: Option<&'a str>,
    no_newline: bool,
    output: GetFormat,
    /// The version the values are, where the flavor keeps versions.
    version: Option<u64>,
}

/// What `secret get` prints: one raw value (`--key`) or the secret in
/// `output`'s format, values masked unless `reveal`.
fn print_secret(secret: &Secret, shown: &Shown<'_>) -> Result<()> {
    let Shown {
        reveal,
        key,
        no_newline,
        output,
        version,
    } = *shown;
    if let Some(key) = key {
        return print_key(secret, key, no_newline, output);
    }
    if output == GetFormat::Env && !reveal {
        return Err(Error::invalid(
            "--output env prints values for a shell to set: add --reveal (without it every \
             value would be masked)",
        ));
    }
    let view = view(secret, reveal, version);
    match output {
        GetFormat::Json => json(&view),
        GetFormat::Yaml => yaml(&view),
        GetFormat::Env => exec::print_env(view.name, view.values),
        GetFormat::Table => {
            match view.version {
                Some(version) => out!(
                    "secret: {} (schema {}, version {version})",
                    view.name,
                    view.schema
                ),
                None => out!("secret: {} (schema {})", view.name, view.schema),
            }
            let rows = view
                .values
                .iter()
                .map(|(k, v)| vec![k.to_string(), v.to_string()])
                .collect::<Vec<_>>();
            table(&["KEY", "VALUE"], &rows);
            Ok(())
        }
    }
}

/// `get --key`: the raw value (text), or a JSON string.
fn print_key(secret: &Secret, key: &str, no_newline: bool, output: GetFormat) -> Result<()> {
    let value = secret.values().get(key).ok_or_else(|| {
        Error::not_found(format!(
            "secret `{}` has no key `{}` (it has: {})",
            secret.name(),
            flavorbox::text::clip(key, 60),
            secret.keys().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let mut text = match output {
        GetFormat::Json => format!("{}\n", serde_json::Value::String(value.clone())),
        GetFormat::Table if no_newline => value.clone(),
        GetFormat::Table => format!("{value}\n"),
        GetFormat::Yaml | GetFormat::Env => {
            return Err(Error::invalid(
                "--key prints one raw value; use --output table or json with it",
            ));
        }
    };
    super::output::raw(text.as_bytes());
    zeroize::Zeroize::zeroize(&mut text);
    Ok(())
}

/// `value` single-quoted for a POSIX shell.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}
