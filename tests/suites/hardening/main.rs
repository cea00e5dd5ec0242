//! The sandbox against flavors built to exhaust, stall, leak and mislead,
//! one test per class of attack (each hostile guest's doc says what the
//! host must do), end to end through the CLI:
//!
//! - host resources (`resources.rs`): every buffer a call can fill on the
//!   host is capped, and the call stopped naming the cap (that the process
//!   then stays within the stated memory bound is `tests/suites/memory.rs`);
//!   time: the deadline covers masking and the commit, a writer holds no
//!   lock while it runs, compiling is bounded;
//! - isolation and blame (`isolation.rs`): another manager is never
//!   stalled, a breach is pinned on the flavor that committed it, a store
//!   failure is the host's and cannot be swallowed, concurrent calls stay
//!   serializable, and a compile cache others could write is refused;
//! - secrets and spoofing (`terminal.rs`): nothing reaches the terminal
//!   that should not.

mod isolation;
mod resources;
mod terminal;

use flavorbox_tests::{Guest, TestHome};

/// Registers the guest `flavor` (with `storage` and `flags`) and a manager
/// `h` on it.
fn with_guest(flavor: Guest, flags: &[&str]) -> TestHome {
    let home = TestHome::new();
    home.cli_register(flavor, "h", flags, false);
    home
}

/// Stores an honest JSON secret `name` = `{key: value}` in manager `h`'s
/// namespace, as the `honest` guests encode it.
fn store_secret(home: &TestHome, name: &str, key: &str, value: &str) {
    let entry = serde_json::json!({"schema": "arbitrary", "values": [[key, value]]});
    home.put_raw(
        "h",
        &[(&format!("secrets/{name}"), entry.to_string().as_bytes())],
    );
}
