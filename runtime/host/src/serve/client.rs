//! The client side of `flavorbox serve`: the secret operations against a
//! server, for the CLI's `--server URL`, with the server's refusals turned
//! back into the library's errors (so exit codes match a local run).
//!
//! Guards against a hostile or broken server: an answer is read no further
//! than [`MAX_ANSWER_BYTES`], a request waits no longer than
//! [`REQUEST_TIMEOUT`], and the server's messages are escaped before the CLI
//! prints them. `https://` servers are checked against the public roots,
//! plus the CA certificates in the PEM file given to [`Remote::new`] (a
//! private CA, a self-signed server certificate; the CLI takes it from
//! `FLAVORBOX_SERVER_CA`); over plain `http://` the token travels in clear.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::{SecretBody, UpdateBody};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The largest answer read.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// The longest a request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A server and the token to present.
pub struct Remote {
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    base_path: String,
    token: String,
    runtime: tokio::runtime::Runtime,
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
    /// public roots).
    pub fn new(url: &str, token: String, ca_file: Option<&std::path::Path>) -> Result<Remote> {
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::host(format!("cannot start the async runtime: {e}")))?;
        Ok(Remote {
            port: parsed.port_or_known_default().unwrap_or(80),
            host,
            tls,
            base_path: parsed.path().trim_end_matches('/').to_string(),
            token,
            runtime,
        })
    }

    /// Sends one request; the answer's JSON, or the error it stands for.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let future = self.send(method, path, body);
        let answer = self
            .runtime
            .block_on(async { tokio::time::timeout(REQUEST_TIMEOUT, future).await })
            .map_err(|_| {
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

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let unreachable = |e: &dyn std::fmt::Display| {
            Error::backend(format!(
                "cannot reach the server {}:{}: {e}",
                self.host, self.port
            ))
        };
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| unreachable(&e))?;
        let io: Box<dyn Stream> = match &self.tls {
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
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|e| unreachable(&e))?;
        let driver = tokio::spawn(connection);
        let bytes = match &body {
            Some(value) => Bytes::from(serde_json::to_vec(value).map_err(Error::host)?),
            None => Bytes::new(),
        };
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_path))
            .header(http::header::HOST, format!("{}:{}", self.host, self.port))
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::CONTENT_TYPE, "application/json")
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

    /// The manager the token belongs to.
    pub fn token_manager(&self) -> Result<String> {
        let value = self.request("GET", "/v1/whoami", None)?;
        value["manager"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::backend("the server's answer is malformed".to_string()))
    }

    fn secrets_path(manager: &str) -> String {
        format!("/v1/managers/{}/secrets", segment(manager))
    }

    fn secret_path(manager: &str, name: &str) -> String {
        format!("{}/{}", Remote::secrets_path(manager), segment(name))
    }

    pub fn get_secret(&self, manager: &str, name: &str) -> Result<Secret> {
        let value = self.request("GET", &Remote::secret_path(manager, name), None)?;
        let body: SecretBody = serde_json::from_value(value)
            .map_err(|_| Error::backend("the server's secret is malformed".to_string()))?;
        Ok(Secret::new(body.name, body.schema, body.values)?)
    }

    pub fn list_secrets(&self, manager: &str) -> Result<Vec<String>> {
        let value = self.request("GET", &Remote::secrets_path(manager), None)?;
        serde_json::from_value(value["secrets"].clone())
            .map_err(|_| Error::backend("the server's list is malformed".to_string()))
    }

    pub fn register_secret(&self, manager: &str, secret: &Secret) -> Result<()> {
        let body = SecretBody {
            name: secret.name().to_string(),
            schema: secret.schema().to_string(),
            values: secret.values().clone(),
        };
        let body = serde_json::to_value(body).map_err(Error::host)?;
        self.request("POST", &Remote::secrets_path(manager), Some(body))?;
        Ok(())
    }

    /// Merges `changes` (and a new schema) into the secret; its schema and
    /// keys as the server reports them.
    pub fn update_secret(
        &self,
        manager: &str,
        name: &str,
        changes: Vec<(String, String)>,
        schema: Option<&str>,
    ) -> Result<(String, usize)> {
        let body = UpdateBody {
            values: changes.into_iter().collect(),
            schema: schema.map(str::to_string),
        };
        let body = serde_json::to_value(body).map_err(Error::host)?;
        let value = self.request("PATCH", &Remote::secret_path(manager, name), Some(body))?;
        let schema = value["schema"].as_str().unwrap_or("?").to_string();
        let keys = value["keys"].as_array().map_or(0, Vec::len);
        Ok((schema, keys))
    }

    pub fn delete_secret(&self, manager: &str, name: &str) -> Result<()> {
        self.request("DELETE", &Remote::secret_path(manager, name), None)?;
        Ok(())
    }

    /// How many were deleted, when the server counted.
    pub fn delete_all_secrets(&self, manager: &str) -> Result<Option<usize>> {
        let path = format!("{}?force=true", Remote::secrets_path(manager));
        let value = self.request("DELETE", &path, None)?;
        Ok(value["deleted"].as_u64().map(|n| n as usize))
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

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
