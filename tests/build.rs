//! Builds every guest in `guests/` once per change and tells the tests
//! where each component is (`guests.rs` in OUT_DIR). `local` is left to the
//! runtime's build, which embeds it; tests take it from there.

#[path = "../guests/build_support.rs"]
mod build_support;

fn main() {
    let built = build_support::build_guests(&[], &["local"]);
    let mut code = String::from(
        "/// Path of the component built from guest crate `name` (dashed).\n\
         pub fn guest_path(name: &str) -> &'static str {\n    match name {\n",
    );
    for (name, path) in &built {
        code.push_str(&format!(
            "        {name:?} => {:?},\n",
            path.display().to_string()
        ));
    }
    code.push_str("        other => panic!(\"no guest component named `{other}`\"),\n    }\n}\n");
    code.push_str("\n/// Every guest component's name.\npub const GUESTS: &[&str] = &[");
    for name in built.keys() {
        code.push_str(&format!("{name:?}, "));
    }
    code.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
    std::fs::write(out.join("guests.rs"), code).expect("write guests.rs");
}
