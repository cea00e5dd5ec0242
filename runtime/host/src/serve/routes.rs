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

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::auth::{Authorized, Operation, bind_manager};
use super::json::{Answer, RequestBody, SecretBody, UpdateBody, read_json};
use super::{Node, blocking};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::managers::{BulkBound, Manager, SecretSummary, SecretUpdate};
use crate::registry::FlavorEntry;
use crate::store::{ManagerRecord, Role};

pub(super) fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/whoami", get(whoami))
        .route("/v1/managers", get(list_managers))
        .route("/v1/flavors", get(list_flavors))
        .route(
            "/v1/managers/{manager}/secrets",
            get(list_secrets).post(register).delete(delete_all),
        )
        .route(
            "/v1/managers/{manager}/secrets/{name}",
            get(get_secret).patch(update).delete(delete_secret),
        )
        .with_state(node)
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
    ListManagers = "list-managers", Admin;
    ListFlavors = "list-flavors", Admin;
    ListSecrets = "get-all-secret-keys", Read;
    GetSecret = "get-secret", Read;
    RegisterSecret = "register-secret", Write;
    UpdateSecret = "update-secret", Write;
    DeleteSecret = "delete-secret", Write;
    DeleteAllSecrets = "delete-all-secrets", Admin;
}

/// The path of a request on one manager: its name.
type ManagerPath = Path<String>;
/// The path of a request on one secret: its manager's name and its own.
type SecretPath = Path<(String, String)>;

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
        self.answer_with(move |home| {
            let body = work(&bind_manager(home, &manager, owner)?)?;
            Ok(Answer::ok(StatusCode::OK, body))
        })
        .await
    }
}

/// A `200` answer listing `items` under `field`, each shown by `view`.
fn listed<T>(field: &str, items: Vec<T>, view: impl Fn(T) -> serde_json::Value) -> Answer {
    let shown: Vec<_> = items.into_iter().map(view).collect();
    Answer::ok(StatusCode::OK, json!({ field: shown }))
}

/// Whether the store answers; no token needed, nothing audited, and
/// outside every per-tenant limit (no token or call slot is taken).
async fn health(State(node): State<Arc<Node>>) -> Response {
    let checked = blocking(move || node.home.db().managers().map(|_| ())).await;
    match checked {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "store unreachable" })),
        )
            .into_response(),
    }
}

/// The presented token's id, manager and role (any valid token).
async fn whoami(auth: Authorized<Whoami>) -> Response {
    let token = auth.token();
    let answer = Answer::ok(
        StatusCode::OK,
        json!({ "token": token.id, "manager": token.manager, "manager_id": token.manager_id,
                "role": token.role.as_str() }),
    );
    auth.respond(answer).await
}

async fn list_managers(auth: Authorized<ListManagers>) -> Response {
    // Configs may hold credentials: names only.
    let view = |m: ManagerRecord| json!({ "name": m.name, "flavor": m.flavor, "active": m.active });
    auth.answer_with(move |home| Ok(listed("managers", home.managers().list()?, view)))
        .await
}

async fn list_flavors(auth: Authorized<ListFlavors>) -> Response {
    let view = |f: FlavorEntry| {
        let about = f.description;
        json!({ "name": about.name, "version": about.version,
                "description": about.description, "digest": f.digest })
    };
    auth.answer_with(move |home| Ok(listed("flavors", home.flavors().list()?, view)))
        .await
}

async fn list_secrets(Path(manager): ManagerPath, auth: Authorized<ListSecrets>) -> Response {
    let list = |bound: &Manager| Ok(json!({ "secrets": bound.list_secrets()? }));
    auth.answer_on(manager, list).await
}

async fn get_secret(Path((manager, name)): SecretPath, auth: Authorized<GetSecret>) -> Response {
    let get = move |bound: &Manager| Ok(json!(SecretBody::of(&bound.get_secret(&name)?)));
    auth.answer_on(manager, get).await
}

async fn register(
    Path(manager): ManagerPath,
    auth: Authorized<RegisterSecret>,
    body: Body,
) -> Response {
    let owner = auth.token().manager_id;
    auth.answer_json(body, move |home, body: SecretBody| {
        // The CLI's input rules, then the manager's (schemas) as from the CLI.
        let secret = body.into_given_secret()?;
        bind_manager(home, &manager, owner)?.register_secret(&secret)?;
        let written = json!(SecretSummary::of(&secret));
        Ok(Answer::ok(StatusCode::CREATED, written))
    })
    .await
}

async fn update(
    Path((manager, name)): SecretPath,
    auth: Authorized<UpdateSecret>,
    body: Body,
) -> Response {
    let owner = auth.token().manager_id;
    auth.answer_json(body, move |home, body: UpdateBody| {
        // Every pair as given, a key given twice too: `update_secret`
        // checks them by the CLI's input rules.
        let update = SecretUpdate {
            set: body.values.into_iter().collect(),
            remove: Vec::new(),
            schema: body.schema,
        };
        // The merge reads the secret in one call and writes it in
        // another: two merges of one secret, on any node, take turns.
        let bound = bind_manager(home, &manager, owner)?;
        let key = format!("update-secret/{}/{}", bound.record().id, name);
        let mut merged = None;
        home.access().with_lock(&key, bound.timeout(), &mut || {
            merged = Some(bound.update_secret(&name, &update)?);
            Ok(())
        })?;
        let updated = merged.expect("set when with_lock succeeds");
        Ok(Answer::ok(
            StatusCode::OK,
            json!(SecretSummary::of(&updated)),
        ))
    })
    .await
}

async fn delete_secret(
    Path((manager, name)): SecretPath,
    auth: Authorized<DeleteSecret>,
) -> Response {
    let delete = move |bound: &Manager| {
        bound.delete_secret(&name)?;
        Ok(json!({ "deleted": name }))
    };
    auth.answer_on(manager, delete).await
}

async fn delete_all(
    Path(manager): ManagerPath,
    RawQuery(query): RawQuery,
    auth: Authorized<DeleteAllSecrets>,
) -> Response {
    let force = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|pair| pair == "force=true"));
    if !force {
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
