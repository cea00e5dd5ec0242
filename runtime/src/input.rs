//! Reading secret values from the command line, files, stdin, JSON or
//! YAML, or a prompt.
//!
//! `KEY=VALUE` takes the value as given; `KEY=@FILE` reads it from a file
//! (verbatim); `KEY=@@...` is a literal value starting with `@`; `KEY=-`
//! reads stdin (one trailing newline dropped, as `echo` adds one). Reads are
//! bounded by the secret size limit, and errors name the key and the file,
//! never a value. Every path (arguments, `-i`, `--from-json`, imports) ends
//! in the same rules: `flavorbox::secret::check_input` refuses empty values,
//! keys given twice (inside JSON too) and the reserved `zenml_schema_name`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::Path;

use flavorbox::schema::Schema;
use flavorbox::secret::{MAX_VALUES_BYTES, check_input};
use flavorbox::{Error, Result};

use super::split_pair;
use super::terminal::{read_hidden, read_visible};

/// Reads at most a secret's size limit.
fn read_bounded(reader: impl Read, what: &str) -> Result<Vec<u8>> {
    read_limited(reader, what, MAX_VALUES_BYTES)
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

fn read_file(path: &Path, what: &str) -> Result<String> {
    read_path(path, what, MAX_VALUES_BYTES)
}

/// Reads a whole UTF-8 text file of at most `limit` bytes.
fn read_path(path: &Path, what: &str, limit: usize) -> Result<String> {
    let bytes = read_path_bytes(path, what, limit)?;
    utf8(bytes, &format!("{what} {}", path.display()))
}

/// Reads a whole file of at most `limit` bytes.
fn read_path_bytes(path: &Path, what: &str, limit: usize) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::invalid(format!("cannot read {what} {}: {e}", path.display())))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::invalid(format!(
            "{what} {} is a directory",
            path.display()
        )));
    }
    read_limited(file, &format!("{what} {}", path.display()), limit)
}

/// The bytes of `path` (`-`: stdin), at most `limit`.
pub fn read_bytes(path: &Path, what: &str, limit: usize) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        read_limited(std::io::stdin().lock(), "stdin", limit)
    } else {
        read_path_bytes(path, what, limit)
    }
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

/// Resolves `KEY=VALUE` arguments into pairs, checked by the input rules
/// (`flavorbox::secret::check_input`).
pub fn pairs(args: &[String]) -> Result<Vec<(String, String)>> {
    let pairs = raw_pairs(args, "argument")?;
    check_input(&pairs)?;
    Ok(pairs)
}

/// `KEY=VALUE` / `KEY=@FILE` / `KEY=@@x` / `KEY=-` arguments, values read.
pub fn raw_pairs(args: &[String], what: &str) -> Result<Vec<(String, String)>> {
    let mut stdin_key: Option<String> = None;
    let mut pairs = Vec::with_capacity(args.len());
    for arg in args {
        let (key, raw) = split_pair(arg, what)?;
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
            let kind = if what == "--config" {
                "config"
            } else {
                "value"
            };
            read_file(Path::new(path), &format!("{kind} file for key `{key}`:"))?
        } else {
            raw
        };
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// `--config` arguments: the same value syntax as secrets, one value per
/// key.
pub fn config(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (key, value) in raw_pairs(args, "--config")? {
        if values.insert(key.clone(), value).is_some() {
            return Err(Error::invalid(format!(
                "--config key `{key}` is given more than once"
            )));
        }
    }
    Ok(values)
}

/// Reads a whole text file or stdin (`-`), bounded by `limit` bytes.
pub fn read_text(path: &Path, what: &str, limit: usize) -> Result<String> {
    if path == Path::new("-") {
        utf8(
            read_limited(std::io::stdin().lock(), "stdin", limit)?,
            "stdin",
        )
    } else {
        read_path(path, what, limit)
    }
}

/// Reads at most `limit` bytes (plus one, to detect overflow).
pub fn read_limited(reader: impl Read, what: &str, limit: usize) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid(format!("cannot read {what}: {e}")))?;
    if bytes.len() > limit {
        return Err(Error::invalid(format!(
            "{what} is larger than the {limit}-byte limit"
        )));
    }
    Ok(bytes)
}

/// JSON parsed strictly: a key given twice in one object is an error (as
/// `serde_json` alone would silently keep the last one).
pub struct StrictJson(pub serde_json::Value);

