//! Who may do what, as an axum extractor: a handler that takes
//! [`Authorized<O>`] runs only for a token that may do operation `O` on the
//! manager its path names; any other request is answered `401`, `403` or
//! `429` here, and audited, without its handler ever running.
//!
//! Guards against:
//! - a caller without a valid token learning anything: the token is checked
//!   before the body is read or any secret looked at, and a missing, wrong,
//!   expired or revoked token is one `401` whatever the request names; a
//!   valid token on another manager or with too small a role is one `403`,
//!   audited with the token's id, that names the role and manager the
//!   operation needs and those of the token (the caller's own);
//! - refused authentications filling the audit log: a `401`, and the `429`
//!   of an address past its failed attempts, are counted per address and
//!   written as one entry per interval (see `audit`), never one per
//!   request; a request with a valid token stays one entry;
//! - a token opening a manager it was not made for: the manager its path
//!   names must have the id the token is bound to (a removed manager's
//!   namesake has another id), here and again where a handler binds it
//!   ([`bind_manager`]);
//! - guessing tokens: a peer past its failed attempts is refused (`429`)
//!   before its token is even hashed (see `tokens::FailureLimiter`);
//! - one token or manager crowding the others: a token with its most
//!   requests in flight is refused (`429`, `Retry-After`), and a call
//!   waits for one of its manager's fair call slots no longer than the
//!   node's call wait (`503`, `Retry-After`; see `tenants`);
//! - an answer leaving unaudited: [`Authorized::respond`] is how a handler
//!   answers, and it withholds the answer when its audit entry cannot be
//!   written.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::json::Answer;
use super::metrics::{ManagerLabel, Metrics};
use super::tenants::Held;
use super::{Node, audit, blocking, tokens};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::managers::Manager;
use crate::store::{AuditEntry, Role, TokenRecord};

/// An operation of the API.
pub(super) trait Operation {
    /// Its name in the audit log.
    const NAME: &'static str;
    /// The least role a token needs for it.
    const ROLE: Role;
}

/// One request, once routed: what the audit log records of it besides its
/// answer.
struct Request {
    operation: &'static str,
    manager: Option<String>,
    secret: Option<String>,
}

/// A request whose token may do operation `O` on the manager its path
/// names (the `{manager}` and `{name}` segments).
pub(super) struct Authorized<O> {
    node: Arc<Node>,
    peer: IpAddr,
    token: TokenRecord,
    request: Request,
    /// This request's place among its token's requests in flight.
    _in_flight: Held<String>,
    operation: PhantomData<O>,
}

impl<O: Operation> FromRequestParts<Arc<Node>> for Authorized<O> {
    /// The refusal, already audited.
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        node: &Arc<Node>,
    ) -> std::result::Result<Self, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, node)
            .await
            .map_err(IntoResponse::into_response)?;
        let params = RawPathParams::from_request_parts(parts, node)
            .await
            .map_err(|_| Answer::bad_path().into_response())?;
        let param = |wanted: &str| {
            params
                .iter()
                .find(|(key, _)| *key == wanted)
                .map(|(_, value)| value.to_string())
        };
        let request = Request {
            operation: O::NAME,
            manager: param("manager"),
            secret: param("name"),
        };
        let peer = peer.ip();
        let refusal = match authorize(node, peer, &parts.headers, &request, O::ROLE).await {
            Ok(token) => match node.token_requests.try_hold(token.id.clone()) {
                Some(in_flight) => {
                    return Ok(Authorized {
                        node: node.clone(),
                        peer,
                        token,
                        request,
                        _in_flight: in_flight,
                        operation: PhantomData,
                    });
                }
                None => Refusal {
                    token: Some(token),
                    answer: Answer::token_busy(),
                    unauthenticated: false,
                },
            },
            Err(refusal) => refusal,
        };
        let Refusal {
            token,
            answer,
            unauthenticated,
        } = refusal;
        if unauthenticated {
            // Costs the client no token: counted per address, written as
            // one entry per interval (see `audit`), answered at once.
            node.audit.refused(
                peer,
                tokens::now_ms(),
                &answer.outcome,
                answer.status.as_u16(),
            );
            return Err(answer.into_response());
        }
        let manager = token.as_ref().map(|t| t.manager.clone());
        let response = audited(node, peer, token.map(|t| t.id), request, answer).await;
        Err(labelled(response, manager))
    }
}

