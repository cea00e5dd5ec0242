//! Hostile test flavor `hostile_slow`.
//!
//! Every operation (not `info()`) sleeps 400 ms, then answers honestly (the
//! `honest` crate): just under a 500 ms deadline, so no call breaches it.
//! It declares `http` besides `storage` (and never uses it) so that it can
//! be granted `http`, which makes the host drive its `delete-all` one
//! secret at a time, as it does for a remote backend.
//!
//! Host: `evaluate` runs hundreds of calls; it must still end within its
//! budget, report the checks it did not run as skipped, and report the
//! spent budget and the slow operations as findings (verdict FAIL).

use honest::{Error, FlavorInfo, Secret};

struct HostileSlow;

fn nap() {
    std::thread::sleep(std::time::Duration::from_millis(400));
}

impl honest::Flavor for HostileSlow {
    const NAME: &'static str = "hostile_slow";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every operation sleeps 400 ms, just under a short deadline.";

    fn info() -> FlavorInfo {
        let mut info = honest::info(Self::NAME, Self::DESCRIPTION, Vec::new());
        info.capabilities.push("http".to_string());
        info
    }

    fn register_secret(secret: Secret) -> Result<(), Error> {
        nap();
        honest::register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        nap();
        honest::get_secret(name)
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        nap();
        honest::get_all_secret_keys()
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        nap();
        honest::update_secret(secret)
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        nap();
        honest::delete_secret(name)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        nap();
        honest::delete_all_secrets(force)
    }
}

honest::export_flavor!(HostileSlow);
