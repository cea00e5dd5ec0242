//! One call to a backend over `wasi:http`, as an HTTP flavor makes it: the
//! request sent through the `wasi-http-client` crate, the reply read up to a
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

/// One JSON API call: the request, what messages call it, and the secret
/// values its body carries.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    /// The call as messages and log lines name it, e.g. `reading secret
    /// `db``.
    pub op: &'a str,
    pub method: &'a str,
    pub url: &'a Url,
    /// The JSON body, if any.
    pub body: Option<&'a Value>,
    /// Secret values in `body`, to be masked in any message about the call.
    pub values: &'a [&'a str],
}

impl<'a> Call<'a> {
    /// `GET url`.
    pub fn get(op: &'a str, url: &'a Url) -> Call<'a> {
        Call::new(op, "GET", url, None)
    }

    /// `DELETE url`.
    pub fn delete(op: &'a str, url: &'a Url) -> Call<'a> {
        Call::new(op, "DELETE", url, None)
    }

    /// `POST url` with `body`.
    pub fn post(op: &'a str, url: &'a Url, body: &'a Value) -> Call<'a> {
        Call::new(op, "POST", url, Some(body))
    }

    /// `PATCH url` with `body`.
    pub fn patch(op: &'a str, url: &'a Url, body: &'a Value) -> Call<'a> {
        Call::new(op, "PATCH", url, Some(body))
    }

    fn new(op: &'a str, method: &'a str, url: &'a Url, body: Option<&'a Value>) -> Call<'a> {
        Call {
            op,
            method,
            url,
            body,
            values: &[],
        }
    }

    /// This call, its body carrying the secret `values`.
    pub fn with_values(self, values: &'a [&'a str]) -> Call<'a> {
        Call { values, ..self }
    }

    /// Sends this call with `headers` (and `content-type: application/json`
    /// when it has a body), reading at most [`MAX_REPLY`] bytes of the
    /// reply; see [`send`].
    pub fn send(&self, headers: &[(&str, &str)]) -> Result<Response, Error> {
        let payload = self
            .body
            .map(|b| b.to_string().into_bytes())
            .unwrap_or_default();
        let mut all_headers = headers.to_vec();
        if self.body.is_some() {
            all_headers.push(("content-type", "application/json"));
        }
        let request = Request {
            method: self.method,
            url: self.url,
            headers: &all_headers,
            body: &payload,
        };
        send(self.op, &request, MAX_REPLY)
    }
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
    fn calls_say_what_they_send() {
        let url = Url::parse("https://api.example/v1/x").unwrap();
        let body = serde_json::json!({ "k": "s3cr3t" });
        let get = Call::get("reading `x`", &url);
        assert_eq!((get.op, get.method), ("reading `x`", "GET"));
        assert!(get.body.is_none() && get.values.is_empty());
        assert_eq!(Call::delete("d", &url).method, "DELETE");
        assert_eq!(Call::patch("p", &url, &body).method, "PATCH");
        let post = Call::post("writing `x`", &url, &body).with_values(&["s3cr3t"]);
        assert_eq!(
            (post.method, post.body, post.values),
            ("POST", Some(&body), &["s3cr3t"][..])
        );
        assert_eq!(post.url, &url);
    }

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
