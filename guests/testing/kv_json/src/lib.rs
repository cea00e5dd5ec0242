//! Test flavor `kv_json`: a fully honest second flavor.
//!
//! Same semantics as `local`, but each secret is stored as JSON under
//! `secrets/<name>` (the `honest` crate). Every operation logs, at info
//! level, `kv_json <operation> <secret name>` (operations named as in
//! `wit/0.1/flavor.wit`; the name is left out where the operation has none),
//! followed by ` label=<label>` when the optional config field `label` is
//! set, and ` calls=<n>`, the number of operations this instance has served.
//!
//! Host: nothing to refuse; it lets tests run a second, non-`local` flavor
//! side by side with `local` and check config and log plumbing; `calls=`
//! must always be 1, as every call gets a fresh instance.

use core::sync::atomic::{AtomicU32, Ordering};
use honest::{ConfigField, Error, Flavor, FlavorInfo, Secret, config, log};

struct KvJson;

/// Operations served by this instance: state that must not survive a call.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// Logs `kv_json <operation> [<name>] [label=<label>] calls=<n>` at info level.
fn log_operation(operation: &str, name: Option<&str>) {
    let mut line = format!("kv_json {operation}");
    if let Some(name) = name {
        line.push(' ');
        line.push_str(name);
    }
    if let Some(label) = config::get("label") {
        line.push_str(" label=");
        line.push_str(&label);
    }
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    line.push_str(&format!(" calls={calls}"));
    log::log(log::Level::Info, &line);
}

impl Flavor for KvJson {
    const NAME: &'static str = "kv_json";
    const DESCRIPTION: &'static str = "Test flavor: secrets as JSON in host storage.";

    fn info() -> FlavorInfo {
        honest::info(
            Self::NAME,
            Self::DESCRIPTION,
            vec![ConfigField {
                name: "label".to_string(),
                description: "free text shown in logs".to_string(),
                required: false,
                secret: false,
            }],
        )
    }

    fn register_secret(secret: Secret) -> Result<(), Error> {
        log_operation("register-secret", Some(&secret.name));
        honest::register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        log_operation("get-secret", Some(&name));
        honest::get_secret(name)
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        log_operation("get-all-secret-keys", None);
        honest::get_all_secret_keys()
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        log_operation("update-secret", Some(&secret.name));
        honest::update_secret(secret)
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        log_operation("delete-secret", Some(&name));
        honest::delete_secret(name)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        log_operation("delete-all-secrets", None);
        honest::delete_all_secrets(force)
    }
}

honest::export_flavor!(KvJson);
