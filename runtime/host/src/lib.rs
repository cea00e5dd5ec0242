//! flavorbox: run secrets-manager flavors as sandboxed WebAssembly components.
//!
//! The library is a stack of layers; each module imports only the layers
//! below it (`docs/architecture.md` draws them, and `tests/layers.rs` keeps
//! the promise):
//!
//! | layer | modules | what it holds |
//! |---|---|---|
//! | 1 | [`error`], [`secret`], [`schema`], [`text`], [`mask`], [`reference`](mod@reference), [`environment_names`] | leaf types, the rules every secret obeys, terminal-safe text, masking known values, `{{name.key}}` references, environment variables a secret's key may not set |
//! | 2 | [`policy`] | what an operator grants: capabilities, origins, limits, quotas |
//! | 3 | [`contract`] | the WIT bindings, the operations, checks on every answer |
//! | 4 | [`store`] | persistence of the records it is given, and namespaces |
//! | 5 | [`capabilities`] | the host side of `storage`, `http`, `config`, `log` |
//! | 6 | [`sandbox`] | engine, compile cache, one fresh instance per typed call |
//! | 7 | [`registry`] | flavors (built-in and registered) and schemas |
//! | 8 | [`managers`] | secrets managers and the secret operations through them |
//! | 9 | [`home`] | a directory: store, sandbox, registry and managers together |
//! | 10 | [`conformance`], [`evaluate`] | judging a flavor |
//! | 11 | [`serve`] | a home over HTTP: tokens, audit log, and the client |
//!
//! The `flavorbox` binary (`src/cli`) sits on top and only parses and prints.

pub mod capabilities;
pub mod conformance;
pub mod contract;
pub mod environment_names;
pub mod error;
pub mod evaluate;
pub mod home;
pub mod managers;
pub mod mask;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod sandbox;
pub mod schema;
pub mod secret;
pub mod serve;
pub mod store;
pub mod text;

pub use error::{Error, ErrorKind, Result, Violation};
pub use home::Home;
pub use secret::Secret;
