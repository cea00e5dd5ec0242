//! The API's routes: one small handler per operation, each given an
//! authorized token by [`Authorized`] (see `auth.rs`) before it runs.
//!
//! Guards against a handler that reads before it may: a body is read only
//! inside a handler, so after authentication, within the node's body
//! timeout, and every call runs in one of its manager's call slots (see
//! `tenants`) on the bounded pool of blocking threads under its manager's
//! sandbox limits; an
//! update's read-merge-write holds the store's lock on that secret, so two
//! merges of one secret, on any node, take turns.
//!
//! Guards against a client learning the node's state without a token:
//! `/v1/health` says only that the process answers, `/v1/ready` only
//! whether the store answers at this build's layout, and a path or method
//! no route knows is the documented JSON error (`404`, `405`) without
//! touching the store; `/metrics` needs an admin token (see `metrics`).
//!
//! `client_ops.rs` holds the routes of the CLI's client mode beyond one
//! secret at a time (a schema, rename, export, import); `history.rs` those
//! of versions (and the version-checked read and update of a secret).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::auth::{Authorized, Operation, bind_manager};
use super::json::{Answer, RequestBody, SecretBody, read_json};
use super::metrics::{Metrics, track};
use super::{Node, blocking};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::managers::{BulkBound, Deletion, Manager, SecretSummary};
use crate::store::{LAYOUT_VERSION, ManagerRecord, Role};

/// The longest `/v1/ready` waits for the store before it answers `503`.
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

mod admin;
mod client_ops;
mod history;

pub use admin::MAX_AUDIT_ENTRIES;

/// The media type of `/metrics`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(super) fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/whoami", get(whoami))
        .route("/v1/managers", get(list_managers))
        .route("/v1/flavors", get(admin::list_flavors))
        .route("/v1/flavors/{flavor}/evaluation", get(admin::evaluation))
        .route("/v1/audit", get(admin::audit_log))
        .route("/v1/managers/{manager}", get(history::describe_manager))
        .route(
            "/v1/managers/{manager}/secrets",
            get(list_secrets).post(register).delete(delete_all),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}",
            get(history::get_secret)
                .patch(history::update)
                .delete(delete_secret),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}/keys",
            get(history::secret_keys),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}/versions",
            get(history::history),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}/versions/{version}",
            get(history::version),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}/rollback",
            post(history::rollback),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}/restore",
            post(history::restore),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}/labels",
            post(history::labels),
        )
        .route(
            "/v1/managers/{manager}/changes",
            get(super::changes::changes),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}/rename",
            post(client_ops::rename),
        )
        .route(
            "/v1/managers/{manager}/schemas/{schema}",
            get(client_ops::schema),
        )
        .route("/v1/managers/{manager}/export", post(client_ops::export))
        .route("/v1/managers/{manager}/import", post(client_ops::import))
        .merge(super::console::router())
        .method_not_allowed_fallback(wrong_method)
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn(
            super::console::refuse_cross_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(node.clone(), track))
        .layer(axum::middleware::from_fn(super::console::secure_headers))
        .with_state(node)
}

/// `404` for a path no route matches.
async fn unknown_route() -> Response {
    let refused = "no such route; see the API's routes in the README";
    Answer::fixed(StatusCode::NOT_FOUND, "not-found", refused).into_response()
}

/// `405` for a route asked with a method it does not take.
async fn wrong_method() -> Response {
    let refused = "this route does not take that method";
    Answer::fixed(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        refused,
    )
    .into_response()
}

/// Declares each operation: its name in the audit log and the least role a
/// token needs for it.
macro_rules! operations {
    ($($operation:ident = $name:literal, $role:ident;)*) => {$(
        pub(super) struct $operation;
        impl Operation for $operation {
            const NAME: &'static str = $name;
            const ROLE: Role = Role::$role;
        }
    )*};
}

operations! {
    Whoami = "whoami", Read;
    ReadMetrics = "metrics", Admin;
    ListManagers = "list-managers", Admin;
    ListFlavors = "list-flavors", Admin;
    ReadEvaluation = "get-evaluation", Admin;
    ReadAudit = "read-audit", Admin;
    ListSecrets = "get-all-secret-keys", Read;
    GetSecret = "get-secret", Read;
    GetSecretKeys = "get-secret-keys", Read;
    RegisterSecret = "register-secret", Write;
    UpdateSecret = "update-secret", Write;
    DeleteSecret = "delete-secret", Write;
    DeleteAllSecrets = "delete-all-secrets", Admin;
    WatchChanges = "changes", Read;
    GetSchema = "get-schema", Read;
    RenameSecret = "rename-secret", Write;
    ExportSecrets = "export-secrets", Read;
    ImportSecrets = "import-secrets", Write;
    SecretHistory = "list-versions", Read;
    RollbackSecret = "rollback-secret", Write;
    RestoreSecret = "restore-secret", Write;
    LabelSecret = "set-labels", Write;
    DescribeManager = "describe-manager", Read;
}

