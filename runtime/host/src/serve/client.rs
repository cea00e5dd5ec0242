//! The client side of `flavorbox serve`: a [`Remote`] is the secret
//! operations of one manager on a server (`SecretsApi`, as a local
//! manager offers them, every one of them: see `secrets.rs`), for the
//! CLI's `--server URL`, with the server's refusals turned back into the
//! library's errors (so output and exit codes match a local run). Only
//! `delete-all --max-calls/--max-time` is refused, before any request
//! (the server applies its own bound). A `Remote` also follows its
//! manager's change feed and, if asked, answers reads from the offline
//! cache while the server cannot be reached (see `changes.rs`).
//!
//! Guards against a hostile or broken server: an answer is read no further
//! than [`MAX_ANSWER_BYTES`] (an export comes page by page, each well under
//! it), a request waits no longer than [`REQUEST_TIMEOUT`], what an answer
//! holds is checked as any input is (names, keys, secrets, schemas; a
//! malformed answer is a `backend` error), and the server's messages are
//! clipped (the CLI escapes every error it prints). Guards against sending
//! what the server would refuse unread: a body over what its route reads
//! (`MAX_BODY_BYTES`, an import's `MAX_IMPORT_BODY_BYTES`) is refused
//! here, nothing sent. `https://` servers are checked against
//! the public roots, plus the CA certificates of a PEM file the caller
//! names (a private CA, a self-signed server certificate); over plain
//! `http://` the token travels in clear.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::Stream;
use super::json::MAX_BODY_BYTES;
use super::offline::{OfflineCache, Scope};
use crate::error::{Error, Result};
use crate::secret::check_name;
use crate::store::Role;

mod changes;
mod history;
mod secrets;

/// The largest answer read.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// The longest a request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest the connection (TCP and TLS) may take: past it the server
/// is unreachable, and an offline cache may answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a server says of the token a client presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its public id.
    pub id: String,
    /// The name it was given when made, if any.
    pub name: Option<String>,
    /// The secrets manager it opens.
    pub manager: String,
    pub role: Role,
    /// Milliseconds since the Unix epoch; `None`: until revoked.
    pub expires_ms: Option<i64>,
}

/// Asks the server at `url` (see [`Remote::new`]) what `token` is.
pub fn whoami(url: &str, token: String, ca_file: Option<&std::path::Path>) -> Result<TokenInfo> {
    Remote::unbound(url, token, ca_file)?.whoami()
}

/// A server, the token to present, and the secrets manager the requests
/// go to.
pub struct Remote {
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    base_path: String,
    /// The server as the offline cache tells servers apart:
    /// `scheme://host:port/path`.
    origin: String,
    token: String,
    manager: String,
    runtime: tokio::runtime::Runtime,
    /// Where the last values read are kept for when the server cannot be
    /// reached (see `offline.rs`), if the caller asked for it.
    offline: Option<Arc<OfflineCache>>,
    /// Whether the client asked the server for the token's own manager
    /// (the cache keeps its reads apart from one named).
    own_manager: bool,
    /// Whether the last request failed because the server could not be
    /// reached (not connected, or no answer in time).
    unreachable: Cell<bool>,
}

