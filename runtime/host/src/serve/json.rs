//! What the API reads and writes: the JSON bodies of requests and answers,
//! and the HTTP status and error body each library error is answered with.
//!
//! Guards against a body exhausting or leaking through the node: a request
//! body is read no further than [`MAX_BODY_BYTES`] (an import's, which
//! carries many secrets, [`MAX_IMPORT_BODY_BYTES`]; past it `413`, the
//! connection closed, nothing written) and only for as long as
//! the node's body timeout (a client dribbling it is answered `408` and its
//! connection closed), one that does not parse
//! is reported by position only (never quoted, it may hold a value), and an
//! error body carries the library's error (which never holds a value,
//! escaped) or a fixed text.
//!
//! Guards against the API taking what the CLI refuses: values arrive as
//! [`ValuePairs`], which keeps a key given twice (a map would silently keep
//! the last), and a new secret's pairs pass the library's input rules
//! (`secret::check_input`: non-empty values, distinct, valid and unreserved
//! keys) before `Secret::new` (names, sizes) and the manager (schemas), as
//! the CLI's pairs do; an update's pairs pass the same rules inside
//! `Manager::update_secret`, whoever calls it.

use std::fmt;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, ErrorKind, Result};
use crate::managers::OnConflict;
use crate::secret::{Secret, check_input};

/// The largest request body read (a secret's values are at most
/// `secret::MAX_VALUES_BYTES`; JSON escaping may grow them).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest import body read: the CLI reads an export file of at most
/// 16 MiB, and its secrets written again as JSON take no more, framing
/// aside.
pub const MAX_IMPORT_BODY_BYTES: usize = 20 * 1024 * 1024;
/// The most secrets one export request names (the client asks page by
/// page).
pub const EXPORT_PAGE_NAMES: usize = 100;
/// The most bytes of secrets one export answer holds (always at least one
/// secret): well under what a client reads of an answer, one secret's JSON
/// more included.
pub const EXPORT_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// A body a request carries.
pub(super) trait RequestBody: serde::de::DeserializeOwned + Send + 'static {
    /// The largest such body read.
    const MAX_BYTES: usize = MAX_BODY_BYTES;

    /// The secret it names, for the audit log (when the path does not).
    fn names_secret(&self) -> Option<String> {
        None
    }
}

/// Names as one audit entry records them (clipped there).
fn audited_names<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    let joined = names.collect::<Vec<_>>().join(",");
    (!joined.is_empty()).then_some(joined)
}

/// Key-values as a body carries them: a JSON object of strings, read as
/// the pairs it lists, in order, a key given twice kept twice so the input
/// rules refuse it. `Debug` shows keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ValuePairs(pub Vec<(String, String)>);

impl fmt::Debug for ValuePairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl FromIterator<(String, String)> for ValuePairs {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        ValuePairs(pairs.into_iter().collect())
    }
}

impl IntoIterator for ValuePairs {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for ValuePairs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for ValuePairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = ValuePairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<ValuePairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(ValuePairs(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// A secret as the API shows it, and as `POST` takes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SecretBody {
    pub name: String,
    #[serde(default = "arbitrary")]
    pub schema: String,
    pub values: ValuePairs,
}

fn arbitrary() -> String {
    "arbitrary".to_string()
}

impl SecretBody {
    pub fn of(secret: &Secret) -> SecretBody {
        SecretBody {
            name: secret.name().to_string(),
            schema: secret.schema().to_string(),
            values: secret.pairs().into_iter().collect(),
        }
    }

    /// The secret this body describes, checked as any secret is (what a
    /// client checks of a secret a server answers with).
    pub fn into_secret(self) -> Result<Secret> {
        Ok(Secret::new(self.name, self.schema, self.values)?)
    }

    /// The secret a user asks to register, checked by the input rules the
    /// CLI applies to its pairs (`secret::check_input`), then as any secret.
    pub fn into_given_secret(self) -> Result<Secret> {
        check_input(&self.values.0)?;
        self.into_secret()
    }
}

impl RequestBody for SecretBody {
    fn names_secret(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// What `PATCH` takes: values to merge, keys to remove, and optionally a
/// new schema.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct UpdateBody {
    #[serde(default)]
    pub values: ValuePairs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    #[serde(default)]
    pub schema: Option<String>,
}

impl RequestBody for UpdateBody {}

/// What `POST .../secrets/NAME/rename` takes: the new name, and whether
/// config references to the secret may be left broken.
#[derive(Debug, Serialize, Deserialize)]
pub struct RenameBody {
    pub new: String,
    #[serde(default)]
    pub force: bool,
}

impl RequestBody for RenameBody {}

/// What `POST .../export` takes: the secrets to answer, in order (at most
/// [`EXPORT_PAGE_NAMES`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportBody {
    pub names: Vec<String>,
}

impl RequestBody for ExportBody {
    fn names_secret(&self) -> Option<String> {
        audited_names(self.names.iter().map(String::as_str))
    }
}

/// What `POST .../import` takes: the secrets, and what to do with names
/// taken already; imported all or nothing.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportBody {
    pub secrets: Vec<SecretBody>,
    #[serde(default)]
    pub on_conflict: OnConflict,
    #[serde(default)]
    pub dry_run: bool,
}

impl RequestBody for ImportBody {
    const MAX_BYTES: usize = MAX_IMPORT_BODY_BYTES;

