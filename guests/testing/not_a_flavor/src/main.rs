//! Not a flavor: a plain `wasi:cli/command` component that exports `run`
//! instead of the `flavorbox:secrets/flavor` world.
//!
//! Host: must refuse to register it, naming the missing export.

fn main() {
    println!("hello");
}
