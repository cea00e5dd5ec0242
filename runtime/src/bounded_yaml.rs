//! YAML handed over by someone else (ZenML's `secrets.yaml` for an import,
//! a secret for `--from-json`), read into the only shapes flavorbox reads:
//! a mapping whose values are strings or mappings of keys to strings.
//!
//! Guards against a file that costs more than its size: the text is read
//! as a stream of YAML events (saphyr-parser, never a whole document tree)
//! and anything that is not such a mapping is refused at the first event
//! that leaves it, so nesting never goes deeper than two levels however
//! many `[` or `{` follow. Aliases (`*name`) are replayed, but every byte
//! they replay is counted, and a text whose aliases replay more than
//! [`MAX_REPLAYED_BYTES`] is refused: the memory a read holds stays within
//! a small multiple of the text's size plus that bound, and the time is
//! linear in both. Tags other than `!!str` (`!!python/...`, `!custom`) are
//! refused. Keys are clipped before they are shown; values never are.

use std::collections::HashMap;

use flavorbox::{Error, Result};
use saphyr_parser::{Event, Parser, ScalarStyle, Span, StrInput};

/// The most bytes aliases may replay in one text, over all of them.
pub const MAX_REPLAYED_BYTES: usize = 16 * 1024 * 1024;

/// A mapping of keys to strings, in the order written.
pub type Pairs = Vec<(String, String)>;

/// The value of a key in the top-level mapping.
pub enum Node {
    Text(String),
    Pairs(Pairs),
}

/// The events of one text, read into the shapes above.
pub struct Events<'a> {
    events: Parser<'a, StrInput<'a>>,
    /// Names the text in errors (a file's path, `-` for stdin).
    shown: &'a str,
    /// Put before why a text is refused at a line (`not ZenML secrets
    /// YAML: `), or empty.
    refusal: &'a str,
    /// Anchored scalars and anchored mappings of strings, by anchor id.
    scalars: HashMap<usize, String>,
    mappings: HashMap<usize, Pairs>,
    replayed: usize,
}

impl<'a> Events<'a> {
    pub fn new(text: &'a str, shown: &'a str, refusal: &'a str) -> Self {
        Events {
            events: Parser::new_from_str(text),
            shown,
            refusal,
            scalars: HashMap::new(),
            mappings: HashMap::new(),
            replayed: 0,
        }
    }

    /// Reads the one document, whose top-level mapping `entries` reads
    /// from after its start to its end (see [`Events::key`]); `None` when
    /// there is no document or it is null. Anything else at the top is
    /// refused as `not_mapping`.
    pub fn document<T>(
        &mut self,
        not_mapping: &str,
        entries: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.next()? {
            (Event::StreamStart, _) => {}
            (_, span) => return Err(self.bad(span, "not YAML")),
        }
        let read = match self.next()? {
            // No document at all: an empty text.
            (Event::StreamEnd, _) => return Ok(None),
            (Event::DocumentStart(_), _) => match self.next()? {
                (Event::MappingStart(_, tag), span) => {
                    self.plain(tag.is_none(), span)?;
                    Some(entries(self)?)
                }
                (Event::Scalar(text, ScalarStyle::Plain, 0, None), _) if is_null(&text) => None,
                (_, span) => return Err(self.bad(span, not_mapping)),
            },
            (_, span) => return Err(self.bad(span, not_mapping)),
        };
        match self.next()? {
            (Event::DocumentEnd, _) => {}
            (_, span) => return Err(self.bad(span, not_mapping)),
        }
        match self.next()? {
            (Event::StreamEnd, _) => Ok(read),
            (_, span) => Err(self.bad(span, "more than one YAML document")),
        }
    }

    /// The next key of the mapping being read (`what` names it in errors),
    /// or `None` at the mapping's end.
    pub fn key(&mut self, what: &str) -> Result<Option<String>> {
        match self.next()? {
            (Event::MappingEnd, _) => Ok(None),
            (event, span) => self.scalar(event, span, what).map(Some),
        }
    }

