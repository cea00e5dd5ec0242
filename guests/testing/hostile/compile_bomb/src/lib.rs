//! Hostile test flavor `hostile_compile_bomb`.
//!
//! A compile bomb: `build.rs` generates one function that loads 5,000
//! values, runs 300 loops and then stores every value again, so every value
//! is live across every loop. It is only called for a name no test asks
//! for, so it never runs; but compiling it to native code takes Cranelift
//! several times the time and memory of an honest flavor (a larger one of
//! the same shape takes minutes and gigabytes). Every operation is honest
//! (the `honest` crate).
//!
//! Host: compiling at `flavor register` and `evaluate` is bounded in time
//! and memory (a child process with limits); past either bound the
//! component is refused with one line naming the bound.

use honest::{Error, Secret};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/bomb.rs"));
}

struct HostileCompileBomb;

static mut SRC: [u64; generated::VALUES] = [0; generated::VALUES];
static mut DST: [u64; generated::VALUES] = [0; generated::VALUES];

impl honest::Flavor for HostileCompileBomb {
    const NAME: &'static str = "hostile_compile_bomb";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: its native code takes too long to compile.";

    fn get_secret(name: String) -> Result<Secret, Error> {
        if name == "never-asked-for-this-name-bomb" {
            // SAFETY: guests run single-threaded; nothing else touches them.
            #[allow(static_mut_refs)]
            unsafe {
                generated::bomb(&SRC, &mut DST, name.len() as u64)
            };
        }
        honest::get_secret(name)
    }
}

honest::export_flavor!(HostileCompileBomb);
