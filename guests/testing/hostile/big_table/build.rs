//! Links the component's function table at index 5,000,000, so its table
//! has at least that many elements.
fn main() {
    println!("cargo:rustc-link-arg=--table-base=5000000");
}
