//! Sends one admitted request.
//!
//! Guards against a granted origin being used as a stepping stone: the host
//! name is resolved here and an internal address (loopback, private,
//! link-local, metadata service) is refused unless the grant names that very
//! address. Guards against a slow or huge peer holding the call: connecting,
//! the first byte and every later body byte are bounded by the call's
//! deadline, and both bodies are capped. Redirects are returned to the flavor
//! as they are, never followed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::{HttpPolicy, is_public};
use crate::capabilities::SharedFindings;
use crate::error::Violation;
use crate::policy::Origin;

type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
);

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The shorter of the guest's own timeout and what is left of the call.
fn bounded(requested: Option<Duration>, deadline: Instant) -> Duration {
    let left = remaining(deadline);
    requested.map_or(left, |r| r.min(left))
}

pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    origin: Origin,
    options: Option<RequestOptions>,
    policy: &HttpPolicy,
    deadline: Instant,
    findings: &SharedFindings,
) -> Result<Sent, HttpError> {
    // A declared length past the cap is refused before anything is sent, so
    // the flavor gets the precise error code (a cap hit mid-stream can only
    // fail the stream).
    if content_length(request.headers()).is_some_and(|len| len > policy.max_request_bytes) {
        findings.breach(
            Violation::Denied,
            format!(
                "HTTP request body to {origin} exceeded the {}-byte cap",
                policy.max_request_bytes
            ),
        );
        return Err(HttpError::HttpRequestBodySize(Some(
            policy.max_request_bytes,
        )));
    }
    let addr = resolve(&origin, deadline, findings).await?;
    let connect_timeout = bounded(options.and_then(|o| o.connect_timeout), deadline);
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(HttpError::Connect)?;

    let io: Box<dyn Stream> = if origin.scheme == "https" {
        let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let tls = tokio::time::timeout(connect_timeout, tls_connector().connect(name, tcp))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(io)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    let driver = tokio::spawn(connection);

    // On the wire the request line carries only the path and query.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = path.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let request = request.map(|body| {
        Capped::new(
            body,
            policy.max_request_bytes,
            HttpError::HttpRequestBodySize,
            deadline,
            findings.clone(),
            format!("HTTP request body to {origin}"),
        )
        .boxed_unsync()
    });

    let first_byte = bounded(options.and_then(|o| o.first_byte_timeout), deadline);
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)?
        .map_err(body_error_or_hyper)?;
    // A successful response may carry stored secret values the host never
    // saw; an error response is the backend's refusal.
    if response.status().is_success() {
        findings.mark_read_data();
    }
    if content_length(response.headers()).is_some_and(|len| len > policy.max_response_bytes) {
        findings.breach(
            Violation::Denied,
            format!(
                "HTTP response body from {origin} exceeded the {}-byte cap",
                policy.max_response_bytes
            ),
        );
        return Err(HttpError::HttpResponseBodySize(Some(
            policy.max_response_bytes,
        )));
    }
    let response = response.map(|body| {
        Capped::new(
            body,
            policy.max_response_bytes,
            HttpError::HttpResponseBodySize,
            deadline,
            findings.clone(),
            format!("HTTP response body from {origin}"),
        )
        .boxed_unsync()
    });
    let io = async move {
        match driver.await {
            Ok(result) => result.map_err(HttpError::from),
            Err(_) => Err(HttpError::ConnectionTerminated),
        }
    };
    Ok((response, Box::new(io)))
}

/// The `Content-Length` a message declares, if any.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// hyper wraps the request body's own error (e.g. its size cap); the guest
/// should see that error, not a generic protocol error.
fn body_error_or_hyper(err: hyper::Error) -> HttpError {
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        if let Some(HttpError::HttpRequestBodySize(limit)) = cause.downcast_ref::<HttpError>() {
            return HttpError::HttpRequestBodySize(*limit);
        }
        source = cause.source();
    }
    HttpError::from(err)
}

/// Resolves the origin's host and picks the first address it may reach.
async fn resolve(
    origin: &Origin,
    deadline: Instant,
    findings: &SharedFindings,
) -> Result<SocketAddr, HttpError> {
    let lookup = tokio::net::lookup_host((origin.host.as_str(), origin.port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(remaining(deadline), lookup)
        .await
        .map_err(|_| HttpError::DnsTimeout)?
        .map_err(|e| HttpError::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        })?
        .collect();
    let granted_ip = origin.ip_literal();
    if let Some(addr) = addrs
        .iter()
        .find(|a| is_public(a.ip()) || Some(a.ip()) == granted_ip)
    {
        return Ok(*addr);
    }
    match addrs.first() {
        Some(addr) => {
            findings.breach(
                Violation::Denied,
                format!(
                    "HTTP request to {origin} refused: it resolves to internal address {}, \
                     which only a grant of that exact address allows",
                    addr.ip()
                ),
            );
            Err(HttpError::HttpRequestDenied)
        }
        None => Err(HttpError::DestinationNotFound),
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    });
    tokio_rustls::TlsConnector::from(config.clone())
}

/// A body that fails once it carries more than `limit` bytes or outlives
/// the call's deadline.
struct Capped<B> {
    inner: B,
    limit: u64,
    remaining: u64,
    too_large: fn(Option<u64>) -> HttpError,
    deadline: Pin<Box<tokio::time::Sleep>>,
    findings: SharedFindings,
    what: String,
}

impl<B> Capped<B> {
    fn new(
        inner: B,
        limit: u64,
        too_large: fn(Option<u64>) -> HttpError,
        deadline: Instant,
        findings: SharedFindings,
        what: String,
    ) -> Self {
        Capped {
            inner,
            limit,
            remaining: limit,
            too_large,
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
            findings,
            what,
        }
    }
}

impl<B> Body for Capped<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<HttpError>,
{
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)));
        }
        let frame = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(err)) => return Poll::Ready(Some(Err(err.into()))),
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                let detail = format!("{} exceeded the {}-byte cap", self.what, self.limit);
                self.findings.breach(Violation::Denied, detail);
                return Poll::Ready(Some(Err((self.too_large)(Some(self.limit)))));
            }
            self.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}
