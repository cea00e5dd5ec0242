//! Host bindings for the `flavorbox:secrets/flavor` world, generated from
//! `wit/` (the single source of truth of the contract).
//!
//! Imports are synchronous: every host function runs to completion on the
//! calling thread while the guest waits, and none of them can trap; what the
//! guest may see of a failure is its `result<_, error>`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "flavor",
});

pub use flavorbox::secrets::types::{
    ConfigField, Error as WitError, FlavorInfo, Secret as WitSecret,
};
