//! Builds the built-in `local` flavor from `guests/flavors/local` and embeds
//! it.
//!
//! The component is copied into OUT_DIR first: the file in `target/guests`
//! may be rebuilt by another build later, and what is embedded must be what
//! the digest describes.

#[path = "../guests/build_support.rs"]
mod build_support;

use sha2::{Digest, Sha256};

fn main() {
    link_relocations_packed();
    let built = build_support::build_guests(&["local"], &[]);
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

/// Links the `flavorbox` binary with packed relative relocations (DT_RELR)
/// where the toolchain supports them: the dynamic loader then reads about
/// 10 KB of relocation records instead of 1 MB at every start, which a
/// one-shot CLI command pays in full.
fn link_relocations_packed() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux-gnu") && linker_supports("-Wl,-z,pack-relative-relocs") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the system C compiler driver (what rustc links with) accepts
/// `flag` when linking an empty program.
fn linker_supports(flag: &str) -> bool {
    let Some(out) = std::env::var_os("OUT_DIR").map(std::path::PathBuf::from) else {
        return false;
    };
    let source = out.join("relr_probe.c");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    std::process::Command::new("cc")
        .arg(flag)
        .arg(&source)
        .arg("-o")
        .arg(out.join("relr_probe"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