impl<O> Authorized<O> {
    /// The token presented.
    pub(super) fn token(&self) -> &TokenRecord {
        &self.token
    }

    /// The node's metrics.
    pub(super) fn metrics(&self) -> Arc<Metrics> {
        self.node.metrics.clone()
    }

    /// How long this request's body may take to arrive.
    pub(super) fn body_timeout(&self) -> std::time::Duration {
        self.node.limits.body_timeout
    }

    /// A turn to read and run an import (at most `LARGE_BODIES` at once
    /// per node), waited for no longer than the node's call wait.
    pub(super) async fn large_body_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let turn = self.node.large_bodies.clone().acquire_owned();
        tokio::time::timeout(self.node.limits.call_wait, turn)
            .await
            .ok()?
            .ok()
    }

    /// Runs `work` on the node's home on a blocking thread (calls block
    /// while their flavor runs), in a call slot of the token's manager
    /// held until `work` ends; an error is answered with its status, and
    /// no slot within the node's call wait with `503`.
    pub(super) async fn run(
        &self,
        work: impl FnOnce(&Home) -> Result<Answer> + Send + 'static,
    ) -> Answer {
        let Ok(slot) = self.node.calls.acquire(self.token.manager_id).await else {
            return Answer::busy();
        };
        let node = self.node.clone();
        blocking(move || {
            let _slot = slot;
            work(&node.home)
        })
        .await
        .into()
    }

    /// [`Authorized::run`], then [`Authorized::respond`] with its answer.
    pub(super) async fn answer_with(
        self,
        work: impl FnOnce(&Home) -> Result<Answer> + Send + 'static,
    ) -> Response {
        let answer = self.run(work).await;
        self.respond(answer).await
    }

    /// Answers with `answer` once it is audited; withheld if it cannot be.
    pub(super) async fn respond(self, answer: Answer) -> Response {
        let token = Some(self.token.id);
        let response = audited(&self.node, self.peer, token, self.request, answer).await;
        labelled(response, Some(self.token.manager))
    }
}

/// Binds the secrets manager `name` on `home` for a token bound to the
/// manager `token_manager`: `denied` (`403`) unless it is that manager.
/// Authorization checked this already; it holds here even if the manager
/// was removed and a namesake made in between.
pub(super) fn bind_manager<'h>(
    home: &'h Home,
    name: &str,
    token_manager: Option<i64>,
) -> Result<Manager<'h>> {
    let bound = home.manager(Some(name))?;
    if Some(bound.record().id) != token_manager {
        return Err(Error::denied(format!(
            "this token was not made for secrets manager `{}`",
            shown(name)
        )));
    }
    Ok(bound)
}

/// `response`, labelled for the metrics with the secrets manager its token
/// was made for.
fn labelled(mut response: Response, manager: Option<String>) -> Response {
    if let Some(manager) = manager {
        response.extensions_mut().insert(ManagerLabel(manager));
    }
    response
}

