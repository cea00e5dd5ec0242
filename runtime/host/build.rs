//! Builds the built-in `local` flavor from `guests/flavors/local` and embeds
//! it.
//!
//! The component is copied into OUT_DIR first: the file in `target/guests`
//! may be rebuilt by another build later, and what is embedded must be what
//! the digest describes.

use sha2::{Digest, Sha256};

fn main() {
    let built = flavorbox_guest_build::build_guests(&["local"], &[]);
    let bytes = std::fs::read(&built["local"].wasm).expect("read the local flavor component");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
    let embedded = out.join("local.wasm");
    std::fs::write(&embedded, &bytes).expect("copy the local flavor component");
    println!(
        "cargo:rustc-env=FLAVORBOX_LOCAL_WASM={}",
        embedded.display()
    );
    println!(
        "cargo:rustc-env=FLAVORBOX_LOCAL_DIGEST=sha256:{:x}",
        Sha256::digest(&bytes)
    );
}
