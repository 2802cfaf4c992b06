//! Text that came from outside (a manifest, an observed topology, a management server's
//! answer) as an error or a log line shows it.
//!
//! A value can hold anything: a newline that forges a second error line, a terminal escape
//! sequence, a bidirectional-text control that makes a message read differently from what it
//! says. Shown, each such character is escaped (`\n`, `\u{1b}`), so the text stays on one line
//! and reads as what was written.

use std::borrow::Cow;

/// Whether `c` would change how the text around it reads rather than show as itself.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                  // soft hyphen
            | '\u{061C}'                // Arabic letter mark
            | '\u{180E}'                // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width characters, LRM, RLM
            | '\u{2028}' | '\u{2029}'   // line and paragraph separators
            | '\u{202A}'..='\u{202E}'   // bidirectional embeddings and overrides
            | '\u{2060}'..='\u{2069}'   // word joiner, invisible operators, bidi isolates
            | '\u{FEFF}'                // byte-order mark, zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
        )
}

/// `c` as it is shown: itself, or escaped when it is hidden.
pub fn escaped(c: char) -> Cow<'static, str> {
    match c {
        '\n' => Cow::Borrowed("\\n"),
        '\r' => Cow::Borrowed("\\r"),
        '\t' => Cow::Borrowed("\\t"),
        c if is_hidden(c) => Cow::Owned(c.escape_unicode().to_string()),
        c => Cow::Owned(c.to_string()),
    }
}

/// `text` with every hidden character escaped; borrowed when it has none.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(escaped).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_terminal_escapes_are_shown_escaped() {
        assert_eq!(
            printable("a\nb\u{1b}[31m\u{202E}c"),
            "a\\nb\\u{1b}[31m\\u{202e}c"
        );
        assert!(matches!(printable("pool1.contoso.com"), Cow::Borrowed(_)));
    }
}
