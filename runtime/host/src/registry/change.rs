//! What replacing a flavor's component changes, said before it is done.
//!
//! Guards against an upgrade that quietly widens what a flavor may do: a
//! new version that declares a capability the old one did not, grants
//! that reach further, or a config field that was secret and no longer is
//! (its value would then be printed back and left unmasked in the
//! flavor's output). Such a change is *widening*, and the caller must
//! approve it before anything is stored.

use std::collections::BTreeSet;

use crate::contract::FlavorDescription;
use crate::policy::{Capability, Grants};
use crate::text::escape;

/// The difference between a registered flavor and its replacement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlavorChange {
    pub declared_added: Vec<Capability>,
    pub declared_removed: Vec<Capability>,
    pub granted_added: Vec<Capability>,
    pub granted_removed: Vec<Capability>,
    pub origins_added: Vec<String>,
    pub origins_removed: Vec<String>,
    pub config_added: Vec<String>,
    pub config_removed: Vec<String>,
    /// Config fields that were secret and no longer are.
    pub secret_unmarked: Vec<String>,
    /// Config fields that were not secret and now are.
    pub secret_marked: Vec<String>,
}

impl FlavorChange {
    /// The change from `before` (described and granted) to `after`.
    pub fn between(
        before: (&FlavorDescription, &Grants),
        after: (&FlavorDescription, &Grants),
    ) -> FlavorChange {
        let secret_fields = |d: &FlavorDescription| -> BTreeSet<String> {
            d.config
                .iter()
                .filter(|f| f.secret)
                .map(|f| f.name.clone())
                .collect()
        };
        let fields = |d: &FlavorDescription| -> BTreeSet<String> {
            d.config.iter().map(|f| f.name.clone()).collect()
        };
        let origins = |g: &Grants| -> BTreeSet<String> { g.http_origins.iter().cloned().collect() };
        let (old_fields, new_fields) = (fields(before.0), fields(after.0));
        let (old_secret, new_secret) = (secret_fields(before.0), secret_fields(after.0));
        FlavorChange {
            declared_added: minus(&after.0.capabilities, &before.0.capabilities),
            declared_removed: minus(&before.0.capabilities, &after.0.capabilities),
            granted_added: minus(&after.1.capabilities, &before.1.capabilities),
            granted_removed: minus(&before.1.capabilities, &after.1.capabilities),
            origins_added: minus(&origins(after.1), &origins(before.1)),
            origins_removed: minus(&origins(before.1), &origins(after.1)),
            config_added: minus(&new_fields, &old_fields),
            config_removed: minus(&old_fields, &new_fields),
            secret_unmarked: old_secret
                .iter()
                .filter(|f| new_fields.contains(*f) && !new_secret.contains(*f))
                .cloned()
                .collect(),
            secret_marked: new_secret
                .iter()
                .filter(|f| old_fields.contains(*f) && !old_secret.contains(*f))
                .cloned()
                .collect(),
        }
    }

    /// Whether the replacement may reach further than the flavor it
    /// replaces, or shows what was kept secret.
    pub fn widens(&self) -> bool {
        !self.declared_added.is_empty()
            || !self.granted_added.is_empty()
            || !self.origins_added.is_empty()
            || !self.secret_unmarked.is_empty()
    }

    /// One line per change (`+` widens or adds, `-` narrows or removes),
    /// escaped for a terminal; empty when nothing changes.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut each = |sign: char, what: &str, items: &[String]| {
            for item in items {
                lines.push(format!("{sign} {what} {}", escape(item)));
            }
        };
        let names = |caps: &[Capability]| -> Vec<String> {
            caps.iter().map(|c| c.as_str().to_string()).collect()
        };
        each('+', "declares capability", &names(&self.declared_added));
        each(
            '-',
            "no longer declares capability",
            &names(&self.declared_removed),
        );
        each('+', "granted capability", &names(&self.granted_added));
        each(
            '-',
            "no longer granted capability",
            &names(&self.granted_removed),
        );
        each('+', "granted HTTP origin", &self.origins_added);
        each('-', "no longer granted HTTP origin", &self.origins_removed);
        each('+', "config field", &self.config_added);
        each('-', "config field", &self.config_removed);
        each('+', "config field no longer secret:", &self.secret_unmarked);
        each('-', "config field now secret:", &self.secret_marked);
        lines
    }
}

/// What `a` holds and `b` does not, in order.
fn minus<T: Ord + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> Vec<T> {
    a.difference(b).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ConfigField;

    fn description(capabilities: &[Capability], config: &[(&str, bool)]) -> FlavorDescription {
        FlavorDescription {
            contract: Default::default(),
            name: "f".into(),
            version: "1".into(),
            description: "d".into(),
            config: config
                .iter()
                .map(|(name, secret)| ConfigField {
                    name: name.to_string(),
                    description: String::new(),
                    required: false,
                    secret: *secret,
                })
                .collect(),
            capabilities: capabilities.iter().copied().collect(),
        }
    }

    fn grants(capabilities: &[Capability], origins: &[&str]) -> Grants {
        Grants {
            capabilities: capabilities.iter().copied().collect(),
            http_origins: origins.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn the_same_flavor_changes_nothing() {
        let d = description(&[Capability::Storage], &[("token", true)]);
        let g = grants(&[Capability::Storage], &[]);
        let change = FlavorChange::between((&d, &g), (&d, &g));
        assert_eq!(change, FlavorChange::default());
        assert!(!change.widens() && change.lines().is_empty());
    }

    #[test]
    fn reaching_further_or_unmarking_a_secret_widens() {
        let old = description(&[Capability::Storage], &[("token", true), ("url", false)]);
        let g = grants(&[Capability::Storage], &[]);
        for (new, new_grants, line) in [
            (
                description(
                    &[Capability::Storage, Capability::Http],
                    &[("token", true), ("url", false)],
                ),
                g.clone(),
                "+ declares capability http",
            ),
            (
                old.clone(),
                grants(
                    &[Capability::Storage, Capability::Http],
                    &["https://example.com:443"],
                ),
                "+ granted HTTP origin https://example.com:443",
            ),
            (
                description(&[Capability::Storage], &[("token", false), ("url", false)]),
                g.clone(),
                "+ config field no longer secret: token",
            ),
        ] {
            let change = FlavorChange::between((&old, &g), (&new, &new_grants));
            assert!(change.widens(), "{change:?}");
            assert!(
                change.lines().iter().any(|l| l == line),
                "{:?}",
                change.lines()
            );
        }
    }

    #[test]
    fn narrowing_or_adding_fields_does_not_widen() {
        let old = description(&[Capability::Storage, Capability::Http], &[("url", false)]);
        let g = grants(
            &[Capability::Storage, Capability::Http],
            &["https://a.example:443"],
        );
        let new = description(&[Capability::Storage], &[("url", true), ("region", false)]);
        let narrower = grants(&[Capability::Storage], &[]);
        let change = FlavorChange::between((&old, &g), (&new, &narrower));
        assert!(!change.widens(), "{change:?}");
        assert_eq!(
            change.lines(),
            [
                "- no longer declares capability http",
                "- no longer granted capability http",
                "- no longer granted HTTP origin https://a.example:443",
                "+ config field region",
                "- config field now secret: url",
            ]
        );
    }
}
