//! Secret references in ZenML's syntax: `{{name.key}}` and
//! `{{manager/name.key}}`.
//!
//! References let a config value or a template name a secret instead of
//! holding it, so a credential lives in one (sealed) place. Guards against a
//! template being half-rendered or rendered with a guess: parsing is strict
//! (an unclosed `{{`, a bad name or a missing key is an error naming the
//! reference, never passed through), and [`render`] resolves every
//! reference before it returns any text.
//!
//! As in ZenML, the secret name ends at the first `.`: what follows is the
//! key (which may itself contain dots). Whitespace inside the braces is
//! ignored.

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
        match &self.manager {
            Some(m) => write!(f, "{{{{{m}/{}.{}}}}}", self.secret, self.key),
            None => write!(f, "{{{{{}.{}}}}}", self.secret, self.key),
        }
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
        let (manager, rest) = match text.split_once('/') {
            Some((m, rest)) => (Some(m), rest),
            None => (None, text),
        };
        let Some((secret, key)) = rest.split_once('.') else {
            return Err(bad("is not NAME.KEY or MANAGER/NAME.KEY".to_string()));
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

/// Every reference in `template`, in order of appearance.
pub fn find_all(template: &str) -> Result<Vec<Reference>> {
    let mut found = Vec::new();
    walk(template, |piece| {
        if let Piece::Reference(r) = piece {
            found.push(r);
        }
        Ok(())
    })?;
    Ok(found)
}

/// Renders `template`, replacing each reference by `resolve(reference)`.
/// Nothing is returned unless every reference resolved.
pub fn render(
    template: &str,
    mut resolve: impl FnMut(&Reference) -> Result<String>,
) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    walk(template, |piece| {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Reference(r) => out.push_str(&resolve(&r)?),
        }
        Ok(())
    })?;
    Ok(out)
}

enum Piece<'a> {
    Text(&'a str),
    Reference(Reference),
}

fn walk<'a>(template: &'a str, mut f: impl FnMut(Piece<'a>) -> Result<()>) -> Result<()> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        f(Piece::Text(&rest[..start]))?;
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            let line = template[..template.len() - rest.len() + start]
                .matches('\n')
                .count()
                + 1;
            return Err(Error::invalid(format!(
                "`{{{{` on line {line} is never closed with `}}}}`"
            )));
        };
        f(Piece::Reference(Reference::parse_inner(&after[..end])?))?;
        rest = &after[end + 2..];
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
        let out = render("u={{db.user}} p={{m/db.pw}}\n", |r| {
            Ok(format!("<{}>", r.key))
        })
        .unwrap();
        assert_eq!(out, "u=<user> p=<pw>\n");
        let err = render("a {{x.y}} b {{ghost.k}}", |r| {
            if r.secret == "ghost" {
                Err(Error::not_found(format!("{r}")))
            } else {
                Ok("v".into())
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("{{ghost.k}}"));
        assert!(
            render("line\n{{open", |_| Ok(String::new()))
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
        assert_eq!(find_all("{{a.b}}{{c/d.e}}").unwrap().len(), 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Whatever the template, rendering resolves every reference it
        /// finds or returns nothing: an answer never holds a `{{` of the
        /// template, and each reference is resolved exactly once.
        #[test]
        fn a_template_is_rendered_whole_or_not_at_all(
            template in "([a-z./ ]{0,6}(\\{\\{|\\}\\}|\\{|\\})?){0,12}"
        ) {
            let mut resolved = 0;
            match render(&template, |_| {
                resolved += 1;
                Ok("V".into())
            }) {
                Ok(out) => {
                    proptest::prop_assert!(!out.contains("{{"), "{out:?}");
                    proptest::prop_assert_eq!(resolved, find_all(&template).unwrap().len());
                }
                Err(err) => {
                    proptest::prop_assert!(find_all(&template).is_err());
                    proptest::prop_assert!(!err.to_string().contains('\n'));
                }
            }
        }
    }
}
