//! The two rules the real server applies to ConfigMap and Secret data on every write:
//! a Secret's `stringData` is folded into its base64 `data` (and never stored), and data marked
//! `immutable: true` cannot change.

use serde_json::{Map, Value};

use crate::api_error::{ApiError, Cause};
use crate::kind::ResourceType;
use crate::meta::name_of;
use crate::protobuf::base64;

fn is_core(rt: &ResourceType, plural: &str) -> bool {
    rt.group.is_empty() && rt.plural == plural
}

/// Folds a Secret's `stringData` into `data`, as the real server's conversion does: each
/// entry is base64-encoded and wins over a `data` entry of the same key.
pub fn fold_string_data(rt: &ResourceType, object: &mut Value) {
    if !is_core(rt, "secrets") {
        return;
    }
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let Some(string_data) = map.remove("stringData") else {
        return;
    };
    let Value::Object(entries) = string_data else {
        return;
    };
    if entries.is_empty() {
        return;
    }
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Some(data) = data.as_object_mut() {
        for (key, value) in entries {
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            data.insert(key, Value::String(base64(text.as_bytes())));
        }
    }
}

/// Refuses changes to the data of an immutable ConfigMap or Secret (and making it mutable
/// again), with the real server's 422 and messages.
pub fn check_immutable(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), ApiError> {
    let fields: &[&str] = if is_core(rt, "configmaps") {
        &["data", "binaryData"]
    } else if is_core(rt, "secrets") {
        &["data"]
    } else {
        return Ok(());
    };
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    const MESSAGE: &str = "Forbidden: field is immutable when `immutable` is set";
    let forbidden = |field: &str| Cause {
        reason: "FieldValueForbidden".into(),
        message: MESSAGE.into(),
        field: field.into(),
    };
    let mut causes = Vec::new();
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        causes.push(forbidden("immutable"));
    }
    // An absent map and an empty one are the same data.
    let data = |object: &Value, field: &str| {
        object
            .get(field)
            .filter(|v| v.as_object().is_none_or(|m| !m.is_empty()))
            .cloned()
    };
    causes.extend(
        fields
            .iter()
            .filter(|f| data(old, f) != data(new, f))
            .map(|f| forbidden(f)),
    );
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        kind: rt.qualified_kind(),
        name: name_of(old),
        causes,
    })
}