/// Percent-encodes a path segment (names are `[A-Za-z0-9_.-]` once checked;
/// anything else is encoded rather than trusted).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Remote {
    /// A client of the server at `url` (`http://HOST:PORT[/PREFIX]` or
    /// `https://…`, trusting the CAs in the PEM file `ca_file` besides the
    /// public roots), on secrets manager `manager`; without one, on the
    /// manager the token belongs to (the server is asked which).
    pub fn new(
        url: &str,
        token: String,
        ca_file: Option<&std::path::Path>,
        manager: Option<String>,
    ) -> Result<Remote> {
        Remote::with_offline_cache(url, token, ca_file, manager, None)
    }

    /// [`Remote::new`], answering reads from `offline` while the server
    /// cannot be reached (and keeping what it reads there).
    pub fn with_offline_cache(
        url: &str,
        token: String,
        ca_file: Option<&std::path::Path>,
        manager: Option<String>,
        offline: Option<Arc<OfflineCache>>,
    ) -> Result<Remote> {
        let mut remote = Remote::unbound(url, token, ca_file)?;
        remote.offline = offline;
        remote.own_manager = manager.is_none();
        remote.manager = match manager {
            Some(manager) => manager,
            // A token belongs to one manager, the default for --manager.
            None => remote.own_manager_name()?,
        };
        Ok(remote)
    }

    /// The token's own manager, as the server says (kept in the offline
    /// cache), or as the cache last heard it while the server cannot be
    /// reached.
    fn own_manager_name(&self) -> Result<String> {
        match self.whoami() {
            Ok(info) => {
                if let Some(cache) = &self.offline {
                    cache.put_own_manager(self.scope(), &info.manager)?;
                }
                Ok(info.manager)
            }
            Err(err) => match (&self.offline, self.unreachable.get()) {
                (Some(cache), true) => cache.own_manager(self.scope()).ok_or(err),
                _ => Err(err),
            },
        }
    }

    /// Whose reads the offline cache keeps apart: this server, token and
    /// manager (as asked: the token's own, or one named).
    fn scope(&self) -> Scope<'_> {
        Scope {
            server: &self.origin,
            token: &self.token,
            manager: (!self.own_manager).then_some(self.manager.as_str()),
        }
    }

    /// Another client of the same server, token and manager (for a thread
    /// of its own), without the offline cache.
    fn fresh(&self) -> Result<Remote> {
        Ok(Remote {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls.clone(),
            base_path: self.base_path.clone(),
            origin: self.origin.clone(),
            token: self.token.clone(),
            manager: self.manager.clone(),
            runtime: current_thread_runtime()?,
            offline: None,
            own_manager: self.own_manager,
            unreachable: Cell::new(false),
        })
    }

    /// A client of the server at `url` not yet bound to a manager (only
    /// [`Remote::whoami`] may be asked of it).
    fn unbound(url: &str, token: String, ca_file: Option<&std::path::Path>) -> Result<Remote> {
        let parsed = url::Url::parse(url)
            .map_err(|e| Error::invalid(format!("server URL `{url}` is not a URL: {e}")))?;
        let tls = match parsed.scheme() {
            "http" => None,
            "https" => Some(tls_connector(ca_file)?),
            _ => {
                return Err(Error::invalid(format!(
                    "server URL `{url}` is not http:// or https://"
                )));
            }
        };
        let host = parsed
            .host_str()
            .ok_or_else(|| Error::invalid(format!("server URL `{url}` has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let token = token.trim().to_string();
        if token.is_empty() || token.len() > 128 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "the token is empty or not a flavorbox token (FLAVORBOX_TOKEN or --token-file)",
            ));
        }
        let runtime = current_thread_runtime()?;
        let origin = format!(
            "{}://{host}:{}{}",
            parsed.scheme(),
            parsed.port_or_known_default().unwrap_or(80),
            parsed.path().trim_end_matches('/')
        );
        Ok(Remote {
            port: parsed.port_or_known_default().unwrap_or(80),
            host,
            tls,
            base_path: parsed.path().trim_end_matches('/').to_string(),
            origin,
            token,
            manager: String::new(),
            runtime,
            offline: None,
            own_manager: false,
            unreachable: Cell::new(false),
        })
    }

    /// Sends one request; the answer's JSON, or the error it stands for.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.request_within(method, path, body, MAX_BODY_BYTES)
    }

    /// [`Remote::request`] sent with `If-Match` naming `version`: the
    /// server writes only if the secret is still at it (`412` otherwise,
    /// read as the `conflict` it stands for).
    fn request_if_match(
        &self,
        method: &str,
        path: &str,
        body: Value,
        version: u64,
    ) -> Result<Value> {
        self.sent(method, path, Some(body), MAX_BODY_BYTES, Some(version))
    }

    /// [`Remote::request`] for a route that reads a body of at most
    /// `limit` bytes: a larger one is refused here, unsent.
    fn request_within(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        limit: usize,
    ) -> Result<Value> {
        self.sent(method, path, body, limit, None)
    }

    /// Sends one request, refused unsent if its body is over `limit`
    /// bytes, with `If-Match` naming `if_match` if given.
    fn sent(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        limit: usize,
        if_match: Option<u64>,
    ) -> Result<Value> {
        let bytes = match &body {
            Some(value) => Bytes::from(serde_json::to_vec(value).map_err(Error::host)?),
            None => Bytes::new(),
        };
        drop(body);
        if bytes.len() > limit {
            return Err(Error::invalid(format!(
                "the request is {} bytes, more than the {limit} bytes the server reads of it; \
                 nothing was sent",
                bytes.len()
            )));
        }
        self.unreachable.set(false);
        let future = self.send(method, path, bytes, if_match);
        let answer = self
            .runtime
            .block_on(async { tokio::time::timeout(REQUEST_TIMEOUT, future).await })
            .map_err(|_| {
                self.unreachable.set(true);
                Error::backend(format!(
                    "the server did not answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ))
            })??;
        let (status, value) = answer;
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(error_from(status, &value))
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        bytes: Bytes,
        if_match: Option<u64>,
    ) -> Result<(u16, Value)> {
        let unreachable = |e: &dyn std::fmt::Display| {
            self.unreachable.set(true);
            Error::backend(format!(
                "cannot reach the server {}:{}: {e}",
                self.host, self.port
            ))
        };
        let connecting = async {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| unreachable(&e))?;
            Ok::<Box<dyn Stream>, Error>(match &self.tls {
                Some(connector) => {
                    let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                        .map_err(|e| Error::invalid(format!("server name: {e}")))?;
                    Box::new(
                        connector
                            .connect(name, tcp)
                            .await
                            .map_err(|e| unreachable(&format!("TLS: {e}")))?,
                    )
                }
                None => Box::new(tcp),
            })
        };
        let io = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                unreachable(&format!(
                    "no connection within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })??;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|e| unreachable(&e))?;
        let driver = tokio::spawn(connection);
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_path))
            .header(http::header::HOST, format!("{}:{}", self.host, self.port))
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::CONTENT_TYPE, "application/json");
        let request = match if_match {
            Some(version) => request.header(http::header::IF_MATCH, format!("\"{version}\"")),
            None => request,
        };
        let request = request
            .body(Full::new(bytes))
            .map_err(|e| Error::invalid(format!("cannot build the request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status().as_u16();
        let collected = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| {
                Error::backend(format!(
                    "the server's answer is unreadable or over {MAX_ANSWER_BYTES} bytes: {e}"
                ))
            })?;
        driver.abort();
        let bytes = collected.to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| {
                Error::backend(format!(
                    "the server answered {status} with a body that is not JSON"
                ))
            })?
        };
        Ok((status, value))
    }

    /// What the server says of the token (`GET /v1/whoami`). Its manager's
    /// name is checked as any manager name is (it is printed and put in
    /// paths), and its role must be one of the roles.
    fn whoami(&self) -> Result<TokenInfo> {
        let value = self.request("GET", "/v1/whoami", None)?;
        let malformed = || Error::backend("the server's answer is malformed".to_string());
        let text = |field: &str| value[field].as_str().map(str::to_string);
        let manager = text("manager")
            .filter(|name| check_name("secrets manager name", name).is_ok())
            .ok_or_else(malformed)?;
        let role = text("role")
            .and_then(|role| Role::parse(&role).ok())
            .ok_or_else(malformed)?;
        let id = text("token").ok_or_else(malformed)?;
        let expires_ms = match &value["expires_ms"] {
            Value::Null => None,
            ms => Some(ms.as_i64().ok_or_else(malformed)?),
        };
        Ok(TokenInfo {
            id: crate::text::clip(&id, 64),
            name: text("name").map(|name| crate::text::clip(&name, 64)),
            manager,
            role,
            expires_ms,
        })
    }

    /// `/v1/managers/M/{rest}`, on this client's manager.
    fn manager_path(&self, rest: &str) -> String {
        format!("/v1/managers/{}/{rest}", segment(&self.manager))
    }

    fn secrets_path(&self) -> String {
        self.manager_path("secrets")
    }

    fn secret_path(&self, name: &str) -> String {
        format!("{}/{}", self.secrets_path(), segment(name))
    }
}

