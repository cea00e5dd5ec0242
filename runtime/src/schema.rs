//! `flavorbox schema ...`

use std::path::PathBuf;

use clap::Subcommand;
use flavorbox::schema::Schema;
use flavorbox::{Error, Home, Result};

use super::OutputFormat;
use super::output::{out, structured, table};

#[derive(Subcommand)]
pub enum SchemaCommand {
    /// List built-in and registered schemas
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Show a schema's keys
    #[command(visible_alias = "show")]
    Describe {
        /// The schema's name
        name: String,
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Register a schema from a JSON file:
    /// {"name": "...", "required": [...], "optional": [...], "allow_other_keys": false}
    Register {
        /// The schema's JSON file
        file: PathBuf,
    },
    /// Remove a user schema; refused while a secret in any secrets manager
    /// of this home uses it
    #[command(visible_alias = "rm")]
    Remove {
        /// The schema's name
        name: String,
        /// Remove it even if a secrets manager cannot be checked (its
        /// secrets of this schema then cannot be updated until the schema is
        /// registered again)
        #[arg(long)]
        force: bool,
    },
}

pub fn run(home: &Home, command: SchemaCommand) -> Result<()> {
    match command {
        SchemaCommand::List { output } => {
            let schemas = home.schemas().list()?;
            if let Some(printed) = structured(output, &schemas) {
                return printed;
            }
            let rows = schemas
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        if s.builtin { "built-in" } else { "registered" }.to_string(),
                        s.description.clone(),
                    ]
                })
                .collect::<Vec<_>>();
            table(&["SCHEMA", "SOURCE", "DESCRIPTION"], &rows);
            Ok(())
        }
        SchemaCommand::Describe { name, output } => {
            let schema = find(home, &name)?;
            if let Some(printed) = structured(output, &schema) {
                return printed;
            }
            out!(
                "schema: {}{}",
                schema.name,
                if schema.builtin { " (built-in)" } else { "" }
            );
            if !schema.description.is_empty() {
                out!("{}", schema.description);
            }
            let rows = schema
                .known_keys()
                .map(|(key, required)| {
                    vec![
                        key.to_string(),
                        if required { "required" } else { "optional" }.to_string(),
                    ]
                })
                .collect::<Vec<_>>();
            if !rows.is_empty() {
                table(&["KEY", ""], &rows);
            }
            out!(
                "other keys: {}",
                if schema.allow_other_keys {
                    "allowed"
                } else {
                    "not allowed"
                }
            );
            Ok(())
        }
        SchemaCommand::Register { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::invalid(format!("cannot read {}: {e}", file.display())))?;
            // Keys given twice in the file are refused, not silently merged.
            super::input::strict_json(&text, &file.display().to_string())?;
            let schema = Schema::from_json(&text)?;
            home.schemas().register(&schema)?;
            out!("registered schema `{}`", schema.name);
            Ok(())
        }
        SchemaCommand::Remove { name, force } => {
            let schema = find(home, &name)?;
            if schema.builtin {
                return Err(Error::denied(format!(
                    "schema `{name}` is built in and cannot be removed"
                )));
            }
            match home.managers().schema_users(&name) {
                Ok(users) if !users.is_empty() => {
                    return Err(Error::denied(format!(
                        "schema `{name}` is used by secret(s) {}; change their schema or \
                         delete them first",
                        users.join(", ")
                    )));
                }
                Ok(_) => {}
                Err(err) if !force => return Err(err),
                Err(_) => {}
            }
            home.schemas().remove(&name)?;
            out!("removed schema `{name}`");
            Ok(())
        }
    }
}

/// The schema `name`; one that does not exist is not found (exit 1), as a
/// secret, flavor or manager is.
fn find(home: &Home, name: &str) -> Result<Schema> {
    home.schemas().find(name)?.ok_or_else(|| {
        Error::not_found(format!(
            "schema `{name}` does not exist; `flavorbox schema list` shows the known ones"
        ))
    })
}
