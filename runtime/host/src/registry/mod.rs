//! What a home has registered: flavors (the built-in `local` plus every
//! component an operator registered) and user schemas beside the built-in
//! ones.
//!
//! Registration is where untrusted input is judged before anything is
//! stored; see each module.

mod flavors;
mod schemas;

pub use flavors::{
    FlavorEntry, Flavors, LOCAL, LOCAL_DIGEST, LOCAL_WASM, RegisterOptions, Registered, Replaced,
    Runnable, local_policy, local_source,
};
pub use schemas::Schemas;
