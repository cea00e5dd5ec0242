//! The routes only an admin token opens beyond the managers list: the
//! flavors with what each is granted, the last `evaluate` report recorded
//! for a flavor, and the audit log, filtered.
//!
//! Guards against an admin view that costs the node without bound: an
//! audit reading answers at most [`MAX_AUDIT_ENTRIES`] entries whatever
//! it asks, its filters are compared for equality in the store (never a
//! pattern), and a query that does not parse is one `400` naming the
//! parameters it takes. A report is answered as recorded, bounded when it
//! was recorded (`evaluate::MAX_RECORDED_BYTES`); a flavor's texts are
//! data for the client to show as text.

use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{Authorized, ListFlavors, ReadAudit, ReadEvaluation, Segments, listed};
use crate::error::Error;
use crate::registry::FlavorEntry;
use crate::serve::json::Answer;
use crate::store::AuditFilter;

/// The most entries one audit reading answers.
pub const MAX_AUDIT_ENTRIES: u32 = 1_000;

/// What `GET /v1/audit` takes in its query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    manager: Option<String>,
    token: Option<String>,
    outcome: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: Option<u32>,
}

impl AuditQuery {
    fn parse(query: Option<&str>) -> crate::error::Result<AuditQuery> {
        let refused = || {
            Error::invalid(format!(
                "the audit log takes manager, token, outcome, since_ms and until_ms \
                 (milliseconds since the Unix epoch) and limit (1 to {MAX_AUDIT_ENTRIES})"
            ))
        };
        let parsed: AuditQuery =
            serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| refused())?;
        if parsed
            .limit
            .is_some_and(|n| n == 0 || n > MAX_AUDIT_ENTRIES)
        {
            return Err(refused());
        }
        Ok(parsed)
    }
}

/// The latest audit entries (100 unless `limit` says), newest last, that
/// match every filter given (an empty filter is no filter).
pub(super) async fn audit_log(RawQuery(query): RawQuery, auth: Authorized<ReadAudit>) -> Response {
    let asked = match AuditQuery::parse(query.as_deref()) {
        Ok(asked) => asked,
        Err(refused) => return auth.respond(Answer::error(&refused)).await,
    };
    let given = |s: Option<String>| s.filter(|s| !s.is_empty());
    let filter = AuditFilter {
        manager: given(asked.manager),
        token: given(asked.token),
        outcome: given(asked.outcome),
        since_ms: asked.since_ms,
        until_ms: asked.until_ms,
    };
    let limit = asked.limit.unwrap_or(100);
    auth.answer_with(move |home| {
        let entries = home.access().audit_matching(&filter, limit)?;
        Ok(listed("entries", entries, |entry| json!(entry)))
    })
    .await
}

/// Every flavor with its digest, whether it is built in, bundled or
/// registered, what it is granted and its limits, and whether a report of
/// `evaluate` is recorded for its digest.
pub(super) async fn list_flavors(auth: Authorized<ListFlavors>) -> Response {
    auth.answer_with(move |home| {
        let flavors = home.flavors().list()?;
        let mut shown = Vec::with_capacity(flavors.len());
        for flavor in flavors {
            let evaluated = crate::evaluate::is_recorded(home, &flavor.digest)?;
            shown.push(view(flavor, evaluated));
        }
        Ok(listed("flavors", shown, |f| f))
    })
    .await
}

fn view(f: FlavorEntry, evaluated: bool) -> serde_json::Value {
    let about = f.description;
    json!({ "name": about.name, "version": about.version,
            "description": about.description, "digest": f.digest,
            "builtin": f.builtin, "bundled": f.bundled, "registered": f.registered,
            "policy": f.policy, "evaluated": evaluated })
}

/// The last `evaluate` report recorded (`flavorbox evaluate FILE --record`)
/// for the component flavor `{flavor}` runs, by its digest; `404` when none
/// is.
pub(super) async fn evaluation(
    Segments(name): Segments<String>,
    auth: Authorized<ReadEvaluation>,
) -> Response {
    auth.answer_with(move |home| {
        let flavor = home.flavors().get(&name)?;
        let Some(report) = crate::evaluate::recorded(home, &flavor.digest)? else {
            return Err(Error::not_found(format!(
                "no evaluate report is recorded for flavor `{name}` at {}; \
                 run `flavorbox evaluate FILE --record` on its component",
                flavor.digest
            )));
        };
        Ok(Answer::ok(
            StatusCode::OK,
            json!({ "flavor": name, "digest": flavor.digest, "report": report }),
        ))
    })
    .await
}
