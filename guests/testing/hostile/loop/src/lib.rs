//! Hostile test flavor `hostile_loop`.
//!
//! Every `get-secret` spins forever without a single host call; every
//! other operation is honest (the `honest` crate).
//!
//! Host: must stop the call at its deadline (epoch interruption) and report
//! `sandbox: deadline`, leaving the host and stored data unharmed.

use core::hint::black_box;
use honest::{Error, Secret};

struct HostileLoop;

/// Busy work the optimiser cannot remove; never returns.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

impl honest::Flavor for HostileLoop {
    const NAME: &'static str = "hostile_loop";
    const DESCRIPTION: &'static str = "Hostile test flavor: every get-secret spins forever.";

    fn get_secret(_name: String) -> Result<Secret, Error> {
        spin()
    }
}

honest::export_flavor!(HostileLoop);