/// The runtime a client's requests run on, on the calling thread.
fn current_thread_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::host(format!("cannot start the async runtime: {e}")))
}

/// The public roots, plus the CAs in `ca_file`.
fn tls_connector(ca_file: Option<&std::path::Path>) -> Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    if let Some(path) = ca_file {
        let unreadable = |e: &dyn std::fmt::Display| {
            Error::invalid(format!("cannot read the CA file {}: {e}", path.display()))
        };
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
            roots
                .add(cert.map_err(|e| unreadable(&e))?)
                .map_err(|e| unreadable(&e))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::host)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

/// The library error an error answer stands for.
fn error_from(status: u16, value: &Value) -> Error {
    let message = value["message"]
        .as_str()
        .map(|m| crate::text::clip(m, 500))
        .unwrap_or_else(|| format!("the server answered {status}"));
    // The message repeats the kind ("not found: ..."); keep the detail.
    let detail = message
        .split_once(": ")
        .map_or(message.clone(), |(_, d)| d.to_string());
    match (status, value["error"].as_str().unwrap_or("")) {
        (401, _) => Error::denied(format!("the server refused the token: {message}")),
        (413, _) => Error::invalid(format!("the server refused: {message}")),
        (403, _) => Error::denied(format!("the server refused: {message}")),
        (429, _) => Error::denied(format!("the server refused: {message}")),
        (_, "invalid") => Error::invalid(detail),
        (_, "not-found") => Error::not_found(detail),
        (_, "already-exists") => Error::already_exists(detail),
        (_, "denied") => Error::denied(detail),
        (_, "backend") => Error::backend(detail),
        (_, "conflict") => Error::conflict(detail),
        (_, kind) => match crate::error::Violation::ALL
            .iter()
            .find(|v| v.as_str() == kind)
        {
            Some(violation) => Error::sandbox(*violation, detail),
            None => Error::host(format!("the server failed ({status}): {message}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::managers::{BulkBound, SecretUpdate, SecretsApi};

    /// The server named here does not listen, so a request would fail as
    /// `backend`: every refusal below comes before any request.
    #[test]
    fn what_a_server_would_refuse_is_refused_before_any_request() {
        let remote = Remote::new(
            "http://127.0.0.1:9",
            "fbx_token".to_string(),
            None,
            Some("m".to_string()),
        )
        .unwrap();
        assert_eq!(remote.manager_name(), "m");
        let bounded = BulkBound {
            calls: 1,
            ..BulkBound::default()
        };
        let huge = serde_json::json!({ "values": { "k": "v".repeat(MAX_BODY_BYTES) } });
        let refusals = [
            remote.delete_all_secrets(bounded, &|_, _| {}).map(drop),
            remote
                .update_secret("s", &SecretUpdate::default())
                .map(drop),
            remote.request("PATCH", "/v1/x", Some(huge)).map(drop),
        ];
        for refused in refusals {
            let err = refused.unwrap_err();
            assert!(err.is(ErrorKind::Invalid), "{err}");
        }
        let reached = remote.list_secrets().unwrap_err();
        assert!(reached.is(ErrorKind::Backend), "{reached}");
    }
}