/// The segments a route names (`{manager}`, `{name}`), as axum's [`Path`]
/// reads them, a path that does not decode answered with the JSON error
/// body.
pub(super) struct Segments<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Segments<T> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> std::result::Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(segments)) => Ok(Segments(segments)),
            Err(_) => Err(Answer::bad_path().into_response()),
        }
    }
}

/// The path of a request on one manager: its name.
pub(super) type ManagerPath = Segments<String>;
/// The path of a request on one secret: its manager's name and its own.
pub(super) type SecretPath = Segments<(String, String)>;

impl<O> Authorized<O> {
    /// Reads the request's JSON body, bounded in size and time (one that
    /// does not parse is answered `400`, one that does not arrive in time
    /// `408`), then answers with `work` run on it as
    /// [`Authorized::answer_with`] does, audited under the secret the body
    /// names, whatever the outcome.
    async fn answer_json<T: RequestBody>(
        self,
        body: Body,
        work: impl FnOnce(&Home, T) -> Result<Answer> + Send + 'static,
    ) -> Response {
        let parsed: T = match read_json(body, self.body_timeout()).await {
            Ok(parsed) => parsed,
            Err(refused) => return self.respond(refused).await,
        };
        let named = parsed.names_secret();
        let answer = self.run(move |home| work(home, parsed)).await;
        self.respond(Answer { named, ..answer }).await
    }

    /// Runs `work` on secrets manager `manager` and answers `200` with the
    /// JSON it returns (see [`Authorized::answer_with`]).
    async fn answer_on(
        self,
        manager: String,
        work: impl FnOnce(&Manager) -> Result<serde_json::Value> + Send + 'static,
    ) -> Response {
        let owner = self.token().manager_id;
        let metrics = self.metrics();
        self.answer_with(move |home| {
            let body = call_on(home, &metrics, &manager, owner, work)?;
            Ok(Answer::ok(StatusCode::OK, body))
        })
        .await
    }
}

/// Binds secrets manager `name` for a token of the manager `owner` (see
/// [`bind_manager`]) and runs the call `work` on it, counted in `metrics`
/// under the manager's flavor.
fn call_on<T>(
    home: &Home,
    metrics: &Metrics,
    name: &str,
    owner: Option<i64>,
    work: impl FnOnce(&Manager) -> Result<T>,
) -> Result<T> {
    let bound = bind_manager(home, name, owner)?;
    let outcome = work(&bound);
    metrics.call(&bound.record().flavor, &outcome);
    outcome
}

/// A `200` answer listing `items` under `field`, each shown by `view`.
fn listed<T>(field: &str, items: Vec<T>, view: impl Fn(T) -> serde_json::Value) -> Answer {
    let shown: Vec<_> = items.into_iter().map(view).collect();
    Answer::ok(StatusCode::OK, json!({ field: shown }))
}

/// That the process answers; it asks the store nothing. No token needed,
/// nothing audited, and outside every per-tenant limit (no token or call
/// slot is taken).
async fn health() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

/// Whether the node can serve: the store answers within
/// [`READY_TIMEOUT`] and is at the layout this build writes (another node
/// of a newer flavorbox may have moved it on). `503` with the JSON error
/// body otherwise. No token needed, nothing audited, no slot taken.
async fn ready(State(node): State<Arc<Node>>) -> Response {
    let store = node.clone();
    let asked = blocking(move || store.home.db().layout_version());
    let refusal = match tokio::time::timeout(READY_TIMEOUT, asked).await {
        Ok(Ok(LAYOUT_VERSION)) => {
            return (StatusCode::OK, axum::Json(json!({ "status": "ready" }))).into_response();
        }
        Ok(Ok(version)) => {
            format!("the store is at layout {version}; this node serves layout {LAYOUT_VERSION}")
        }
        Ok(Err(_)) | Err(_) => {
            node.metrics.store_error("ready");
            format!(
                "the store did not answer within {} s",
                READY_TIMEOUT.as_secs()
            )
        }
    };
    Answer::fixed(StatusCode::SERVICE_UNAVAILABLE, "not-ready", &refusal).into_response()
}

