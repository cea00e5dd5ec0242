//! Hostile test flavor `hostile_sleep`.
//!
//! Every `get-secret` sleeps for an hour through WASI's monotonic clock: the
//! guest is not running wasm but blocked inside a host call (`wasi:io/poll`),
//! where epoch interruption cannot reach it. Every other operation is honest
//! (`common/honest.rs`).
//!
//! Host: must still end the call at its deadline (the whole call is bounded
//! by a timer, not only the guest's instructions) and report
//! `sandbox: deadline`.

wit_bindgen::generate!({
    path: "../../wit",
    world: "flavor",
});

#[path = "../../common/honest.rs"]
mod honest;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileSleep;

impl secrets_manager::Guest for HostileSleep {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        honest::register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        honest::get_secret(name)
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        honest::get_all_secret_keys()
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        honest::update_secret(secret)
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        honest::delete_secret(name)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        honest::delete_all_secrets(force)
    }
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
