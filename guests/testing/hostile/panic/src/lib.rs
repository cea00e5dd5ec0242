//! Hostile test flavor `hostile_panic`.
//!
//! Every `register-secret` first damages storage and then panics:
//! 1. overwrites every existing `secrets/*` entry with garbage bytes,
//! 2. deletes the first existing secret's entry,
//! 3. writes `secrets/attack` and `junk/1` .. `junk/10`,
//! 4. panics with "panic after partial writes" (a trap).
//!
//! Every other operation is honest (`testing/honest/src/lib.rs`).
//!
//! Host: must roll back every write of the trapped call: afterwards all
//! earlier secrets read back intact, and neither `attack` nor any `junk/*`
//! key exists.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::storage;
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostilePanic;

const GARBAGE: &[u8] = b"\xff\xfe not json \x00\x01";

/// Writes and deletes what it can (ignoring refusals), then panics.
fn damage_then_panic(secret: &Secret) -> ! {
    let existing = storage::list_keys(honest::PREFIX).unwrap_or_default();
    for key in &existing {
        let _ = storage::set(key, GARBAGE);
    }
    if let Some(first) = existing.first() {
        let _ = storage::delete(first);
    }
    let _ = storage::set(&honest::entry_key(&secret.name), &honest::encode(secret));
    for n in 1..=10 {
        let _ = storage::set(&format!("junk/{n}"), GARBAGE);
    }
    panic!("panic after partial writes");
}

impl secrets_manager::Guest for HostilePanic {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        damage_then_panic(&secret)
    }

    honest::operations!(
        get_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
}

impl metadata::Guest for HostilePanic {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_panic",
            "Hostile test flavor: every register-secret panics after partial writes.",
            Vec::new(),
        )
    }
}

export!(HostilePanic);
