//! Reading and writing the metadata every object carries, on objects held as JSON: names,
//! finalizers, deletion marks, timestamps. The bottom of the crate: it imports nothing of it.

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

/// The current time as Kubernetes writes timestamps.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Sets the field at `path`, replacing any non-object standing in the way with an object:
/// schemaless kinds store whatever a request sent, and indexing into a non-object panics.
pub fn set_field(object: &mut Value, path: &[&str], value: Value) {
    match path.split_first() {
        None => *object = value,
        Some((key, rest)) => {
            if !object.is_object() {
                *object = json!({});
            }
            if let Some(map) = object.as_object_mut() {
                set_field(map.entry(*key).or_insert(Value::Null), rest, value);
            }
        }
    }
}

/// An object's finalizers.
pub fn finalizer_names(object: &Value) -> Vec<&str> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether an object still has finalizers to wait for.
pub fn has_finalizers(object: &Value) -> bool {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// Marks an object as being deleted, as the server does while finalizers remain: like the
/// real server's `BeforeDelete`, it bumps the generation of objects that have one.
pub fn mark_deleting(object: &mut Value) {
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    set_field(object, &["metadata", "deletionTimestamp"], json!(now()));
    set_field(
        object,
        &["metadata", "deletionGracePeriodSeconds"],
        json!(0),
    );
    if let Some(generation) = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .filter(|g| *g > 0)
    {
        set_field(
            object,
            &["metadata", "generation"],
            json!(generation.saturating_add(1)),
        );
    }
}

/// Whether a deleting object has lost its last finalizer and must now go.
pub fn ready_to_go(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some() && !has_finalizers(object)
}

/// The object's name, for messages.
pub fn name_of(object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
