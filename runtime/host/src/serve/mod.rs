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
//!   authentication and no further than [`MAX_BODY_BYTES`]; each call runs
//!   under its manager's sandbox limits (deadline, memory, storage quota)
//!   exactly as from the CLI, on a bounded pool of blocking threads; a
//!   client has [`HEADER_TIMEOUT`] to send its headers, and at most
//!   [`MAX_CONNECTIONS`] are served at once;
//! - a request answered but not audited: the answer is withheld;
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

pub mod audit;
pub mod client;
pub mod tokens;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, ErrorKind, Result};
use crate::home::Home;
use crate::secret::Secret;
use crate::store::{AuditEntry, Role, TokenRecord};
use audit::Audit;
use tokens::FailureLimiter;

/// The largest request body read (a secret's values are at most
/// `secret::MAX_VALUES_BYTES`; JSON escaping may grow them).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Threads that run calls (each blocks while its flavor runs).
const CALL_THREADS: usize = 64;

/// How a node is started.
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Also append every audit entry to this JSON-lines file.
    pub audit_file: Option<PathBuf>,
    /// Failed authentications a peer may make per minute.
    pub auth_failures: u32,
    /// Serve HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The TLS configuration of `cert` (a PEM chain) and `key` (a PEM private
/// key); HTTP/1.1 only.
fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let unreadable = |path: &std::path::Path, e: &dyn std::fmt::Display| {
        Error::invalid(format!("cannot read TLS file {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| unreadable(cert, &e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| unreadable(cert, &e))?;
    if certs.is_empty() {
        return Err(Error::invalid(format!(
            "TLS file {} holds no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::host)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::invalid(format!("the TLS certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How long a client may take to send a request's headers (also: how long
/// an idle keep-alive connection is kept).
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections served at once; past this, new ones wait to be accepted.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a stopping node waits for the requests in flight.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Resolves at the first SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without handlers the default action (the process ends) stands.
        _ => std::future::pending().await,
    }
}

/// Accepts connections and serves HTTP/1.1 over each on its own task (over
/// TLS if `tls` is given, the handshake on that task too, so a slow client
/// delays no other). A connection that does not send its headers within
/// [`HEADER_TIMEOUT`] is closed, and at most [`MAX_CONNECTIONS`] are open.
/// On SIGTERM or SIGINT the node stops accepting, lets the requests in
/// flight finish (closing each connection after its current request), and
/// returns once they have, or after [`DRAIN_TIMEOUT`].
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = async {
                let slot = slots.clone().acquire_owned().await;
                (slot, listener.accept().await)
            } => accepted,
        };
        let (slot, (tcp, peer)) = match accepted {
            (Ok(slot), Ok(connection)) => (slot, connection),
            (_, Err(err)) => {
                // Out of descriptors, say: wait rather than spin.
                tracing::warn!("accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
            (Err(_), _) => return Err(Error::host("the connection limit closed")),
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let mut stop_seen = stop_seen.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let app = app.layer(axum::Extension(ConnectInfo(peer)));
            let service = hyper_util::service::TowerToHyperService::new(app);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let io: Box<dyn Stream> = match acceptor {
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(tcp));
                    match handshake.await {
                        Ok(Ok(tls)) => Box::new(tls),
                        _ => return,
                    }
                }
                None => Box::new(tcp),
            };
            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stop_seen.wait_for(|stop| *stop) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds a slot until it ends.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(MAX_CONNECTIONS as u32)).await;
    Ok(())
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

struct Node {
    home: Home,
    limiter: FailureLimiter,
    audit: Audit,
}

/// Binds `options.listen` and serves `home` (over TLS if configured) until
/// the process ends; `ready` is called with the bound address once requests
/// are accepted.
pub fn run(home: Home, options: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(CALL_THREADS)
        .thread_name("flavorbox-serve")
        .enable_all()
        .build()
        .map_err(|e| Error::host(format!("cannot start the server's runtime: {e}")))?;
    let audit = Audit::start(home.shared_access(), options.audit_file.as_deref())?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls_config(cert, key)?),
        None => None,
    };
    let node = Arc::new(Node {
        home,
        limiter: FailureLimiter::new(options.auth_failures),
        audit,
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
        serve_connections(listener, router(node), tls).await
    });
    // Calls outliving the drain are not waited for again.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    drop(kept);
    served
}

fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/whoami", get(whoami))
        .route("/v1/managers", get(list_managers))
        .route("/v1/flavors", get(list_flavors))
        .route(
            "/v1/managers/{manager}/secrets",
            get(list_secrets).post(register).delete(delete_all),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}",
            get(get_secret).patch(update).delete(delete_secret),
        )
        .with_state(node)
}

