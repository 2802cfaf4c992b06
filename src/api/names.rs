//! Kubernetes object names, checked as the API server checks them, so a bad name is refused
//! here with its field or flag named rather than by the server or as an unreadable URL.

/// An RFC 1123 label (a namespace, a Service): lowercase letters, digits and '-', starting and
/// ending with a letter or digit, at most 63 characters.
pub fn is_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// An RFC 1123 subdomain (most object names): dot-separated labels, at most 253 characters.
pub fn is_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_label)
}

/// What [`is_label`] asks for, for error messages.
pub const LABEL_RULE: &str =
    "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";

/// What [`is_subdomain`] asks for, for error messages.
pub const SUBDOMAIN_RULE: &str =
    "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
