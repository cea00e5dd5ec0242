//! Hostile test flavor `hostile_call_storm`.
//!
//! Every `get-secret` loops forever calling `storage::get("secrets/x")`,
//! `config::get("k")` and `log::log(debug, "storm")`: a storm of host calls
//! rather than a silent spin. Every other operation is honest (the `honest`
//! crate).
//!
//! Host: must stop the call at its deadline even though it keeps re-entering
//! the host, report `sandbox: deadline`, and keep the log within its cap.

use honest::{Error, Secret, config, log, storage};

struct HostileCallStorm;

/// Calls the host forever, ignoring every answer.
fn storm() -> ! {
    loop {
        let _ = storage::get("secrets/x");
        let _ = config::get("k");
        log::log(log::Level::Debug, "storm");
    }
}

impl honest::Flavor for HostileCallStorm {
    const NAME: &'static str = "hostile_call_storm";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every get-secret calls the host forever.";

    fn get_secret(_name: String) -> Result<Secret, Error> {
        storm()
    }
}

honest::export_flavor!(HostileCallStorm);