/// The node's metrics, in the OpenMetrics text format (admin tokens only:
/// the labels name secrets managers).
async fn metrics(auth: Authorized<ReadMetrics>) -> Response {
    let answer = match auth.metrics().encode() {
        Ok(text) => Answer::text(text, OPENMETRICS),
        Err(err) => Answer::error(&err),
    };
    auth.respond(answer).await
}

/// The presented token's id, name, manager, role and expiry (any valid
/// token).
async fn whoami(auth: Authorized<Whoami>) -> Response {
    let token = auth.token();
    let answer = Answer::ok(
        StatusCode::OK,
        json!({ "token": token.id, "name": token.name, "manager": token.manager,
                "manager_id": token.manager_id, "role": token.role.as_str(),
                "expires_ms": token.expires_ms }),
    );
    auth.respond(answer).await
}

async fn list_managers(auth: Authorized<ListManagers>) -> Response {
    // Configs may hold credentials: names only.
    let view = |m: ManagerRecord| json!({ "name": m.name, "flavor": m.flavor, "active": m.active });
    auth.answer_with(move |home| Ok(listed("managers", home.managers().list()?, view)))
        .await
}

/// The names of the secrets; with `?long=true`, each one's metadata (a
/// flavor keeping history only).
async fn list_secrets(
    Segments(manager): ManagerPath,
    RawQuery(query): RawQuery,
    auth: Authorized<ListSecrets>,
) -> Response {
    if flagged(query.as_deref(), "long") {
        return history::list_metadata(Segments(manager), auth).await;
    }
    let list = |bound: &Manager| Ok(json!({ "secrets": bound.list_secrets()? }));
    auth.answer_on(manager, list).await
}

async fn register(
    Segments(manager): ManagerPath,
    auth: Authorized<RegisterSecret>,
    body: Body,
) -> Response {
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_json(body, move |home, body: SecretBody| {
        // The CLI's input rules, then the manager's (schemas) as from the CLI.
        let secret = body.into_given_secret()?;
        call_on(home, &metrics, &manager, owner, |bound| {
            bound.register_secret(&secret)
        })?;
        let written = json!(SecretSummary::of(&secret));
        Ok(Answer::ok(StatusCode::CREATED, written))
    })
    .await
}

/// Deletes a secret: soft where its flavor keeps history, for good with
/// `?purge=true`; refused `409` while a manager's config refers to it,
/// unless `?force=true`: then the references it broke are listed under
/// `broken` (each `{manager, key, reference}`).
async fn delete_secret(
    Segments((manager, name)): SecretPath,
    RawQuery(query): RawQuery,
    auth: Authorized<DeleteSecret>,
) -> Response {
    let force = flagged(query.as_deref(), "force");
    let how = if flagged(query.as_deref(), "purge") {
        Deletion::Purge
    } else {
        Deletion::Soft
    };
    let delete = move |bound: &Manager| {
        if !force {
            bound.delete_secret(&name, how)?;
            return Ok(json!({ "deleted": name }));
        }
        let broken = shown_broken(bound.delete_secret_breaking(&name, how)?);
        Ok(json!({ "deleted": name, "broken": broken }))
    };
    auth.answer_on(manager, delete).await
}

/// The config references a forced delete or rename broke, as answered.
fn shown_broken(broken: Vec<crate::managers::Referrer>) -> serde_json::Value {
    let shown = |r: crate::managers::Referrer| json!({ "manager": r.manager, "key": r.key, "reference": r.reference.to_string() });
    broken.into_iter().map(shown).collect()
}

/// Whether a request's query holds `force=true`.
fn forced(query: Option<&str>) -> bool {
    flagged(query, "force")
}

/// Whether a request's query holds `FLAG=true`.
fn flagged(query: Option<&str>, flag: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.strip_prefix(flag) == Some("=true"))
    })
}

/// Deletes every secret of a manager, confirmed by `?force=true`; refused
/// `409` while a manager's config refers to one of them (`force` confirms
/// the deletion, it does not break references).
async fn delete_all(
    Segments(manager): ManagerPath,
    RawQuery(query): RawQuery,
    auth: Authorized<DeleteAllSecrets>,
) -> Response {
    if !forced(query.as_deref()) {
        let refused = Error::invalid(
            "delete-all removes every secret of the secrets manager; pass ?force=true",
        );
        return auth.respond(Answer::error(&refused)).await;
    }
    let delete_all = |bound: &Manager| {
        Ok(json!({ "deleted": bound.delete_all_secrets(BulkBound::default(), &|_, _| {})? }))
    };
    auth.answer_on(manager, delete_all).await
}
