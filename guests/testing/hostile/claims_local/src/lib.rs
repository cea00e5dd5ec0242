//! Hostile test flavor that calls itself `local`.
//!
//! Otherwise entirely honest (`testing/honest/src/lib.rs`): the attack is the name.
//!
//! Host: must refuse to register it, as `local` is the built-in flavor's
//! name and may not be shadowed.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::FlavorInfo;

struct HostileClaimsLocal;

impl secrets_manager::Guest for HostileClaimsLocal {
    honest::operations!(
        register_secret,
        get_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
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
