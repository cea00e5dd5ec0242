//! Secret references in ZenML's syntax: `{{name.key}}` and
//! `{{manager/name.key}}`.
//!
//! References let a config value or a template name a secret instead of
//! holding it, so a credential lives in one (sealed) place. Guards against a
//! template being half-rendered or rendered with a guess: [`render`]
//! resolves every reference before it returns any text, and a reference
//! that does not resolve (no such secret or key) is an error naming it.
//!
//! Guards also against breaking the other templating a file holds (Helm's
//! `{{ .Values.image }}`, Jinja's `{{ user | upper }}`, GitHub Actions'
//! `${{ secrets.X }}`): only a `{{ ... }}` whose inside parses as a
//! reference (and that does not follow a `$`) is replaced; any other `{{` is left as it is ([`Braces::Others`]),
//! or is an error naming its line with [`Braces::Strict`] (`--strict`).
//! `\{{` is a literal `{{` either way, never read as a reference.
//!
//! As in ZenML, the secret name ends at the first `.`: what follows is the
//! key (which may itself contain dots). A secret whose name holds a `.` is
//! named in quotes: `{{"db.prod".password}}`, `{{prod/"db.prod".password}}`.
//! Whitespace inside the braces is ignored.

use std::fmt;

use crate::error::{Error, Result};
use crate::secret::{check_key, check_name};

/// Longest reference text (between the braces) considered.
const MAX_REFERENCE_LEN: usize = 3 * crate::secret::MAX_NAME_LEN + 8;

/// One reference: a key of a secret, optionally in a named manager.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub manager: Option<String>,
    pub secret: String,
    pub key: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A name with a `.` is quoted, as it must be written.
        let secret = match self.secret.contains('.') {
            true => format!("\"{}\"", self.secret),
            false => self.secret.clone(),
        };
        match &self.manager {
            Some(m) => write!(f, "{{{{{m}/{secret}.{}}}}}", self.key),
            None => write!(f, "{{{{{secret}.{}}}}}", self.key),
        }
    }
}

/// How [`render`] and [`find_all`] take a `{{` that does not open a
/// reference (an unclosed one, or one whose inside is not `NAME.KEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Braces {
    /// Left as it is: the file holds other templating too.
    Others,
    /// An error naming its line (`resolve --strict`).
    Strict,
}

/// The name at the start of `text` up to `end` (not included), quoted
/// (`"db.prod"`, which may hold `.`) or not, and what follows `end`.
fn split_name(text: &str, end: char) -> Option<(&str, &str)> {
    match text.strip_prefix('"') {
        Some(quoted) => {
            let close = quoted.find('"')?;
            let rest = quoted[close + 1..].strip_prefix(end)?;
            Some((&quoted[..close], rest))
        }
        None => text.split_once(end),
    }
}

impl Reference {
    /// Parses the text between `{{` and `}}`.
    pub fn parse_inner(inner: &str) -> Result<Reference> {
        let text = inner.trim();
        let bad = |why: String| {
            Error::invalid(format!(
                "reference `{{{{{}}}}}` {why}",
                crate::text::clip(text, 60)
            ))
        };
        if text.len() > MAX_REFERENCE_LEN {
            return Err(bad("is too long".to_string()));
        }
        let (manager, rest) = match split_name(text, '/') {
            Some((m, rest)) => (Some(m), rest),
            None => (None, text),
        };
        let Some((secret, key)) = split_name(rest, '.') else {
            return Err(bad(
                "is not NAME.KEY or MANAGER/NAME.KEY (a NAME holding `.` in quotes)".to_string(),
            ));
        };
        if let Some(m) = manager {
            check_name("secrets manager name", m).map_err(|e| bad(format!("has a bad {e}")))?;
        }
        check_name("secret name", secret).map_err(|e| bad(format!("has a bad {e}")))?;
        check_key(key).map_err(|e| bad(format!("has a bad {e}")))?;
        Ok(Reference {
            manager: manager.map(str::to_string),
            secret: secret.to_string(),
            key: key.to_string(),
        })
    }

    /// The reference if `value` is exactly one (as a config value is).
    pub fn parse_whole(value: &str) -> Option<Result<Reference>> {
        let trimmed = value.trim();
        let inner = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
        if inner.contains("{{") || inner.contains("}}") {
            return None;
        }
        Some(Reference::parse_inner(inner))
    }

    /// This reference pinned to `manager` if it names none.
    pub fn pinned(mut self, manager: &str) -> Reference {
        self.manager.get_or_insert_with(|| manager.to_string());
        self
    }
}

/// Every reference in `template`, in order of appearance; the other `{{`
/// are taken as `braces` says.
pub fn find_all(template: &str, braces: Braces) -> Result<Vec<Reference>> {
    let mut found = Vec::new();
    walk(template, braces, |piece| {
        if let Piece::Reference(r) = piece {
            found.push(r);
        }
        Ok(())
    })?;
    Ok(found)
}