/// A secret as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SecretBody {
    pub name: String,
    #[serde(default = "arbitrary")]
    pub schema: String,
    pub values: std::collections::BTreeMap<String, String>,
}

fn arbitrary() -> String {
    "arbitrary".to_string()
}

/// What `PATCH` takes: values to merge, and optionally a new schema.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct UpdateBody {
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub schema: Option<String>,
}

/// One request, once routed.
struct Request {
    operation: &'static str,
    manager: Option<String>,
    secret: Option<String>,
    role: Role,
}

impl Request {
    /// An operation on the node itself (no manager, no secret).
    fn node(operation: &'static str, role: Role) -> Self {
        Request {
            operation,
            manager: None,
            secret: None,
            role,
        }
    }

    /// An operation on one secrets manager.
    fn on_manager(operation: &'static str, role: Role, manager: &str) -> Self {
        Request {
            manager: Some(manager.to_string()),
            ..Request::node(operation, role)
        }
    }

    /// An operation on one secret of one secrets manager.
    fn on_secret(operation: &'static str, role: Role, manager: &str, secret: &str) -> Self {
        Request {
            secret: Some(secret.to_string()),
            ..Request::on_manager(operation, role, manager)
        }
    }
}

/// A refusal or failure, as answered.
struct Answer {
    status: StatusCode,
    body: serde_json::Value,
    outcome: String,
    /// The secret a body named (`register-secret`), for the audit log.
    named: Option<String>,
}

impl Answer {
    fn ok(status: StatusCode, body: serde_json::Value) -> Answer {
        Answer {
            status,
            body,
            outcome: "ok".to_string(),
            named: None,
        }
    }

    fn fixed(status: StatusCode, kind: &str, message: &str) -> Answer {
        Answer {
            status,
            body: json!({ "error": kind, "message": message }),
            outcome: kind.to_string(),
            named: None,
        }
    }

    fn error(err: &Error) -> Answer {
        let status = match err.kind() {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Denied => StatusCode::FORBIDDEN,
            ErrorKind::Backend | ErrorKind::Sandbox(_) => StatusCode::BAD_GATEWAY,
            ErrorKind::Verdict | ErrorKind::Host => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = crate::text::escape(&err.to_string()).into_owned();
        Answer {
            status,
            body: json!({ "error": err.kind().as_str(), "message": message }),
            outcome: err.kind().as_str().to_string(),
            named: None,
        }
    }
}

impl From<Result<Answer>> for Answer {
    fn from(result: Result<Answer>) -> Answer {
        result.unwrap_or_else(|err| Answer::error(&err))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Runs `work` on a blocking thread (calls block while their flavor runs).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::host(format!("a request's worker failed: {e}")))?
}

/// Authenticates and authorizes `request`, runs `work` if allowed, answers
/// and audits.
async fn handle<F>(
    node: Arc<Node>,
    peer: IpAddr,
    headers: &HeaderMap,
    request: Request,
    work: F,
) -> Response
where
    F: AsyncFnOnce(Arc<Node>, TokenRecord) -> Answer,
{
    let mut token_id = None;
    let answer = match authorize(&node, peer, headers, &request).await {
        Ok(token) => {
            token_id = Some(token.id.clone());
            work(node.clone(), token).await
        }
        Err(refused) => refused,
    };
    let entry = AuditEntry {
        at_ms: tokens::now_ms(),
        peer: peer.to_string(),
        token: token_id,
        manager: request.manager.map(audit::clip),
        operation: request.operation.to_string(),
        secret: answer.named.or(request.secret).map(audit::clip),
        outcome: answer.outcome,
        status: answer.status.as_u16(),
    };
    if let Err(err) = node.audit.record(entry).await {
        // Fail closed: no answer (a value, above all) leaves unaudited. What
        // the request changed, it changed; the error says so.
        tracing::error!("audit entry not recorded: {err}");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({
                "error": "host",
                "message": "the request could not be audited, so its answer is withheld \
                            (a write it made stands)",
            })),
        )
            .into_response();
    }
    (answer.status, axum::Json(answer.body)).into_response()
}

