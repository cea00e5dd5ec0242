//! The flavors compiled into this binary: the built-in `local`, and the
//! bundled `aws`, `gcp_secrets_manager` and `vault`.
//!
//! Guards against a flavor of this binary being mistaken for one someone
//! registered, or the other way round: each component is the one the build
//! embedded, known by the digest computed at build time, and only a
//! component with exactly that digest is trusted (compiled in process
//! rather than in the bounded compiler, and believed about the origins it
//! asks for, see `sandbox::Grantee`). `local`'s policy (its own storage,
//! default limits) is fixed here, not stored, so no operator's grant
//! changes it. A bundled flavor is registered like any other the first
//! time it is used, with nothing granted (`bundled.rs`).

use std::collections::BTreeSet;

use crate::policy::{Capability, CompileLimits, Grants, Limits, Policy};
use crate::sandbox::Source;

/// The embedded components and their digests (`LOCAL_WASM`,
/// `LOCAL_DIGEST`, `AWS_WASM`, ...), written by `build.rs`.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The built-in flavor's name.
pub const LOCAL: &str = "local";

/// Names of the flavors built into this binary: no registered flavor may
/// claim one (registration and `evaluate` refuse it).
pub const BUILTIN_NAMES: &[&str] = &[LOCAL];

/// A flavor component compiled into this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedFlavor {
    /// The name its `info()` reports.
    pub name: &'static str,
    pub wasm: &'static [u8],
    /// `sha256:<hex>` of [`EmbeddedFlavor::wasm`], computed at build time.
    pub digest: &'static str,
}

impl EmbeddedFlavor {
    /// The component, trusted: compiled in process.
    pub fn source(&self) -> Source<'static> {
        Source {
            digest: self.digest,
            wasm: self.wasm,
            builtin: true,
            limits: CompileLimits::default(),
        }
    }
}

/// The flavors bundled with this binary, by name: registered (with nothing
/// granted) the first time a command needs them, and upgraded with the
/// binary.
pub const BUNDLED: &[EmbeddedFlavor] = &[
    EmbeddedFlavor {
        name: "aws",
        wasm: embedded::AWS_WASM,
        digest: embedded::AWS_DIGEST,
    },
    EmbeddedFlavor {
        name: "gcp_secrets_manager",
        wasm: embedded::GCP_SECRETS_MANAGER_WASM,
        digest: embedded::GCP_SECRETS_MANAGER_DIGEST,
    },
    EmbeddedFlavor {
        name: "vault",
        wasm: embedded::VAULT_WASM,
        digest: embedded::VAULT_DIGEST,
    },
];

/// The bundled flavor called `name`.
pub fn bundled(name: &str) -> Option<&'static EmbeddedFlavor> {
    BUNDLED.iter().find(|flavor| flavor.name == name)
}

/// Whether the component with `digest` is one this binary carries: `local`
/// or a bundled flavor, built by this project and trusted.
pub fn is_embedded(digest: &str) -> bool {
    digest == LOCAL_DIGEST || BUNDLED.iter().any(|flavor| flavor.digest == digest)
}

/// Why a flavor name is not free for a new flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedName {
    /// A flavor built into this binary.
    BuiltIn,
    /// A flavor bundled with this binary.
    Bundled,
}

/// Whether `name` belongs to a flavor built in or bundled.
pub fn reserved_name(name: &str) -> Option<ReservedName> {
    if BUILTIN_NAMES.contains(&name) {
        Some(ReservedName::BuiltIn)
    } else if bundled(name).is_some() {
        Some(ReservedName::Bundled)
    } else {
        None
    }
}

/// The `local` flavor component, built from `guests/flavors/local`.
pub const LOCAL_WASM: &[u8] = embedded::LOCAL_WASM;
/// `sha256:<hex>` of [`LOCAL_WASM`], computed at build time.
pub const LOCAL_DIGEST: &str = embedded::LOCAL_DIGEST;

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
    EmbeddedFlavor {
        name: LOCAL,
        wasm: LOCAL_WASM,
        digest: LOCAL_DIGEST,
    }
    .source()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flavor under `guests/flavors/` is embedded: built in or
    /// bundled, never forgotten.
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
            .chain(BUNDLED.iter().map(|flavor| &flavor.name))
            .map(|n| n.to_string())
            .collect();
        reserved.sort();
        assert_eq!(found, reserved);
        assert_eq!(reserved_name(LOCAL), Some(ReservedName::BuiltIn));
        assert_eq!(reserved_name("vault"), Some(ReservedName::Bundled));
        assert_eq!(reserved_name("my-vault"), None);
    }
}
