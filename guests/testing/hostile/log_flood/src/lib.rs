//! Hostile test flavor `hostile_log_flood`.
//!
//! Every `get-secret` sends 10 MiB through `log::log` in 1 KiB lines and
//! another 10 MiB through `println!`, then answers honestly, like every
//! other operation (`testing/honest/src/lib.rs`).
//!
//! Host: must cap the log of the call (64 KiB by default; truncated, noted
//! once), swallow stdout past the cap without failing the guest's writes,
//! and still return the secret.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::log;
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileLogFlood;

const TOTAL: usize = 10 << 20;
const LINE: usize = 1024;

fn flood() {
    let line = "x".repeat(LINE);
    for _ in 0..TOTAL / LINE {
        log::log(log::Level::Info, &line);
    }
    // `println!` adds the newline: 1 KiB per line on stdout too.
    let line = &line[1..];
    for _ in 0..TOTAL / LINE {
        println!("{line}");
    }
}

impl secrets_manager::Guest for HostileLogFlood {
    fn get_secret(name: String) -> Result<Secret, Error> {
        flood();
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

impl metadata::Guest for HostileLogFlood {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_log_flood",
            "Hostile test flavor: every get-secret floods the log and stdout, then succeeds.",
            Vec::new(),
        )
    }
}

export!(HostileLogFlood);
