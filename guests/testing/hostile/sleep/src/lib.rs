//! Hostile test flavor `hostile_sleep`.
//!
//! Every `get-secret` sleeps for an hour through WASI's monotonic clock: the
//! guest is not running wasm but blocked inside a host call (`wasi:io/poll`),
//! where epoch interruption cannot reach it. Every other operation is honest
//! (the `honest` crate).
//!
//! Host: must still end the call at its deadline (the whole call is bounded
//! by a timer, not only the guest's instructions) and report
//! `sandbox: deadline`.

use honest::{Error, Secret};

struct HostileSleep;

impl honest::Flavor for HostileSleep {
    const NAME: &'static str = "hostile_sleep";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every get-secret sleeps for an hour in a host call.";

    fn get_secret(name: String) -> Result<Secret, Error> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        honest::get_secret(name)
    }
}

honest::export_flavor!(HostileSleep);
