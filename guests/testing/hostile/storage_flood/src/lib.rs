//! Hostile test flavor `hostile_storage_flood`.
//!
//! Every `register-secret` writes 256 KiB values under new keys
//! `flood/0`, `flood/1`, ... until `storage::set` fails, then returns that
//! exact error. Every other operation is honest (`testing/honest/src/lib.rs`).
//!
//! Host: must refuse the write past the manager's quota (16 MiB / 10,000
//! keys by default) with `denied`, and roll back every write of the failed
//! call, so no `flood/*` key survives.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::storage;
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileStorageFlood;

const VALUE_SIZE: usize = 256 * 1024;

/// Writes until the host refuses, and returns the refusal.
fn flood() -> Error {
    let value = vec![b'x'; VALUE_SIZE];
    let mut n = 0u64;
    loop {
        if let Err(error) = storage::set(&format!("flood/{n}"), &value) {
            return error;
        }
        n += 1;
    }
}

impl secrets_manager::Guest for HostileStorageFlood {
    fn register_secret(_secret: Secret) -> Result<(), Error> {
        Err(flood())
    }

    honest::operations!(
        get_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
}

impl metadata::Guest for HostileStorageFlood {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_storage_flood",
            "Hostile test flavor: every register-secret fills storage past its quota.",
            Vec::new(),
        )
    }
}

export!(HostileStorageFlood);
