//! `GET /v1/managers/{manager}/changes?since=V&wait=S`: the change feed a
//! client's `run --watch` or `resolve --watch` follows. It answers
//! `{"version": N}` as soon as the manager's change version (see
//! `managers::changes`) differs from `since`, or after `wait` seconds with
//! it unchanged; a client asks again with the version it got.
//!
//! Guards against a watcher holding the node: a wait is at most
//! [`MAX_CHANGE_WAIT`] and ends early when the node stops; it holds no
//! call slot (it runs no flavor), only its token's place among the
//! requests in flight (so one token's watchers are bounded with the rest
//! of its requests), and reads the store every [`LOCAL_POLL`], which also
//! sees what other nodes of a shared store wrote. It answers a version
//! number and nothing of the secrets; it needs a `read` token of the
//! manager, as reading them does.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::auth::{Authorized, bind_manager};
use super::json::Answer;
use super::routes::{ManagerPath, Segments, WatchChanges};
use super::transport::Stopping;
use super::{Node, blocking};
use crate::error::{Error, Result};
use crate::managers::{LOCAL_POLL, MAX_CHANGE_WAIT};

/// The wait when a request names none.
const DEFAULT_WAIT: Duration = Duration::from_secs(25);

/// `since` and `wait` from a request's query; both optional, anything
/// else refused.
fn parse_query(query: Option<&str>) -> Result<(Option<u64>, Duration)> {
    let mut since = None;
    let mut wait = DEFAULT_WAIT;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let bad = || {
            Error::invalid(format!(
                "the change feed takes ?since=VERSION&wait=SECONDS (at most {}); not `{}`",
                MAX_CHANGE_WAIT.as_secs(),
                crate::text::clip(pair, 40)
            ))
        };
        let (name, value) = pair.split_once('=').ok_or_else(bad)?;
        let number: u64 = value.parse().map_err(|_| bad())?;
        match name {
            "since" => since = Some(number),
            "wait" if number <= MAX_CHANGE_WAIT.as_secs() => wait = Duration::from_secs(number),
            _ => return Err(bad()),
        }
    }
    Ok((since, wait))
}

pub(super) async fn changes(
    Segments(manager): ManagerPath,
    RawQuery(query): RawQuery,
    State(node): State<Arc<Node>>,
    Extension(Stopping(mut stopping)): Extension<Stopping>,
    auth: Authorized<WatchChanges>,
) -> Response {
    let (since, wait) = match parse_query(query.as_deref()) {
        Ok(asked) => asked,
        Err(refused) => return auth.respond(Answer::error(&refused)).await,
    };
    let owner = auth.token().manager_id;
    let home = node.clone();
    let feed = match blocking(move || Ok(bind_manager(&home.home, &manager, owner)?.change_feed()))
        .await
    {
        Ok(feed) => Arc::new(feed),
        Err(err) => return auth.respond(Answer::error(&err)).await,
    };
    let until = tokio::time::Instant::now() + wait;
    let answer = loop {
        let reader = feed.clone();
        let version = match blocking(move || reader.version()).await {
            Ok(version) => version,
            Err(err) => {
                node.metrics.store_error("changes");
                break Answer::error(&err);
            }
        };
        let now = tokio::time::Instant::now();
        if since != Some(version) || now >= until || *stopping.borrow() {
            break Answer::ok(StatusCode::OK, json!({ "version": version }));
        }
        tokio::select! {
            _ = tokio::time::sleep(LOCAL_POLL.min(until - now)) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
    };
    auth.respond(answer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_since_and_a_bounded_wait_only() {
        assert_eq!(parse_query(None).unwrap(), (None, DEFAULT_WAIT));
        assert_eq!(
            parse_query(Some("since=7&wait=3")).unwrap(),
            (Some(7), Duration::from_secs(3))
        );
        for refused in ["wait=31", "since=-1", "since", "other=1", "since=1&x=2"] {
            let err = parse_query(Some(refused)).unwrap_err();
            assert!(err.is(crate::error::ErrorKind::Invalid), "{refused}");
        }
    }
}
