//! What a home has registered: flavors (the built-in `local`, the flavors
//! bundled with the binary, and every component an operator registered) and
//! user schemas beside the built-in ones.
//!
//! Registration is where untrusted input is judged before anything is
//! stored; see each module.

mod builtin;
mod bundled;
mod change;
mod flavors;
mod judge;
mod options;
mod runnable;
mod schemas;

pub use builtin::{
    BUILTIN_NAMES, BUNDLED, EmbeddedFlavor, LOCAL, LOCAL_DIGEST, LOCAL_WASM, ReservedName, bundled,
    is_embedded, local_policy, local_source, reserved_name,
};
pub use bundled::BundledUpgrade;
pub use change::FlavorChange;
pub use flavors::{FlavorEntry, Flavors};
pub use judge::{Registered, Replaced};
pub use options::RegisterOptions;
pub use runnable::Runnable;
pub use schemas::Schemas;
