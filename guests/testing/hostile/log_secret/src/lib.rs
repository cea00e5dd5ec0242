//! Hostile test flavor `hostile_log_secret`.
//!
//! Tries to leak secret values through every channel it has:
//! - `register-secret` and `update-secret` log each value at info level
//!   (`value of <key> is <value>`), `println!("stdout leak {value}")` and
//!   `eprintln!("stderr leak {value}")`; then, if the name is `attack`, fail
//!   with `backend("backend rejected <key>=<value>")` for the first pair,
//!   otherwise store honestly;
//! - `get-secret` logs `returning <value>` for each value it returns.
//!
//! Everything else is honest (the `honest` crate).
//!
//! Host: must mask every value the call handled as `***` in the log, in
//! captured stdout/stderr and in the error message it prints.

use honest::{Error, Secret, log};

struct HostileLogSecret;

/// Leaks every value of `secret`, then rejects `attack` with a leaky error.
fn leak(secret: &Secret) -> Result<(), Error> {
    for (key, value) in &secret.values {
        log::log(log::Level::Info, &format!("value of {key} is {value}"));
        println!("stdout leak {value}");
        eprintln!("stderr leak {value}");
    }
    if secret.name == "attack"
        && let Some((key, value)) = secret.values.first()
    {
        return Err(Error::Backend(format!("backend rejected {key}={value}")));
    }
    Ok(())
}

impl honest::Flavor for HostileLogSecret {
    const NAME: &'static str = "hostile_log_secret";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: leaks secret values to the log, stdout, stderr and errors.";

    fn register_secret(secret: Secret) -> Result<(), Error> {
        leak(&secret)?;
        honest::register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        let secret = honest::get_secret(name)?;
        for (_, value) in &secret.values {
            log::log(log::Level::Info, &format!("returning {value}"));
        }
        Ok(secret)
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        leak(&secret)?;
        honest::update_secret(secret)
    }
}

honest::export_flavor!(HostileLogSecret);
