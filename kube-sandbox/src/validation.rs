//! Validation of custom objects as the apiextensions apiserver does it: defaults, pruning of
//! unknown fields (or refusal under `fieldValidation=Strict`), the structural OpenAPI checks,
//! then the CRD's `x-kubernetes-validations` CEL rules, evaluated by kube's real CEL engine.

use kube::core::cel::{apply_defaults, validate_compiled, Validator};
use serde_json::Value;

use crate::api_error::{ApiError, Cause};
use crate::builtin_schemas;
use crate::kind::ResourceType;
use crate::schema::walk;

thread_local! {
    /// Warnings for the request being served on this thread (see `take_warnings`).
    static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The warnings admission has given since the last call, for the response's `Warning` headers.
pub fn take_warnings() -> Vec<String> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

fn warn_unknown(fields: &[String]) {
    WARNINGS.with(|w| {
        w.borrow_mut()
            .extend(fields.iter().map(|f| format!("unknown field \"{f}\"")))
    });
}

/// How unknown fields are treated, from the request's `fieldValidation` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields, each named in a `Warning` header.
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
        return admit_builtin(rt, object, validation);
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
    if validation == FieldValidation::Warn {
        warn_unknown(&unknown);
    }
    ratchet(&mut causes, object, old);
    // As kube-apiserver 1.35 does (`hasBlockingErr`): the rules run beside the structural
    // checks, both reported, unless one of those is a missing field, an unsupported (enum)
    // value, a string or list over its bound, or a wrong type; then the rules are skipped and
    // one more cause says so.
    const BLOCKING: [&str; 5] = [
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueTypeInvalid",
    ];
    if causes.iter().any(|c| BLOCKING.contains(&c.reason.as_str())) {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
            field: "<nil>".into(),
        });
    } else {
        let checked = match (&rt.compiled, &rt.rule_roots) {
            (Some(compiled), Some(roots)) => {
                let old = old.map(|o| project(o, roots));
                validate_compiled(compiled, &project(object, roots), old.as_ref())
            }
            (Some(compiled), None) => validate_compiled(compiled, object, old),
            (None, _) => Validator::new().validate(schema, object, old),
        };
        if let Err(errors) = checked {
            causes.extend(errors.iter().map(|e| {
                Cause {
                    reason: e
                        .reason
                        .clone()
                        .unwrap_or_else(|| "FieldValueInvalid".into()),
                    message: format!(
                        "Invalid value: {}{}",
                        shown_value(object, &e.field_path),
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
        ratchet(&mut causes, object, old);
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

/// The parts of `object` the rules can see: its type, metadata and the rule-bearing fields.
fn project(object: &Value, roots: &[String]) -> Value {
    let mut out = serde_json::Map::new();
    for key in ["apiVersion", "kind", "metadata"]
        .into_iter()
        .map(str::to_owned)
        .chain(roots.iter().cloned())
    {
        if let Some(v) = object.get(&key) {
            out.insert(key, v.clone());
        }
    }
    Value::Object(out)
}

/// Decodes a built-in kind's object as the real server decodes it into its Go structs: a value
/// of the wrong type is a 400, undeclared fields are dropped (or a 400 under Strict). CRDs
/// themselves are left to `crd::check`.
fn admit_builtin(
    rt: &ResourceType,
    object: &mut Value,
    validation: FieldValidation,
) -> Result<(), ApiError> {
    if rt.custom || rt.group == "apiextensions.k8s.io" {
        return Ok(());
    }
    let Some(findings) = builtin_schemas::check(&rt.group, &rt.version, &rt.kind, object) else {
        return Ok(());
    };
    let cannot = |detail: String| {
        ApiError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}",
            kind = rt.kind,
            version = rt.version,
        ))
    };
    if let Some(mistyped) = findings.mistyped {
        return Err(cannot(mistyped));
    }
    if validation == FieldValidation::Strict && !findings.unknown.is_empty() {
        let fields: Vec<String> = findings
            .unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(cannot(format!(
            "strict decoding error: {}",
            fields.join(", ")
        )));
    }
    if validation == FieldValidation::Warn {
        warn_unknown(&findings.unknown);
    }
    Ok(())
}

/// Validation ratcheting (GA in Kubernetes 1.30): on an update, a failure on a field whose value
/// is the same as before is forgiven, so tightening a CRD does not freeze existing objects.
/// Only fields present and equal in both versions are forgiven; a missing field never is.
fn ratchet(causes: &mut Vec<Cause>, object: &Value, old: Option<&Value>) {
    let Some(old) = old else { return };
    causes.retain(|cause| {
        let Some(pointer) = pointer_of(&cause.field) else {
            return true;
        };
        match (object.pointer(&pointer), old.pointer(&pointer)) {
            (Some(now), Some(before)) => now != before,
            _ => true,
        }
    });
}

/// `spec.steps[0].name` as the JSON pointer `/spec/steps/0/name`; `None` for the root.
fn pointer_of(field: &str) -> Option<String> {
    if field.is_empty() || field == "<nil>" {
        return None;
    }
    let mut pointer = String::new();
    for segment in field.split('.') {
        let mut parts = segment.split('[');
        pointer.push('/');
        pointer.push_str(parts.next().unwrap_or_default());
        for index in parts {
            pointer.push('/');
            pointer.push_str(index.trim_end_matches(']'));
        }
    }
    Some(pointer)
}

/// How kube-apiserver (1.35) shows the value of a failed rule before its message: a scalar as
/// JSON (`"FE1": `, `70000: `), an object or list not at all.
fn shown_value(object: &Value, field_path: &str) -> String {
    let value = match pointer_of(field_path) {
        Some(pointer) => object.pointer(&pointer),
        None => Some(object),
    };
    match value {
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => format!("{v}: "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd;
    use serde_json::json;

    fn widget_type(schema: Value) -> ResourceType {
        let crd = json!({"spec": {"group": "sandbox.test", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": schema}}]}});
        crd::resource_types(&crd).remove(0)
    }

    #[test]
    fn a_root_rule_can_read_the_objects_name() {
        let rt = widget_type(json!({
            "type": "object",
            "x-kubernetes-validations": [{"rule": "self.metadata.name.size() <= 5", "message": "name too long"}],
            "properties": {"spec": {"type": "object"}}
        }));
        let mut short = json!({"metadata": {"name": "w1"}, "spec": {}});
        admit(&rt, &mut short, None, FieldValidation::Strict).expect("a short name passes");
        let mut long = json!({"metadata": {"name": "much-too-long"}, "spec": {}});
        let err = admit(&rt, &mut long, None, FieldValidation::Strict).expect_err("rejected");
        assert!(err.to_string().contains("name too long"), "{err}");
    }

    #[test]
    fn unknown_fields_are_pruned_unless_strict() {
        let rt = widget_type(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}
        }));
        let mut object = json!({"metadata": {"name": "w1"}, "spec": {"size": 1, "extra": true}});
        admit(&rt, &mut object, None, FieldValidation::Warn).expect("pruned");
        assert_eq!(object["spec"], json!({"size": 1}));
        let mut object = json!({"metadata": {"name": "w1"}, "spec": {"size": 1, "extra": true}});
        let err = admit(&rt, &mut object, None, FieldValidation::Strict).expect_err("refused");
        assert_eq!(err.code(), 400);
    }

    #[test]
    fn list_maps_refuse_a_repeated_key() {
        let rt = widget_type(json!({
            "type": "object",
            "properties": {"status": {"type": "object", "properties": {"conditions": {
                "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}
            }}}}
        }));
        let mut object = json!({"metadata": {"name": "w1"}, "status": {"conditions": [
            {"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}
        ]}});
        let err =
            admit(&rt, &mut object, None, FieldValidation::Strict).expect_err("duplicate key");
        assert!(
            err.to_string()
                .contains("status.conditions[1]: Duplicate value"),
            "{err}"
        );
    }

    #[test]
    fn null_is_kept_for_nullable_fields_and_pruned_for_the_others() {
        let rt = widget_type(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "nullable": true},
                "size": {"type": "integer"}
            }}}
        }));
        let mut object =
            json!({"metadata": {"name": "w1"}, "spec": {"replicas": null, "size": null}});
        admit(&rt, &mut object, None, FieldValidation::Strict).expect("valid");
        assert_eq!(object["spec"], json!({"replicas": null}));
    }

    #[test]
    fn an_unchanged_invalid_field_is_ratcheted_but_a_changed_one_is_not() {
        let rt = widget_type(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "size": {"type": "integer", "maximum": 5},
                "note": {"type": "string"}
            }}}
        }));
        let old = json!({"metadata": {"name": "w1"}, "spec": {"size": 9, "note": "a"}});
        let mut same_size = json!({"metadata": {"name": "w1"}, "spec": {"size": 9, "note": "b"}});
        admit(&rt, &mut same_size, Some(&old), FieldValidation::Strict).expect("ratcheted");
        let mut new_size = json!({"metadata": {"name": "w1"}, "spec": {"size": 8, "note": "a"}});
        admit(&rt, &mut new_size, Some(&old), FieldValidation::Strict).expect_err("still too big");
    }
}
