//! `flavorbox serve`: a home's secret operations over HTTP/JSON, for clients
//! that hold a token instead of a flavor's backend credentials.
//!
//! Guards against:
//! - a caller without a valid token learning anything: every request is
//!   authenticated before its path, body or secret is looked at, and a
//!   missing, wrong, expired or revoked token is one `401` whatever it
//!   names; a valid token on another manager or with too small a role is one
//!   `403`; a peer past its failed attempts is refused (`429`) before its
//!   token is even hashed (see `tokens`);
//! - a caller exhausting the node: bodies are read only after
//!   authentication, no further than [`MAX_BODY_BYTES`] (an import's
//!   [`MAX_IMPORT_BODY_BYTES`], at most [`LARGE_BODIES`] of them at once)
//!   and within the body timeout; each call runs under its manager's sandbox limits
//!   (deadline, memory, storage quota) exactly as from the CLI, on a
//!   bounded pool of blocking threads; a client has [`HEADER_TIMEOUT`] to
//!   send its headers, and at most [`MAX_CONNECTIONS`] are served at once;
//! - one tenant degrading the others: connections per peer address,
//!   requests in flight per token and calls per secrets manager are each
//!   bounded, and a request that cannot get a call slot soon is answered
//!   `503` rather than queued without end (see `tenants`, [`ServeLimits`]);
//! - a request answered but not audited: the answer is withheld;
//! - the audit log filling the disk: refused authentications are counted
//!   per address and written once per interval, the table is pruned by age
//!   and count, the file rotated at a size (see `audit`);
//! - values leaking through the API's side channels: error bodies carry the
//!   library's error (which never holds a value) or a fixed text, a body
//!   that does not parse is reported by position only, and the audit log
//!   (`audit`) records operations and names, never values.
//!
//! Several nodes can serve one `postgres://` store: each request binds its
//! manager afresh from the shared records, every write goes through the
//! store's optimistic commit (see `store::postgres`), and an update's
//! read-merge-write holds the store's lock on that secret, so no merge is
//! lost between nodes. SIGTERM stops a node after the requests in flight.
//!
//! The parts, one concern each: `transport.rs` (listener, TLS, connection
//! limits, graceful stop), `tenants.rs` (per-tenant limits and fair call
//! slots), `auth.rs` (the token a handler receives, or the refusal,
//! audited), `audit.rs` (the audit writer: batches, refusal counts,
//! pruning) and `audit_file.rs` (its rotated file), `routes.rs` (one
//! handler per operation), `changes.rs` (the change feed's long poll),
//! `json.rs` (what the API reads and writes),
//! `metrics.rs` (what `/metrics` counts, with bounded labels), and
//! for the CLI `client.rs` (with `offline.rs`, its offline cache),
//! `tokens.rs` and `audit.rs`.

pub mod audit;
pub mod client;
pub mod offline;
pub mod tokens;

mod audit_file;
mod auth;
mod changes;
mod console;
mod json;
mod metrics;
mod routes;
mod tenants;
mod transport;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::home::Home;
use audit::{Audit, AuditOptions};
use tenants::{CallSlots, InFlight};
use tokens::FailureLimiter;

pub use console::CONSOLE_POLICY;
pub use json::{
    EXPORT_PAGE_BYTES, EXPORT_PAGE_NAMES, ExportBody, ImportBody, MAX_BODY_BYTES,
    MAX_IMPORT_BODY_BYTES, RenameBody, SecretBody, UpdateBody, ValuePairs,
};
pub use metrics::{MAX_NAMED_LABELS, MAX_REQUEST_LABEL_SETS};
pub use routes::{MAX_AUDIT_ENTRIES, READY_TIMEOUT};
pub use tenants::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_CALL_WAIT, DEFAULT_MANAGER_CALL_SLOTS, DEFAULT_PEER_CONNECTIONS,
    DEFAULT_TOKEN_REQUESTS, ServeLimits,
};
pub use transport::{DRAIN_TIMEOUT, HEADER_TIMEOUT, MAX_CONNECTIONS};

/// Threads that run calls (each blocks while its flavor runs) and the
/// store's queries; calls take at most `ServeLimits::call_slots` of them.
const CALL_THREADS: usize = 64;

/// Import requests a node reads and runs at once (each body up to
/// [`MAX_IMPORT_BODY_BYTES`]); a further one waits for a turn no longer
/// than the call wait, then is answered `503`.
pub const LARGE_BODIES: usize = 2;

/// How a node is started.
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Where the audit log goes besides the store, and how much it keeps.
    pub audit: AuditOptions,
    /// Failed authentications a peer may make per minute.
    pub auth_failures: u32,
    /// Serve HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// What one peer, token or secrets manager may hold at once.
    pub limits: ServeLimits,
}

/// What every request of a node shares.
struct Node {
    home: Home,
    limiter: FailureLimiter,
    audit: Audit,
    limits: ServeLimits,
    /// Requests in flight per token id.
    token_requests: InFlight<String>,
    calls: CallSlots,
    /// Turns to read and run an import ([`LARGE_BODIES`]).
    large_bodies: Arc<tokio::sync::Semaphore>,
    metrics: Arc<metrics::Metrics>,
}

/// Binds `options.listen` and serves `home` (over TLS if configured) until
/// the process ends; `ready` is called with the bound address once requests
/// are accepted.
pub fn run(home: Home, options: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let limits = options.limits;
    limits.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(CALL_THREADS)
        .thread_name("flavorbox-serve")
        .enable_all()
        .build()
        .map_err(|e| Error::host(format!("cannot start the server's runtime: {e}")))?;
    let audit = Audit::start(home.shared_access(), &options.audit)?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(transport::tls_config(cert, key)?),
        None => None,
    };
    let node = Arc::new(Node {
        home,
        limiter: FailureLimiter::new(options.auth_failures),
        audit,
        limits,
        token_requests: InFlight::new(limits.token_requests),
        calls: CallSlots::new(&limits),
        large_bodies: Arc::new(tokio::sync::Semaphore::new(LARGE_BODIES)),
        metrics: Arc::new(metrics::Metrics::new()),
    });
    // The node (its sandbox owns a runtime of its own) is dropped last,
    // outside any runtime: dropping a runtime inside one panics.
    let kept = node.clone();
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| Error::invalid(format!("cannot listen on {}: {e}", options.listen)))?;
        let addr = listener.local_addr().map_err(Error::host)?;
        ready(addr);
        let peers = InFlight::new(limits.peer_connections);
        transport::serve_connections(listener, routes::router(node), tls, peers).await
    });
    // Calls outliving the drain are not waited for again.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    // The refusals counted since the last interval are written now.
    kept.audit.finish();
    drop(kept);
    served
}

/// Runs `work` on a blocking thread (calls block while their flavor runs).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::host(format!("a request's worker failed: {e}")))?
}

/// A byte stream a connection runs over: TCP, or TLS over TCP.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}
