//! Links the `local` flavor with 33 wasm pages (2.1 MB) of initial linear
//! memory instead of the linker's default (the 1 MiB stack plus data).
//!
//! Every call runs in a fresh instance, so with the default the allocator's
//! first request of every call grew the memory, and each growth costs the
//! host two `mprotect`s (expose the pages, hide them again when the slot is
//! recycled): about a quarter of a `get-secret`. Pages that are never
//! touched cost nothing, so starting larger is free.

fn main() {
    println!("cargo:rustc-link-arg=--initial-memory=2162688");
}
