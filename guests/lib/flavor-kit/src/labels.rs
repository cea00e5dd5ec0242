//! Contract 0.2's labels on a backend that keeps free-form key-value
//! metadata of its own (Vault's `custom_metadata`, AWS's tags): which of
//! the backend's entries a flavor may answer as labels.
//!
//! Guards against: an entry another tool set that the contract cannot
//! carry (a key that is no secret key, a long value or one with a control
//! character, more than [`MAX_LABELS`]) failing a whole answer (the host
//! refuses such an answer): such entries are left out, and answers are
//! sorted by key.

/// Most labels a secret carries (the contract's limit).
pub const MAX_LABELS: usize = 32;
/// Longest label key (a secret key's limit) and value, in characters.
pub const MAX_LABEL_KEY: usize = 128;
pub const MAX_LABEL_VALUE: usize = 256;

/// Whether `key` may be a label's key: a secret key's characters.
pub fn key_ok(key: &str) -> bool {
    (1..=MAX_LABEL_KEY).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Whether `value` may be a label's value: short, no control character.
pub fn value_ok(value: &str) -> bool {
    value.chars().count() <= MAX_LABEL_VALUE && !value.chars().any(char::is_control)
}

/// The entries of `entries` the contract can carry as labels, sorted by
/// key, at most [`MAX_LABELS`].
pub fn carriable(entries: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = entries
        .into_iter()
        .filter(|(k, v)| key_ok(k) && value_ok(v))
        .collect();
    labels.sort();
    labels.truncate(MAX_LABELS);
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn entries_the_contract_cannot_carry_are_left_out() {
        let entries = vec![
            pair("team", "data"),
            pair("bad key", "x"),
            pair("bell", "a\u{7}b"),
            pair("env", &"v".repeat(MAX_LABEL_VALUE)),
            pair("long", &"v".repeat(MAX_LABEL_VALUE + 1)),
            pair(&"k".repeat(MAX_LABEL_KEY + 1), "x"),
        ];
        let kept: Vec<String> = carriable(entries).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kept, ["env", "team"]);
    }

    #[test]
    fn at_most_the_contracts_number_of_labels() {
        let many = (0..40).map(|i| pair(&format!("k{i:02}"), "v"));
        let kept = carriable(many);
        assert_eq!(kept.len(), MAX_LABELS);
        assert_eq!(kept[0].0, "k00");
    }
}
