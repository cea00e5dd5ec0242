//! The routes of a secret's history, on a secrets manager whose flavor
//! keeps it (contract 0.2): its versions, one version's values, rollback,
//! restore, labels, and the version every read and checked write names.
//!
//! Guards against a stale write passing for a fresh one: a secret read
//! answers its version as a strong `ETag` (`"3"`), and an update sent with
//! `If-Match` naming one is written only if the secret is still at that
//! version (`Manager::update_secret_if`, checked again by the flavor in the
//! write itself); otherwise `412`, the `conflict` error body, nothing
//! written. An `If-Match` that is not exactly one such tag (`*`, a list, a
//! weak tag, a tag that is not a version number) is `400`: a client that
//! asked for a check never gets an unchecked write.
//!
//! Guards against a route widening a role: the history, a version and the
//! metadata listing are read (`read`, as `GET` of the secret is); rollback,
//! restore and labels write (`write`). On a 0.1 flavor each is refused
//! `400` by the library before the flavor runs, saying its secrets have
//! one version.

use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::http::header::{ETAG, HeaderMap, HeaderValue, IF_MATCH};
use axum::response::Response;
use serde_json::json;

use super::{
    Authorized, DescribeManager, GetSecret, GetSecretKeys, LabelSecret, ManagerPath, RestoreSecret,
    RollbackSecret, SecretHistory, SecretPath, Segments, UpdateSecret, call_on, listed,
};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::{LabelChange, Manager, SecretSummary, SecretUpdate};
use crate::serve::auth::shown;
use crate::serve::json::{Answer, LabelsBody, RollbackBody, SecretBody, UpdateBody};

/// A version as an entity tag: the number, quoted.
fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header value")
}

/// `answer` carrying `version` as its `ETag`, if the flavor has versions.
fn tagged(mut answer: Answer, version: Option<u64>) -> Answer {
    if let Some(version) = version {
        answer.headers.insert(ETAG, etag(version));
    }
    answer
}

/// The version an `If-Match` names, if the request has one: exactly one
/// strong tag of a version number, else `invalid`.
pub(super) fn expected_version(headers: &HeaderMap) -> Result<Option<u64>> {
    let mut given = headers.get_all(IF_MATCH).iter();
    let Some(first) = given.next() else {
        return Ok(None);
    };
    let refused = || {
        Error::invalid(
            "If-Match takes one version tag as a read answered it in ETag (such as \"3\"); \
             nothing was written",
        )
    };
    if given.next().is_some() {
        return Err(refused());
    }
    let tag = first.to_str().map_err(|_| refused())?.trim();
    let number = tag
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(refused)?;
    match number.parse::<u64>() {
        Ok(version) if version > 0 => Ok(Some(version)),
        _ => Err(refused()),
    }
}

/// A secret with its values, and, on a flavor keeping history, its
/// version in the body and as the `ETag`. With `?key=KEY`, only that key's
/// value (what the console reveals, one at a time), audited as any read.
pub(super) async fn get_secret(
    Segments((manager, name)): SecretPath,
    RawQuery(query): RawQuery,
    auth: Authorized<GetSecret>,
) -> Response {
    let only = match one_key(query.as_deref()) {
        Ok(only) => only,
        Err(refused) => return auth.respond(Answer::error(&refused)).await,
    };
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_with(move |home| {
        let (secret, version) = call_on(home, &metrics, &manager, owner, |bound| {
            bound.get_secret_versioned(&name)
        })?;
        let mut body = json!(SecretBody::of(&secret));
        if let Some(key) = only {
            let Some(value) = secret.values().get(&key) else {
                return Err(Error::not_found(format!(
                    "secret `{}` has no key `{}`",
                    shown(&name),
                    shown(&key)
                )));
            };
            body["values"] = json!({ key: value });
        }
        if let Some(version) = version {
            body["version"] = json!(version);
        }
        Ok(tagged(Answer::ok(StatusCode::OK, body), version))
    })
    .await
}

/// The key a read asks for alone (`?key=KEY`), if it asks; any other query
/// is refused, so a misspelt parameter never answers every value.
fn one_key(query: Option<&str>) -> Result<Option<String>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct OneKey {
        key: Option<String>,
    }
    let refused = || Error::invalid("a secret's read takes only `key` (one key's value alone)");
    let parsed: OneKey = serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| refused())?;
    Ok(parsed.key)
}

/// A secret's key names, schema and version, without its values (what
/// the console lists before a value is revealed).
pub(super) async fn secret_keys(
    Segments((manager, name)): SecretPath,
    auth: Authorized<GetSecretKeys>,
) -> Response {
    let read = move |bound: &Manager| {
        let (secret, version) = bound.get_secret_versioned(&name)?;
        let keys: Vec<&str> = secret.keys().collect();
        Ok(json!({ "name": secret.name(), "schema": secret.schema(),
                   "keys": keys, "version": version }))
    };
    auth.answer_on(manager, read).await
}

