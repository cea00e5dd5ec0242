//! Hostile test flavor `hostile_big_memory`.
//!
//! An honest flavor (the `honest` crate) linked with 32 MiB of initial
//! linear memory (`build.rs` passes `--initial-memory`): a memory it asks
//! for when it is instantiated, before any of its code runs.
//!
//! Host: registered with `--memory 16`, every call fails to instantiate
//! within the cap, which is the flavor's fault: `sandbox: memory`, exit 3,
//! never a failure of the host.

struct Hostile;

impl honest::Flavor for Hostile {
    const NAME: &'static str = "hostile_big_memory";
    const DESCRIPTION: &'static str = "Hostile test flavor: a 32 MiB initial linear memory.";
}

honest::export_flavor!(Hostile);
