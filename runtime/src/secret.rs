//! `flavorbox secret ...`

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use flavorbox::{Error, Home, Result, Secret};
use serde::Serialize;

use super::output::{json, out, table, yaml};
use super::terminal::confirm;
use super::{OutputFormat, exec, input, transfer};

#[derive(Args)]
pub struct SecretArgs {
    /// Use this secrets manager instead of the active one
    #[arg(long, global = true, value_name = "NAME")]
    pub(super) manager: Option<String>,

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
    /// The same fields as YAML
    Yaml,
    /// KEY='value' lines for a POSIX shell (keys upper-cased)
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
        /// KEY=VALUE, KEY=@FILE (value from a file), KEY=@@... (literal @), KEY=- (stdin)
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// Prompt for the schema's keys with hidden input
        #[arg(short, long, conflicts_with_all = ["values", "from_json"])]
        interactive: bool,
        /// Read the key-values from a JSON object of strings, or from what
        /// `secret get --reveal --output json` prints (`-` for stdin)
        #[arg(long, value_name = "FILE", conflicts_with = "values")]
        from_json: Option<PathBuf>,
    },
    /// Show a secret (values masked unless --reveal or --key)
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
        #[arg(long, value_enum, default_value_t)]
        output: GetFormat,
    },
    /// List the names of all secrets
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Merge key-values into a secret, re-validated against its schema
    Update {
        /// The secret's name
        name: String,
        /// KEY=VALUE, KEY=@FILE, KEY=@@..., KEY=- (as for register)
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
        /// Merge the key-values of a JSON file (as for register; `-` for stdin)
        #[arg(long, value_name = "FILE", conflicts_with = "values")]
        from_json: Option<PathBuf>,
    },
    /// Rename a secret (registers the new name, then deletes the old one)
    Rename {
        /// The secret's current name
        old: String,
        /// Its new name
        new: String,
    },
    /// Delete a secret
    Delete {
        /// The secret's name
        name: String,
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
    },
    /// Delete every secret of the secrets manager
    DeleteAll {
        /// Do not ask for confirmation (required when not on a terminal)
        #[arg(long, visible_alias = "yes")]
        force: bool,
    },
    /// Print secrets with their values as JSON, for `secret import`
    Export {
        /// Secrets to export [default: all]
        names: Vec<String>,
        /// Required: the output holds every value in clear
        #[arg(long)]
        reveal: bool,
    },
    /// Register every secret of an export file, all or nothing
    Import {
        /// A file written by `secret export` (`-` for stdin)
        file: PathBuf,
    },
}

#[derive(Serialize)]
pub(super) struct SecretView<'a> {
    pub(super) name: &'a str,
    pub(super) schema: &'a str,
    pub(super) values: BTreeMap<&'a str, &'a str>,
}

pub(super) fn view(secret: &Secret, reveal: bool) -> SecretView<'_> {
    SecretView {
        name: secret.name(),
        schema: secret.schema(),
        values: secret
            .values()
            .iter()
            .map(|(k, v)| (k.as_str(), if reveal { v.as_str() } else { "***" }))
            .collect(),
    }
}

fn summary(secret: &Secret) -> String {
    format!(
        "`{}` ({} key{}, schema {})",
        secret.name(),
        secret.values().len(),
        if secret.values().len() == 1 { "" } else { "s" },
        secret.schema()
    )
}

