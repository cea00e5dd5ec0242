//! Hostile test flavor that calls itself `local`.
//!
//! Otherwise entirely honest (`common/honest.rs`): the attack is the name.
//!
//! Host: must refuse to register it, as `local` is the built-in flavor's
//! name and may not be shadowed.

wit_bindgen::generate!({
    path: "../../wit",
    world: "flavor",
});

#[path = "../../common/honest.rs"]
mod honest;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileClaimsLocal;

impl secrets_manager::Guest for HostileClaimsLocal {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        honest::register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
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

impl metadata::Guest for HostileClaimsLocal {
    fn info() -> FlavorInfo {
        honest::info(
            "local",
            "Hostile test flavor: claims the name of the built-in `local` flavor.",
            Vec::new(),
        )
    }
}

export!(HostileClaimsLocal);
