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
