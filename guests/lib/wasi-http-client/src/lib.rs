//! A small blocking HTTP client over standard `wasi:http/outgoing-handler`
//! 0.2, for flavor guests: build the request, hand it to the host, stream
//! the body out, block on the response, read the response body fully.
//!
//! Guards against: deadlock (the request is handed to the host *before* its
//! body is written, so a large body streams instead of filling a buffer no
//! one drains); losing the host's reason (a body write that fails because the
//! host refused or capped the request still reports the response's
//! `error-code`, e.g. `HTTP-request-denied`); unbounded memory (the response
//! body is read only up to the caller's `max_body` bytes); and ambiguous URLs
//! (only `http://` and `https://` with an authority are accepted; user info,
//! fragments and whitespace are refused).

use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme, StatusCode,
};
use wasi::io::streams::StreamError;

pub use wasi::http::types::ErrorCode;

mod url;
pub use url::{Url, percent_encode};

/// Bytes handed to one `blocking-write-and-flush` (the WASI maximum).
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// An HTTP request to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    /// Header names and values. `Host` is set by the host from the URL's
    /// authority and must not be given; `Content-Length` is added for a body.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The response: status, headers (names lowercase), and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive), if UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Why a request produced no response.
#[derive(Debug, Clone)]
pub enum Error {
    /// The host refused the request or the transport failed, as
    /// `wasi:http` reported it (`HttpRequestDenied`, `ConnectionRefused`,
    /// `HttpResponseBodySize`, ...).
    Http(ErrorCode),
    /// The guest built a request the host would not take (a bad method or
    /// header), or a stream broke without an error code.
    Request(String),
    /// The response body exceeded the caller's limit.
    TooLarge { limit: usize },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Http(code) => write!(f, "HTTP error: {}", describe_code(code)),
            Error::Request(why) => write!(f, "bad request: {why}"),
            Error::TooLarge { limit } => {
                write!(f, "response body larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for Error {}

/// A `wasi:http` error code in words for people (`connection refused`,
/// `dns error`), never the type's debug text (`ErrorCode::DnsError(...)`):
/// the variant's name, split into lower-case words.
pub fn describe_code(code: &ErrorCode) -> String {
    let debug = format!("{code:?}");
    let name = debug
        .rsplit("::")
        .next()
        .unwrap_or(&debug)
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default();
    let mut words = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    if words.is_empty() {
        "transport error".to_string()
    } else {
        words
    }
}

/// Sends `request` and returns the response, reading at most `max_body`
/// bytes of its body.
pub fn send(request: &Request<'_>, max_body: usize) -> Result<Response, Error> {
    let outgoing = build(request)?;
    let body = outgoing
        .body()
        .map_err(|()| Error::Request("request body already taken".into()))?;
    let future = outgoing_handler::handle(outgoing, None).map_err(Error::Http)?;

    // Stream the body out; a failure here usually means the host gave up on
    // the request, and the response future then says why.
    let written = write_body(body, request.body);

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(Error::Http(code)),
        Some(Err(())) => return Err(Error::Request("response already taken".into())),
        None => return Err(Error::Request("response not ready after waiting".into())),
    };
    written?;

    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| Error::Request("response body already taken".into()))?;
    let body = read_body(incoming, max_body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn build(request: &Request<'_>) -> Result<OutgoingRequest, Error> {
    let mut headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    let has_length = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    if !has_length && (!request.body.is_empty() || request.method != "GET") {
        headers.push((
            "content-length".into(),
            request.body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers)
        .map_err(|e| Error::Request(format!("header refused: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let url = request.url;
    let scheme = if url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let invalid = |what: &str| Error::Request(format!("invalid {what}"));
    outgoing
        .set_method(&method(request.method))
        .map_err(|()| invalid("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(&url.authority))
        .map_err(|()| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(&url.path_and_query()))
        .map_err(|()| invalid("path"))?;
    Ok(outgoing)
}

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), Error> {
    {
        let stream = body
            .write()
            .map_err(|()| Error::Request("request body stream already taken".into()))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(stream_error)?;
        }
        // The stream must be dropped before the body is finished.
    }
    OutgoingBody::finish(body, None).map_err(Error::Http)
}

fn read_body(incoming: IncomingBody, max_body: usize) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| Error::Request("response body stream already taken".into()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    if bytes.len() + chunk.len() > max_body {
                        return Err(Error::TooLarge { limit: max_body });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error(e)),
            }
        }
        // The stream must be dropped before the body is finished.
    }
    drop(IncomingBody::finish(incoming));
    Ok(bytes)
}

fn stream_error(error: StreamError) -> Error {
    match error {
        StreamError::LastOperationFailed(e) => match wasi::http::types::http_error_code(&e) {
            Some(code) => Error::Http(code),
            None => Error::Request(format!("stream failed: {}", e.to_debug_string())),
        },
        StreamError::Closed => Error::Request("stream closed early".into()),
    }
}
