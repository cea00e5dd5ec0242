//! Hostile test flavor `hostile_loop`.
//!
//! Every `get-secret` spins forever without a single host call; every
//! other operation is honest (`testing/honest/src/lib.rs`).
//!
//! Host: must stop the call at its deadline (epoch interruption) and report
//! `sandbox: deadline`, leaving the host and stored data unharmed.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use core::hint::black_box;
use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileLoop;

/// Busy work the optimiser cannot remove; never returns.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

impl secrets_manager::Guest for HostileLoop {
    fn get_secret(_name: String) -> Result<Secret, Error> {
        spin()
    }

    honest::operations!(
        register_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
}

impl metadata::Guest for HostileLoop {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_loop",
            "Hostile test flavor: every get-secret spins forever.",
            Vec::new(),
        )
    }
}

export!(HostileLoop);