    /// The next value: a mapping of keys to strings (or an alias of one),
    /// refused as "`what` is not a mapping" when it is anything else.
    pub fn pairs(&mut self, what: &str) -> Result<Pairs> {
        let (event, span) = self.next()?;
        self.pairs_from(event, span, what)
    }

    /// The next value: a string, or a mapping of keys to strings (or an
    /// alias of either), `what` in errors.
    pub fn node(&mut self, what: &str) -> Result<Node> {
        let (event, span) = self.next()?;
        let is_mapping = match &event {
            Event::MappingStart(..) => true,
            Event::Alias(id) => self.mappings.contains_key(id),
            _ => false,
        };
        if is_mapping {
            self.pairs_from(event, span, what).map(Node::Pairs)
        } else {
            self.scalar(event, span, what).map(Node::Text)
        }
    }

    fn pairs_from(&mut self, event: Event<'a>, span: Span, what: &str) -> Result<Pairs> {
        let anchor = match event {
            Event::MappingStart(anchor, tag) => {
                self.plain(tag.is_none(), span)?;
                anchor
            }
            Event::Alias(id) => {
                let Some(pairs) = self.mappings.get(&id) else {
                    return Err(self.bad(span, &format!("{what} is not a mapping")));
                };
                let pairs = pairs.clone();
                self.replay(pairs.iter().map(|(k, v)| k.len() + v.len()).sum(), span)?;
                return Ok(pairs);
            }
            _ => return Err(self.bad(span, &format!("{what} is not a mapping"))),
        };
        let mut pairs = Vec::new();
        while let Some(key) = self.key("a key")? {
            let (event, span) = self.next()?;
            let what = format!("the value of `{}`", flavorbox::text::clip(&key, 60));
            let value = self.scalar(event, span, &what)?;
            pairs.push((key, value));
        }
        if anchor != 0 {
            self.mappings.insert(anchor, pairs.clone());
        }
        Ok(pairs)
    }

    /// A scalar's text (or an alias of one), refusing anything else and a
    /// null.
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
                if text.contains(YAML_1_1_BREAKS) {
                    return Err(self.bad(
                        span,
                        &format!(
                            "{what} holds U+0085, U+2028 or U+2029, which YAML 1.1 writers \
                             (`secret get --output yaml` too) break lines at and YAML 1.2 \
                             keeps; give it as JSON"
                        ),
                    ));
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

    /// Counts bytes an alias replays against the text's bound.
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

    /// Refuses tags other than `!!str`.
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
            Some(Err(e)) => Err(self.bad_text(format!(
                "not YAML: {}",
                flavorbox::text::clip(&e.to_string(), 160)
            ))),
            None => Err(self.bad_text("not YAML: the text ends early".into())),
        }
    }

    /// The text refused at `span` for `why`.
    pub fn bad(&self, span: Span, why: &str) -> Error {
        Error::invalid(format!(
            "{}: line {}: {}{why}",
            self.shown,
            span.start.line(),
            self.refusal
        ))
    }

    /// The text refused for `why`, which no one line shows.
    pub fn bad_text(&self, why: String) -> Error {
        Error::invalid(format!("{}: {why}", self.shown))
    }
}

