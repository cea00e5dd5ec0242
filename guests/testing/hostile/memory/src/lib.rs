//! Hostile test flavor `hostile_memory`.
//!
//! Every `get-secret` allocates 1 MiB chunks, touching every page and
//! keeping them all, until an allocation fails; Rust then aborts, which is a
//! trap. Every other operation is honest (`testing/honest/src/lib.rs`).
//!
//! Host: must cap linear memory (64 MiB by default), refuse the growth past
//! it and report `sandbox: memory`, leaving the host unharmed.

wit_bindgen::generate!({
    path: "../../../../wit",
    world: "flavor",
});

#[path = "../../../honest/src/lib.rs"]
mod honest;

use core::hint::black_box;
use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{Error, FlavorInfo, Secret};

struct HostileMemory;

const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;

/// Allocates until the allocator gives up (`handle_alloc_error` aborts).
fn exhaust_memory() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for offset in (0..CHUNK).step_by(PAGE) {
            chunk[offset] = 1;
        }
        chunks.push(black_box(chunk));
        black_box(&chunks);
    }
}

impl secrets_manager::Guest for HostileMemory {
    fn get_secret(_name: String) -> Result<Secret, Error> {
        exhaust_memory()
    }

    honest::operations!(
        register_secret,
        get_all_secret_keys,
        update_secret,
        delete_secret,
        delete_all_secrets
    );
}

impl metadata::Guest for HostileMemory {
    fn info() -> FlavorInfo {
        honest::info(
            "hostile_memory",
            "Hostile test flavor: every get-secret allocates until memory runs out.",
            Vec::new(),
        )
    }
}

export!(HostileMemory);
