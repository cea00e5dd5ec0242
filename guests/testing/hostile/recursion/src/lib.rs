//! Hostile test flavor `hostile_recursion`.
//!
//! Every `get-secret` recurses without bound, each frame holding a stack
//! buffer passed through `black_box`, so the recursion is neither turned into
//! a loop nor optimised away: the stack overflows and the guest traps. Every
//! other operation is honest (the `honest` crate).
//!
//! Host: must turn the overflow into a trap of this call only (`sandbox:`
//! error, exit code 3), never a crash of the host process.

use core::hint::black_box;
use honest::{Error, Secret};

struct HostileRecursion;

/// Recurses until the stack runs out (`depth` never reaches `u64::MAX`).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut buffer = [0u8; 64];
    buffer[0] = depth as u8;
    black_box(&mut buffer);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(u64::from(buffer[1]))
}

impl honest::Flavor for HostileRecursion {
    const NAME: &'static str = "hostile_recursion";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every get-secret recurses until the stack overflows.";

    fn get_secret(_name: String) -> Result<Secret, Error> {
        let depth = recurse(0);
        Err(Error::Backend(format!("recursion returned at {depth}")))
    }
}

honest::export_flavor!(HostileRecursion);
