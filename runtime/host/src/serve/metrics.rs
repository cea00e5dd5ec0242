//! What an operator watches: `GET /metrics`, in the OpenMetrics text
//! format Prometheus scrapes, kept by the `prometheus-client` crate.
//!
//! Counted: requests by route, method, status and secrets manager, their
//! latency by route and method, flavor calls by flavor and outcome, sandbox
//! breaches by flavor and violation, refused authentications by reason,
//! and the store's failures by what the node was doing.
//!
//! Guards against a client minting label values (each one a series kept
//! for the life of the node): a request is labelled with the pattern of
//! the route it matched (`/v1/managers/{manager}/secrets`), never its path,
//! and a path no route matches is `unmatched`; its method is one of the
//! methods HTTP names, any other is `other`; the manager is the one the
//! presented token was made for (named by the operator), never a path
//! segment; flavors are those the operator registered. Managers and flavors
//! get their own label for the first [`MAX_NAMED_LABELS`] names each; later
//! ones are counted under `other`. The request counter keeps at most
//! [`MAX_REQUEST_LABEL_SETS`] label sets; a request of a further one is
//! counted under the set whose every label is `other` (status `0`). So the
//! scrape stays within a bound whatever clients and operators do.
//!
//! Who may read it: an admin token of any secrets manager, as for listing
//! the managers (`routes.rs`): the labels name every manager that served
//! a request, which anyone on the network should not learn.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use super::Node;
use crate::error::{Error, ErrorKind};

/// Distinct manager names, and distinct flavor names, that get a label of
/// their own; later ones share `other`.
pub const MAX_NAMED_LABELS: usize = 64;
/// The route label of a request no route matched (its path is not kept).
pub const UNMATCHED: &str = "unmatched";
/// Label sets the request counter keeps (route × method × status ×
/// manager); a request of a further one is counted under `other`.
pub const MAX_REQUEST_LABEL_SETS: usize = 2_000;
/// The label a name past [`MAX_NAMED_LABELS`] is counted under.
const OTHER: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
    manager: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    flavor: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreachLabels {
    flavor: String,
    violation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DuringLabels {
    during: &'static str,
}

/// Values that get a label (set) of their own, up to a count.
struct Capped<T> {
    seen: Mutex<HashSet<T>>,
    cap: usize,
}

impl<T: Hash + Eq + Clone> Capped<T> {
    fn new(cap: usize) -> Capped<T> {
        Capped {
            seen: Mutex::default(),
            cap,
        }
    }

    /// `value` if it has its own label or there is room, else `overflow`.
    fn admit(&self, value: T, overflow: T) -> T {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(&value) {
            return value;
        }
        if seen.len() < self.cap {
            seen.insert(value.clone());
            return value;
        }
        overflow
    }
}

impl Capped<String> {
    /// `name`'s label: itself while there is room, else `other`.
    fn label(&self, name: &str) -> String {
        self.admit(name.to_string(), OTHER.to_string())
    }
}

/// The secrets manager a response was for (the one its token was made
/// for), set on the response by `auth.rs` for [`track`] to read.
#[derive(Clone)]
pub(super) struct ManagerLabel(pub(super) String);

/// The latency histogram's buckets: 1 ms doubling to about 33 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// `metric`, registered in `registry` as `name` with `help`.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// A node's metrics.
pub(super) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    calls: Family<CallLabels, Counter>,
    breaches: Family<BreachLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
    store_errors: Family<DuringLabels, Counter>,
    managers: Capped<String>,
    flavors: Capped<String>,
    request_sets: Capped<RequestLabels>,
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        let mut registry = Registry::default();
        let latency = Family::new_with_constructor(latency as fn() -> Histogram);
        Metrics {
            requests: registered(
                &mut registry,
                "flavorbox_http_requests",
                "Requests answered, by route pattern, method, status and the secrets manager of the token",
                Family::default(),
            ),
            latency: registered(
                &mut registry,
                "flavorbox_http_request_duration_seconds",
                "Time from a request's headers to its answer, by route pattern and method",
                latency,
            ),
            calls: registered(
                &mut registry,
                "flavorbox_calls",
                "Flavor calls made for requests, by flavor and outcome (ok or the error's kind)",
                Family::default(),
            ),
            breaches: registered(
                &mut registry,
                "flavorbox_sandbox_breaches",
                "Flavor calls stopped by the sandbox, by flavor and violation",
                Family::default(),
            ),
            auth_failures: registered(
                &mut registry,
                "flavorbox_auth_failures",
                "Refused authentications and authorizations, by reason",
                Family::default(),
            ),
            store_errors: registered(
                &mut registry,
                "flavorbox_store_errors",
                "Failures of the store (or of an audit write), by what the node was doing",
                Family::default(),
            ),
            managers: Capped::new(MAX_NAMED_LABELS),
            flavors: Capped::new(MAX_NAMED_LABELS),
            request_sets: Capped::new(MAX_REQUEST_LABEL_SETS),
            registry,
        }
    }

    /// The metrics as OpenMetrics text.
    pub(super) fn encode(&self) -> Result<String, Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| Error::host(format!("cannot encode the metrics: {e}")))?;
        Ok(text)
    }

    /// Counts a flavor call of `flavor` that ended in `outcome` (a sandbox
    /// breach's outcome is `sandbox`; its violation is a breach's label).
    pub(super) fn call<T>(&self, flavor: &str, outcome: &Result<T, Error>) {
        let flavor = self.flavors.label(flavor);
        let kind = match outcome.as_ref().map_err(Error::kind) {
            Ok(_) => "ok",
            Err(ErrorKind::Sandbox(violation)) => {
                let labels = BreachLabels {
                    flavor: flavor.clone(),
                    violation: violation.as_str(),
                };
                self.breaches.get_or_create(&labels).inc();
                "sandbox"
            }
            Err(kind) => kind.as_str(),
        };
        let labels = CallLabels {
            flavor,
            outcome: kind,
        };
        self.calls.get_or_create(&labels).inc();
    }

    /// Counts a refused authentication or authorization (`unauthorized`,
    /// `rate-limited`, `forbidden`).
    pub(super) fn auth_failure(&self, reason: &'static str) {
        let labels = ReasonLabels { reason };
        self.auth_failures.get_or_create(&labels).inc();
    }

    /// Counts a store failure met `during` a step of a request.
    pub(super) fn store_error(&self, during: &'static str) {
        let labels = DuringLabels { during };
        self.store_errors.get_or_create(&labels).inc();
    }
}

