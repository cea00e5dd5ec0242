//! `flavorbox secret ...`

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use flavorbox::{Error, Home, Result, Secret};
use serde::Serialize;

use super::output::{json, out, table};
use super::{OutputFormat, input};

#[derive(Args)]
pub struct SecretArgs {
    /// Use this secrets manager instead of the active one
    #[arg(long, global = true, value_name = "NAME")]
    pub(super) manager: Option<String>,

    #[command(subcommand)]
    pub(super) command: SecretCommand,
}

#[derive(Subcommand)]
pub(super) enum SecretCommand {
    /// Create a secret
    Register {
        name: String,
        /// The secret's schema
        #[arg(long, default_value = "arbitrary")]
        schema: String,
        /// KEY=VALUE, KEY=@FILE (value from a file), KEY=@@... (literal @), KEY=- (stdin)
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// Prompt for the schema's keys with hidden input
        #[arg(short, long, conflicts_with_all = ["values", "from_json"])]
        interactive: bool,
        /// Read the key-values from a JSON object of strings (`-` for stdin)
        #[arg(long, value_name = "FILE", conflicts_with = "values")]
        from_json: Option<PathBuf>,
    },
    /// Show a secret (values masked unless --reveal)
    Get {
        name: String,
        /// Print the values
        #[arg(long)]
        reveal: bool,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// List the names of all secrets
    List {
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Merge key-values into a secret, re-validated against its schema
    Update {
        name: String,
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// Switch the secret to another schema
        #[arg(long)]
        schema: Option<String>,
        /// Prompt for the schema's keys with hidden input
        #[arg(short, long, conflicts_with = "values")]
        interactive: bool,
    },
    /// Delete a secret
    Delete {
        name: String,
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
    },
    /// Delete every secret of the secrets manager
    DeleteAll {
        /// Required: really delete everything
        #[arg(long)]
        force: bool,
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
            let pairs = if interactive {
                input::prompt(&home.schemas().get(&schema)?)?
            } else if let Some(path) = from_json {
                input::json_pairs(&path)?
            } else {
                input::pairs(&values)?
            };
            let secret = Secret::new(name, schema, pairs)?;
            home.manager(manager)?.register_secret(&secret)?;
            out!(
                "registered secret `{}` ({} key{}, schema {})",
                secret.name(),
                secret.values().len(),
                if secret.values().len() == 1 { "" } else { "s" },
                secret.schema()
            );
            Ok(())
        }
        SecretCommand::Get {
            name,
            reveal,
            output,
        } => {
            let secret = home.manager(manager)?.get_secret(&name)?;
            let view = view(&secret, reveal);
            if output == OutputFormat::Json {
                return json(&view);
            }
            out!("secret: {} (schema {})", view.name, view.schema);
            let rows = view
                .values
                .iter()
                .map(|(k, v)| vec![k.to_string(), v.to_string()])
                .collect::<Vec<_>>();
            table(&["KEY", "VALUE"], &rows);
            Ok(())
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
            schema,
            interactive,
        } => {
            let changes = if interactive {
                let schema_name = match &schema {
                    Some(s) => s.clone(),
                    None => home
                        .manager(manager)?
                        .get_secret(&name)?
                        .schema()
                        .to_string(),
                };
                input::prompt(&home.schemas().get(&schema_name)?)?
            } else {
                input::pairs(&values)?
            };
            let updated =
                home.manager(manager)?
                    .update_secret(&name, changes, schema.as_deref())?;
            out!(
                "updated secret `{}` ({} key{}, schema {})",
                updated.name(),
                updated.values().len(),
                if updated.values().len() == 1 { "" } else { "s" },
                updated.schema()
            );
            Ok(())
        }
        SecretCommand::Delete { name, yes } => {
            if !yes && !confirm(&format!("delete secret `{name}`?"))? {
                return Err(Error::invalid("not deleted"));
            }
            home.manager(manager)?.delete_secret(&name)?;
            out!("deleted secret `{name}`");
            Ok(())
        }
        SecretCommand::DeleteAll { force } => {
            let target = home.managers().record(manager)?.name;
            if !force {
                return Err(Error::invalid(format!(
                    "delete-all removes every secret of secrets manager `{target}`; pass --force"
                )));
            }
            match home.manager(manager)?.delete_all_secrets(true)? {
                Some(count) => out!(
                    "deleted all {count} secret{} of secrets manager `{target}`",
                    if count == 1 { "" } else { "s" }
                ),
                None => out!("deleted all secrets of secrets manager `{target}`"),
            }
            Ok(())
        }
    }
}

/// Asks on the terminal; without one, refuses (scripts pass --yes).
pub(super) fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(format!(
            "{} needs confirmation; pass --yes when not on a terminal",
            question.trim_end_matches('?')
        )));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::invalid(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