    fn names_secret(&self) -> Option<String> {
        audited_names(self.secrets.iter().map(|s| s.name.as_str()))
    }
}

/// What `POST .../secrets/NAME/rollback` takes: the version whose values
/// become a new version.
#[derive(Debug, Serialize, Deserialize)]
pub struct RollbackBody {
    pub to: u64,
}

impl RequestBody for RollbackBody {}

/// What `POST .../secrets/NAME/labels` takes: labels to set (added, or
/// their values replaced) and keys of labels to remove.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LabelsBody {
    #[serde(default)]
    pub set: ValuePairs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl RequestBody for LabelsBody {}

/// An answer, and what the audit log records of it.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: serde_json::Value,
    pub(super) outcome: String,
    /// The secret a body named (`register-secret`), for the audit log.
    pub(super) named: Option<String>,
    /// Headers besides the body's (`Retry-After`, `Connection`).
    pub(super) headers: HeaderMap,
    /// A text body sent instead of `body` (`/metrics`), its type in
    /// `headers`.
    pub(super) text: Option<String>,
}

impl Answer {
    pub(super) fn ok(status: StatusCode, body: serde_json::Value) -> Answer {
        Answer {
            status,
            body,
            outcome: "ok".to_string(),
            named: None,
            headers: HeaderMap::new(),
            text: None,
        }
    }

    /// A refusal with a fixed text.
    pub(super) fn fixed(status: StatusCode, kind: &str, message: &str) -> Answer {
        Answer {
            status,
            body: json!({ "error": kind, "message": message }),
            outcome: kind.to_string(),
            named: None,
            headers: HeaderMap::new(),
            text: None,
        }
    }

    /// A library error, with the status that stands for its kind.
    pub(super) fn error(err: &Error) -> Answer {
        let status = match err.kind() {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Denied => StatusCode::FORBIDDEN,
            ErrorKind::Backend | ErrorKind::Sandbox(_) => StatusCode::BAD_GATEWAY,
            ErrorKind::Verdict | ErrorKind::Host => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = crate::text::escape(&err.to_string()).into_owned();
        Answer {
            status,
            body: json!({ "error": err.kind().as_str(), "message": message }),
            outcome: err.kind().as_str().to_string(),
            named: None,
            headers: HeaderMap::new(),
            text: None,
        }
    }
}

impl Answer {
    /// `400`: a path segment that does not decode (percent-encoded UTF-8
    /// text is expected); the segment is not quoted.
    pub(super) fn bad_path() -> Answer {
        Answer::fixed(
            StatusCode::BAD_REQUEST,
            "invalid",
            "a segment of the request's path is not percent-encoded UTF-8 text",
        )
    }

    /// A `200` answer of `text`, of the media type `content_type`.
    pub(super) fn text(text: String, content_type: &'static str) -> Answer {
        let mut answer = Answer::ok(StatusCode::OK, serde_json::Value::Null);
        answer
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        answer.text = Some(text);
        answer
    }

    /// `503`: no call slot came free in time; try again in a second.
    pub(super) fn busy() -> Answer {
        Answer::fixed(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the node's call slots for this secrets manager stayed busy; try again later",
        )
        .retry_after(1)
    }

    /// `503`: the node reads its most import bodies at once already.
    pub(super) fn imports_busy() -> Answer {
        Answer::fixed(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the node is taking its most imports at once; try again later",
        )
        .retry_after(1)
    }

