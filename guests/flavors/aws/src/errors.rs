//! Turning AWS error replies into the WIT `error` variants: by their error
//! type (`__type`, the `x-amzn-errortype` header or an XML `<Code>`), else
//! by the HTTP status. Transport failures and malformed replies are left to
//! `flavor_kit::errors`.
//!
//! Guards against: secrets in messages. AWS sometimes echoes the request in
//! its message (an `InvalidSignatureException` carries the canonical
//! request, with the session token), so a message passes
//! `flavor_kit::errors::redact` (its first line, bounded, every credential
//! and secret value the call handled replaced by `***`); an error type that
//! is not an identifier is not repeated.

use flavor_kit::errors::Kind;
use serde_json::Value;

use crate::Error;

/// AWS as messages name it.
pub const BACKEND: &str = "AWS";

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
    let kind = match kind {
        "ResourceNotFoundException" => Kind::NotFound,
        "ResourceExistsException" => Kind::AlreadyExists,
        "InvalidParameterException" | "InvalidRequestException" | "ValidationException" => {
            Kind::Invalid
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
        | "ExpiredToken" => Kind::Denied,
        _ => Kind::Backend,
    };
    kind.error(text)
}

/// The WIT error for an error reply to `op` from `origin` that names no
/// AWS error type: HTTP 401 and 403 are `denied`, anything else `backend`.
pub fn from_status(op: &str, status: u16, origin: &str) -> Error {
    if matches!(status, 401 | 403) {
        Error::Denied(format!("{op} refused: HTTP {status} from {origin}"))
    } else {
        Error::Backend(format!("{op} failed: HTTP {status} from {origin}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_aws_error_types() {
        let kind = |t: &str| Kind::of(&from_aws(t, "m".into()));
        assert_eq!(kind("ResourceNotFoundException"), Kind::NotFound);
        assert_eq!(
            kind("com.amazonaws.secretsmanager#ResourceExistsException"),
            Kind::AlreadyExists
        );
        assert_eq!(kind("ValidationException"), Kind::Invalid);
        assert_eq!(kind("ExpiredTokenException"), Kind::Denied);
        assert_eq!(
            kind("AccessDeniedException:http://internal.amazon.com/"),
            Kind::Denied
        );
        assert_eq!(kind("InternalServiceError"), Kind::Backend);
        assert!(matches!(
            from_aws("a b\nsecret", "m".into()),
            Error::Backend(m) if m == "UnrecognizedError: m"
        ));
    }

    #[test]
    fn statuses_without_an_error_type() {
        let origin = "http://127.0.0.1:5000";
        assert!(matches!(
            from_status("GetSecretValue", 403, origin),
            Error::Denied(m) if m == "GetSecretValue refused: HTTP 403 from http://127.0.0.1:5000"
        ));
        for status in [400, 404, 500] {
            assert!(matches!(
                from_status("ListSecrets", status, origin),
                Error::Backend(m) if m == format!("ListSecrets failed: HTTP {status} from {origin}")
            ));
        }
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
    fn an_echoed_canonical_request_is_cut_and_masked() {
        let message =
            "The Canonical String was 'x-amz-security-token:TOKEN123' for s3cr3t\nPOST\n/";
        let out = flavor_kit::errors::redact(message, &["TOKEN123", "s3cr3t", ""]);
        assert_eq!(
            out,
            "The Canonical String was 'x-amz-security-token:***' for ***"
        );
    }
}
