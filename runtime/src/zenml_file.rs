//! ZenML's `secrets.yaml`, read by the one shape it has: a mapping of secret
//! names to mappings of keys to base64-encoded UTF-8 values, plus the schema
//! name under `zenml_schema_name`. An empty file (or `null`) holds no
//! secrets.
//!
//! Guards against a file handed over for import that costs more than its
//! size by reading it through `bounded_yaml` (events, not a tree: nesting
//! refused at the first level the shape does not have, the bytes aliases
//! replay bounded by `bounded_yaml::MAX_REPLAYED_BYTES`), and against a name given
//! twice. Keys and names are clipped before they are shown; values never
//! are.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavorbox::{Result, Secret};

use super::bounded_yaml::{Events, Pairs};

/// The key ZenML keeps a secret's schema name under.
const SCHEMA_KEY: &str = "zenml_schema_name";

/// Parses ZenML's `secrets.yaml` into checked secrets; `shown` names the
/// file in errors.
pub fn parse(text: &str, shown: &str) -> Result<Vec<Secret>> {
    let mut events = Events::new(text, shown, "not ZenML secrets YAML: ");
    let secrets = events.document("not a mapping of secrets", secrets)?;
    Ok(secrets.unwrap_or_default())
}

/// The top-level mapping, after its start: name, body, name, body, ...
fn secrets(events: &mut Events<'_>) -> Result<Vec<Secret>> {
    let mut secrets = Vec::new();
    let mut names = BTreeSet::new();
    while let Some(name) = events.key("a secret name")? {
        let shown_name = flavorbox::text::clip(&name, 60);
        if !names.insert(name.clone()) {
            return Err(events.bad_text(format!("secret `{shown_name}` is given more than once")));
        }
        let body = events.pairs(&format!("secret `{shown_name}`"))?;
        secrets.push(secret(events, name, body)?);
    }
    Ok(secrets)
}