    /// `429`: the token has its most requests in flight already.
    pub(super) fn token_busy() -> Answer {
        Answer::fixed(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "this token has its most requests in flight; try again when one ends",
        )
        .retry_after(1)
    }

    /// This answer, telling the client to wait `seconds` before retrying.
    fn retry_after(mut self, seconds: u32) -> Answer {
        self.headers
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self.text {
            Some(text) => (self.status, self.headers, text).into_response(),
            None => (self.status, self.headers, axum::Json(self.body)).into_response(),
        }
    }
}

impl From<Result<Answer>> for Answer {
    fn from(result: Result<Answer>) -> Answer {
        result.unwrap_or_else(|err| Answer::error(&err))
    }
}

/// Reads a JSON body after authentication, bounded in size
/// ([`RequestBody::MAX_BYTES`]: past it `413`) and, from now, to `timeout`;
/// a body that does not parse is reported by position, never quoted. A
/// body too large, or still arriving after `timeout` (`408`), is answered
/// with the connection closed after it (the rest of the body is never
/// read).
pub(super) async fn read_json<T: RequestBody>(
    body: Body,
    timeout: std::time::Duration,
) -> std::result::Result<T, Answer> {
    use http_body_util::BodyExt;
    let read = http_body_util::Limited::new(body, T::MAX_BYTES).collect();
    let bytes = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
            let mut refused = Answer::fixed(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                &format!(
                    "the request body is larger than the {} bytes this route reads; nothing \
                     was written",
                    T::MAX_BYTES
                ),
            );
            refused
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Err(refused);
        }
        Ok(Err(_)) => {
            return Err(Answer::error(&Error::invalid(
                "the request body is unreadable",
            )));
        }
        Err(_) => {
            let mut late = Answer::fixed(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                &format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f32()
                ),
            );
            late.headers
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Err(late);
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        Answer::error(&Error::invalid(format!(
            "the request body is not the expected JSON (line {}, column {})",
            e.line(),
            e.column()
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A body to `POST` as a hostile client writes it: JSON-ish text made
    /// of the pieces that matter (braces, quotes, a key twice, empty
    /// strings, the reserved key).
    fn body_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("{".to_string()),
                Just("}".to_string()),
                Just("[".to_string()),
                Just(",".to_string()),
                Just(":".to_string()),
                Just("\"name\"".to_string()),
                Just("\"values\"".to_string()),
                Just("\"k\"".to_string()),
                Just("\"\"".to_string()),
                Just("\"zenml_schema_name\"".to_string()),
                Just("\"VALUE-SECRET\"".to_string()),
                Just("\"db\"".to_string()),
            ],
            0..24,
        )
        .prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_500))]

        /// Whatever the body, it is refused or becomes a secret that obeys
        /// the input rules; no message quotes a value.
        #[test]
        fn a_post_body_is_refused_or_obeys_the_input_rules(text in body_text()) {
            let secret = serde_json::from_str::<SecretBody>(&text)
                .map_err(|e| Error::invalid(format!("line {}, column {}", e.line(), e.column())))
                .and_then(SecretBody::into_given_secret);
            match secret {
                Ok(secret) => {
                    prop_assert!(check_input(&secret.pairs()).is_ok());
                    prop_assert!(!secret.values().is_empty());
                }
                Err(err) => {
                    let text = err.to_string();
                    prop_assert!(!text.contains("VALUE-SECRET") && !text.contains('\n'), "{text}");
                }
            }
        }
    }

    #[test]
    fn a_key_given_twice_or_an_empty_value_is_refused_and_nesting_is_bounded() {
        let given = |text: &str| {
            serde_json::from_str::<SecretBody>(text)
                .map_err(Error::host)
                .and_then(SecretBody::into_given_secret)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(given(r#"{"name":"db","values":{"k":"a","k":"b"}}"#).contains("more than once"));
        assert!(given(r#"{"name":"db","values":{"k":""}}"#).contains("empty value"));
        // 100,000 levels of nesting where `values` is expected: refused at
        // the first; in a field the body does not have: skipped without
        // recursion (serde_json), so the stack holds whatever the depth.
        let deep = format!(r#"{{"name":"db","values":{}"#, "[".repeat(100_000));
        assert!(given(&deep).contains("invalid type: sequence"));
        let skipped = format!(
            r#"{{"name":"db","extra":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(given(&skipped).contains("missing field `values`"));
    }
}