async fn authorize(
    node: &Arc<Node>,
    peer: IpAddr,
    headers: &HeaderMap,
    request: &Request,
) -> std::result::Result<TokenRecord, Answer> {
    if node.limiter.blocked(peer) {
        return Err(Answer::fixed(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many failed attempts from this address; try again later",
        ));
    }
    let unauthorized = || {
        Answer::fixed(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required (Authorization: Bearer TOKEN)",
        )
    };
    let Some(presented) = bearer(headers).map(str::to_string) else {
        node.limiter.failed(peer);
        return Err(unauthorized());
    };
    let checker = node.clone();
    let token = blocking(move || tokens::verify(checker.home.access(), &presented)).await;
    let token = match token {
        Ok(Some(token)) => token,
        Ok(None) => {
            node.limiter.failed(peer);
            return Err(unauthorized());
        }
        Err(err) => return Err(Answer::error(&err)),
    };
    let on_manager = match &request.manager {
        Some(manager) => *manager == token.manager,
        None => true,
    };
    if !on_manager || token.role < request.role {
        return Err(Answer::fixed(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token may not do that",
        ));
    }
    Ok(token)
}

/// Reads a JSON body after authentication, bounded; a body that does not
/// parse is reported by position, never quoted.
async fn read_json<T: serde::de::DeserializeOwned>(body: Body) -> Result<T> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            Error::invalid(format!(
                "the request body is unreadable or larger than {MAX_BODY_BYTES} bytes"
            ))
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(format!(
            "the request body is not the expected JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

async fn health(State(node): State<Arc<Node>>) -> Response {
    let checked = blocking(move || node.home.db().managers().map(|_| ())).await;
    match checked {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "store unreachable" })),
        )
            .into_response(),
    }
}

type Peer = ConnectInfo<SocketAddr>;

/// The presented token's id, manager and role (any valid token).
async fn whoami(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
) -> Response {
    let request = Request::node("whoami", Role::Read);
    handle(node, peer.ip(), &headers, request, async move |_, token| {
        Answer::ok(
            StatusCode::OK,
            json!({ "token": token.id, "manager": token.manager, "role": token.role.as_str() }),
        )
    })
    .await
}

async fn list_managers(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
) -> Response {
    let request = Request::node("list-managers", Role::Admin);
    handle(node, peer.ip(), &headers, request, async move |node, _| {
        blocking(move || {
            // Configs may hold credentials: names only.
            let managers: Vec<_> = node
                .home
                .managers()
                .list()?
                .into_iter()
                .map(|m| json!({ "name": m.name, "flavor": m.flavor, "active": m.active }))
                .collect();
            Ok(Answer::ok(StatusCode::OK, json!({ "managers": managers })))
        })
        .await
        .into()
    })
    .await
}

async fn list_flavors(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
) -> Response {
    let request = Request::node("list-flavors", Role::Admin);
    handle(node, peer.ip(), &headers, request, async move |node, _| {
        blocking(move || {
            let flavors: Vec<_> = node
                .home
                .flavors()
                .list()?
                .into_iter()
                .map(|f| {
                    json!({
                        "name": f.description.name,
                        "version": f.description.version,
                        "description": f.description.description,
                        "digest": f.digest,
                    })
                })
                .collect();
            Ok(Answer::ok(StatusCode::OK, json!({ "flavors": flavors })))
        })
        .await
        .into()
    })
    .await
}

