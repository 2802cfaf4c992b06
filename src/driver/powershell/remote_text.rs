//! Text that came from the management server (a cmdlet's message, ssh's stderr, a value in the
//! observe report), made safe to put in an error, a log line or a status field.
//!
//! A hostile or broken server can send anything: newlines that forge log lines, terminal escape
//! sequences, bidirectional-text controls that make a message read differently from what it
//! says, or megabytes of text. Every such string passes [`RemoteText`] before it is shown.

use std::fmt;

use crate::model::printable::escaped;

/// Room for one cmdlet error message, in characters once escaped.
pub const MESSAGE_LIMIT: usize = 1000;
/// Room for a short excerpt: a value, a line of output.
pub const EXCERPT_LIMIT: usize = 200;
/// Room for a whole error message, the driver's words included.
pub const ERROR_LIMIT: usize = 2000;

/// Remote text, escaped (control, line-separator, bidirectional and other invisible format
/// characters as `\u{..}` or `\n`) and cut to a limit, saying how much was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteText(String);

impl RemoteText {
    /// `raw` shown in at most `limit` characters (plus the note of what was cut).
    pub fn new(raw: &str, limit: usize) -> Self {
        let mut out = String::with_capacity(raw.len().min(limit));
        let mut shown: usize = 0;
        let mut chars = raw.chars();
        for c in chars.by_ref() {
            let piece = escaped(c);
            let width = piece.chars().count();
            if shown.saturating_add(width) > limit {
                // The character that did not fit is counted as left out with the rest.
                let rest = chars.count().saturating_add(1);
                out.push_str(&format!("... ({rest} more characters)"));
                return RemoteText(out);
            }
            shown = shown.saturating_add(width);
            out.push_str(&piece);
        }
        RemoteText(out)
    }

    /// A cmdlet's message, in at most [`MESSAGE_LIMIT`] characters.
    pub fn message(raw: &str) -> Self {
        Self::new(raw, MESSAGE_LIMIT)
    }

    /// A value or a line, in at most [`EXCERPT_LIMIT`] characters.
    pub fn excerpt(raw: &str) -> Self {
        Self::new(raw, EXCERPT_LIMIT)
    }

    /// The safe text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The safe text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for RemoteText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_bidi_controls_are_escaped() {
        let t = RemoteText::new("a\nb\u{202E}c\u{2028}d\u{1b}[31m", 100);
        assert_eq!(t.as_str(), "a\\nb\\u{202e}c\\u{2028}d\\u{1b}[31m");
    }

    #[test]
    fn long_text_is_cut_and_says_how_much() {
        let t = RemoteText::new(&"x".repeat(10), 4);
        assert_eq!(t.as_str(), "xxxx... (6 more characters)");
        assert_eq!(RemoteText::new("xxxx", 4).as_str(), "xxxx");
    }

    #[test]
    fn an_escape_that_does_not_fit_is_left_out_whole() {
        let t = RemoteText::new("ab\u{202E}", 4);
        assert_eq!(t.as_str(), "ab... (1 more characters)");
    }
}
