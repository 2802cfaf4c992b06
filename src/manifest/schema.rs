//! Checking a manifest as the API server would: unknown fields (strict field validation) and
//! lists longer than their `maxItems`, the typed fields, then the CRD's CEL rules, each error
//! naming the field.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A kind's openAPIV3Schema and its compiled CEL rules, built once per process.
struct KindSchema {
    schema: Value,
    compiled: kube::core::cel::CompiledSchema,
}

fn kind_schema<K: kube::CustomResourceExt>() -> &'static KindSchema {
    static SCHEMAS: OnceLock<Mutex<HashMap<String, &'static KindSchema>>> = OnceLock::new();
    let mut map = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(K::crd_name().to_owned()).or_insert_with(|| {
        let schema = serde_json::to_value(K::crd())
            .ok()
            .and_then(|crd| {
                crd.pointer("/spec/versions/0/schema/openAPIV3Schema")
                    .cloned()
            })
            .unwrap_or(Value::Null);
        let compiled = kube::core::cel::compile_schema(&schema);
        // Leaked once per kind: four small schemas for the life of the process.
        Box::leak(Box::new(KindSchema { schema, compiled }))
    })
}

/// Checks a document as the API server would: unknown fields and list lengths, required fields
/// and types, then the CEL rules.
pub(super) fn checked<K>(doc: &Value) -> Result<K, (Option<String>, String)>
where
    K: kube::CustomResourceExt + DeserializeOwned,
{
    let KindSchema { schema, compiled } = kind_schema::<K>();
    for key in ["spec", "status"] {
        if let (Some(v), Some(s)) = (doc.get(key), schema.pointer(&format!("/properties/{key}"))) {
            if let Some((path, message)) = structural_error(v, s, key.to_owned()) {
                return Err((Some(path), message));
            }
        }
    }
    if let Some(top) = doc.as_object() {
        if let Some(k) = top
            .keys()
            .find(|k| !["apiVersion", "kind", "metadata", "spec", "status"].contains(&k.as_str()))
        {
            return Err((Some(k.clone()), "unknown field".into()));
        }
    }
    let object = serde_path_to_error::deserialize::<_, K>(doc).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        (field, e.into_inner().to_string())
    })?;
    if let Err(errors) = kube::core::cel::Validator::new().validate_compiled(compiled, doc, None) {
        if let Some(e) = errors.iter().next() {
            let field = (!e.field_path.is_empty()).then(|| e.field_path.clone());
            return Err((field, e.message.clone()));
        }
    }
    Ok(object)
}

/// The first field the schema forbids, with why: one it does not declare, a list longer than
/// its `maxItems`, or a string longer than its `maxLength`. Lengths are checked before the CEL rules run, as the API server does: a rule
/// such as "each entry once" costs the square of the list's length, and `maxItems` is what bounds
/// it.
pub(crate) fn structural_error(
    value: &Value,
    schema: &Value,
    path: String,
) -> Option<(String, String)> {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return None;
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, v) in map {
                let child = format!("{path}.{k}");
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) | (None, Some(s)) => {
                        if let Some(found) = structural_error(v, s, child) {
                            return Some(found);
                        }
                    }
                    (None, None) if props.is_some() => {
                        return Some((child, "unknown field".into()))
                    }
                    (None, None) => {}
                }
            }
            None
        }
        Value::Array(items) => {
            let max = schema.get("maxItems").and_then(Value::as_u64);
            if let Some(max) = max.filter(|&m| usize::try_from(m).is_ok_and(|m| items.len() > m)) {
                return Some((
                    path,
                    format!("{} items, more than the {max} allowed", items.len()),
                ));
            }
            let item_schema = schema.get("items")?;
            items
                .iter()
                .enumerate()
                .find_map(|(i, v)| structural_error(v, item_schema, format!("{path}[{i}]")))
        }
        Value::String(text) => {
            // maxLength counts characters, as OpenAPI does; the CRDs bound every string a rule
            // reads, so the rules' cost stays within the API server's budget.
            let max = schema.get("maxLength").and_then(Value::as_u64)?;
            let length = text.chars().count();
            (u64::try_from(length).is_ok_and(|n| n > max)).then(|| {
                (
                    path,
                    format!("{length} characters, more than the {max} allowed"),
                )
            })
        }
        _ => None,
    }
}
