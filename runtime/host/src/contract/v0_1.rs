//! Host bindings for contract 0.1 (`flavorbox:secrets@0.1.0`, the world
//! `flavor` of `wit/0.1/`). `v0_2` is its sibling; `convert` maps both
//! onto the host's own types, so nothing else depends on a version's
//! generated types but the sandbox's dispatch (`sandbox/exports.rs`).
//!
//! Exports are called asynchronously, so a call that blocks inside a host
//! function (a sleep, a slow HTTP peer) can still be cut off at its
//! deadline. Our own imports are synchronous: each runs to completion at
//! once. What the guest sees of a refusal is its `result<_, error>`; only
//! `storage` can also trap, when the host's own store fails, so that a
//! flavor can never swallow a host failure and carry on.

wasmtime::component::bindgen!({
    path: "../../wit/0.1",
    world: "flavor",
    imports: { "flavorbox:secrets/storage": trappable },
    exports: { default: async },
});

pub use self::flavorbox::secrets::types::{
    ConfigField, Error as WitError, FlavorInfo, Secret as WitSecret,
};
