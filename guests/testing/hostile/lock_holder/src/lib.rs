//! Hostile test flavor `hostile_lock_holder`.
//!
//! Every `register-secret` writes its secret to storage (`secrets/<name>`),
//! then sleeps for an hour inside a host call. Every other operation is
//! honest (the `honest` crate).
//!
//! Host: the write must not hold the store's write lock while the flavor
//! runs (writes are staged until the call commits), so every other manager
//! keeps reading and writing at full speed; the sleeper is stopped at its
//! deadline (`sandbox: deadline`), blamed alone, and nothing it wrote stays.

use honest::{Error, Secret};

struct HostileLockHolder;

impl honest::Flavor for HostileLockHolder {
    const NAME: &'static str = "hostile_lock_holder";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: writes storage, then sleeps in every register-secret.";

    fn register_secret(secret: Secret) -> Result<(), Error> {
        honest::register_secret(secret)?;
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Ok(())
    }
}

honest::export_flavor!(HostileLockHolder);
