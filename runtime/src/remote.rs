//! `flavorbox --server URL secret ...`: the secret commands against a
//! `flavorbox serve` node, printing what the local commands print. The token
//! comes from `FLAVORBOX_TOKEN` or `--token-file` (never the command line,
//! where other users can read it).

use std::path::Path;

use flavorbox::serve::client::Remote;
use flavorbox::{Error, Result, Secret};

use super::output::{json, out};
use super::secret::{SecretArgs, SecretCommand, print_secret};
use super::terminal::confirm;
use super::{OutputFormat, environment, input};

/// The longest token file read.
const TOKEN_FILE_BYTES: u64 = 4096;

fn token(file: Option<&Path>) -> Result<String> {
    if let Some(path) = file {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(TOKEN_FILE_BYTES).read_to_string(&mut text))
            .map_err(|e| {
                Error::invalid(format!("cannot read token file {}: {e}", path.display()))
            })?;
        return Ok(text);
    }
    match environment::token()? {
        Some(token) => Ok(token.to_string()),
        None => Err(Error::invalid(format!(
            "--server needs a token: set {} or pass --token-file FILE",
            environment::TOKEN
        ))),
    }
}

pub fn run(server: &str, token_file: Option<&Path>, args: SecretArgs) -> Result<()> {
    let ca_file = environment::server_ca();
    let remote = Remote::new(server, token(token_file)?, ca_file.as_deref())?;
    // A token belongs to one manager, the default for --manager.
    let manager = match args.manager {
        Some(manager) => manager,
        None => remote.token_manager()?,
    };
    let manager = manager.as_str();
    match args.command {
        SecretCommand::Register {
            name,
            schema,
            values,
            interactive,
            from_json,
        } => {
            if interactive {
                return Err(Error::invalid(
                    "--interactive is not available with --server; pass KEY=- to read a value from stdin",
                ));
            }
            let (pairs, schema) = match from_json {
                Some(path) => {
                    let read = input::json_pairs(&path)?;
                    (read.pairs, schema.or(read.schema))
                }
                None => (input::pairs(&values)?, schema),
            };
            let schema = schema.unwrap_or_else(|| "arbitrary".to_string());
            let secret = Secret::new(name, schema, pairs)?;
            remote.register_secret(manager, &secret)?;
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
            key,
            no_newline,
            reveal,
            output,
        } => {
            let secret = remote.get_secret(manager, &name)?;
            print_secret(&secret, reveal, key.as_deref(), no_newline, output)
        }
        SecretCommand::List { output } => {
            let mut names = remote.list_secrets(manager)?;
            names.sort();
            if output == OutputFormat::Json {
                return json(&names);
            }
            for name in names {
                out!("{}", flavorbox::text::escape(&name));
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
            if interactive {
                return Err(Error::invalid(
                    "--interactive is not available with --server; pass KEY=- to read a value from stdin",
                ));
            }
            if !remove_keys.is_empty() {
                return Err(Error::invalid(
                    "--remove-key is not available with --server (the API merges values); \
                     run it where the store is",
                ));
            }
            let mut schema = schema;
            let changes = match from_json {
                Some(path) => {
                    let read = input::json_pairs(&path)?;
                    schema = schema.or(read.schema);
                    read.pairs
                }
                None => input::pairs(&values)?,
            };
            if changes.is_empty() && schema.is_none() {
                return Err(Error::invalid(
                    "nothing to update: give KEY=VALUE pairs or --schema",
                ));
            }
            let (schema, keys) =
                remote.update_secret(manager, &name, changes, schema.as_deref())?;
            out!(
                "updated secret `{name}` ({keys} key{}, schema {})",
                if keys == 1 { "" } else { "s" },
                flavorbox::text::escape(&schema)
            );
            Ok(())
        }
        SecretCommand::Delete { name, yes } => {
            confirm(
                &format!("delete secret `{name}` of secrets manager `{manager}`?"),
                yes,
                "--yes",
            )?;
            remote.delete_secret(manager, &name)?;
            out!("deleted secret `{name}`");
            Ok(())
        }
        SecretCommand::DeleteAll { force } => {
            confirm(
                &format!("delete every secret of secrets manager `{manager}`?"),
                force,
                "--force",
            )?;
            match remote.delete_all_secrets(manager)? {
                Some(count) => out!(
                    "deleted all {count} secret{} of secrets manager `{manager}`",
                    if count == 1 { "" } else { "s" }
                ),
                None => out!("deleted all secrets of secrets manager `{manager}`"),
            }
            Ok(())
        }
        SecretCommand::Rename { .. }
        | SecretCommand::Export { .. }
        | SecretCommand::Import { .. } => Err(Error::invalid(
            "rename, export and import are not available with --server; run them where \
                 the store is",
        )),
    }
}
