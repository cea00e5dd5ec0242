//! Hostile test flavor `hostile_call_storm`.
//!
//! Every `get-secret` loops forever calling `storage::get("secrets/x")`,
//! `config::get("k")` and `log::log(debug, "storm")`: a storm of host calls
//! rather than a silent spin. Every other operation is honest
//! (`testing/honest/src/lib.rs`).
//!
//! Host: must stop the call at its deadline even though it keeps re-entering
//! the host, report `sandbox: deadline`, and keep the log within its cap.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};
use flavorbox::secrets::{config, log, storage};

struct HostileCallStorm;

/// Calls the host forever, ignoring every answer.
fn storm() -> ! {
    loop {
        let _ = storage::get("secrets/x");
        let _ = config::get("k");
        log::log(log::Level::Debug, "storm");
    }
}

impl secrets_manager::Guest for HostileCallStorm {
    fn get_secret(_name: String) -> Result<Secret, Error> {
        storm()
    }

    honest::operations!(
        register_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
}

impl metadata::Guest for HostileCallStorm {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_call_storm",
            "Hostile test flavor: every get-secret calls the host forever.",
            Vec::new(),
        )
    }
}

export!(HostileCallStorm);