/// A text holding one mapping whose values are strings or mappings of
/// keys to strings, as the JSON object it would be (empty for an empty
/// text); a key given twice in one mapping is refused, as
/// `input::StrictJson` refuses it.
pub fn object(text: &str, shown: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut events = Events::new(text, shown, "");
    let object = events.document("not a mapping of keys to values", |events| {
        let mut object = serde_json::Map::new();
        while let Some(key) = events.key("a key")? {
            let what = format!("the value of `{}`", flavorbox::text::clip(&key, 60));
            let value = match events.node(&what)? {
                Node::Text(text) => serde_json::Value::String(text),
                Node::Pairs(pairs) => {
                    let mut inner = serde_json::Map::new();
                    for (key, value) in pairs {
                        insert_once(events, &mut inner, key, value.into())?;
                    }
                    serde_json::Value::Object(inner)
                }
            };
            insert_once(events, &mut object, key, value)?;
        }
        Ok(object)
    });
    match object {
        Ok(object) => Ok(object.unwrap_or_default()),
        // A YAML 1.1 writer may leave such a break where it breaks the
        // block it writes (`|2+` and then the break at column 0): the
        // text is not YAML, and the break is why.
        Err(err) if text.contains(YAML_1_1_BREAKS) && err.detail().contains("not YAML") => {
            Err(events.bad_text(
                "not YAML where it holds U+0085, U+2028 or U+2029, which YAML 1.1 writers \
                 (`secret get --output yaml` too) break lines at; give it as JSON"
                    .to_string(),
            ))
        }
        Err(err) => Err(err),
    }
}

fn insert_once(
    events: &Events<'_>,
    object: &mut serde_json::Map<String, serde_json::Value>,
    key: String,
    value: serde_json::Value,
) -> Result<()> {
    if object.contains_key(&key) {
        return Err(events.bad_text(format!(
            "key `{}` is given more than once",
            flavorbox::text::clip(&key, 60)
        )));
    }
    object.insert(key, value);
    Ok(())
}

/// Line breaks to YAML 1.1 (libyaml, which writes `secret get --output
/// yaml`) and text to YAML 1.2 (this reader): a scalar holding one may read
/// back with the writer's indentation in it, so it is refused, never
/// silently changed.
const YAML_1_1_BREAKS: [char; 3] = ['\u{85}', '\u{2028}', '\u{2029}'];

/// YAML's plain-scalar spellings of null.
fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// What the tests of every reader built on this module check alike.
#[cfg(test)]
pub mod checks {
    use std::time::{Duration, Instant};

    /// The texts "any text" property tests draw from: YAML's punctuation.
    pub const ANY_TEXT: &str = "[a-z:{}\\[\\],&*!'\" \n\t#-]{0,200}";

    /// Whether `read` answered: a value, or a refusal of one line.
    pub fn answered<T>(read: flavorbox::Result<T>) -> bool {
        read.map_or_else(|err| !err.to_string().contains('\n'), |_| true)
    }

