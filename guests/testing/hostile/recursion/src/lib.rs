//! Hostile test flavor `hostile_recursion`.
//!
//! Every `get-secret` recurses without bound, each frame holding a stack
//! buffer passed through `black_box`, so the recursion is neither turned into
//! a loop nor optimised away: the stack overflows and the guest traps. Every
//! other operation is honest (`testing/honest/src/lib.rs`).
//!
//! Host: must turn the overflow into a trap of this call only (`sandbox:`
//! error, exit code 3), never a crash of the host process.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use core::hint::black_box;
use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileRecursion;

/// Recurses until the stack runs out (`depth` never reaches `u64::MAX`).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut buffer = [0u8; 64];
    buffer[0] = depth as u8;
    black_box(&mut buffer);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(u64::from(buffer[1]))
}

impl secrets_manager::Guest for HostileRecursion {
    fn get_secret(_name: String) -> Result<Secret, Error> {
        let depth = recurse(0);
        Err(Error::Backend(format!("recursion returned at {depth}")))
    }

    honest::operations!(
        register_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
}

impl metadata::Guest for HostileRecursion {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_recursion",
            "Hostile test flavor: every get-secret recurses until the stack overflows.",
            Vec::new(),
        )
    }
}

export!(HostileRecursion);
