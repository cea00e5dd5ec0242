//! The `http` capability: standard `wasi:http/outgoing-handler` requests,
//! gated by the operator's grant.
//!
//! `WasiHttpHooks::send_request` is the single gate every request passes.
//! It refuses, as `HttpRequestDenied`, a flavor without the `http` grant, an
//! origin (scheme, host, port) that was not granted, and requests past the
//! per-call count (a granted origin is one that equals a granted origin or
//! falls under a granted `https://*.domain` pattern, `policy::OriginGrant`).
//! What passes is sent by `send`, which checks the resolved
//! address, caps both bodies, bounds the time by the call's deadline and
//! follows no redirect. Every refusal is recorded, naming the origin, so the
//! user learns why a flavor failed; a refusal for want of a grant (the
//! capability, an origin) is recorded as such, for the sandbox to tell the
//! operator's omission from the flavor's breach.
//!
//! What a flavor can make the host hold before sending anything is capped
//! too: an unsent body buffers at most two small chunks (the hooks below),
//! a `fields` resource 16 KiB (`sandbox::state`), a request's method,
//! authority and path 8 KiB each, and without the grant no `wasi:http`
//! resource can be created at all (`sandbox::linker`). Once a successful
//! response has arrived, the flavor may hold remote data the host never
//! saw: the call is marked as having read data (see `sandbox`'s
//! secret-bearing text).

mod address;
mod send;

use std::sync::Arc;
use std::time::Instant;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

pub use address::is_public;

use super::{SharedFindings, Ungranted};
use crate::error::Violation;
use crate::policy::{Capability, Origin, OriginGrant};

/// What a call may do over HTTP.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub granted: bool,
    pub origins: Vec<OriginGrant>,
    pub max_requests: u32,
    pub max_request_bytes: u64,
    pub max_response_bytes: u64,
}

impl HttpPolicy {
    /// Whether a request to `origin` may be sent: the one place a request's
    /// origin is checked against the grants.
    pub fn admits(&self, origin: &Origin) -> bool {
        self.granted && self.origins.iter().any(|grant| grant.matches(origin))
    }
}

/// The hooks of one call.
pub struct HttpCapability {
    policy: Arc<HttpPolicy>,
    deadline: Instant,
    sent: u32,
    pub findings: SharedFindings,
}

impl HttpCapability {
    pub fn new(policy: HttpPolicy, deadline: Instant) -> Self {
        HttpCapability {
            policy: Arc::new(policy),
            deadline,
            sent: 0,
            findings: SharedFindings::default(),
        }
    }

    /// The origin to connect to, if the request may be sent at all.
    fn admit(&mut self, uri: &http::Uri) -> Result<Origin, HttpError> {
        self.findings.mark_used();
        // Every refusal but the first names what the flavor chose.
        let deny = |findings: &SharedFindings, detail: String| {
            findings.breach_quoting(Violation::Denied, detail);
            HttpError::HttpRequestDenied
        };
        if !self.policy.granted {
            self.findings.refuse_ungranted(
                Ungranted::Capability(Capability::Http),
                "the flavor used capability `http`, which was not granted".to_string(),
            );
            return Err(HttpError::HttpRequestDenied);
        }
        let Some(origin) = Origin::of_uri(uri) else {
            return Err(deny(
                &self.findings,
                format!(
                    "HTTP request to `{}` has no http(s) origin",
                    uri_for_message(uri)
                ),
            ));
        };
        if !self.policy.admits(&origin) {
            self.findings.refuse_ungranted(
                Ungranted::Origin(origin.clone()),
                format!("HTTP request to origin {origin}, which was not granted"),
            );
            return Err(HttpError::HttpRequestDenied);
        }
        if self.sent >= self.policy.max_requests {
            // The origin was granted: the operator's text, not the flavor's.
            self.findings.breach(
                Violation::Denied,
                format!(
                    "more than {} HTTP requests in one call (to {origin}); the cap is set \
                     per flavor or per secrets manager (--http-requests)",
                    self.policy.max_requests
                ),
            );
            return Err(HttpError::HttpRequestDenied);
        }
        self.sent += 1;
        Ok(origin)
    }
}

/// A URI without its query (which may hold credentials), for messages.
fn uri_for_message(uri: &http::Uri) -> String {
    let mut text = String::new();
    if let Some(scheme) = uri.scheme_str() {
        text.push_str(scheme);
        text.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        text.push_str(authority.host());
    }
    text
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpCapability {
    /// An unsent body buffers at most this chunk and one more, so bodies a
    /// flavor writes and never sends cost little (`policy::caps`).
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        1
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        crate::policy::caps::HTTP_BODY_CHUNK
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let admitted = self.admit(request.uri());
        let policy = self.policy.clone();
        let deadline = self.deadline;
        let findings = self.findings.clone();
        Box::new(async move {
            let origin = admitted?;
            send::send(request, origin, options, &policy, deadline, &findings).await
        })
    }
}
