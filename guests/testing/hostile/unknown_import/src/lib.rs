//! Hostile test flavor `hostile_unknown_import`.
//!
//! Its world (`wit/backdoor.wit`) is the flavorbox `flavor` world plus an
//! import of the made-up interface `evil:escape/backdoor`, which
//! `get-secret("attack")` calls, so the component really imports it.
//! Everything else is honest (`testing/honest/src/lib.rs`).
//!
//! Host: must refuse to register the component, with a message naming
//! `evil:escape/backdoor`; it is never instantiated.

wit_bindgen::generate!({
    path: ["../../../../wit", "wit"],
    world: "evil:escape/hostile-flavor",
    // The contract's interfaces live in another package than the world.
    generate_all,
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use evil::escape::backdoor;
use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileUnknownImport;

impl secrets_manager::Guest for HostileUnknownImport {
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

    honest::operations!(
        register_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
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
