//! `flavorbox schema ...`

use std::path::PathBuf;

use clap::Subcommand;
use flavorbox::schema::Schema;
use flavorbox::{Error, Home, Result};

use super::OutputFormat;
use super::output::{json, out, table};

#[derive(Subcommand)]
pub enum SchemaCommand {
    /// List built-in and registered schemas
    List {
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Show a schema's keys
    Describe {
        name: String,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Register a schema from a JSON file:
    /// {"name": "...", "required": [...], "optional": [...], "allow_other_keys": false}
    Register { file: PathBuf },
}

pub fn run(home: &Home, command: SchemaCommand) -> Result<()> {
    match command {
        SchemaCommand::List { output } => {
            let schemas = home.schemas().list()?;
            if output == OutputFormat::Json {
                return json(&schemas);
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
            let schema = home.schemas().get(&name)?;
            if output == OutputFormat::Json {
                return json(&schema);
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
            let schema = Schema::from_json(&text)?;
            home.schemas().register(&schema)?;
            out!("registered schema `{}`", schema.name);
            Ok(())
        }
    }
}
