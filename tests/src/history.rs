//! A secret's history (contract 0.2) as the suites of every flavor keeping
//! one read and check it: through the CLI a user runs (`secret get
//! --version`, `secret history -o json`, `secret update --if-version`,
//! `secret list`) and
//! through the library's metadata.
//!
//! Guards against the suites of the `local`, `vault` and `aws` flavors each
//! checking the same promise in their own way, and drifting apart.

use std::time::Duration;

use flavorbox::sandbox::exports::GetMetadata;
use serde_json::Value;

use crate::{CliHome, TestHome};

/// The `password` of version `version` of secret `name` (the current one
/// if `None`).
#[track_caller]
pub fn password(home: &CliHome, name: &str, version: Option<&str>) -> String {
    home.secret_value(name, "password", version)
}

/// `secret history NAME -o json`.
#[track_caller]
pub fn history(home: &CliHome, name: &str) -> Value {
    home.cli(&["secret", "history", name, "--output", "json"])
        .json()
}

/// What `secret list ARGS` prints.
#[track_caller]
pub fn listed(home: &CliHome, args: &[&str]) -> String {
    let mut all = vec!["secret", "list"];
    all.extend_from_slice(args);
    home.cli(&all).ok().to_string()
}

/// The versions a history lists, each `(number, state)`.
pub fn states(history: &Value) -> Vec<(u64, String)> {
    history["versions"]
        .as_array()
        .expect("a history lists versions")
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().expect("a version number"),
                v["state"].as_str().expect("a state").to_string(),
            )
        })
        .collect()
}

/// The times a history lists, oldest version first; asserted never to
/// go backwards.
#[track_caller]
pub fn version_times(history: &Value) -> Vec<u64> {
    let times: Vec<u64> = history["versions"]
        .as_array()
        .expect("a history lists versions")
        .iter()
        .map(|v| v["created"].as_u64().expect("a version time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{history}");
    times
}

/// On secret `db` at version 1 (`password` one key): an update checked
/// against version 1 writes version 2 (`password=two`); a second one,
/// stale, is a conflict that says nothing was written, and the current
/// password stays `two`.
#[track_caller]
pub fn assert_a_stale_if_version_writes_nothing(home: &CliHome) {
    let update = |value: &str| {
        let pair = format!("password={value}");
        home.cli(&["secret", "update", "db", &pair, "--if-version", "1"])
    };
    assert_eq!(
        update("two").ok(),
        "updated secret `db` (1 key, schema arbitrary) from version 1 to version 2\n"
    );
    // Another writer read version 1 too: its write is refused.
    let stale = update("late");
    let line = stale.fails(1, "conflict");
    assert!(line.contains("is at version 2, not 1"), "{line}");
    assert!(line.contains("nothing was written"), "{line}");
    assert!(!line.contains("late"), "{line}");
    assert_eq!(password(home, "db", None), "two");
}

/// On secret `db` at version 3 (`password` one, two, three): a rollback
/// to version 1 writes its values as version 4, and every version stays.
#[track_caller]
pub fn assert_a_rollback_is_a_new_version(home: &CliHome) {
    let rolled = home.cli(&["secret", "rollback", "db", "--to", "1"]);
    assert_eq!(
        rolled.ok(),
        "rolled back secret `db` to version 1's values, as version 4\n"
    );
    assert_eq!(password(home, "db", None), "one");
    assert_eq!(password(home, "db", Some("3")), "three");
    assert_eq!(states(&history(home, "db")).len(), 4);
}

/// Runs each of `steps` (named, for the message) on secret `name` of the
/// active manager, `pause` after the one before (the backend's clock
/// granularity, so that a change can show), and asserts after each that
/// the secret's `created` stays and its `updated` never goes backwards.
/// Returns the first and the last `updated`.
#[track_caller]
pub fn assert_updated_never_goes_backwards(
    home: &TestHome,
    name: &str,
    pause: Duration,
    steps: &[(&str, &dyn Fn())],
) -> (u64, u64) {
    let metadata = || home.call(None, &GetMetadata(name)).result.unwrap();
    let first = metadata();
    let mut last = first.updated;
    for (step, run) in steps {
        std::thread::sleep(pause);
        run();
        let meta = metadata();
        assert_eq!(meta.created, first.created, "after {step}");
        assert!(
            meta.updated >= last,
            "after {step}: {} < {last}",
            meta.updated
        );
        last = meta.updated;
    }
    (first.updated, last)
}
