//! The syntax the apiserver enforces on names and labels, so that an operator deriving them
//! from user input finds out here rather than on a cluster.

use serde_json::Value;

use crate::api_error::{ApiError, Cause};
use crate::kind::ResourceType;

const LABEL_RULE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const LABEL_KEY_RULE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";

fn rfc1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn rfc1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(rfc1123_label)
}

/// A label value, or the name part of a label key: up to 63 of `[-A-Za-z0-9_.]`, alphanumeric
/// at both ends.
fn qualified_part(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => rfc1123_subdomain(prefix) && qualified_part(name),
        None => qualified_part(key),
    }
}

fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::Invalid {
        kind: rt.qualified_kind(),
        name: name.to_string(),
        causes,
    }
}

/// Refuses names the real server refuses: RFC 1123 labels for namespaces, subdomains otherwise.
pub fn check_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let namespace = rt.group.is_empty() && rt.plural == "namespaces";
    let (valid, rule) = if namespace {
        (rfc1123_label(name), LABEL_RULE)
    } else {
        (rfc1123_subdomain(name), SUBDOMAIN_RULE)
    };
    if valid {
        return Ok(());
    }
    Err(invalid(
        rt,
        name,
        vec![Cause::invalid(
            "metadata.name",
            format!("Invalid value: {name:?}: {rule}"),
        )],
    ))
}

/// The largest total size of an object's annotations (keys and values), 256 KiB.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Why `value` is not a qualified name (`IsQualifiedName`: an optional DNS prefix and `/`, then
/// a name part), as the messages the real server gives; empty when it is one.
pub fn qualified_name_problems(value: &str) -> Vec<&'static str> {
    if label_key(value) {
        return Vec::new();
    }
    let name = value.rsplit('/').next().unwrap_or_default();
    if name.is_empty() {
        vec!["name part must be non-empty", LABEL_KEY_RULE]
    } else {
        vec![LABEL_KEY_RULE]
    }
}

/// Refuses label keys and values, annotation keys and sizes, and finalizer names the real
/// server refuses (`ValidateObjectMeta`).
pub fn check_metadata(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let labels = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    for (key, value) in labels.into_iter().flatten() {
        if !label_key(key) {
            causes.push(Cause::invalid(
                "metadata.labels",
                format!("Invalid value: {key:?}: {LABEL_KEY_RULE}"),
            ));
        }
        match value.as_str() {
            Some(v) if v.is_empty() || qualified_part(v) => {}
            _ => causes.push(Cause::invalid(
                "metadata.labels",
                format!("Invalid value: {value}: {LABEL_VALUE_RULE}"),
            )),
        }
    }
    let annotations = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let mut annotation_bytes = 0usize;
    for (key, value) in annotations.into_iter().flatten() {
        // Annotation keys may use capitals; the rest of the syntax is a label key's.
        if !label_key(&key.to_ascii_lowercase()) {
            causes.push(Cause::invalid(
                "metadata.annotations",
                format!("Invalid value: {key:?}: {LABEL_KEY_RULE}"),
            ));
        }
        let value_len = value.as_str().map_or(0, str::len);
        annotation_bytes = annotation_bytes
            .saturating_add(key.len())
            .saturating_add(value_len);
    }
    if annotation_bytes > ANNOTATIONS_MAX_BYTES {
        causes.push(Cause {
            reason: "FieldValueTooLong".into(),
            message: format!("Too long: may not be more than {ANNOTATIONS_MAX_BYTES} bytes"),
            field: "metadata.annotations".into(),
        });
    }
    let finalizers = object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array);
    for (i, finalizer) in finalizers.into_iter().flatten().enumerate() {
        let name = finalizer.as_str().unwrap_or_default();
        if !label_key(name) {
            causes.push(Cause::invalid(
                format!("metadata.finalizers[{i}]"),
                format!("Invalid value: {name:?}: {LABEL_KEY_RULE}"),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Err(invalid(rt, name, causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_may_carry_a_dns_prefix_and_values_may_be_empty() {
        assert!(label_key("app.kubernetes.io/name"));
        assert!(label_key("tier"));
        assert!(!label_key("Bad Prefix/x"));
        assert!(qualified_part("My_value.1"));
        assert!(!qualified_part("ends-with-dash-"));
        assert!(!qualified_part("has space"));
    }
}