/// A method's label: HTTP's own methods by name, any other `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => OTHER,
    }
}

/// Middleware counting every request the router answers, and its latency.
pub(super) async fn track(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_string();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let manager = response.extensions().get::<ManagerLabel>();
    let answered = Answered {
        route,
        method,
        status: response.status().as_u16(),
        manager: manager.map(|named| named.0.as_str()),
    };
    node.metrics
        .request(answered, started.elapsed().as_secs_f64());
    response
}

/// A request as the metrics count it.
struct Answered<'a> {
    /// Its route's pattern, or [`UNMATCHED`].
    route: String,
    method: &'static str,
    status: u16,
    /// The manager its token was made for, if it had a valid token.
    manager: Option<&'a str>,
}

impl Metrics {
    /// Counts the request `answered`, which took `seconds`.
    fn request(&self, answered: Answered<'_>, seconds: f64) {
        let timed = RouteLabels {
            route: answered.route.clone(),
            method: answered.method,
        };
        self.latency.get_or_create(&timed).observe(seconds);
        let counted = RequestLabels {
            route: answered.route,
            method: answered.method,
            status: answered.status,
            manager: answered
                .manager
                .map(|name| self.managers.label(name))
                .unwrap_or_default(),
        };
        let overflow = RequestLabels {
            route: OTHER.to_string(),
            method: OTHER,
            status: 0,
            manager: OTHER.to_string(),
        };
        let counted = self.request_sets.admit(counted, overflow);
        self.requests.get_or_create(&counted).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Violation;

    #[test]
    fn names_past_the_cap_share_one_label() {
        let named = Capped::new(MAX_NAMED_LABELS);
        for n in 0..MAX_NAMED_LABELS {
            assert_eq!(named.label(&format!("m{n}")), format!("m{n}"));
        }
        assert_eq!(named.label("one-too-many"), OTHER);
        assert_eq!(named.label("m0"), "m0");
    }

    #[test]
    fn request_label_sets_past_the_cap_are_counted_as_other() {
        let metrics = Metrics::new();
        for n in 0..=MAX_REQUEST_LABEL_SETS {
            let answered = Answered {
                route: format!("/r{n}"),
                method: "GET",
                status: 200,
                manager: Some("default"),
            };
            metrics.request(answered, 0.001);
        }
        let text = metrics.encode().unwrap();
        let sets = text
            .lines()
            .filter(|l| l.starts_with("flavorbox_http_requests_total{"))
            .count();
        assert_eq!(sets, MAX_REQUEST_LABEL_SETS + 1, "the cap and `other`");
        let other = r#"flavorbox_http_requests_total{route="other",method="other",status="0",manager="other"} 1"#;
        assert!(text.lines().any(|l| l == other), "{other} missing");
        assert!(!text.contains(&format!(
            "route=\"/r{MAX_REQUEST_LABEL_SETS}\",method=\"GET\",status"
        )));
    }

    #[test]
    fn calls_breaches_refusals_and_store_errors_are_counted() {
        let metrics = Metrics::new();
        metrics.call(
            "local",
            &Err::<(), _>(Error::sandbox(Violation::Deadline, "too slow")),
        );
        metrics.call("local", &Ok::<(), Error>(()));
        metrics.auth_failure("forbidden");
        metrics.store_error("ready");
        let text = metrics.encode().unwrap();
        for line in [
            r#"flavorbox_calls_total{flavor="local",outcome="ok"} 1"#,
            r#"flavorbox_calls_total{flavor="local",outcome="sandbox"} 1"#,
            r#"flavorbox_sandbox_breaches_total{flavor="local",violation="deadline"} 1"#,
            r#"flavorbox_auth_failures_total{reason="forbidden"} 1"#,
            r#"flavorbox_store_errors_total{during="ready"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
