//! Generates `bomb.rs`: one function that loads `VALUES` values (volatile
//! reads, so none can be recomputed later), runs `LOOPS` loops, then stores
//! every value (volatile writes, so none can be stored early): every value
//! is live across every loop, which is what makes register allocation
//! expensive. Sized to cost Cranelift several seconds and hundreds of MiB
//! while LLVM still builds it in seconds.

use std::fmt::Write as _;

const VALUES: usize = 5_000;
const LOOPS: usize = 300;

fn main() {
    let mut code = format!(
        "pub const VALUES: usize = {VALUES};\n\
         #[inline(never)]\n\
         pub fn bomb(src: &[u64; VALUES], dst: &mut [u64; VALUES], n: u64) {{\n"
    );
    for i in 0..VALUES {
        writeln!(
            code,
            "    let v{i} = unsafe {{ core::ptr::read_volatile(&src[{i}]) }};"
        )
        .unwrap();
    }
    for l in 0..LOOPS {
        writeln!(
            code,
            "    let mut i{l} = 0u64; while i{l} < n {{ unsafe {{ \
             core::ptr::write_volatile(&mut dst[{}], i{l}) }}; i{l} += 1; }}",
            l % VALUES
        )
        .unwrap();
    }
    for i in 0..VALUES {
        writeln!(
            code,
            "    unsafe {{ core::ptr::write_volatile(&mut dst[{i}], v{i}) }};"
        )
        .unwrap();
    }
    code.push_str("}\n");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
    std::fs::write(out.join("bomb.rs"), code).expect("write bomb.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
