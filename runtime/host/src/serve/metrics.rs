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
//! ones are counted under `other`, so no number of them grows the scrape
//! past a bound.
//!
//! Who may read it: an admin token of any secrets manager, as for listing
//! the managers (`routes.rs`): the labels name every manager that served
//! a request, which anyone on the network should not learn.

use std::collections::HashSet;
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

/// Names that get a label of their own, up to a count.
struct NamedLabels {
    seen: Mutex<HashSet<String>>,
}

impl NamedLabels {
    fn new() -> NamedLabels {
        NamedLabels {
            seen: Mutex::default(),
        }
    }

    /// `name`'s label: itself if it has one or there is room, else `other`.
    fn label(&self, name: &str) -> String {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(name) {
            return name.to_string();
        }
        if seen.len() < MAX_NAMED_LABELS {
            seen.insert(name.to_string());
            return name.to_string();
        }
        OTHER.to_string()
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
    managers: NamedLabels,
    flavors: NamedLabels,
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
            managers: NamedLabels::new(),
            flavors: NamedLabels::new(),
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
    let metrics = &node.metrics;
    let manager = response
        .extensions()
        .get::<ManagerLabel>()
        .map(|named| metrics.managers.label(&named.0))
        .unwrap_or_default();
    let timed = RouteLabels {
        route: route.clone(),
        method,
    };
    metrics
        .latency
        .get_or_create(&timed)
        .observe(started.elapsed().as_secs_f64());
    let counted = RequestLabels {
        route,
        method,
        status: response.status().as_u16(),
        manager,
    };
    metrics.requests.get_or_create(&counted).inc();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Violation;

    #[test]
    fn names_past_the_cap_share_one_label() {
        let named = NamedLabels::new();
        for n in 0..MAX_NAMED_LABELS {
            assert_eq!(named.label(&format!("m{n}")), format!("m{n}"));
        }
        assert_eq!(named.label("one-too-many"), OTHER);
        assert_eq!(named.label("m0"), "m0");
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
