//! Links the `flavorbox` binary with packed relative relocations where the
//! toolchain supports them (see [`link_relocations_packed`]).

fn main() {
    link_relocations_packed();
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
