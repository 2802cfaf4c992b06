//! The structural OpenAPI checks of a custom object (types, required, enum, pattern, formats,
//! bounds, counts) and the pruning of fields the schema does not declare.

use regex::Regex;
use serde_json::{Map, Value};

use crate::api_error::Cause;

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

/// The JSON type of a value, as kube-openapi names it in a type error.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value of the wrong type: kube-openapi shows the value's type, not the value, and the
/// apiextensions server reports it as `FieldValueTypeInvalid` (which keeps the CEL rules from
/// running).
fn type_invalid(path: &str, value: &Value, wanted: &str) -> Cause {
    let got = type_name(value);
    Cause {
        reason: "FieldValueTypeInvalid".into(),
        message: format!(
            "Invalid value: \"{got}\": {path} in body must be of type {wanted}: \"{got}\""
        ),
        field: path.into(),
    }
}

fn invalid(path: &str, value: &Value, detail: String) -> Cause {
    Cause::invalid(
        path,
        format!("Invalid value: {}: {detail}", describe(value)),
    )
}

/// Walks one schema node, pruning unknown fields (collected in `unknown`) and collecting
/// violations.
pub fn walk(
    node: &Value,
    value: &mut Value,
    path: &str,
    root: bool,
    unknown: &mut Vec<String>,
    causes: &mut Vec<Cause>,
) {
    if value.is_null() && node["nullable"].as_bool() == Some(true) {
        return;
    }
    let int_or_string = node["x-kubernetes-int-or-string"].as_bool() == Some(true);
    if int_or_string {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            causes.push(type_invalid(path, value, "integer,string"));
        }
        return;
    }
    let type_ok = match node["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        let ty = node["type"].as_str().unwrap_or_default();
        causes.push(type_invalid(path, value, ty));
        return;
    }
    check_enum(node, value, path, causes);
    match value {
        Value::Object(map) => walk_object(node, map, path, root, unknown, causes),
        Value::Array(items) => {
            check_count(node, items.len(), path, "items", causes, value_of(items));
            check_unique(node, items, path, causes);
            if let Some(item_schema) = node.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(
                        item_schema,
                        item,
                        &format!("{path}[{i}]"),
                        false,
                        unknown,
                        causes,
                    );
                }
            }
        }
        Value::String(s) => check_string(node, s, path, causes),
        Value::Number(n) => check_number(node, n.as_f64().unwrap_or_default(), value, path, causes),
        _ => {}
    }
}

fn value_of(items: &[Value]) -> Value {
    Value::from(items.len())
}

fn walk_object(
    node: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    root: bool,
    unknown: &mut Vec<String>,
    causes: &mut Vec<Cause>,
) {
    let properties = node.get("properties").and_then(Value::as_object);
    let additional = node.get("additionalProperties");
    let preserve = node["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true);
    let embedded = node["x-kubernetes-embedded-resource"].as_bool() == Some(true);
    let mut prune = Vec::new();
    for (key, child) in map.iter_mut() {
        // The server owns metadata's shape; apiVersion and kind are always allowed at the top.
        if (root || embedded) && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let child_path = join(path, key);
        let child_schema = properties
            .and_then(|p| p.get(key))
            .or(additional.filter(|a| a.is_object()));
        match child_schema {
            Some(schema) => {
                if child.is_null() && schema["nullable"].as_bool() != Some(true) {
                    prune.push(key.clone());
                } else {
                    walk(schema, child, &child_path, false, unknown, causes);
                }
            }
            None if preserve || additional.and_then(Value::as_bool) == Some(true) => {}
            None => {
                unknown.push(child_path);
                prune.push(key.clone());
            }
        }
    }
    for key in prune {
        map.remove(&key);
    }
    if let Some(required) = node.get("required").and_then(Value::as_array) {
        for field in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(field) {
                causes.push(Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: join(path, field),
                });
            }
        }
    }
    check_count(
        node,
        map.len(),
        path,
        "properties",
        causes,
        Value::from(map.len()),
    );
}

