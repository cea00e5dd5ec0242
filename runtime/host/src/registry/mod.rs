//! What a home has registered: flavors (the built-in `local` plus every
//! component an operator registered) and user schemas beside the built-in
//! ones.
//!
//! Registration is where untrusted input is judged before anything is
//! stored; see each module.

mod builtin;
mod change;
mod flavors;
mod judge;
mod options;
mod runnable;
mod schemas;

pub use builtin::{
    BUILTIN_NAMES, LOCAL, LOCAL_DIGEST, LOCAL_WASM, ReservedName, SHIPPED_NAMES, local_policy,
    local_source, reserved_name,
};
pub use change::FlavorChange;
pub use flavors::{FlavorEntry, Flavors};
pub use judge::{Registered, Replaced};
pub use options::RegisterOptions;
pub use runnable::Runnable;
pub use schemas::Schemas;
