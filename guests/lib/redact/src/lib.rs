//! Backend messages made safe to pass on from a flavor: the first line
//! only, at most [`MAX_MESSAGE`] bytes, with every credential and secret
//! value the call handled replaced by `***`.
//!
//! Guards against: a backend echoing the request (a value, a token, a
//! signed assertion) in an error message that flavorbox then prints. The
//! host masks the values it knows of too; credentials from the manager's
//! config it does not know are secret, so a flavor masks them itself.

/// Longest message passed on, in bytes.
pub const MAX_MESSAGE: usize = 300;

/// Length from which a sensitive string is masked even inside a word.
const ANYWHERE_LEN: usize = 8;

/// `message` cut to its first non-empty line and [`MAX_MESSAGE`] bytes, runs
/// of whitespace folded, with the `sensitive` strings replaced by `***`:
/// wherever they occur if at least 8 bytes long, else only where they stand
/// as a whole word (so a one-letter value does not mangle every word
/// containing that letter).
pub fn redact(message: &str, sensitive: &[&str]) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut text = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut sensitive: Vec<&str> = sensitive
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first, so a value containing another is masked whole.
    sensitive.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in sensitive {
        text = mask(&text, secret);
    }
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

fn mask(text: &str, secret: &str) -> String {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(secret) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + secret.len()..].chars().next();
        out.push_str(&rest[..at]);
        if secret.len() >= ANYWHERE_LEN || (!is_word(before) && !is_word(after)) {
            out.push_str("***");
        } else {
            out.push_str(secret);
        }
        rest = &rest[at + secret.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_bounded_line_and_masks() {
        assert_eq!(
            redact("\n  1 error occurred:\n\t* permission denied\n", &[]),
            "1 error occurred:"
        );
        assert_eq!(
            redact(
                "token hvs.ABCDEFGH1234 refused for s3cr3t",
                &["hvs.ABCDEFGH1234", "s3cr3t"]
            ),
            "token *** refused for ***"
        );
        assert_eq!(
            redact("operation failed for p and up: p.", &["p"]),
            "operation failed for *** and up: ***."
        );
        assert_eq!(redact("xxLONGSECRETxx", &["LONGSECRET", ""]), "xx***xx");
        assert_eq!(redact("a\t\tb   c", &[]), "a b c");
        assert!(redact(&"é".repeat(400), &[]).len() <= MAX_MESSAGE + 3);
    }
}
