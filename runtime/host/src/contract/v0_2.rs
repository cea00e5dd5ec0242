//! Host bindings for contract 0.2 (`flavorbox:secrets@0.2.0`, the world
//! `flavor` of `wit/0.2/`), generated with the same options as `v0_1`'s
//! (async exports, a trappable `storage`) for the same reasons: a call
//! blocked in a host function can be cut off at its deadline, and a host
//! store failure stops the call instead of reaching the flavor.
//!
//! Guards against two versions drifting apart in how they are run: the
//! imports are implemented once (`capabilities`) and linked for both.

wasmtime::component::bindgen!({
    path: "../../wit/0.2",
    world: "flavor",
    imports: { "flavorbox:secrets/storage": trappable },
    exports: { default: async },
});

pub use self::flavorbox::secrets::types::{
    Error as WitError, FlavorInfo, Secret as WitSecret, SecretHistory, SecretMetadata, VersionInfo,
    VersionState, VersionedSecret,
};
