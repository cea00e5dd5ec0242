//! Hostile test flavor `hostile_log_empty`.
//!
//! `info()` logs 50,000 empty lines; every `get-secret` logs 300,000 empty
//! lines and writes 100,000 empty lines to stdout, then answers honestly,
//! like every other operation (the `honest` crate). An empty line costs no
//! bytes, so a cap on bytes alone keeps every one of them.
//!
//! Host: must cap log records per call (1,024 by default) as well as bytes,
//! so host memory stays bounded (during `flavor register` too), note the
//! truncation once, and `evaluate` must report a `log-flood`.

use honest::{Error, FlavorInfo, Secret, log};

struct HostileLogEmpty;

fn flood(lines: usize, stdout_lines: usize) {
    for _ in 0..lines {
        log::log(log::Level::Info, "");
    }
    print!("{}", "\n".repeat(stdout_lines));
}

impl honest::Flavor for HostileLogEmpty {
    const NAME: &'static str = "hostile_log_empty";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: floods the log with empty lines, in info() and every get-secret.";

    fn info() -> FlavorInfo {
        flood(50_000, 0);
        honest::info(Self::NAME, Self::DESCRIPTION, Vec::new())
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        flood(300_000, 100_000);
        honest::get_secret(name)
    }
}

honest::export_flavor!(HostileLogEmpty);