    /// Asserts that `read` refuses each text with a line holding its
    /// `why`, in time linear in the text: not a timing assertion on the
    /// machine (a quadratic reader takes minutes on 100,000 brackets, a
    /// linear one a millisecond).
    #[track_caller]
    pub fn refused_quickly<T>(
        read: impl Fn(&str) -> flavorbox::Result<T>,
        texts: impl IntoIterator<Item = (String, &'static str)>,
    ) {
        for (text, why) in texts {
            let started = Instant::now();
            let Err(err) = read(&text) else {
                panic!("{:?}… was read", &text[..40.min(text.len())]);
            };
            assert!(err.to_string().contains(why), "{err}");
            assert!(started.elapsed() < Duration::from_secs(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use proptest::prelude::*;

    fn refused(text: &str) -> String {
        let err = object(text, "f").unwrap_err();
        assert!(err.is(flavorbox::ErrorKind::Invalid), "{err}");
        err.to_string()
    }

    #[test]
    fn a_mapping_of_strings_reads_as_the_object_it_is() {
        let read = object(
            "name: db\nschema: arbitrary\nvalues:\n  port: 5432\n  user: &u admin\n  again: *u\n",
            "f",
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(read),
            serde_json::json!({
                "name": "db",
                "schema": "arbitrary",
                "values": {"port": "5432", "user": "admin", "again": "admin"},
            })
        );
        for empty in ["", "# nothing\n", "~\n", "---\n...\n"] {
            assert!(object(empty, "f").unwrap().is_empty(), "{empty:?}");
        }
        for (bad, why) in [
            ("k: 1\nk: 2\n", "key `k` is given more than once"),
            (
                "values:\n  k: 1\n  k: 2\n",
                "key `k` is given more than once",
            ),
            ("k: [a]\n", "line 1: the value of `k` is not a string"),
            (
                "k:\n  a: {b: c}\n",
                "line 2: the value of `a` is not a string",
            ),
            ("k:\n", "the value of `k` is empty"),
            ("k: !!binary aGk=\n", "a YAML tag"),
            ("- a\n", "not a mapping of keys to values"),
            ("plain text\n", "not a mapping of keys to values"),
            ("a: b\n---\nc: d\n", "more than one YAML document"),
            ("k: 'unterminated\n", "f: not YAML"),
            // A quoted U+2028 followed by indentation: a line break to
            // YAML 1.1 writers, text and spaces to YAML 1.2.
            ("k: '\u{2028}\n  '\n", "U+2028"),
            // What a YAML 1.1 writer makes of a value "U+2028, newline": a
            // block whose break sits at column 0, which is not YAML.
            ("values:\n  k: |2+\n\u{2028}\n", "U+2028"),
        ] {
            let err = refused(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    /// A small text that expands (one anchor replayed through many aliases,
    /// as a value and as a whole mapping) is refused once the bytes
    /// replayed pass the bound, long before they are held.
    #[test]
    fn aliases_that_replay_more_than_the_bound_are_refused() {
        let big = "v".repeat(1 << 20);
        let scalar_bomb = format!(
            "k0: &v {big}\n{}",
            (1..40).map(|i| format!("k{i}: *v\n")).collect::<String>()
        );
        let mapping_bomb = format!(
            "m0: &m {{k: {}}}\n{}",
            "v".repeat(40 << 10),
            (1..500).map(|i| format!("m{i}: *m\n")).collect::<String>()
        );
        for bomb in [scalar_bomb, mapping_bomb] {
            assert!(bomb.len() < 2 << 20);
            assert!(refused(&bomb).contains("aliases replay more than"));
        }
    }

    /// Nesting is refused at the first level the shape does not have.
    #[test]
    fn deep_nesting_is_refused_at_the_first_level_too_deep() {
        checks::refused_quickly(
            |text| object(text, "f"),
            [
                ("[".repeat(100_000), "not"),
                (format!("k: {}", "[".repeat(100_000)), "not"),
                (
                    format!("k:\n  a: {}", "{a: ".repeat(100_000)),
                    "is not a string",
                ),
            ],
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever the text, one line of refusal or an object; no panic.
        #[test]
        fn any_text_gets_an_answer(text in checks::ANY_TEXT) {
            prop_assert!(checks::answered(object(&text, "f")));
        }

        /// What `secret get --output yaml` writes (serde_norway) reads back
        /// as it was, whatever the strings.
        #[test]
        fn what_get_prints_as_yaml_reads_back(
            name in "\\PC{1,20}",
            values in proptest::collection::btree_map("\\PC{1,12}", "(\\PC|[\n\t\r \u{85}\u{2028}\u{2029}]){1,40}", 1..6),
        ) {
            #[derive(serde::Serialize)]
            struct View<'a> {
                name: &'a str,
                schema: &'a str,
                values: &'a BTreeMap<String, String>,
            }
            let text = serde_norway::to_string(&View { name: &name, schema: "arbitrary", values: &values })
                .unwrap();
            if values.values().chain(values.keys()).chain([&name]).any(|v| v.contains(YAML_1_1_BREAKS)) {
                prop_assert!(object(&text, "f").unwrap_err().to_string().contains("U+2028"));
                return Ok(());
            }
            let read = object(&text, "f").unwrap();
            let want: serde_json::Map<String, serde_json::Value> = values
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            prop_assert_eq!(&read["name"], &serde_json::Value::String(name.clone()), "{}", text);
            prop_assert_eq!(&read["values"], &serde_json::Value::Object(want), "{}", text);
        }
    }
}
