//! Host bindings for the `flavorbox:secrets/flavor` world, generated from
//! `wit/` (the single source of truth of the contract).
//!
//! Exports are called asynchronously, so a call that blocks inside a host
//! function (a sleep, a slow HTTP peer) can still be cut off at its
//! deadline. Our own imports are synchronous: each runs to completion at
//! once, and none of them can trap; what the guest sees of a failure is its
//! `result<_, error>`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "flavor",
    exports: { default: async },
});

pub use self::flavorbox::secrets::types::{
    ConfigField, Error as WitError, FlavorInfo, Secret as WitSecret,
};
