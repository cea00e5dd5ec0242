//! flavorbox: run secrets-manager flavors as sandboxed WebAssembly components.
//!
//! Data flows one way: CLI → [`Home`] (managers, flavors, schemas) →
//! [`sandbox`] → the flavor's instance → [`capabilities`] → the [`store`] or
//! the network. See `SPEC.md` for the product contract.

pub mod bindings;
pub mod capabilities;
pub mod conformance;
pub mod contract;
pub mod error;
pub mod evaluate;
pub mod flavors;
pub mod home;
pub mod manager;
pub mod sandbox;
pub mod schema;
pub mod secret;
pub mod store;

pub use error::{Error, Result, Violation};
pub use home::Home;
pub use secret::Secret;
