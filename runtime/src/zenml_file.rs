//! ZenML's `secrets.yaml`, read by the one shape it has: a mapping of secret
//! names to mappings of keys to base64-encoded UTF-8 values, plus the schema
//! name under `zenml_schema_name`. An empty file (or `null`) holds no
//! secrets.
//!
//! Guards against a file handed over for import that costs more than its
//! size: the file is read as a stream of YAML events and anything that is
//! not that shape is refused at the first event that leaves it, so nesting
//! never goes deeper than two levels however many `[` or `{` follow. Aliases
//! (`*name`) are replayed, but every byte they replay is counted, and a file
//! whose aliases replay more than [`MAX_REPLAYED_BYTES`] is refused: the
//! memory an import holds stays within a small multiple of the file's size
//! (at most 16 MiB) plus that bound, and the time is linear in both. Keys and
//! names are clipped before they are shown; values never are.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavorbox::{Error, Result, Secret};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// The most bytes aliases may replay in one file, over all of them.
pub const MAX_REPLAYED_BYTES: usize = 16 * 1024 * 1024;

/// The key ZenML keeps a secret's schema name under.
const SCHEMA_KEY: &str = "zenml_schema_name";

/// Parses ZenML's `secrets.yaml` into checked secrets; `shown` names the
/// file in errors.
pub fn parse(text: &str, shown: &str) -> Result<Vec<Secret>> {
    let mut reader = Reader {
        events: Parser::new_from_str(text),
        shown,
        scalars: HashMap::new(),
        bodies: HashMap::new(),
        replayed: 0,
    };
    reader.file()
}

/// One secret's entries as written, before decoding.
type Body = Vec<(String, String)>;

struct Reader<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    shown: &'a str,
    /// Anchored scalars and anchored secret bodies, by anchor id.
    scalars: HashMap<usize, String>,
    bodies: HashMap<usize, Body>,
    replayed: usize,
}

impl<'a> Reader<'a> {
    fn file(&mut self) -> Result<Vec<Secret>> {
        self.expect_start()?;
        let (event, span) = self.next()?;
        let secrets = match event {
            // No document at all: an empty file.
            Event::StreamEnd => return Ok(Vec::new()),
            Event::DocumentStart(_) => match self.next()? {
                (Event::MappingStart(_, tag), span) => {
                    self.plain(tag.is_none(), span)?;
                    self.secrets()?
                }
                (Event::Scalar(text, ScalarStyle::Plain, 0, None), _) if is_null(&text) => {
                    Vec::new()
                }
                (_, span) => return Err(self.bad(span, "not a mapping of secrets")),
            },
            _ => return Err(self.bad(span, "not a mapping of secrets")),
        };
        match self.next()? {
            (Event::DocumentEnd, _) => {}
            (_, span) => return Err(self.bad(span, "not a mapping of secrets")),
        }
        match self.next()? {
            (Event::StreamEnd, _) => Ok(secrets),
            (_, span) => Err(self.bad(span, "more than one YAML document")),
        }
    }

    fn expect_start(&mut self) -> Result<()> {
        match self.next()? {
            (Event::StreamStart, _) => Ok(()),
            (_, span) => Err(self.bad(span, "not YAML")),
        }
    }

    /// The top-level mapping, after its start: name, body, name, body, ...
    fn secrets(&mut self) -> Result<Vec<Secret>> {
        let mut secrets = Vec::new();
        let mut names = BTreeSet::new();
        loop {
            let name = match self.next()? {
                (Event::MappingEnd, _) => return Ok(secrets),
                (event, span) => self.scalar(event, span, "a secret name")?,
            };
            let shown_name = flavorbox::text::clip(&name, 60);
            if !names.insert(name.clone()) {
                return Err(self.bad_file(format!("secret `{shown_name}` is given more than once")));
            }
            let body = self.body(&shown_name)?;
            secrets.push(self.secret(name, body)?);
        }
    }

    /// One secret's mapping of keys to values (or an alias of one).
    fn body(&mut self, shown_name: &str) -> Result<Body> {
        let (event, span) = self.next()?;
        let anchor = match event {
            Event::MappingStart(anchor, tag) => {
                self.plain(tag.is_none(), span)?;
                anchor
            }
            Event::Alias(id) => {
                let Some(body) = self.bodies.get(&id) else {
                    return Err(self.bad(span, &format!("secret `{shown_name}` is not a mapping")));
                };
                let body = body.clone();
                self.replay(body.iter().map(|(k, v)| k.len() + v.len()).sum(), span)?;
                return Ok(body);
            }
            _ => return Err(self.bad(span, &format!("secret `{shown_name}` is not a mapping"))),
        };
        let mut body = Vec::new();
        loop {
            let key = match self.next()? {
                (Event::MappingEnd, _) => break,
                (event, span) => self.scalar(event, span, "a key")?,
            };
            let (event, span) = self.next()?;
            let value = self.scalar(event, span, "a value")?;
            body.push((key, value));
        }
        if anchor != 0 {
            self.bodies.insert(anchor, body.clone());
        }
        Ok(body)
    }

