//! The routes behind the CLI's client mode beyond one secret at a time: a
//! schema's keys (for `-i` prompts), rename, export and import, each the
//! library's operation on the bound manager, as the CLI runs it locally.
//!
//! Guards against an answer or a body outgrowing what either side reads:
//! an export request names at most [`EXPORT_PAGE_NAMES`] secrets and is
//! answered with those, in order, that fit in [`EXPORT_PAGE_BYTES`] (at
//! least one; the client asks again for the rest), so no answer nears
//! what a client reads; an import's body is read up to
//! `MAX_IMPORT_BODY_BYTES` (`413` past it, nothing written), at most
//! `LARGE_BODIES` imports at once per node (`503` after the call wait), and
//! imported all or nothing (`Manager::register_all`).
//!
//! Guards against a rename or export widening what a role may do: a schema
//! and an export are read (`read`, as `GET` of each secret would be), a
//! rename and an import write (`write`); each request is one audit entry
//! naming its secrets (never a value).

use super::{
    Authorized, ExportSecrets, GetSchema, ImportSecrets, ManagerPath, RenameSecret, SecretPath,
    Segments, call_on, shown_broken,
};
use crate::error::Error;
use crate::managers::{Manager, SecretSummary, SecretsApi};
use crate::serve::json::{
    Answer, EXPORT_PAGE_BYTES, EXPORT_PAGE_NAMES, ExportBody, ImportBody, RenameBody, SecretBody,
};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// The schema `{schema}` (name, description, required and optional keys,
/// whether other keys are allowed), whose keys a client prompts for.
pub(super) async fn schema(
    Segments((manager, schema)): SecretPath,
    auth: Authorized<GetSchema>,
) -> Response {
    let get = move |bound: &Manager| Ok(json!(SecretsApi::schema(bound, &schema)?));
    auth.answer_on(manager, get).await
}

/// Renames a secret to the body's `new`: refused `409` while a manager's
/// config refers to it, unless `force`; answers the renamed secret's
/// summary (never a value) and the references it broke.
pub(super) async fn rename(
    Segments((manager, name)): SecretPath,
    auth: Authorized<RenameSecret>,
    body: Body,
) -> Response {
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_json(body, move |home, body: RenameBody| {
        let (renamed, broken) = call_on(home, &metrics, &manager, owner, |bound| {
            if body.force {
                bound.rename_secret_breaking(&name, &body.new)
            } else {
                Ok((bound.rename_secret(&name, &body.new)?, Vec::new()))
            }
        })?;
        let answer = json!({ "renamed": name, "secret": SecretSummary::of(&renamed),
                             "broken": shown_broken(broken) });
        Ok(Answer::ok(StatusCode::OK, answer))
    })
    .await
}

/// The secrets the body names, with their values, in order: as many as fit
/// in [`EXPORT_PAGE_BYTES`], at least one (the client asks for the rest).
pub(super) async fn export(
    Segments(manager): ManagerPath,
    auth: Authorized<ExportSecrets>,
    body: Body,
) -> Response {
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_json(body, move |home, body: ExportBody| {
        if body.names.len() > EXPORT_PAGE_NAMES {
            return Err(Error::invalid(format!(
                "an export request names at most {EXPORT_PAGE_NAMES} secrets, not {}",
                body.names.len()
            )));
        }
        let page = call_on(home, &metrics, &manager, owner, |bound| {
            let mut page = Vec::new();
            let mut bytes = 0;
            for name in &body.names {
                let shown = json!(SecretBody::of(&bound.get_secret(name)?));
                bytes += shown.to_string().len();
                if bytes > EXPORT_PAGE_BYTES && !page.is_empty() {
                    break;
                }
                page.push(shown);
            }
            Ok(page)
        })?;
        Ok(Answer::ok(StatusCode::OK, json!({ "secrets": page })))
    })
    .await
}

/// Imports the body's secrets as its `on_conflict` and `dry_run` say, all
/// or nothing; answers `{"created","overwritten","skipped"}` (names).
pub(super) async fn import(
    Segments(manager): ManagerPath,
    auth: Authorized<ImportSecrets>,
    body: Body,
) -> Response {
    let Some(turn) = auth.large_body_turn().await else {
        return auth.respond(Answer::imports_busy()).await;
    };
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_json(body, move |home, body: ImportBody| {
        // Held until the import is done: its body and secrets stay in
        // memory until then.
        let _turn = turn;
        let plan = crate::managers::ImportPlan {
            on_conflict: body.on_conflict,
            dry_run: body.dry_run,
        };
        // The CLI's input rules for each, then the manager's, as for a
        // file the CLI imports.
        let secrets = body
            .secrets
            .into_iter()
            .map(|secret| {
                let name = crate::text::clip(&secret.name, 80);
                secret
                    .into_given_secret()
                    .map_err(|e| e.map_detail(|d| format!("secret `{name}`: {d}")))
            })
            .collect::<crate::error::Result<Vec<_>>>()?;
        let report = call_on(home, &metrics, &manager, owner, |bound| {
            bound.register_all(&secrets, plan, &|_, _| {})
        })?;
        Ok(Answer::ok(StatusCode::OK, json!(report)))
    })
    .await
}
