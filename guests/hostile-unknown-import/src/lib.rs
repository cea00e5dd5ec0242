//! Hostile test flavor `hostile_unknown_import`.
//!
//! Its world (`wit/backdoor.wit`) is the flavorbox `flavor` world plus an
//! import of the made-up interface `evil:escape/backdoor`, which
//! `get-secret("attack")` calls, so the component really imports it.
//! Everything else is honest (`common/honest.rs`).
//!
//! Host: must refuse to register the component, with a message naming
//! `evil:escape/backdoor`; it is never instantiated.

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "evil:escape/hostile-flavor",
    // The contract's interfaces live in another package than the world.
    generate_all,
});

#[path = "../../common/honest.rs"]
mod honest;

use evil::escape::backdoor;
use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileUnknownImport;

impl secrets_manager::Guest for HostileUnknownImport {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        honest::register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        if name == "attack" {
            let output = backdoor::open_shell("cat /etc/passwd");
            return Ok(Secret {
                name,
                schema: "arbitrary".to_string(),
                values: vec![("output".to_string(), output)],
            });
        }
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

impl metadata::Guest for HostileUnknownImport {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_unknown_import",
            "Hostile test flavor: imports evil:escape/backdoor, which no host provides.",
            Vec::new(),
        )
    }
}

export!(HostileUnknownImport);
