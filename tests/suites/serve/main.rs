//! `flavorbox serve` on a real PostgreSQL (a throwaway cluster this binary
//! starts, `flavorbox_tests::postgres`): the PostgreSQL store under the
//! conformance suite (the store's own rules, on both backends, are the
//! store suite's), the HTTP API and the CLI's
//! client mode, every role against every operation, two nodes on one
//! database, 100 concurrent updates of one secret spread over two nodes,
//! and a node killed with SIGKILL in the middle of writes.
//!
//! `store.rs`: the PostgreSQL store; `api.rs`: the HTTP API, roles and the
//! CLI's client mode; `nodes.rs`: nodes under concurrency, kills, TLS and
//! stops; `rules.rs`: one table of bad inputs refused alike by the CLI and
//! the API; `tokens.rs`: tokens bound to their manager, revoked with it,
//! and `403`s audited with their token; `tenants.rs`: one manager, token or
//! address degrading no other (fair call slots, body timeout, connections
//! per address); `audit.rs`: the audit log bounded against a client
//! without a token (refusals counted per address), pruned, rotated, and
//! its hash chain verified; `watch.rs`: what an operator watches
//! (`/metrics`, `/v1/ready` apart from `/v1/health`, the JSON error body of
//! every refusal, `whoami`); `follow.rs`: the change feed, `run --watch`
//! across nodes and the client's offline cache; `history.rs`: versions,
//! rollback, restore, labels and `If-Match` over HTTP; `kubernetes.rs`: the
//! manifests of `docs/kubernetes.md` (External Secrets Operator's webhook
//! exchange, the node's Deployment and the `flavorbox run` entry point)
//! against nodes.

mod api;
mod audit;
mod client_ops;
mod client_transfer;
mod follow;
mod history;
mod kubernetes;
mod nodes;
mod rules;
mod store;
mod tenants;
mod tokens;
mod watch;

use flavorbox_tests::serve_node::Node;
use flavorbox_tests::{Guest, Run, run_cli};

/// The master key every node and client of one PostgreSQL store shares (a
/// store is sealed under one key; a node with another is refused).
const SHARED_KEY: &str = "7f3c1a9e5b2d48f06c1e9a7b3d5f2c8e0a4b6d8f1c3e5a7b9d0f2e4c6a8b0d1e";

/// A private home directory holding the shared master key (0600: a key
/// file others may read is refused).
fn keyed_home() -> tempfile::TempDir {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(home.path().join("master.key"))
        .and_then(|mut file| file.write_all(SHARED_KEY.as_bytes()))
        .unwrap();
    home
}

/// A `flavorbox serve` node on `store`, in a home with the shared key.
fn start(store: &str) -> Node {
    start_with(store, &[])
}

/// [`start`] with extra `serve` flags.
fn start_with(store: &str, flags: &[&str]) -> Node {
    Node::start(keyed_home(), Some(store), flags)
}

/// A new database on the shared cluster with a second secrets manager,
/// `manager`, on `local` besides `default`; its URL.
fn database_with_manager(manager: &str) -> String {
    let url = flavorbox_tests::postgres::Postgres::shared().database();
    let register = ["secrets-manager", "register", manager, "--flavor", "local"];
    cli_on(&url, &register).ok();
    url
}

/// Creates a token with the CLI on `store`.
fn token(store: &str, manager: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", "--manager", manager, "--role", role];
    args.extend_from_slice(extra);
    cli_on(store, &args).ok().trim().to_string()
}

/// The CLI on `store`, from a home with the shared key.
fn cli_on(store: &str, args: &[&str]) -> Run {
    cli_fed(store, args, None)
}

/// [`cli_on`], fed `stdin`.
fn cli_fed(store: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let home = keyed_home();
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    run_cli(Some(home.path()), &all, stdin)
}

/// Registers `guest` on `store` with the `storage` grant and `flags`, and
/// the secrets manager `manager` on it.
fn register_on(store: &str, guest: Guest, manager: &str, flags: &[&str]) {
    let wasm = guest.arg();
    let mut args = vec!["flavor", "register", wasm.as_str(), "--grant", "storage"];
    args.extend_from_slice(flags);
    cli_on(store, &args).ok();
    cli_on(
        store,
        &[
            "secrets-manager",
            "register",
            manager,
            "--flavor",
            guest.name(),
        ],
    )
    .ok();
}
