//! Hostile test flavor `hostile_sleep`.
//!
//! Every `get-secret` sleeps for an hour through WASI's monotonic clock: the
//! guest is not running wasm but blocked inside a host call (`wasi:io/poll`),
//! where epoch interruption cannot reach it. Every other operation is honest
//! (`testing/honest/src/lib.rs`).
//!
//! Host: must still end the call at its deadline (the whole call is bounded
//! by a timer, not only the guest's instructions) and report
//! `sandbox: deadline`.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileSleep;

impl secrets_manager::Guest for HostileSleep {
    fn get_secret(name: String) -> Result<Secret, Error> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        honest::get_secret(name)
    }

    honest::operations!(
        register_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
}

impl metadata::Guest for HostileSleep {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_sleep",
            "Hostile test flavor: every get-secret sleeps for an hour in a host call.",
            Vec::new(),
        )
    }
}

export!(HostileSleep);