impl<'de> serde::Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::{self, MapAccess, SeqAccess, Visitor};
        use serde_json::Value;
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictJson;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<StrictJson, E> {
                Ok(StrictJson(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<StrictJson, E> {
                Ok(StrictJson(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<StrictJson, E> {
                Ok(StrictJson(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<StrictJson, E> {
                Ok(StrictJson(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<StrictJson, E> {
                Ok(StrictJson(Value::String(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<StrictJson, E> {
                Ok(StrictJson(Value::String(v)))
            }
            fn visit_unit<E>(self) -> std::result::Result<StrictJson, E> {
                Ok(StrictJson(Value::Null))
            }
            fn visit_none<E>(self) -> std::result::Result<StrictJson, E> {
                Ok(StrictJson(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<StrictJson, A::Error> {
                let mut items = Vec::new();
                while let Some(StrictJson(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(StrictJson(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<StrictJson, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let StrictJson(value) = map.next_value()?;
                    if object.contains_key(&key) {
                        return Err(de::Error::custom(format!(
                            "key `{}` is given more than once",
                            flavorbox::text::clip(&key, 60)
                        )));
                    }
                    object.insert(key, value);
                }
                Ok(StrictJson(Value::Object(object)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses JSON text strictly (see [`StrictJson`]).
pub fn strict_json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str::<StrictJson>(text)
        .map(|j| j.0)
        .map_err(|e| Error::invalid(format!("{what} is not valid JSON: {e}")))
}

/// Key-values read by `--from-json`: an object of strings, or the object
/// `secret get --output json` prints (`{"name", "schema", "values"}`),
/// whose schema is returned too; in JSON, or in YAML (what `secret get
/// --output yaml` prints).
pub struct SecretFile {
    pub pairs: Vec<(String, String)>,
    pub schema: Option<String>,
}

/// Reads `--from-json FILE` (`-` for stdin): JSON when it starts with `{`
/// or `[`, YAML otherwise, read by `bounded_yaml` (a YAML scalar's text is
/// the value, as a YAML reader gives a string field).
pub fn secret_file(path: &Path) -> Result<SecretFile> {
    let text = if path == Path::new("-") {
        read_stdin("stdin")?
    } else {
        read_file(path, "JSON or YAML file")?
    };
    let shown = path.display().to_string();
    let mut object = if text.trim_start().starts_with(['{', '[']) {
        let serde_json::Value::Object(object) = strict_json(&text, &shown)? else {
            return Err(Error::invalid(format!("{shown} is not a JSON object")));
        };
        object
    } else {
        super::bounded_yaml::object(&text, &shown)?
    };
    let mut schema = None;
    // `{"name", "schema", "values": {...}}` (what `secret get --output
    // json` or `yaml` prints) or a flat object of values; a `values` key
    // that is not an object is an ordinary value.
    let nested = match object.remove("values") {
        Some(serde_json::Value::Object(values)) => Some(values),
        Some(other) => {
            object.insert("values".to_string(), other);
            None
        }
        None => None,
    };
    if let Some(values) = nested {
        if let Some(extra) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "name" | "schema" | "version"))
        {
            return Err(Error::invalid(format!(
                "{shown}: unexpected field `{}` beside `values`",
                flavorbox::text::clip(extra, 60)
            )));
        }
        schema = match object.remove("schema") {
            None => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(_) => {
                return Err(Error::invalid(format!("{shown}: `schema` is not a string")));
            }
        };
        object = values;
    }
    let pairs = string_pairs(object, &shown)?;
    if !pairs.is_empty() && pairs.iter().all(|(_, v)| v == "***") {
        return Err(Error::invalid(format!(
            "{shown} holds masked values (`***`); write it with `secret get --reveal --output json` (or yaml)"
        )));
    }
    check_input(&pairs)?;
    Ok(SecretFile { pairs, schema })
}

/// The members of a JSON object, which must all be strings.
pub fn string_pairs(
    object: serde_json::Map<String, serde_json::Value>,
    shown: &str,
) -> Result<Vec<(String, String)>> {
    object
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(s) => Ok((key, s)),
            _ => Err(Error::invalid(format!(
                "{shown}: the value of `{}` is not a string",
                flavorbox::text::clip(&key, 60)
            ))),
        })
        .collect()
}

fn need_terminal() -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "-i needs a terminal; use KEY=- or --from-json - for pipes",
        ));
    }
    Ok(())
}

/// Prompts for values with hidden input: every key the schema names (an
/// empty answer skips an optional one), then, if the schema allows other
/// keys, any further keys until an empty key name.
pub fn prompt(schema: &Schema) -> Result<Vec<(String, String)>> {
    need_terminal()?;
    let mut pairs = Vec::new();
    for (key, required) in schema.known_keys() {
        loop {
            let value = read_hidden(&format!(
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
        other_keys(&mut pairs, &BTreeMap::new())?;
    }
    check_input(&pairs)?;
    Ok(pairs)
}

/// Further keys, until an empty key name; a key given twice is refused.
fn other_keys(pairs: &mut Vec<(String, String)>, current: &BTreeMap<String, String>) -> Result<()> {
    loop {
        let key = read_visible("new key (empty to finish): ")?;
        if key.is_empty() {
            return Ok(());
        }
        if let Err(e) = flavorbox::secret::check_key(&key) {
            eprintln!("{e}");
            continue;
        }
        if pairs.iter().any(|(k, _)| *k == key) || current.contains_key(&key) {
            eprintln!("key `{key}` is there already");
            continue;
        }
        let value = read_hidden(&format!("{key}: "))?;
        if value.is_empty() {
            eprintln!("an empty value is not stored; key `{key}` skipped");
            continue;
        }
        pairs.push((key, value));
    }
}

/// Prompts for changes to a secret: each current key and each key of the
/// (new) schema, where Enter keeps the current value (or skips an optional
/// key), then further keys if the schema allows them. Returns only the
/// changed pairs.
pub fn prompt_update(
    schema: &Schema,
    current: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>> {
    need_terminal()?;
    let mut keys: Vec<(String, bool)> = schema
        .known_keys()
        .map(|(k, required)| (k.to_string(), required))
        .collect();
    for key in current.keys() {
        if !keys.iter().any(|(k, _)| k == key) {
            keys.push((key.clone(), false));
        }
    }
    let mut pairs = Vec::new();
    for (key, required) in keys {
        let has = current.contains_key(&key);
        loop {
            let hint = if has {
                " (Enter keeps the current value)"
            } else if required {
                ""
            } else {
                " (optional, empty to skip)"
            };
            let value = read_hidden(&format!("{key}{hint}: "))?;
            if !value.is_empty() {
                pairs.push((key.clone(), value));
                break;
            }
            if has || !required {
                break;
            }
            eprintln!("{key} is required by schema `{}`", schema.name);
        }
    }
    if schema.allow_other_keys {
        other_keys(&mut pairs, current)?;
    }
    check_input(&pairs)?;
    Ok(pairs)
}
