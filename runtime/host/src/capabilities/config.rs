//! The `config` capability: a flavor reads its own secrets manager's
//! configuration, and nothing else. Read-only by construction.

use std::collections::BTreeMap;

use super::Findings;

pub struct ConfigCapability {
    values: BTreeMap<String, String>,
    pub findings: Findings,
}

impl ConfigCapability {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        ConfigCapability {
            values,
            findings: Findings::default(),
        }
    }
}

/// The `config` interface, once for every contract version (see
/// `sandbox/imports.rs`).
impl ConfigCapability {
    pub fn get(&mut self, key: String) -> Option<String> {
        self.findings.used = true;
        self.values.get(&key).cloned()
    }

    pub fn all(&mut self) -> Vec<(String, String)> {
        self.findings.used = true;
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_its_own_values() {
        let mut config =
            ConfigCapability::new(BTreeMap::from([("region".into(), "eu-west-1".into())]));
        assert!(!config.findings.used);
        assert_eq!(config.get("region".into()).as_deref(), Some("eu-west-1"));
        assert_eq!(config.get("missing".into()), None);
        assert_eq!(
            config.all(),
            [("region".to_string(), "eu-west-1".to_string())]
        );
        assert!(config.findings.used);
    }
}