/// Renders `template`, replacing each reference by `resolve(reference)`;
/// the other `{{` are taken as `braces` says. Nothing is returned unless
/// every reference resolved.
pub fn render(
    template: &str,
    braces: Braces,
    mut resolve: impl FnMut(&Reference) -> Result<String>,
) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    walk(template, braces, |piece| {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Reference(r) => out.push_str(&resolve(&r)?),
        }
        Ok(())
    })?;
    Ok(out)
}

/// The largest index at most `at` (and at most `text`'s length) that is a
/// character boundary of `text`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

enum Piece<'a> {
    Text(&'a str),
    Reference(Reference),
}

/// Hands `f` the template's text and references in order. Linear in the
/// template: each `{{` is looked at once, and after one that opens no
/// reference the scan goes on right after it.
fn walk<'a>(
    template: &'a str,
    braces: Braces,
    mut f: impl FnMut(Piece<'a>) -> Result<()>,
) -> Result<()> {
    let line_of = |rest: &str, at: usize| {
        template[..template.len() - rest.len() + at]
            .matches('\n')
            .count()
            + 1
    };
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        // `\{{`: a literal `{{`, the backslash dropped.
        if rest[..start].ends_with('\\') {
            f(Piece::Text(&rest[..start - 1]))?;
            f(Piece::Text("{{"))?;
            rest = after;
            continue;
        }
        f(Piece::Text(&rest[..start]))?;
        // A reference's `}}` comes within its longest length: looking no
        // further keeps the walk linear however many `{{` go unclosed.
        let window = &after[..floor_char_boundary(after, MAX_REFERENCE_LEN + 2)];
        let parsed = match window.find("}}") {
            // `${{ ... }}` is GitHub Actions' (and shell-like templating's),
            // never a reference.
            Some(_) if rest[..start].ends_with('$') => Err(Error::invalid(
                "`${{` opens GitHub Actions' expressions, not a reference",
            )),
            Some(end) => Reference::parse_inner(&after[..end]).map(|r| (r, end)),
            // Left alone, it needs no reason (looking for one would scan
            // the rest of the template for every such `{{`).
            None if braces == Braces::Others => Err(Error::invalid("")),
            None if after.contains("}}") => Err(Error::invalid(format!(
                "`{{{{` on line {} is not closed within {MAX_REFERENCE_LEN} characters, as a \
                 reference is",
                line_of(rest, start)
            ))),
            None => Err(Error::invalid(format!(
                "`{{{{` on line {} is never closed with `}}}}`",
                line_of(rest, start)
            ))),
        };
        match (parsed, braces) {
            (Ok((reference, end)), _) => {
                f(Piece::Reference(reference))?;
                rest = &after[end + 2..];
            }
            (Err(err), Braces::Strict) => {
                let line = line_of(rest, start);
                return Err(err.map_detail(|why| {
                    if why.contains(" on line ") {
                        why
                    } else {
                        format!("{why} (line {line}; write `\\{{{{` for a literal `{{{{`)")
                    }
                }));
            }
            (Err(_), Braces::Others) => {
                f(Piece::Text("{{"))?;
                rest = after;
            }
        }
    }
    f(Piece::Text(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(m: Option<&str>, s: &str, k: &str) -> Reference {
        Reference {
            manager: m.map(str::to_string),
            secret: s.into(),
            key: k.into(),
        }
    }

    #[test]
    fn parses_both_forms_and_splits_at_the_first_dot() {
        assert_eq!(
            Reference::parse_whole("{{db.password}}").unwrap().unwrap(),
            r(None, "db", "password")
        );
        assert_eq!(
            Reference::parse_whole(" {{ prod/db.tls.key }} ")
                .unwrap()
                .unwrap(),
            r(Some("prod"), "db", "tls.key")
        );
        assert!(Reference::parse_whole("plain").is_none());
        assert!(Reference::parse_whole("x{{db.password}}").is_none());
        for bad in ["{{db}}", "{{.k}}", "{{d b.k}}", "{{m/d.k k}}", "{{/d.k}}"] {
            assert!(Reference::parse_whole(bad).unwrap().is_err(), "{bad}");
        }
        assert_eq!(r(Some("m"), "s", "k").to_string(), "{{m/s.k}}");
    }

    #[test]
    fn renders_all_or_nothing() {
        let out = render("u={{db.user}} p={{m/db.pw}}\n", Braces::Strict, |r| {
            Ok(format!("<{}>", r.key))
        })
        .unwrap();
        assert_eq!(out, "u=<user> p=<pw>\n");
        let err = render("a {{x.y}} b {{ghost.k}}", Braces::Others, |r| {
            if r.secret == "ghost" {
                Err(Error::not_found(format!("{r}")))
            } else {
                Ok("v".into())
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("{{ghost.k}}"));
        assert!(
            render("line\n{{open", Braces::Strict, |_| Ok(String::new()))
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
        assert_eq!(
            find_all("{{a.b}}{{c/d.e}}", Braces::Strict).unwrap().len(),
            2
        );
    }

    #[test]
    fn other_templating_is_left_alone_unless_strict() {
        let template = "image: {{ .Values.image }}\nname: {{ user | upper }}\n\
                        run: ${{ github.sha }}x\npw: {{db.password}}\nopen: {{ never";
        let out = render(template, Braces::Others, |r| Ok(format!("<{}>", r.key))).unwrap();
        assert_eq!(
            out,
            "image: {{ .Values.image }}\nname: {{ user | upper }}\n\
             run: ${{ github.sha }}x\npw: <password>\nopen: {{ never"
        );
        let err = render(template, Braces::Strict, |_| Ok(String::new())).unwrap_err();
        assert!(err.detail().contains("(line 1;"), "{err}");
        assert!(err.detail().contains("`\\{{`"), "{err}");
        assert_eq!(find_all(template, Braces::Others).unwrap().len(), 1);
    }

    #[test]
    fn a_flood_of_unclosed_braces_is_walked_once() {
        // 1 MiB of `{{` closed once at the end: each `{{` looks no further
        // than a reference's length for its `}}`.
        let template = format!("{}}}}}", "{{".repeat(512 * 1024));
        let out = render(&template, Braces::Others, |_| Ok("V".into())).unwrap();
        assert_eq!(out, template);
        let err = render(&template, Braces::Strict, |_| Ok("V".into())).unwrap_err();
        assert!(err.detail().contains("not closed within"), "{err}");
        let unclosed = "{{ ".repeat(300_000);
        let out = render(&unclosed, Braces::Others, |_| Ok("V".into())).unwrap();
        assert_eq!(out, unclosed);
    }

    #[test]
    fn a_backslash_makes_a_literal_pair_of_braces() {
        for braces in [Braces::Others, Braces::Strict] {
            let out = render(r"\{{db.password}} {{db.password}} \{{ x", braces, |_| {
                Ok("V".into())
            })
            .unwrap();
            assert_eq!(out, "{{db.password}} V {{ x");
        }
    }

    #[test]
    fn a_dotted_secret_name_is_referred_to_in_quotes() {
        let quoted = r(None, "db.prod", "password");
        assert_eq!(quoted.to_string(), "{{\"db.prod\".password}}");
        for text in ["{{\"db.prod\".password}}", "{{ \"db.prod\".password }}"] {
            assert_eq!(Reference::parse_whole(text).unwrap().unwrap(), quoted);
        }
        assert_eq!(
            Reference::parse_whole("{{prod/\"db.prod\".tls.key}}")
                .unwrap()
                .unwrap(),
            r(Some("prod"), "db.prod", "tls.key")
        );
        assert_eq!(
            Reference::parse_whole("{{\"team.a\"/db.k}}")
                .unwrap()
                .unwrap(),
            r(Some("team.a"), "db", "k")
        );
        // What it shows parses back to itself.
        let shown = r(Some("m"), "a.b", "c.d").to_string();
        assert_eq!(
            Reference::parse_whole(&shown).unwrap().unwrap(),
            r(Some("m"), "a.b", "c.d")
        );
        for bad in ["{{\"db.prod.password}}", "{{\"\".k}}", "{{\"d b\".k}}"] {
            assert!(Reference::parse_whole(bad).unwrap().is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Whatever the template, rendering resolves every reference it
        /// finds or returns nothing: an answer never holds a `{{` of the
        /// template, and each reference is resolved exactly once.
        #[test]
        fn a_template_is_rendered_whole_or_not_at_all(
            template in "([a-z./ \"\\\\]{0,6}(\\{\\{|\\}\\}|\\{|\\})?){0,12}"
        ) {
            let mut resolved = 0;
            match render(&template, Braces::Strict, |_| {
                resolved += 1;
                Ok("V".into())
            }) {
                Ok(out) => {
                    let found = find_all(&template, Braces::Strict).unwrap().len();
                    proptest::prop_assert_eq!(resolved, found);
                    // Only an escaped pair of braces can be left.
                    if !template.contains('\\') {
                        proptest::prop_assert!(!out.contains("{{"), "{:?}", out);
                    }
                }
                Err(err) => {
                    proptest::prop_assert!(find_all(&template, Braces::Strict).is_err());
                    proptest::prop_assert!(!err.to_string().contains('\n'));
                }
            }
            // Leaving other braces alone, rendering never fails and
            // resolves exactly the references it finds.
            let mut resolved = 0;
            let out = render(&template, Braces::Others, |_| {
                resolved += 1;
                Ok("V".into())
            });
            proptest::prop_assert!(out.is_ok());
            proptest::prop_assert_eq!(
                resolved,
                find_all(&template, Braces::Others).unwrap().len()
            );
        }
    }
}
