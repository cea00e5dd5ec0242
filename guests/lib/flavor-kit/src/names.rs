//! Flavorbox secret names: 1-128 of `[A-Za-z0-9_.-]`, starting with a
//! letter or digit, so never `.` or `..`, never holding a `/`.
//!
//! Guards against: a name escaping the prefix, folder or namespace a flavor
//! joins it to (a `/`, `..`, an ARN, `%`-encoding). The host checks names
//! too, but a flavor maps them onto backend paths and ids, and checks them
//! itself before building any.

use crate::Error;

/// Longest name, in bytes.
pub const MAX_LEN: usize = 128;

/// Whether `name` is a flavorbox secret name (and so also one safe path
/// segment).
pub fn is_valid(name: &str) -> bool {
    (1..=MAX_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `invalid` unless `name` is a flavorbox secret name.
pub fn check(name: &str) -> Result<(), Error> {
    if is_valid(name) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "`{name}` is not a valid secret name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_safe_segments() {
        for ok in ["db", "A", "0", "a.b", "a_b-c", "x.", &"a".repeat(128)] {
            assert!(is_valid(ok) && check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-x",
            "_x",
            "a/b",
            "../x",
            "arn:aws:x",
            "x+y",
            "a b",
            "a%2Fb",
            "é",
            &"a".repeat(129),
        ] {
            assert!(!is_valid(bad), "{bad}");
            assert!(
                matches!(check(bad), Err(Error::Invalid(m)) if m == format!("`{bad}` is not a valid secret name")),
                "{bad}"
            );
        }
    }
}
