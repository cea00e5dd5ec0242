//! One call to a backend over `wasi:http`, as an HTTP flavor makes it: the
//! request sent through [`wasi_http_client`], the reply read up to a
//! bound, one debug line logged, a successful reply's JSON parsed. Building
//! the request (URL, authentication) and reading an error reply are the
//! flavor's.
//!
//! Guards against: unbounded replies (read up to the caller's bound,
//! [`MAX_REPLY`] for API calls); credentials or secret values in a log line
//! (it names only the call, the method, the origin and the status, never a
//! path, header or body); a transport failure losing whether the host
//! refused the request ([`errors::from_transport`]); a 2xx reply that is
//! not JSON taken for success.

use serde_json::Value;
use wasi_http_client::{Request, Response, Url};

use crate::log::{self, Level};
use crate::{Error, errors};

/// Largest API reply read, in bytes: a secret is at most 64 KiB, and a page
/// of a listing well below this.
pub const MAX_REPLY: usize = 4 * 1024 * 1024;

/// Sends `request` for call `op` (as messages name it), reading at most
/// `max_reply` bytes of the reply, and logs
/// `<op>: <method> -> HTTP <status> from <origin>` at debug level.
pub fn send(op: &str, request: &Request<'_>, max_reply: usize) -> Result<Response, Error> {
    let origin = request.url.origin();
    let response = wasi_http_client::send(request, max_reply)
        .map_err(|e| errors::from_transport(e, op, &origin))?;
    log::log(
        Level::Debug,
        &format!(
            "{op}: {} -> HTTP {} from {origin}",
            request.method, response.status
        ),
    );
    Ok(response)
}

/// Sends `method` to `url` with `headers` and, if given, the JSON `body`
/// (adding `content-type: application/json`), reading at most
/// [`MAX_REPLY`] bytes of the reply; see [`send`].
pub fn send_json(
    op: &str,
    method: &str,
    url: &Url,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Response, Error> {
    let payload = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut all_headers = headers.to_vec();
    if body.is_some() {
        all_headers.push(("content-type", "application/json"));
    }
    let request = Request {
        method,
        url,
        headers: &all_headers,
        body: &payload,
    };
    send(op, &request, MAX_REPLY)
}

/// Whether `status` is a success (2xx).
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The JSON of a successful reply's `body` to call `op`: `null` when the
/// body is empty, a `backend` error naming `backend` when it is not JSON.
pub fn json_body(backend: &str, op: &str, body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|_| errors::malformed(backend, op, "the reply is not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_succeeds() {
        assert!(is_success(200) && is_success(204) && is_success(299));
        assert!(!is_success(199) && !is_success(304) && !is_success(404));
    }

    #[test]
    fn successful_bodies_are_json_or_empty() {
        assert_eq!(json_body("AWS", "op", b"").unwrap(), Value::Null);
        assert_eq!(json_body("AWS", "op", b" \n").unwrap(), Value::Null);
        assert_eq!(json_body("AWS", "op", br#"{"a":1}"#).unwrap()["a"], 1);
        assert!(matches!(
            json_body("AWS", "GetSecretValue", b"<html>s3cr3t"),
            Err(Error::Backend(m))
                if m == "unexpected GetSecretValue reply from AWS: the reply is not JSON"
        ));
    }
}
