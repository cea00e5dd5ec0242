//! Host bindings for the `flavorbox:secrets/flavor` world, generated from
//! `wit/` (the single source of truth of the contract).
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
