//! Times as contract 0.2 carries them: milliseconds since the Unix epoch,
//! read from the RFC 3339 text backends answer with (Vault's
//! `2018-03-22T02:24:06.945319214Z`, GCP's `2024-05-01T10:00:00.123456Z`)
//! and from the wall clock.
//!
//! Guards against a time that cannot be one being taken for one: text that
//! is not RFC 3339, or a time before 1970, is `None`, for the caller to
//! refuse as the backend's malformed answer.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Error;

/// An RFC 3339 time in milliseconds since the Unix epoch; `None` if it is
/// none or before 1970.
pub fn rfc3339_millis(text: &str) -> Option<u64> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The RFC 3339 time under `key` of a JSON object `backend` answered
/// operation `op` with, in milliseconds since the Unix epoch; missing or
/// not a time, the backend's malformed answer.
pub fn time_field(backend: &str, op: &str, object: &Value, key: &str) -> Result<u64, Error> {
    object[key]
        .as_str()
        .and_then(rfc3339_millis)
        .ok_or_else(|| crate::errors::malformed(backend, op, &format!("no usable {key}")))
}

/// Now, in milliseconds since the Unix epoch (0 if the clock says 1970).
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_read_to_the_millisecond() {
        assert_eq!(
            rfc3339_millis("2024-05-01T10:00:00.123456789Z"),
            Some(1_714_557_600_123)
        );
        assert_eq!(
            rfc3339_millis("2024-05-01T10:00:02.5Z"),
            Some(1_714_557_602_500)
        );
        assert_eq!(rfc3339_millis("1969-12-31T23:59:59Z"), None);
        assert_eq!(rfc3339_millis("yesterday"), None);
        assert!(now_millis() > 1_714_557_600_000);
    }

    #[test]
    fn a_time_field_is_read_or_named_as_the_backends_malformed_answer() {
        let answer = serde_json::json!({"created_time": "2024-05-01T10:00:00Z", "bad": 7});
        let read = time_field("Vault", "read", &answer, "created_time");
        assert!(matches!(read, Ok(1_714_557_600_000)), "{read:?}");
        for key in ["bad", "missing"] {
            match time_field("Vault", "read", &answer, key) {
                Err(Error::Backend(text)) => {
                    assert_eq!(
                        text,
                        format!("unexpected read reply from Vault: no usable {key}")
                    );
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }
}
