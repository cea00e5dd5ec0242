//! `secret export`, `secret import` and `import-zenml`: moving secrets in
//! and out of a manager.
//!
//! Guards against a partial import (every secret of a file is parsed and
//! checked by the same rules as any other input before the first one is
//! written, and a failure midway undoes what the import created, see
//! `flavorbox::managers::Manager::register_all`) and against an export that leaks by accident
//! (it needs `--reveal`, as it holds every value in clear).
//!
//! The export file: `{"flavorbox_export": 1, "manager": NAME, "secrets":
//! [{"name", "schema", "values": {KEY: VALUE}}]}`; each entry is what
//! `secret get --output json` prints. It is JSON read strictly (a key given
//! twice is refused) with serde_json's nesting bound (128 levels). ZenML's
//! `LocalSecretsManager` file (`secrets.yaml`) is read by `zenml_file.rs`.

use std::path::{Path, PathBuf};

use clap::Args;
use flavorbox::managers::SecretsApi;
use flavorbox::{Error, Home, Result, Secret};
use serde::Serialize;

use super::output::{json, out};
use super::{input, zenml_file};

/// Largest file an import reads.
const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;
const FORMAT_VERSION: u64 = 1;

#[derive(Args)]
pub struct ImportZenmlArgs {
    /// ZenML's secrets.yaml (in its local stores path, one per secrets manager)
    path: PathBuf,
    /// Import into this secrets manager instead of the active one
    #[arg(long, value_name = "NAME")]
    manager: Option<String>,
}

#[derive(Serialize)]
struct ExportFile<'a> {
    flavorbox_export: u64,
    manager: &'a str,
    secrets: Vec<ExportedSecret<'a>>,
}

#[derive(Serialize)]
struct ExportedSecret<'a> {
    name: &'a str,
    schema: &'a str,
    values: &'a std::collections::BTreeMap<String, String>,
}

pub fn export(manager: &dyn SecretsApi, names: &[String], reveal: bool) -> Result<()> {
    if !reveal {
        return Err(Error::invalid(
            "an export holds every value in clear; pass --reveal",
        ));
    }
    let secrets = manager.export_secrets(names)?;
    json(&ExportFile {
        flavorbox_export: FORMAT_VERSION,
        manager: manager.manager_name(),
        secrets: secrets
            .iter()
            .map(|s| ExportedSecret {
                name: s.name(),
                schema: s.schema(),
                values: s.values(),
            })
            .collect(),
    })
}

fn report(manager: &dyn SecretsApi, secrets: &[Secret]) {
    let names: Vec<&str> = secrets.iter().map(Secret::name).collect();
    out!(
        "imported {} secret{} into secrets manager `{}`{}{}",
        secrets.len(),
        if secrets.len() == 1 { "" } else { "s" },
        manager.manager_name(),
        if names.is_empty() { "" } else { ": " },
        names.join(", ")
    );
}

/// Parses an export file into checked secrets.
fn parse_export(text: &str, shown: &str) -> Result<Vec<Secret>> {
    use serde_json::Value;
    let bad = |why: String| Error::invalid(format!("{shown}: {why}"));
    let Value::Object(mut file) = input::strict_json(text, shown)? else {
        return Err(bad("not a flavorbox export (not a JSON object)".into()));
    };
    if file.get("flavorbox_export").and_then(Value::as_u64) != Some(FORMAT_VERSION) {
        return Err(bad(format!(
            "not a flavorbox export (no \"flavorbox_export\": {FORMAT_VERSION})"
        )));
    }
    let Some(Value::Array(entries)) = file.remove("secrets") else {
        return Err(bad("`secrets` is not a list".into()));
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let Value::Object(mut entry) = entry else {
                return Err(bad(format!("secret #{} is not an object", i + 1)));
            };
            let field =
                |entry: &mut serde_json::Map<String, Value>, name: &str| match entry.remove(name) {
                    Some(Value::String(s)) => Ok(s),
                    _ => Err(bad(format!("secret #{}: `{name}` is not a string", i + 1))),
                };
            let name = field(&mut entry, "name")?;
            let schema = field(&mut entry, "schema")?;
            let Some(Value::Object(values)) = entry.remove("values") else {
                return Err(bad(format!("secret `{name}`: `values` is not an object")));
            };
            let pairs = input::string_pairs(values, &format!("{shown}: secret `{name}`"))?;
            flavorbox::secret::check_input(&pairs)
                .map_err(|e| bad(format!("secret `{name}`: {e}")))?;
            Secret::new(name.clone(), schema, pairs)
                .map_err(|e| bad(format!("secret `{name}`: {e}")))
        })
        .collect()
}

pub fn import(manager: &dyn SecretsApi, file: &Path) -> Result<()> {
    let text = input::read_text(file, "export file", MAX_IMPORT_BYTES)?;
    let secrets = parse_export(&text, &file.display().to_string())?;
    manager.import_secrets(&secrets)?;
    report(manager, &secrets);
    Ok(())
}

pub fn import_zenml(home: &Home, args: ImportZenmlArgs) -> Result<()> {
    let text = input::read_text(&args.path, "ZenML secrets file", MAX_IMPORT_BYTES)?;
    let secrets = zenml_file::parse(&text, &args.path.display().to_string())?;
    let manager = home.manager(args.manager.as_deref())?;
    manager.register_all(&secrets)?;
    report(&manager, &secrets);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_files_refuse_duplicates_and_other_formats() {
        let good = r#"{"flavorbox_export":1,"manager":"m","secrets":[{"name":"a","schema":"arbitrary","values":{"k":"v"}}]}"#;
        assert_eq!(parse_export(good, "f").unwrap().len(), 1);
        for bad in [
            r#"{"flavorbox_export":1,"secrets":[{"name":"a","schema":"arbitrary","values":{"k":"v","k":"w"}}]}"#,
            r#"{"secrets":[]}"#,
            r#"{"flavorbox_export":1,"secrets":[{"name":"a","schema":"arbitrary","values":{"zenml_schema_name":"v"}}]}"#,
        ] {
            assert!(parse_export(bad, "f").is_err(), "{bad}");
        }
    }
}
