//! Hostile test flavor `hostile_storage_flood`.
//!
//! Every `register-secret` writes 256 KiB values under new keys
//! `flood/0`, `flood/1`, ... until `storage::set` fails, then returns that
//! exact error. Every other operation is honest (the `honest` crate).
//!
//! Host: must refuse the write past the manager's quota (16 MiB / 10,000
//! keys by default) with `denied`, and roll back every write of the failed
//! call, so no `flood/*` key survives.

use honest::{Error, Secret, storage};

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

impl honest::Flavor for HostileStorageFlood {
    const NAME: &'static str = "hostile_storage_flood";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every register-secret fills storage past its quota.";

    fn register_secret(_secret: Secret) -> Result<(), Error> {
        Err(flood())
    }
}

honest::export_flavor!(HostileStorageFlood);
