//! Builds the flavors the host library embeds (the built-in `local` and
//! the bundled `aws`, `gcp_secrets_manager` and `vault`) from
//! `guests/flavors/` and writes `embedded.rs` into OUT_DIR: two constants
//! per flavor, its bytes (`AWS_WASM`) and the digest of exactly those bytes
//! (`AWS_DIGEST`), which `registry/builtin.rs` includes.
//!
//! Each component is copied into OUT_DIR first: the file in `target/guests`
//! may be rebuilt by another build later, and what is embedded must be what
//! the digest describes.
//!
//! [`EmbeddedFlavor`]: ../src/registry/embedded.rs

use std::fmt::Write;

use flavorbox_guest_build::EMBEDDED_FLAVORS;
use sha2::{Digest, Sha256};

fn main() {
    let built = flavorbox_guest_build::build_guests(EMBEDDED_FLAVORS, &[]);
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
    let mut generated = String::new();
    for name in EMBEDDED_FLAVORS {
        let bytes = std::fs::read(&built[*name].wasm)
            .unwrap_or_else(|e| panic!("read the {name} flavor component: {e}"));
        let embedded = out.join(format!("{name}.wasm"));
        std::fs::write(&embedded, &bytes)
            .unwrap_or_else(|e| panic!("copy the {name} flavor component: {e}"));
        let constant = name.to_ascii_uppercase();
        writeln!(
            generated,
            "/// The `{name}` flavor's component, built from `guests/flavors/{name}`.\n\
             pub const {constant}_WASM: &[u8] = include_bytes!({:?});\n\
             /// `sha256:<hex>` of [`{constant}_WASM`].\n\
             pub const {constant}_DIGEST: &str = \"sha256:{:x}\";",
            embedded.display().to_string(),
            Sha256::digest(&bytes),
        )
        .expect("write to a String");
    }
    std::fs::write(out.join("embedded.rs"), generated).expect("write embedded.rs");
}
