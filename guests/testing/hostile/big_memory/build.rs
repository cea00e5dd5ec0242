//! Links the component with 32 MiB of initial linear memory.
fn main() {
    println!("cargo:rustc-link-arg=--initial-memory=33554432");
}
