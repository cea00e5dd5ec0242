//! Links the `local` flavor with 33 wasm pages (2.1 MB) of initial linear
//! memory instead of the linker's default (the 1 MiB stack plus data).
//!
//! Every call runs in a fresh instance, so with the default the allocator's
//! first request of every call grew the memory, and each growth costs the
//! host two `mprotect`s (expose the pages, hide them again when the slot is
//! recycled): about a quarter of a `get-secret`. Pages that are never
//! touched cost nothing, so starting larger is free.
//!
//! Only for wasm: the native build of the unit tests links with the host's
//! linker, which knows no such flag.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=--initial-memory=2162688");
    }
}
