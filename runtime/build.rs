//! Builds the built-in `local` flavor from `guests/local` and embeds it.

#[path = "../guests/build_support.rs"]
mod build_support;

use sha2::{Digest, Sha256};

fn main() {
    let built = build_support::build_guests(&["local"]);
    let local = &built["local"];
    let bytes = std::fs::read(local).expect("read the local flavor component");
    println!("cargo:rustc-env=FLAVORBOX_LOCAL_WASM={}", local.display());
    println!(
        "cargo:rustc-env=FLAVORBOX_LOCAL_DIGEST=sha256:{:x}",
        Sha256::digest(&bytes)
    );
}