/// A name a request gave, as a message shows it: clipped and escaped.
pub(super) fn shown(name: &str) -> String {
    crate::text::escape(&crate::text::clip(
        name,
        crate::store::access::AUDIT_NAME_CHARS,
    ))
    .into_owned()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// What a refused `403` says: what `operation` needs (`role`, on the
/// secrets manager the path names, if it names one) and what the token is.
fn forbidden(operation: &str, role: Role, manager: Option<&str>, token: &TokenRecord) -> String {
    let on = manager.map_or_else(String::new, |name| {
        format!(" on secrets manager `{}`", shown(name))
    });
    format!(
        "{operation} needs role {}{on}; this token has role {} on secrets manager `{}`",
        role.as_str(),
        token.role.as_str(),
        token.manager
    )
}

/// A refused request: the answer, and the token it presented when that
/// token is valid (a `403`), for the audit log and the metrics.
struct Refusal {
    token: Option<TokenRecord>,
    answer: Answer,
    /// Refused for want of a valid token (`401`, or `429` to an address
    /// past its failed attempts): audited as a count per address.
    unauthenticated: bool,
}

impl Refusal {
    fn unauthenticated(answer: Answer) -> Refusal {
        Refusal {
            token: None,
            answer,
            unauthenticated: true,
        }
    }
}

/// The token of a request that may do `request` with role `role`, or the
/// refusal.
async fn authorize(
    node: &Arc<Node>,
    peer: IpAddr,
    headers: &HeaderMap,
    request: &Request,
    role: Role,
) -> std::result::Result<TokenRecord, Refusal> {
    if node.limiter.blocked(peer) {
        node.metrics.auth_failure("rate-limited");
        return Err(Refusal::unauthenticated(Answer::fixed(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many failed attempts from this address; try again later",
        )));
    }
    let unauthorized = || {
        Answer::fixed(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required (Authorization: Bearer TOKEN)",
        )
    };
    let Some(presented) = bearer(headers).map(str::to_string) else {
        node.limiter.failed(peer);
        node.metrics.auth_failure("unauthorized");
        return Err(Refusal::unauthenticated(unauthorized()));
    };
    let checker = node.clone();
    let named = request.manager.clone();
    // The token, and the id of the manager the path names (if it names one
    // that exists).
    let found = blocking(move || {
        let Some(token) = tokens::verify(checker.home.access(), &presented)? else {
            return Ok(None);
        };
        let named_id = match &named {
            Some(name) => checker.home.db().manager(name)?.map(|m| m.id),
            None => None,
        };
        Ok(Some((token, named_id)))
    })
    .await;
    let (token, named_id) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            node.limiter.failed(peer);
            node.metrics.auth_failure("unauthorized");
            return Err(Refusal::unauthenticated(unauthorized()));
        }
        Err(err) => {
            node.metrics.store_error("token-lookup");
            return Err(Refusal {
                token: None,
                answer: Answer::error(&err),
                unauthenticated: false,
            });
        }
    };
    // Bound by id: a manager that took a removed one's name is not the
    // token's, and neither is a manager that does not exist.
    let on_manager =
        request.manager.is_none() || (named_id.is_some() && named_id == token.manager_id);
    if !on_manager || token.role < role {
        node.metrics.auth_failure("forbidden");
        let message = forbidden(request.operation, role, request.manager.as_deref(), &token);
        return Err(Refusal {
            token: Some(token),
            answer: Answer::fixed(StatusCode::FORBIDDEN, "forbidden", &message),
            unauthenticated: false,
        });
    }
    Ok(token)
}

/// Records `answer` to `request` in the audit log, then answers with it; if
/// the entry cannot be recorded, the answer is withheld.
async fn audited(
    node: &Node,
    peer: IpAddr,
    token: Option<String>,
    request: Request,
    mut answer: Answer,
) -> Response {
    let at_ms = tokens::now_ms();
    let entry = AuditEntry {
        at_ms,
        last_ms: at_ms,
        count: 1,
        peer: peer.to_string(),
        token,
        manager: request.manager.map(audit::clip),
        operation: request.operation.to_string(),
        secret: answer.named.take().or(request.secret).map(audit::clip),
        outcome: answer.outcome.clone(),
        status: answer.status.as_u16(),
    };
    if let Err(err) = node.audit.record(entry).await {
        // Fail closed: no answer (a value, above all) leaves unaudited. What
        // the request changed, it changed; the error says so.
        tracing::error!("audit entry not recorded: {err}");
        node.metrics.store_error("audit");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({
                "error": "host",
                "message": "the request could not be audited, so its answer is withheld \
                            (a write it made stands)",
            })),
        )
            .into_response();
    }
    answer.into_response()
}
