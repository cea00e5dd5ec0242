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
//! * [`labels`]: contract 0.2's labels on a backend's own key-value
//!   metadata.
//! * [`tokens`]: bearer tokens cached in the manager's storage.
//! * [`manager`]: the contract's operations on one backend, exported.
//! * [`v0_2`]: contract 0.2's bindings and conversions, generated in a
//!   flavor ([`contract_0_2!`]).
//!
//! It knows no backend: every backend name, error table, URL and credential
//! stays in the flavor.
//!
//! Guards against: flavors getting the same thing subtly different (one
//! that maps a status to another kind, leaks a value in a message, loops
//! on a listing or takes a blank config value for a given one); each
//! module's own comment says what it guards against in particular.
//!
//! wit-bindgen's bindings are per crate, so this crate generates them once;
//! a flavor generates none of its own. It implements [`manager::Manager`]
//! and exports it with [`export_manager!`]:
//!
//! ```ignore
//! use flavor_kit::manager::Manager;
//!
//! struct MyBackend { /* the checked configuration */ }
//!
//! impl Manager for MyBackend {
//!     const ABOUT: flavor_kit::settings::About = /* name, config keys, ... */;
//!     type Listed = ();
//!     fn from_config() -> Result<Self, flavor_kit::Error> { /* ... */ }
//!     /* register_secret, get_secret, update_secret, delete_secret, list,
//!        delete_listed */
//! }
//!
//! flavor_kit::export_manager!(MyBackend);
//! ```
//!
//! A flavor that needs the generated `Guest` traits themselves implements
//! them and exports with [`export_flavor!`] instead.

wit_bindgen::generate!({
    path: "../../../wit/0.1",
    world: "flavor",
    pub_export_macro: true,
    export_macro_name: "export_flavor",
    default_bindings_module: "flavor_kit",
});

pub mod bulk;
pub mod clock;
pub mod errors;
pub mod http;
pub mod labels;
pub mod manager;
pub mod names;
pub mod settings;
pub mod tokens;
pub mod v0_2;
pub mod zenml;

pub use flavorbox::secrets::types::{ConfigField, Error, FlavorInfo, Secret};
pub use flavorbox::secrets::{config, log, storage};
