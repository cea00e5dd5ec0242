//! Reading secret values from the command line, files, stdin, JSON or a
//! prompt.
//!
//! `KEY=VALUE` takes the value as given; `KEY=@FILE` reads it from a file
//! (verbatim); `KEY=@@...` is a literal value starting with `@`; `KEY=-`
//! reads stdin (one trailing newline dropped, as `echo` adds one). Reads are
//! bounded by the secret size limit, and errors name the key and the file,
//! never a value.

use std::io::{IsTerminal, Read};
use std::path::Path;

use flavorbox::schema::Schema;
use flavorbox::secret::MAX_VALUES_BYTES;
use flavorbox::{Error, Result};

use super::split_pair;

/// Reads at most the size limit (plus one byte, to detect overflow).
fn read_bounded(reader: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_VALUES_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid(format!("cannot read {what}: {e}")))?;
    if bytes.len() > MAX_VALUES_BYTES {
        return Err(Error::invalid(format!(
            "{what} is larger than the {MAX_VALUES_BYTES}-byte limit of a secret"
        )));
    }
    Ok(bytes)
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

fn read_file(path: &Path, what: &str) -> Result<String> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::invalid(format!("cannot read {what} {}: {e}", path.display())))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::invalid(format!(
            "{what} {} is a directory",
            path.display()
        )));
    }
    let what = format!("{what} {}", path.display());
    utf8(read_bounded(file, &what)?, &what)
}

fn read_stdin(what: &str) -> Result<String> {
    let mut text = utf8(read_bounded(std::io::stdin().lock(), what)?, what)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// The value of a `--config KEY=VALUE`: `@FILE` reads the file verbatim
/// (e.g. a service-account key: `credentials=@key.json`), `@@...` is a
/// literal value starting with `@`, anything else is taken as given.
pub fn config_value(key: &str, raw: String) -> Result<String> {
    if let Some(literal) = raw.strip_prefix("@@") {
        Ok(format!("@{literal}"))
    } else if let Some(path) = raw.strip_prefix('@') {
        read_file(Path::new(path), &format!("config file for key `{key}`:"))
    } else {
        Ok(raw)
    }
}

/// Resolves `KEY=VALUE` arguments into pairs.
pub fn pairs(args: &[String]) -> Result<Vec<(String, String)>> {
    let mut stdin_key: Option<String> = None;
    let mut pairs = Vec::with_capacity(args.len());
    for arg in args {
        let (key, raw) = split_pair(arg, "argument")?;
        let value = if raw == "-" {
            if let Some(first) = &stdin_key {
                return Err(Error::invalid(format!(
                    "keys `{first}` and `{key}` both read stdin; only one value can"
                )));
            }
            stdin_key = Some(key.clone());
            read_stdin(&format!("stdin for key `{key}`"))?
        } else if let Some(literal) = raw.strip_prefix("@@") {
            format!("@{literal}")
        } else if let Some(path) = raw.strip_prefix('@') {
            read_file(Path::new(path), &format!("value file for key `{key}`:"))?
        } else {
            raw
        };
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Reads pairs from a JSON object of strings (`-` for stdin).
pub fn json_pairs(path: &Path) -> Result<Vec<(String, String)>> {
    let text = if path == Path::new("-") {
        read_stdin("stdin")?
    } else {
        read_file(path, "JSON file")?
    };
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(format!("{} is not a JSON object: {e}", path.display())))?;
    object
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(s) => Ok((key, s)),
            _ => Err(Error::invalid(format!(
                "{}: the value of `{key}` is not a string",
                path.display()
            ))),
        })
        .collect()
}

/// Prompts for values with hidden input: every key the schema names (an
/// empty answer skips an optional one), then, if the schema allows other
/// keys, any further keys until an empty key name.
pub fn prompt(schema: &Schema) -> Result<Vec<(String, String)>> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "-i needs a terminal; use KEY=- or --from-json - for pipes",
        ));
    }
    let hidden = |label: String| {
        rpassword::prompt_password(label)
            .map_err(|e| Error::invalid(format!("cannot read input: {e}")))
    };
    let mut pairs = Vec::new();
    for (key, required) in schema.known_keys() {
        loop {
            let value = hidden(format!(
                "{key}{}: ",
                if required {
                    ""
                } else {
                    " (optional, empty to skip)"
                }
            ))?;
            if !value.is_empty() {
                pairs.push((key.to_string(), value));
                break;
            }
            if !required {
                break;
            }
            eprintln!("{key} is required by schema `{}`", schema.name);
        }
    }
    if schema.allow_other_keys {
        loop {
            eprint!("key (empty to finish): ");
            let mut key = String::new();
            std::io::stdin()
                .read_line(&mut key)
                .map_err(|e| Error::invalid(format!("cannot read input: {e}")))?;
            let key = key.trim().to_string();
            if key.is_empty() {
                break;
            }
            let value = hidden(format!("{key}: "))?;
            pairs.push((key, value));
        }
    }
    Ok(pairs)
}
