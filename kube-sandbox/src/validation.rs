//! Validation of custom objects as the apiextensions apiserver does it: defaults, pruning of
//! unknown fields (or refusal under `fieldValidation=Strict`), the structural OpenAPI checks,
//! then the CRD's `x-kubernetes-validations` CEL rules, evaluated by kube's real CEL engine.

use kube::core::cel::{apply_defaults, Validator};
use serde_json::Value;

use crate::api_error::{ApiError, Cause};
use crate::registry::ResourceType;
use crate::schema::walk;

/// How unknown fields are treated, from the request's `fieldValidation` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields (the real server would also warn).
    #[default]
    Warn,
    /// Refuse the request with 400 when any field is unknown.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter; anything unrecognised is the server default.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }
}

/// Defaults, prunes and validates `object` (and `old`, for transition rules) against the
/// type's schema. Types without a schema (the built-ins) pass through untouched.
pub fn admit(
    rt: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
) -> Result<(), ApiError> {
    let Some(schema) = &rt.schema else {
        return Ok(());
    };
    *object = apply_defaults(schema, object);
    let mut unknown = Vec::new();
    let mut causes = Vec::new();
    walk(schema, object, "", true, &mut unknown, &mut causes);
    if validation == FieldValidation::Strict && !unknown.is_empty() {
        let fields: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            fields.join(", "),
            kind = rt.kind,
            version = rt.version,
        )));
    }
    if causes.is_empty() {
        if let Err(errors) = Validator::new().validate(schema, object, old) {
            causes.extend(errors.iter().map(|e| {
                Cause {
                    reason: e
                        .reason
                        .clone()
                        .unwrap_or_else(|| "FieldValueInvalid".into()),
                    message: format!(
                        "Invalid value: \"{}\": {}",
                        type_at(schema, &e.field_path),
                        e.message
                    ),
                    field: if e.field_path.is_empty() {
                        "<nil>".into()
                    } else {
                        e.field_path.clone()
                    },
                }
            }));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            kind: rt.qualified_kind(),
            name: object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            causes,
        })
    }
}

/// The schema type at a CEL error's field path (`spec.items[0].name`), which the real server
/// shows as the "value" of a failed rule.
fn type_at<'a>(schema: &'a Value, field_path: &str) -> &'a str {
    let mut node = schema;
    for segment in field_path.split('.').filter(|s| !s.is_empty()) {
        let (field, indexed) = match segment.split_once('[') {
            Some((field, _)) => (field, true),
            None => (segment, false),
        };
        node = match node.pointer(&format!("/properties/{field}")) {
            Some(child) => child,
            None => return "object",
        };
        if indexed {
            node = node.get("items").unwrap_or(node);
        }
    }
    node["type"].as_str().unwrap_or("object")
}