async fn list_secrets(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    Path(manager): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request = Request::on_manager("get-all-secret-keys", Role::Read, &manager);
    handle(node, peer.ip(), &headers, request, async move |node, _| {
        blocking(move || {
            let names = node.home.manager(Some(&manager))?.list_secrets()?;
            Ok(Answer::ok(StatusCode::OK, json!({ "secrets": names })))
        })
        .await
        .into()
    })
    .await
}

async fn get_secret(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    Path((manager, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let request = Request::on_secret("get-secret", Role::Read, &manager, &name);
    handle(node, peer.ip(), &headers, request, async move |node, _| {
        blocking(move || {
            let secret = node.home.manager(Some(&manager))?.get_secret(&name)?;
            let body = SecretBody {
                name: secret.name().to_string(),
                schema: secret.schema().to_string(),
                values: secret.values().clone(),
            };
            Ok(Answer::ok(StatusCode::OK, json!(body)))
        })
        .await
        .into()
    })
    .await
}

async fn register(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    Path(manager): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request = Request::on_manager("register-secret", Role::Write, &manager);
    handle(node, peer.ip(), &headers, request, async move |node, _| {
        let body: SecretBody = match read_json(body).await {
            Ok(body) => body,
            Err(err) => return Answer::error(&err),
        };
        let named = Some(body.name.clone());
        let answer: Answer = blocking(move || {
            let secret = Secret::new(body.name, body.schema, body.values)?;
            node.home
                .manager(Some(&manager))?
                .register_secret(&secret)?;
            Ok(Answer::ok(
                StatusCode::CREATED,
                json!({ "name": secret.name(), "schema": secret.schema(),
                        "keys": secret.keys().collect::<Vec<_>>() }),
            ))
        })
        .await
        .into();
        Answer { named, ..answer }
    })
    .await
}

async fn update(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    Path((manager, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request = Request::on_secret("update-secret", Role::Write, &manager, &name);
    handle(node, peer.ip(), &headers, request, async move |node, _| {
        let body: UpdateBody = match read_json(body).await {
            Ok(body) => body,
            Err(err) => return Answer::error(&err),
        };
        blocking(move || {
            // The merge reads the secret in one call and writes it in
            // another: two merges of one secret, on any node, take turns.
            let bound = node.home.manager(Some(&manager))?;
            let key = format!("update-secret/{}/{}", bound.record().id, name);
            let changes: Vec<(String, String)> = body.values.into_iter().collect();
            let mut merged = None;
            node.home
                .access()
                .with_lock(&key, bound.timeout(), &mut || {
                    merged = Some(bound.update_secret(
                        &name,
                        changes.clone(),
                        &[],
                        body.schema.as_deref(),
                    )?);
                    Ok(())
                })?;
            let updated = merged.expect("set when with_lock succeeds");
            Ok(Answer::ok(
                StatusCode::OK,
                json!({ "name": updated.name(), "schema": updated.schema(),
                        "keys": updated.keys().collect::<Vec<_>>() }),
            ))
        })
        .await
        .into()
    })
    .await
}

async fn delete_secret(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    Path((manager, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let request = Request::on_secret("delete-secret", Role::Write, &manager, &name);
    handle(node, peer.ip(), &headers, request, async move |node, _| {
        blocking(move || {
            node.home.manager(Some(&manager))?.delete_secret(&name)?;
            Ok(Answer::ok(StatusCode::OK, json!({ "deleted": name })))
        })
        .await
        .into()
    })
    .await
}

async fn delete_all(
    State(node): State<Arc<Node>>,
    ConnectInfo(peer): Peer,
    Path(manager): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let request = Request::on_manager("delete-all-secrets", Role::Admin, &manager);
    handle(node, peer.ip(), &headers, request, async move |node, _| {
        let force = query
            .as_deref()
            .is_some_and(|q| q.split('&').any(|pair| pair == "force=true"));
        if !force {
            return Answer::error(&Error::invalid(
                "delete-all removes every secret of the secrets manager; pass ?force=true",
            ));
        }
        blocking(move || {
            let count = node
                .home
                .manager(Some(&manager))?
                .delete_all_secrets(true)?;
            Ok(Answer::ok(StatusCode::OK, json!({ "deleted": count })))
        })
        .await
        .into()
    })
    .await
}