/// Decodes and checks one secret.
fn secret(events: &Events<'_>, name: String, body: Pairs) -> Result<Secret> {
    let shown_name = flavorbox::text::clip(&name, 60);
    let mut schema = None;
    let mut pairs = Vec::with_capacity(body.len());
    for (key, value) in body {
        if key == SCHEMA_KEY {
            if schema.replace(value).is_some() {
                return Err(events.bad_text(format!(
                    "secret `{shown_name}`: `{SCHEMA_KEY}` is given more than once"
                )));
            }
            continue;
        }
        let decoded = BASE64
            .decode(value.trim().as_bytes())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                events.bad_text(format!(
                    "secret `{shown_name}`: the value of `{}` is not base64 of UTF-8 text",
                    flavorbox::text::clip(&key, 60)
                ))
            })?;
        pairs.push((key, decoded));
    }
    let schema = schema
        .ok_or_else(|| events.bad_text(format!("secret `{shown_name}` has no `{SCHEMA_KEY}`")))?;
    flavorbox::secret::check_input(&pairs)
        .map_err(|e| events.bad_text(format!("secret `{shown_name}`: {e}")))?;
    Secret::new(name, schema, pairs)
        .map_err(|e| events.bad_text(format!("secret `{shown_name}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounded_yaml::checks;
    use proptest::prelude::*;

    fn refused(text: &str) -> String {
        parse(text, "f").map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn zenml_files_parse_by_zenml_rules() {
        let text =
            "db:\n  password: aHVudGVyMg==\n  username: YWRtaW4=\n  zenml_schema_name: arbitrary\n";
        let secrets = parse(text, "f").unwrap();
        assert_eq!(secrets[0].values()["password"], "hunter2");
        assert_eq!(secrets[0].schema(), "arbitrary");
        for empty in ["", "\n", "# nothing\n", "null\n", "~\n", "---\n...\n"] {
            assert!(parse(empty, "f").unwrap().is_empty(), "{empty:?}");
        }
        for (bad, why) in [
            (
                "db:\n  password: '!!'\n  zenml_schema_name: arbitrary\n",
                "not base64",
            ),
            ("db:\n  password: aGk=\n", "has no `zenml_schema_name`"),
            (
                "db:\n  a: aGk=\n  a: aGk=\n  zenml_schema_name: arbitrary\n",
                "more than once",
            ),
            (
                "db:\n  a: ''\n  zenml_schema_name: arbitrary\n",
                "empty value",
            ),
            (
                "db:\n  a:\n  zenml_schema_name: arbitrary\n",
                "the value of `a` is empty",
            ),
            ("- a\n", "not a mapping of secrets"),
            ("db: [a]\n", "secret `db` is not a mapping"),
            ("db:\n  a: [aGk=]\n", "the value of `a` is not a string"),
            (
                "db: {a: aGk=, zenml_schema_name: x}\ndb: {b: aGk=, zenml_schema_name: x}\n",
                "secret `db` is given more than once",
            ),
            ("db: !!python/object {a: b}\n", "a YAML tag"),
            ("db:\n  a: !!binary aGk=\n", "a YAML tag"),
            (
                "a: {k: aGk=, zenml_schema_name: x}\n---\nb: {k: aGk=, zenml_schema_name: x}\n",
                "more than one YAML document",
            ),
            ("db: {a: 'unterminated\n", "not YAML"),
        ] {
            let err = refused(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn aliases_replay_what_they_name() {
        let text = "base: &creds\n  user: YWRtaW4=\n  zenml_schema_name: arbitrary\n\
                    copy: *creds\nother:\n  user: &u YWRtaW4=\n  again: *u\n  zenml_schema_name: arbitrary\n";
        let secrets = parse(text, "f").unwrap();
        assert_eq!(secrets.len(), 3);
        assert_eq!(secrets[1].values()["user"], "admin");
        assert_eq!(secrets[2].values()["again"], "admin");
    }

    /// The class of "a small file that expands": one anchor replayed through
    /// many aliases, at every level it can stand at. Each is refused once the
    /// bytes replayed pass the bound, long before they are held.
    #[test]
    fn aliases_that_replay_more_than_the_bound_are_refused() {
        let big = BASE64.encode("v".repeat(1 << 20));
        let scalar_bomb = format!(
            "s:\n  k0: &v {big}\n{}  zenml_schema_name: arbitrary\n",
            (1..40).map(|i| format!("  k{i}: *v\n")).collect::<String>()
        );
        // A body is at most a secret's 64 KiB of values; replayed 500 times.
        let value = BASE64.encode("v".repeat(40 << 10));
        let body_bomb = format!(
            "s0: &b\n  k: {value}\n  zenml_schema_name: arbitrary\n{}",
            (1..500).map(|i| format!("s{i}: *b\n")).collect::<String>()
        );
        for bomb in [scalar_bomb, body_bomb] {
            assert!(bomb.len() < 2 << 20);
            let err = refused(&bomb);
            assert!(err.contains("aliases replay more than"), "{err}");
        }
    }

    /// Nesting is refused at the first level the shape does not have, so
    /// 100,000 brackets cost what three do.
    #[test]
    fn deep_nesting_is_refused_at_the_first_level_too_deep() {
        checks::refused_quickly(
            |text| parse(text, "f"),
            [
                ("[".repeat(100_000), "not"),
                (format!("db: {}", "[".repeat(100_000)), "not"),
                (format!("db:\n  k: {}", "{a: ".repeat(100_000)), "not"),
            ],
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever the bytes, the reader answers (secrets or one error
        /// line), never panics, and never names a value.
        #[test]
        fn any_text_gets_an_answer(text in checks::ANY_TEXT) {
            prop_assert!(checks::answered(parse(&text, "f")));
        }

        /// What ZenML writes reads back as it was.
        #[test]
        fn what_zenml_writes_reads_back(
            secrets in proptest::collection::btree_map(
                "s[a-z0-9_]{0,12}",
                proptest::collection::btree_map("k[a-z0-9_]{0,8}", "[ -~]{1,40}", 1..5),
                0..5,
            )
        ) {
            let mut text = String::new();
            for (name, values) in &secrets {
                text.push_str(&format!("{name}:\n"));
                for (key, value) in values {
                    text.push_str(&format!("  {key}: {}\n", BASE64.encode(value)));
                }
                text.push_str("  zenml_schema_name: arbitrary\n");
            }
            let read = parse(&text, "f").unwrap();
            prop_assert_eq!(read.len(), secrets.len());
            for (secret, (name, values)) in read.iter().zip(&secrets) {
                prop_assert_eq!(secret.name(), name.as_str());
                prop_assert_eq!(secret.values(), values);
            }
        }
    }
}
