//! The `local` flavor's configuration: `max_versions`, how many versions of
//! each secret it keeps (1-100, default 10).
//!
//! Guards against a manager keeping no history or an unbounded one (both
//! ends refused, as is a value that is not a plain decimal number), and a
//! config key the flavor does not take passing `validate-config` (a typo
//! would otherwise silently mean the default).

use crate::versions::Error;

/// The config key.
pub const MAX_VERSIONS: &str = "max_versions";
pub const DEFAULT_MAX_VERSIONS: usize = 10;
pub const MAX_VERSIONS_RANGE: std::ops::RangeInclusive<usize> = 1..=100;

/// The number of versions to keep, from the config value if there is one.
pub fn max_versions(value: Option<&str>) -> Result<usize, Error> {
    let Some(value) = value else {
        return Ok(DEFAULT_MAX_VERSIONS);
    };
    let invalid = || {
        Error::Invalid(format!(
            "config key `{MAX_VERSIONS}` must be a whole number from {} to {}, not `{value}`",
            MAX_VERSIONS_RANGE.start(),
            MAX_VERSIONS_RANGE.end()
        ))
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match value.parse::<usize>() {
        Ok(n) if MAX_VERSIONS_RANGE.contains(&n) => Ok(n),
        _ => Err(invalid()),
    }
}

/// Judges a whole config as a manager would be registered with it.
pub fn validate(config: &[(String, String)]) -> Result<(), Error> {
    let mut seen = None;
    for (key, value) in config {
        if key != MAX_VERSIONS {
            return Err(Error::Invalid(format!(
                "the local flavor takes no config key `{key}` (it takes: {MAX_VERSIONS})"
            )));
        }
        if seen.replace(value).is_some() {
            return Err(Error::Invalid(format!(
                "config key `{MAX_VERSIONS}` is given twice"
            )));
        }
        max_versions(Some(value))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn max_versions_defaults_to_10_and_takes_1_to_100() {
        assert_eq!(max_versions(None), Ok(10));
        assert_eq!(max_versions(Some("1")), Ok(1));
        assert_eq!(max_versions(Some("100")), Ok(100));
        assert_eq!(max_versions(Some("007")), Ok(7));
        for bad in [
            "0",
            "101",
            "-1",
            "+5",
            " 5",
            "5 ",
            "",
            "ten",
            "1e2",
            "99999999999999999999999",
        ] {
            assert!(
                matches!(max_versions(Some(bad)), Err(Error::Invalid(ref d)) if d.contains("1 to 100")),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn validate_accepts_only_max_versions_once_and_in_range() {
        assert_eq!(validate(&[]), Ok(()));
        assert_eq!(validate(&config(&[("max_versions", "25")])), Ok(()));
        for bad in [
            config(&[("max_versions", "0")]),
            config(&[("max_version", "5")]),
            config(&[("max_versions", "5"), ("max_versions", "6")]),
            config(&[("region", "eu")]),
        ] {
            assert!(matches!(validate(&bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }
}