pub fn run(home: &Home, args: SecretArgs) -> Result<()> {
    let manager = args.manager.as_deref();
    match args.command {
        SecretCommand::Register {
            name,
            schema,
            values,
            interactive,
            from_json,
        } => {
            let (pairs, schema) = if interactive {
                let schema = schema.unwrap_or_else(|| "arbitrary".to_string());
                (input::prompt(&home.schemas().get(&schema)?)?, schema)
            } else if let Some(path) = from_json {
                let read = input::json_pairs(&path)?;
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
            let bound = home.manager(manager)?;
            bound.register_secret(&secret)?;
            out!(
                "registered secret {} in secrets manager `{}`",
                summary(&secret),
                bound.name()
            );
            Ok(())
        }
        SecretCommand::Get {
            name,
            key,
            no_newline,
            reveal,
            output,
        } => {
            let secret = home.manager(manager)?.get_secret(&name)?;
            print_secret(&secret, reveal, key.as_deref(), no_newline, output)
        }
        SecretCommand::List { output } => {
            let names = home.manager(manager)?.list_secrets()?;
            if output == OutputFormat::Json {
                return json(&names);
            }
            for name in names {
                out!("{name}");
            }
            Ok(())
        }
        SecretCommand::Update {
            name,
            values,
            remove_keys,
            schema,
            interactive,
            from_json,
        } => {
            let bound = home.manager(manager)?;
            let mut schema = schema;
            let changes = if interactive {
                let current = bound.get_secret(&name)?;
                let schema_name = schema.clone().unwrap_or(current.schema().to_string());
                input::prompt_update(&home.schemas().get(&schema_name)?, current.values())?
            } else if let Some(path) = from_json {
                let read = input::json_pairs(&path)?;
                schema = schema.or(read.schema);
                read.pairs
            } else {
                input::pairs(&values)?
            };
            if interactive && changes.is_empty() && remove_keys.is_empty() && schema.is_none() {
                out!("secret `{name}` unchanged");
                return Ok(());
            }
            let updated = bound.update_secret(&name, changes, &remove_keys, schema.as_deref())?;
            out!("updated secret {}", summary(&updated));
            Ok(())
        }
        SecretCommand::Rename { old, new } => {
            let bound = home.manager(manager)?;
            bound.rename_secret(&old, &new)?;
            out!(
                "renamed secret `{old}` to `{new}` in secrets manager `{}`",
                bound.name()
            );
            Ok(())
        }
        SecretCommand::Delete { name, yes } => {
            let bound = home.manager(manager)?;
            confirm(
                &format!(
                    "delete secret `{name}` of secrets manager `{}`?",
                    bound.name()
                ),
                yes,
                "--yes",
            )?;
            bound.delete_secret(&name)?;
            out!("deleted secret `{name}`");
            Ok(())
        }
        SecretCommand::DeleteAll { force } => {
            let target = home.managers().record(manager)?.name;
            confirm(
                &format!("delete every secret of secrets manager `{target}`?"),
                force,
                "--force",
            )?;
            match home.manager(manager)?.delete_all_secrets(true)? {
                Some(count) => out!(
                    "deleted all {count} secret{} of secrets manager `{target}`",
                    if count == 1 { "" } else { "s" }
                ),
                None => out!("deleted all secrets of secrets manager `{target}`"),
            }
            Ok(())
        }
        SecretCommand::Export { names, reveal } => {
            transfer::export(&home.manager(manager)?, &names, reveal)
        }
        SecretCommand::Import { file } => transfer::import(&home.manager(manager)?, &file),
    }
}

/// What `secret get` prints, here and against a server: one raw value
/// (`--key`) or the secret in `output`'s format, values masked unless
/// `reveal`.
pub(super) fn print_secret(
    secret: &Secret,
    reveal: bool,
    key: Option<&str>,
    no_newline: bool,
    output: GetFormat,
) -> Result<()> {
    if let Some(key) = key {
        return print_key(secret, key, no_newline, output);
    }
    let view = view(secret, reveal);
    match output {
        GetFormat::Json => json(&view),
        GetFormat::Yaml => yaml(&view),
        GetFormat::Env => {
            for (key, value) in &view.values {
                out!("{}={}", exec::env_name("", key)?, shell_quote(value));
            }
            Ok(())
        }
        GetFormat::Table => {
            out!("secret: {} (schema {})", view.name, view.schema);
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
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = match output {
        GetFormat::Json => writeln!(out, "{}", serde_json::Value::String(value.clone())),
        GetFormat::Table if no_newline => out.write_all(value.as_bytes()),
        GetFormat::Table => writeln!(out, "{value}"),
        GetFormat::Yaml | GetFormat::Env => {
            return Err(Error::invalid(
                "--key prints one raw value; use --output table or json with it",
            ));
        }
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| Error::host(format!("cannot write the value: {e}")))
}

/// `value` single-quoted for a POSIX shell.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}
