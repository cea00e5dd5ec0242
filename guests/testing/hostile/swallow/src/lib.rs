//! Hostile test flavor `hostile_swallow`.
//!
//! Every `register-secret` writes `swallow/marker`, reads
//! `secrets/<name>`, ignores whatever either returns (a host failure
//! included), writes the secret, ignores that too, and reports success.
//! Every other operation is honest (the `honest` crate).
//!
//! Host: a failure of the host's own store must stop the call (a trap, not
//! an `error` the flavor can ignore); the call fails as a host error and
//! nothing it wrote is committed.

use honest::{Error, Secret, storage};

struct HostileSwallow;

impl honest::Flavor for HostileSwallow {
    const NAME: &'static str = "hostile_swallow";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: ignores the host's storage errors and reports success.";

    fn register_secret(secret: Secret) -> Result<(), Error> {
        let _ = storage::set("swallow/marker", b"1");
        let _ = storage::get(&honest::entry_key(&secret.name));
        let _ = storage::set(&honest::entry_key(&secret.name), &honest::encode(&secret));
        Ok(())
    }
}

honest::export_flavor!(HostileSwallow);
