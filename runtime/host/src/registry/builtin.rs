//! The built-in `local` flavor: compiled into the binary, trusted.
//!
//! Guards against the built-in flavor being treated as a registered one or
//! the other way round: its component is the one built into this binary,
//! known by the digest computed at build time; it alone is trusted to be
//! compiled in process rather than in the bounded compiler; and its policy
//! (its own storage, default limits) is fixed here, not stored, so no
//! operator's grant changes it.

use std::collections::BTreeSet;

use crate::policy::{Capability, CompileLimits, Grants, Limits, Policy};
use crate::sandbox::Source;

/// The built-in flavor's name.
pub const LOCAL: &str = "local";

/// Names of the flavors built into this binary: no registered flavor may
/// claim one (registration and `evaluate` refuse it).
pub const BUILTIN_NAMES: &[&str] = &[LOCAL];

/// Names of the flavors this project ships as components
/// (`guests/flavors/`): registered like any other, so a component may
/// carry one, but a new flavor project is never given one (`flavor new`).
pub const SHIPPED_NAMES: &[&str] = &["aws", "gcp_secrets_manager", "vault"];

/// Why a flavor name is not free for a new flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedName {
    /// A flavor built into this binary.
    BuiltIn,
    /// A flavor this project ships.
    Shipped,
}

/// Whether `name` belongs to a flavor built in or shipped.
pub fn reserved_name(name: &str) -> Option<ReservedName> {
    if BUILTIN_NAMES.contains(&name) {
        Some(ReservedName::BuiltIn)
    } else if SHIPPED_NAMES.contains(&name) {
        Some(ReservedName::Shipped)
    } else {
        None
    }
}
/// The `local` flavor component, built from `guests/flavors/local` by `build.rs`.
pub const LOCAL_WASM: &[u8] = include_bytes!(env!("FLAVORBOX_LOCAL_WASM"));
/// `sha256:<hex>` of [`LOCAL_WASM`], computed at build time.
pub const LOCAL_DIGEST: &str = env!("FLAVORBOX_LOCAL_DIGEST");

/// The built-in flavor's policy: its own storage, default limits.
pub fn local_policy() -> Policy {
    Policy {
        limits: Limits::default(),
        grants: Grants {
            capabilities: BTreeSet::from([Capability::Storage]),
            http_origins: Vec::new(),
        },
    }
}

/// The built-in component, trusted: compiled in process.
pub fn local_source() -> Source<'static> {
    Source {
        digest: LOCAL_DIGEST,
        wasm: LOCAL_WASM,
        builtin: true,
        limits: CompileLimits::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flavor under `guests/flavors/` is named here: built in or
    /// shipped, never forgotten.
    #[test]
    fn every_flavor_of_the_project_is_reserved() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/flavors");
        let mut found: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.path().join("Cargo.toml").is_file())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        let mut reserved: Vec<String> = BUILTIN_NAMES
            .iter()
            .chain(SHIPPED_NAMES)
            .map(|n| n.to_string())
            .collect();
        reserved.sort();
        assert_eq!(found, reserved);
        assert_eq!(reserved_name(LOCAL), Some(ReservedName::BuiltIn));
        assert_eq!(reserved_name("vault"), Some(ReservedName::Shipped));
        assert_eq!(reserved_name("my-vault"), None);
    }
}
