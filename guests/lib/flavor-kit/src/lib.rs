//! What the HTTP flavors share, for any flavor that talks to a secrets
//! backend over `wasi:http`: the bindings of the `flavor` world, and the
//! pieces every such flavor needs and must get right the same way.
//!
//! * [`errors`]: the contract's error kinds, HTTP statuses and transport
//!   failures mapped onto them, messages rewritten without losing the kind.
//! * [`settings`]: reading and checking the manager's configuration.
//! * [`names`]: flavorbox secret names.
//! * [`zenml`]: ZenML's key-value-plus-schema layout of a secret.
//! * [`http`]: one JSON call over `wasi:http`, bounded and logged safely.
//! * [`bulk`]: paged listings and `delete-all-secrets`.
//! * [`tokens`]: bearer tokens cached in the manager's storage.
//!
//! It knows no backend: every backend name, error table, URL and credential
//! stays in the flavor.
//!
//! wit-bindgen's bindings are per crate, so this crate generates them once;
//! a flavor generates none of its own. It implements the generated `Guest`
//! traits and exports them with [`export_flavor!`]:
//!
//! ```ignore
//! use flavor_kit::exports::flavorbox::secrets::{metadata, secrets_manager};
//!
//! struct MyBackend;
//!
//! impl secrets_manager::Guest for MyBackend { /* ... */ }
//! impl metadata::Guest for MyBackend { /* ... */ }
//!
//! flavor_kit::export_flavor!(MyBackend);
//! ```

wit_bindgen::generate!({
    path: "../../../wit",
    world: "flavor",
    pub_export_macro: true,
    export_macro_name: "export_flavor",
    default_bindings_module: "flavor_kit",
});

pub mod bulk;
pub mod errors;
pub mod http;
pub mod names;
pub mod settings;
pub mod tokens;
pub mod zenml;

pub use flavorbox::secrets::types::{ConfigField, Error, FlavorInfo, Secret};
pub use flavorbox::secrets::{config, log, storage};
