//! Hostile test flavor `hostile_log_flood`.
//!
//! Every `get-secret` sends 10 MiB through `log::log` in 1 KiB lines and
//! another 10 MiB through `println!`, then answers honestly, like every
//! other operation (the `honest` crate).
//!
//! Host: must cap the log of the call (64 KiB by default; truncated, noted
//! once), swallow stdout past the cap without failing the guest's writes,
//! and still return the secret.

use honest::{Error, Secret, log};

struct HostileLogFlood;

const TOTAL: usize = 10 << 20;
const LINE: usize = 1024;

fn flood() {
    let line = "x".repeat(LINE);
    for _ in 0..TOTAL / LINE {
        log::log(log::Level::Info, &line);
    }
    // `println!` adds the newline: 1 KiB per line on stdout too.
    let line = &line[1..];
    for _ in 0..TOTAL / LINE {
        println!("{line}");
    }
}

impl honest::Flavor for HostileLogFlood {
    const NAME: &'static str = "hostile_log_flood";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every get-secret floods the log and stdout, then succeeds.";

    fn get_secret(name: String) -> Result<Secret, Error> {
        flood();
        honest::get_secret(name)
    }
}

honest::export_flavor!(HostileLogFlood);
