//! The check every fuzz target makes of an error: it shows no control character, so it stays
//! one line and cannot steer a terminal.

/// Panics when `e` shows a control character.
pub fn assert_printable(e: &dyn std::fmt::Display) {
    let shown = e.to_string();
    assert!(
        !shown.chars().any(char::is_control),
        "an error with a control character: {shown:?}"
    );
}