/// Sets may not repeat a value, and list-maps may not repeat a key.
fn check_unique(node: &Value, items: &[Value], path: &str, causes: &mut Vec<Cause>) {
    let identity = |item: &Value| -> Value {
        match node["x-kubernetes-list-type"].as_str() {
            Some("map") => {
                let keys = node["x-kubernetes-list-map-keys"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut key = Map::new();
                for k in keys.iter().filter_map(Value::as_str) {
                    key.insert(k.to_string(), item.get(k).cloned().unwrap_or(Value::Null));
                }
                Value::Object(key)
            }
            _ => item.clone(),
        }
    };
    if !matches!(node["x-kubernetes-list-type"].as_str(), Some("map" | "set")) {
        return;
    }
    let mut seen: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let id = identity(item);
        if seen.contains(&id) {
            causes.push(Cause {
                reason: "FieldValueDuplicate".into(),
                message: format!("Duplicate value: {id}"),
                field: format!("{path}[{i}]"),
            });
        } else {
            seen.push(id);
        }
    }
}

fn check_enum(node: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    let Some(allowed) = node.get("enum").and_then(Value::as_array) else {
        return;
    };
    if !allowed.contains(value) {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                describe(value),
                list.join(", ")
            ),
            field: path.to_string(),
        });
    }
}

fn check_count(
    node: &Value,
    len: usize,
    path: &str,
    what: &str,
    causes: &mut Vec<Cause>,
    shown: Value,
) {
    let (min_key, max_key) = match what {
        "items" => ("minItems", "maxItems"),
        _ => ("minProperties", "maxProperties"),
    };
    if let Some(max) = node[max_key].as_u64() {
        if len as u64 > max {
            causes.push(Cause {
                reason: "FieldValueTooMany".into(),
                message: format!("Too many: {len}: must have at most {max} {what}"),
                field: path.to_string(),
            });
        }
    }
    if let Some(min) = node[min_key].as_u64() {
        if (len as u64) < min {
            causes.push(invalid(
                path,
                &shown,
                format!("{path} in body should have at least {min} {what}"),
            ));
        }
    }
}

fn check_string(node: &Value, s: &str, path: &str, causes: &mut Vec<Cause>) {
    let value = Value::String(s.to_string());
    let len = s.chars().count() as u64;
    if let Some(max) = node["maxLength"].as_u64() {
        if len > max {
            causes.push(Cause {
                reason: "FieldValueTooLong".into(),
                message: format!("Too long: may not be more than {max} bytes"),
                field: path.to_string(),
            });
        }
    }
    if let Some(min) = node["minLength"].as_u64() {
        if len < min {
            causes.push(invalid(
                path,
                &value,
                format!("{path} in body should be at least {min} chars long"),
            ));
        }
    }
    if let Some(pattern) = node["pattern"].as_str() {
        match Regex::new(pattern) {
            Ok(re) if !re.is_match(s) => causes.push(invalid(
                path,
                &value,
                format!("{path} in body should match '{pattern}'"),
            )),
            Ok(_) => {}
            Err(e) => causes.push(invalid(
                path,
                &value,
                format!("invalid pattern {pattern:?}: {e}"),
            )),
        }
    }
    if let Some(format) = node["format"].as_str() {
        if !format_ok(format, s) {
            causes.push(invalid(
                path,
                &value,
                format!(
                    "{path} in body must be of type {format}: {}",
                    describe(&value)
                ),
            ));
        }
    }
}

/// The formats the apiextensions server checks; unknown formats are accepted, as there.
fn format_ok(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        "uuid" => uuid::Uuid::parse_str(s).is_ok(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "hostname" => {
            !s.is_empty()
                && s.len() <= 253
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                })
        }
        "email" => s
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.')),
        _ => true,
    }
}

fn check_number(node: &Value, n: f64, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    let exclusive_max = node["exclusiveMaximum"].as_bool() == Some(true);
    let exclusive_min = node["exclusiveMinimum"].as_bool() == Some(true);
    if let Some(max) = node["maximum"].as_f64() {
        if n > max || (exclusive_max && n == max) {
            let relation = if exclusive_max {
                "less than"
            } else {
                "less than or equal to"
            };
            causes.push(invalid(
                path,
                value,
                format!("{path} in body should be {relation} {}", node["maximum"]),
            ));
        }
    }
    if let Some(min) = node["minimum"].as_f64() {
        if n < min || (exclusive_min && n == min) {
            let relation = if exclusive_min {
                "greater than"
            } else {
                "greater than or equal to"
            };
            causes.push(invalid(
                path,
                value,
                format!("{path} in body should be {relation} {}", node["minimum"]),
            ));
        }
    }
    if let Some(step) = node["multipleOf"].as_f64() {
        if step != 0.0 && (n / step).fract() != 0.0 {
            causes.push(invalid(
                path,
                value,
                format!(
                    "{path} in body should be a multiple of {}",
                    node["multipleOf"]
                ),
            ));
        }
    }
}
