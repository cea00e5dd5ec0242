//! Hostile test flavor `hostile_memory`.
//!
//! Every `get-secret` allocates 1 MiB chunks, touching every page and
//! keeping them all, until an allocation fails; Rust then aborts, which is a
//! trap. Every other operation is honest (the `honest` crate).
//!
//! Host: must cap linear memory (64 MiB by default), refuse the growth past
//! it and report `sandbox: memory`, leaving the host unharmed.

use core::hint::black_box;
use honest::{Error, Secret};

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

impl honest::Flavor for HostileMemory {
    const NAME: &'static str = "hostile_memory";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every get-secret allocates until memory runs out.";

    fn get_secret(_name: String) -> Result<Secret, Error> {
        exhaust_memory()
    }
}

honest::export_flavor!(HostileMemory);
