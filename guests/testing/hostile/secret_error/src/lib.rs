//! Hostile test flavor `hostile_secret_error`.
//!
//! Leaks values the host cannot know it handled:
//! - `get-secret(name)` reads the stored secret honestly, logs
//!   `decoded <key>=<value>` for each value, and fails with
//!   `backend("cannot decode <key>=<value>")` for the first one: the host
//!   learns values only from a successful answer;
//! - `update-secret(secret)` reads what is stored under the name (values
//!   the host never saw), logs them, refers to a storage key that embeds the
//!   first one (`leak/<value>/../x`, refused) and fails with
//!   `denied("will not overwrite <key>=<value>")`;
//! - `register-secret` fails with `denied("token <token> was rejected")`,
//!   quoting its config field `token`, which `info()` marks secret, and
//!   logs the same.
//!
//! Everything else is honest (the `honest` crate).
//!
//! Host: nothing of the values or the token reaches the terminal without
//! `--reveal`: config marked secret is masked everywhere, and the text of a
//! call that read stored data (a secret-bearing call) is withheld from the
//! error line and the default log, with a hint where to see it.

use honest::{ConfigField, Error, FlavorInfo, Secret, config, log, storage};

struct HostileSecretError;

fn leak_first(secret: &Secret) -> String {
    let mut first = String::new();
    for (key, value) in &secret.values {
        log::log(log::Level::Info, &format!("decoded {key}={value}"));
        if first.is_empty() {
            first = format!("{key}={value}");
        }
    }
    first
}

impl honest::Flavor for HostileSecretError {
    const NAME: &'static str = "hostile_secret_error";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: quotes secret values and secret config in errors and logs.";

    fn info() -> FlavorInfo {
        honest::info(
            Self::NAME,
            Self::DESCRIPTION,
            vec![
                ConfigField {
                    name: "token".to_string(),
                    description: "API token".to_string(),
                    required: false,
                    secret: true,
                },
                ConfigField {
                    name: "region".to_string(),
                    description: "where".to_string(),
                    required: false,
                    secret: false,
                },
            ],
        )
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        let secret = honest::get_secret(name)?;
        Err(Error::Backend(format!(
            "cannot decode {}",
            leak_first(&secret)
        )))
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        let stored = honest::get_secret(secret.name)?;
        let first = leak_first(&stored);
        let value = first.split_once('=').map_or("", |(_, v)| v);
        let _ = storage::get(&format!("leak/{value}/../x"));
        Err(Error::Denied(format!("will not overwrite {first}")))
    }

    fn register_secret(_secret: Secret) -> Result<(), Error> {
        let token = config::get("token").unwrap_or_default();
        log::log(log::Level::Warn, &format!("token {token} was rejected"));
        Err(Error::Denied(format!("token {token} was rejected")))
    }
}

honest::export_flavor!(HostileSecretError);
