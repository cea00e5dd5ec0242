//! Turning what went wrong into the WIT `error` variants: AWS error replies
//! (by their `__type`), `wasi:http` error codes, and malformed replies.
//!
//! Guards against: secrets in messages. AWS sometimes echoes the request in
//! its message (an `InvalidSignatureException` carries the canonical
//! request, with the session token), so a message keeps only its first line,
//! at most `redact::MAX_MESSAGE` bytes, with every credential and secret value the
//! call handled replaced by `***`. Transport errors name the endpoint's
//! origin only, never a path, header or body.

use serde_json::Value;
use wasi_http_client::ErrorCode;

use crate::Error;

/// AWS messages pass the shared redaction of backend messages (first line,
/// bounded, credentials and values masked).
pub use redact::redact;

/// The WIT error for an AWS error reply of type `kind` (`__type`, possibly
/// `namespace#Type`) carrying `message`.
pub fn from_aws(kind: &str, message: String) -> Error {
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let kind = kind.split(':').next().unwrap_or(kind);
    // Only an identifier is repeated; anything else is not AWS's doing.
    let plausible = (1..=64).contains(&kind.len())
        && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let kind = if plausible { kind } else { "UnrecognizedError" };
    let text = format!("{kind}: {message}");
    match kind {
        "ResourceNotFoundException" => Error::NotFound(text),
        "ResourceExistsException" => Error::AlreadyExists(text),
        "InvalidParameterException" | "InvalidRequestException" | "ValidationException" => {
            Error::Invalid(text)
        }
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        // The same refusals as the query-protocol auth layer names them.
        | "AccessDenied"
        | "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredToken" => Error::Denied(text),
        _ => Error::Backend(text),
    }
}

/// The error type and message of an AWS error reply, if it has one:
/// `__type` from the JSON body or the `x-amzn-errortype` header, `message`
/// or `Message` from the body. An XML `<Code>`/`<Message>` reply (what the
/// authentication layer of some endpoints, e.g. moto, answers) is read too.
pub fn parse_aws(body: &[u8], type_header: Option<&str>) -> Option<(String, String)> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| {
        names.iter().find_map(|n| {
            parsed
                .as_ref()
                .and_then(|v| v.get(*n))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    };
    let text = String::from_utf8_lossy(body);
    let kind = field(&["__type", "code", "Code"])
        .or_else(|| type_header.map(str::to_string))
        .or_else(|| xml_element(&text, "Code"))?;
    let message = field(&["message", "Message"])
        .or_else(|| xml_element(&text, "Message"))
        .unwrap_or_default();
    Some((kind, message))
}

/// The text of the first `<name>...</name>` element, entities decoded.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + text[start..].find(&format!("</{name}>"))?;
    Some(
        text[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The WIT error for a request that got no usable response.
pub fn from_transport(error: wasi_http_client::Error, op: &str, origin: &str) -> Error {
    match error {
        wasi_http_client::Error::Http(ErrorCode::HttpRequestDenied) => Error::Denied(format!(
            "the host refused {op}: HTTP to {origin} is not granted to this flavor"
        )),
        wasi_http_client::Error::Http(code) => Error::Backend(format!(
            "{op} to {origin} failed: {}",
            wasi_http_client::describe_code(&code)
        )),
        other => Error::Backend(format!("{op} to {origin} failed: {other}")),
    }
}

/// A reply that does not have the shape AWS documents.
pub fn malformed(op: &str, why: &str) -> Error {
    Error::Backend(format!("unexpected {op} reply from AWS: {why}"))
}

/// `error`, its message prefixed with how far a bulk deletion got.
pub fn with_progress(error: Error, done: usize, total: usize) -> Error {
    let prefix = |m: String| format!("deleted {done} of {total} secrets, then: {m}");
    match error {
        Error::NotFound(m) => Error::NotFound(prefix(m)),
        Error::AlreadyExists(m) => Error::AlreadyExists(prefix(m)),
        Error::Invalid(m) => Error::Invalid(prefix(m)),
        Error::Denied(m) => Error::Denied(prefix(m)),
        Error::Backend(m) => Error::Backend(prefix(m)),
    }
}

/// A one-line description of `error`, for a log line.
pub fn describe(error: &Error) -> String {
    match error {
        Error::NotFound(m) => format!("not found: {m}"),
        Error::AlreadyExists(m) => format!("already exists: {m}"),
        Error::Invalid(m) => format!("invalid: {m}"),
        Error::Denied(m) => format!("denied: {m}"),
        Error::Backend(m) => format!("backend: {m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_aws_error_types() {
        let kind = |t: &str| match from_aws(t, "m".into()) {
            Error::NotFound(_) => "not-found",
            Error::AlreadyExists(_) => "already-exists",
            Error::Invalid(_) => "invalid",
            Error::Denied(_) => "denied",
            Error::Backend(_) => "backend",
        };
        assert_eq!(kind("ResourceNotFoundException"), "not-found");
        assert_eq!(
            kind("com.amazonaws.secretsmanager#ResourceExistsException"),
            "already-exists"
        );
        assert_eq!(kind("ValidationException"), "invalid");
        assert_eq!(kind("ExpiredTokenException"), "denied");
        assert_eq!(
            kind("AccessDeniedException:http://internal.amazon.com/"),
            "denied"
        );
        assert_eq!(kind("InternalServiceError"), "backend");
        assert!(matches!(
            from_aws("a b\nsecret", "m".into()),
            Error::Backend(m) if m == "UnrecognizedError: m"
        ));
    }

    #[test]
    fn parses_error_bodies() {
        let body = br#"{"__type":"x#ResourceNotFoundException","Message":"gone"}"#;
        assert_eq!(
            parse_aws(body, None),
            Some(("x#ResourceNotFoundException".into(), "gone".into()))
        );
        assert_eq!(
            parse_aws(b"<html>", Some("ThrottlingException")),
            Some(("ThrottlingException".into(), String::new()))
        );
        assert_eq!(parse_aws(b"{}", None), None);
        let xml = b"<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>a &amp; b</Message></Error></Errors></ErrorResponse>";
        assert_eq!(
            parse_aws(xml, None),
            Some(("SignatureDoesNotMatch".into(), "a & b".into()))
        );
    }

    #[test]
    fn redacts_and_truncates() {
        let message =
            "The Canonical String was 'x-amz-security-token:TOKEN123' for s3cr3t\nPOST\n/";
        let out = redact(message, &["TOKEN123", "s3cr3t", ""]);
        assert_eq!(
            out,
            "The Canonical String was 'x-amz-security-token:***' for ***"
        );
        // Short values only as whole words; long ones anywhere.
        assert_eq!(
            redact("operation failed for p and up: p.", &["p"]),
            "operation failed for *** and up: ***."
        );
        assert_eq!(redact("xxLONGSECRETxx", &["LONGSECRET"]), "xx***xx");
        assert!(redact(&"é".repeat(400), &[]).len() <= redact::MAX_MESSAGE + 3);
    }
}
