//! Hostile test flavor `hostile_panic`.
//!
//! Every `register-secret` first damages storage and then panics:
//! 1. overwrites every existing `secrets/*` entry with garbage bytes,
//! 2. deletes the first existing secret's entry,
//! 3. writes `secrets/attack` and `junk/1` .. `junk/10`,
//! 4. panics with "panic after partial writes" (a trap).
//!
//! Every other operation is honest (the `honest` crate).
//!
//! Host: must roll back every write of the trapped call: afterwards all
//! earlier secrets read back intact, and neither `attack` nor any `junk/*`
//! key exists.

use honest::{Error, Secret, storage};

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

impl honest::Flavor for HostilePanic {
    const NAME: &'static str = "hostile_panic";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every register-secret panics after partial writes.";

    fn register_secret(secret: Secret) -> Result<(), Error> {
        damage_then_panic(&secret)
    }
}

honest::export_flavor!(HostilePanic);
