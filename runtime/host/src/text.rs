//! Text from a flavor (or any other untrusted source), made safe to print.
//!
//! Guards against a flavor misleading the person at the terminal: a newline
//! in a log message would forge a separate `flavorbox: ...` line, an escape
//! sequence would drive the terminal, and bidi controls or zero-width
//! characters make text read as something it is not (U+202E reverses what
//! follows). Every control, format, line- or paragraph-separator character is
//! therefore shown as a visible escape (`\n`, `\u{202e}`), so one record is
//! always one line and reads as what it is.

use std::borrow::Cow;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Whether `c` must not reach a terminal as itself.
pub fn is_unsafe(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
    )
}

/// `text` with every unsafe character escaped; borrowed when nothing was.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// `text` escaped and cut to at most `max_chars` characters of the original
/// (an ellipsis marks the cut), for one-line messages.
pub fn clip(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        push_escaped(&mut out, c);
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_untouched() {
        let text = "secret `db_creds` (schema arbitrary) — pässwörd ✓ 秘密";
        assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn line_breaks_and_terminal_controls_are_escaped() {
        assert_eq!(
            escape("ok\nflavorbox: forged\r\x1b[31mred\x07"),
            "ok\\nflavorbox: forged\\r\\u{1b}[31mred\\u{7}"
        );
        assert_eq!(
            escape("a\u{2028}b\u{2029}c\u{85}"),
            "a\\u{2028}b\\u{2029}c\\u{85}"
        );
    }

    #[test]
    fn bidi_and_zero_width_characters_are_escaped() {
        for c in [
            '\u{202e}', '\u{202a}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200b}',
            '\u{200d}', '\u{200e}', '\u{200f}', '\u{feff}', '\u{61c}', '\u{ad}',
        ] {
            let text = format!("x{c}y");
            let shown = escape(&text);
            assert_eq!(shown, format!("x\\u{{{:x}}}y", c as u32), "{c:?}");
        }
    }

    #[test]
    fn clipping_counts_characters_and_marks_the_cut() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("a\nb", 10), "a\\nb");
        assert_eq!(clip("秘密秘密", 2), "秘密…");
    }
}