/// Merges the body into a secret. With `If-Match`, only if the secret is
/// still at that version (`412` otherwise, nothing written), answering the
/// version written as the `ETag`; without, the read-merge-write holds the
/// store's lock on the secret, so two merges of it, on any node, take
/// turns.
pub(super) async fn update(
    Segments((manager, name)): SecretPath,
    headers: HeaderMap,
    auth: Authorized<UpdateSecret>,
    body: Body,
) -> Response {
    let expected = match expected_version(&headers) {
        Ok(expected) => expected,
        Err(refused) => return auth.respond(Answer::error(&refused)).await,
    };
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_json(body, move |home, body: UpdateBody| {
        // Every pair as given, a key given twice too: the library checks
        // them by the CLI's input rules.
        let update = SecretUpdate {
            set: body.values.into_iter().collect(),
            remove: body.remove,
            schema: body.schema,
        };
        let Some(expected) = expected else {
            let updated = call_on(home, &metrics, &manager, owner, |bound| {
                let key = format!("update-secret/{}/{}", bound.record().id, name);
                let mut merged = None;
                home.access().with_lock(&key, bound.timeout(), &mut || {
                    merged = Some(bound.update_secret(&name, &update)?);
                    Ok(())
                })?;
                Ok(merged.expect("set when with_lock succeeds"))
            })?;
            return Ok(Answer::ok(
                StatusCode::OK,
                json!(SecretSummary::of(&updated)),
            ));
        };
        let written = call_on(home, &metrics, &manager, owner, |bound| {
            bound.update_secret_if(&name, &update, expected)
        });
        match written {
            Ok((updated, version)) => {
                let mut body = json!(SecretSummary::of(&updated));
                body["version"] = json!(version);
                Ok(tagged(Answer::ok(StatusCode::OK, body), Some(version)))
            }
            Err(stale) if stale.is(ErrorKind::Conflict) => {
                let mut refused = Answer::error(&stale);
                refused.status = StatusCode::PRECONDITION_FAILED;
                Ok(refused)
            }
            Err(err) => Err(err),
        }
    })
    .await
}

/// The manager's name, flavor, the contract its flavor speaks and whether
/// it keeps history (what a client checks before an import carrying
/// history or labels).
pub(super) async fn describe_manager(
    Segments(manager): ManagerPath,
    auth: Authorized<DescribeManager>,
) -> Response {
    let describe = move |bound: &Manager| {
        Ok(
            json!({ "name": bound.name(), "flavor": bound.record().flavor,
                   "contract": bound.contract().to_string(),
                   "keeps_history": bound.keeps_history() }),
        )
    };
    auth.answer_on(manager, describe).await
}

/// The metadata of every live secret (`?long=true` on the listing).
pub(super) async fn list_metadata(
    Segments(manager): ManagerPath,
    auth: Authorized<super::ListSecrets>,
) -> Response {
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_with(move |home| {
        let listing = call_on(home, &metrics, &manager, owner, |bound| {
            bound.list_metadata()
        })?;
        Ok(listed("secrets", listing, |metadata| json!(metadata)))
    })
    .await
}

/// The secret's metadata and the versions kept, oldest first.
pub(super) async fn history(
    Segments((manager, name)): SecretPath,
    auth: Authorized<SecretHistory>,
) -> Response {
    let read = move |bound: &Manager| Ok(json!(bound.secret_history(&name)?));
    auth.answer_on(manager, read).await
}

/// One version's values, the version as the `ETag`.
pub(super) async fn version(
    Segments((manager, name, version)): Segments<(String, String, u64)>,
    auth: Authorized<GetSecret>,
) -> Response {
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_with(move |home| {
        let secret = call_on(home, &metrics, &manager, owner, |bound| {
            bound.get_secret_version(&name, version)
        })?;
        let mut body = json!(SecretBody::of(&secret));
        body["version"] = json!(version);
        Ok(tagged(Answer::ok(StatusCode::OK, body), Some(version)))
    })
    .await
}

/// Writes the body's version `to` as a new version; answers the version
/// written (`409` if another write came first, nothing written).
pub(super) async fn rollback(
    Segments((manager, name)): SecretPath,
    auth: Authorized<RollbackSecret>,
    body: Body,
) -> Response {
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_json(body, move |home, body: RollbackBody| {
        let written = call_on(home, &metrics, &manager, owner, |bound| {
            bound.rollback_secret(&name, body.to)
        })?;
        let answer = json!({ "rolled_back": name, "to": body.to, "version": written });
        Ok(tagged(Answer::ok(StatusCode::OK, answer), Some(written)))
    })
    .await
}

/// Brings back a soft-deleted secret with its versions and labels.
pub(super) async fn restore(
    Segments((manager, name)): SecretPath,
    auth: Authorized<RestoreSecret>,
) -> Response {
    let restore = move |bound: &Manager| {
        bound.restore_secret(&name)?;
        Ok(json!({ "restored": name }))
    };
    auth.answer_on(manager, restore).await
}

/// Sets and removes labels; answers the labels the secret has now.
pub(super) async fn labels(
    Segments((manager, name)): SecretPath,
    auth: Authorized<LabelSecret>,
    body: Body,
) -> Response {
    let owner = auth.token().manager_id;
    let metrics = auth.metrics();
    auth.answer_json(body, move |home, body: LabelsBody| {
        let change = LabelChange {
            set: body.set.into_iter().collect(),
            remove: body.remove,
        };
        let labels = call_on(home, &metrics, &manager, owner, |bound| {
            bound.label_secret(&name, &change)
        })?;
        Ok(Answer::ok(StatusCode::OK, json!({ "labels": labels })))
    })
    .await
}