    /// A scalar's text (or an alias of one), refusing anything else.
    fn scalar(&mut self, event: Event<'_>, span: Span, what: &str) -> Result<String> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag
                    .as_ref()
                    .is_some_and(|t| t.handle == "tag:yaml.org,2002:" && t.suffix == "str");
                self.plain(tag.is_none() || is_str_tag, span)?;
                if style == ScalarStyle::Plain && is_null(&text) {
                    return Err(self.bad(span, &format!("{what} is empty")));
                }
                let text = text.into_owned();
                if anchor != 0 {
                    self.scalars.insert(anchor, text.clone());
                }
                Ok(text)
            }
            Event::Alias(id) => match self.scalars.get(&id) {
                Some(text) => {
                    let text = text.clone();
                    self.replay(text.len(), span)?;
                    Ok(text)
                }
                None => Err(self.bad(span, &format!("{what} is not a string"))),
            },
            _ => Err(self.bad(span, &format!("{what} is not a string"))),
        }
    }

    /// Decodes and checks one secret.
    fn secret(&self, name: String, body: Body) -> Result<Secret> {
        let shown_name = flavorbox::text::clip(&name, 60);
        let mut schema = None;
        let mut pairs = Vec::with_capacity(body.len());
        for (key, value) in body {
            if key == SCHEMA_KEY {
                if schema.replace(value).is_some() {
                    return Err(self.bad_file(format!(
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
                    self.bad_file(format!(
                        "secret `{shown_name}`: the value of `{}` is not base64 of UTF-8 text",
                        flavorbox::text::clip(&key, 60)
                    ))
                })?;
            pairs.push((key, decoded));
        }
        let schema = schema
            .ok_or_else(|| self.bad_file(format!("secret `{shown_name}` has no `{SCHEMA_KEY}`")))?;
        flavorbox::secret::check_input(&pairs)
            .map_err(|e| self.bad_file(format!("secret `{shown_name}`: {e}")))?;
        Secret::new(name, schema, pairs)
            .map_err(|e| self.bad_file(format!("secret `{shown_name}`: {e}")))
    }

    /// Counts bytes an alias replays against the file's bound.
    fn replay(&mut self, bytes: usize, span: Span) -> Result<()> {
        self.replayed = self.replayed.saturating_add(bytes);
        if self.replayed > MAX_REPLAYED_BYTES {
            return Err(self.bad(
                span,
                &format!("aliases replay more than {MAX_REPLAYED_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    /// Refuses tags ZenML never writes (`!!python/...`, `!custom`).
    fn plain(&self, untagged: bool, span: Span) -> Result<()> {
        if untagged {
            Ok(())
        } else {
            Err(self.bad(span, "a YAML tag other than `!!str`"))
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, Span)> {
        match self.events.next() {
            Some(Ok((event, span))) => Ok((event, span)),
            Some(Err(e)) => Err(self.bad_file(format!(
                "not YAML: {}",
                flavorbox::text::clip(&e.to_string(), 160)
            ))),
            None => Err(self.bad_file("not YAML: the file ends early".into())),
        }
    }

    fn bad(&self, span: Span, why: &str) -> Error {
        Error::invalid(format!(
            "{}: line {}: not ZenML secrets YAML: {why}",
            self.shown,
            span.start.line()
        ))
    }

    fn bad_file(&self, why: String) -> Error {
        Error::invalid(format!("{}: {why}", self.shown))
    }
}

/// YAML's plain-scalar spellings of null.
fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

#[cfg(test)]
mod tests {
    use super::*;
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
                "a value is empty",
            ),
            ("- a\n", "not a mapping of secrets"),
            ("db: [a]\n", "secret `db` is not a mapping"),
            ("db:\n  a: [aGk=]\n", "a value is not a string"),
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
        for deep in [
            "[".repeat(100_000),
            format!("db: {}", "[".repeat(100_000)),
            format!("db:\n  k: {}", "{a: ".repeat(100_000)),
        ] {
            let started = std::time::Instant::now();
            let err = refused(&deep);
            assert!(err.contains("not"), "{err}");
            // Not a timing assertion on the machine: a quadratic reader
            // takes minutes here, a linear one a millisecond.
            assert!(started.elapsed() < std::time::Duration::from_secs(20));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever the bytes, the reader answers (secrets or one error
        /// line), never panics, and never names a value.
        #[test]
        fn any_text_gets_an_answer(text in "[a-z:{}\\[\\],&*!'\" \n\t#-]{0,200}") {
            if let Err(err) = parse(&text, "f") {
                prop_assert!(!err.to_string().contains('\n'));
            }
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
