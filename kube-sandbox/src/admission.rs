//! What happens to an object between the request and the store: server-owned metadata,
//! status-subresource rules, generation, CRD status, schema and CEL validation. Kept apart from
//! the verbs so create, update, patch and apply all follow exactly the same rules.

use serde_json::{json, Map, Value};

use crate::api_error::{ApiError, Cause};
use crate::builtin_validation;
use crate::config_data;
use crate::crd;
use crate::defaults;
use crate::kind::ResourceType;
use crate::meta::{name_of, now, set_field};
use crate::names;
use crate::preconditions::{
    check_identity, check_no_new_finalizers, check_resource_version, check_uid, name_mismatch,
    refuse_resource_version_on_create,
};
use crate::validation::{self, FieldValidation};

/// Metadata fields only the server sets.
const SERVER_OWNED: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
];

/// Characters the real server uses for `generateName` suffixes (no vowels, no lookalikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Whether objects of this type carry `metadata.generation`: on the real server only kinds
/// with a spec/status split do (custom resources, CRDs, workloads, PDBs and, since 1.33, pods);
/// ConfigMaps, Secrets, Namespaces, Events, Leases, Services, RBAC and the like have none.
pub fn has_generation(rt: &ResourceType) -> bool {
    rt.custom
        || is_crd(rt)
        || matches!(
            (rt.group.as_str(), rt.plural.as_str()),
            ("apps", "deployments" | "statefulsets" | "replicasets")
                | ("policy", "poddisruptionbudgets")
                | ("", "pods")
        )
}

/// Whether this type is the CRD type itself, whose writes change what the server serves.
pub fn is_crd(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
}

fn metadata_mut(object: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    if !object.is_object() {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    let meta = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    meta.ok_or_else(|| ApiError::BadRequest("metadata must be an object".into()))
}

fn random_suffix() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(5)
        .map(|b| NAME_ALPHABET[*b as usize % NAME_ALPHABET.len()] as char)
        .collect()
}

/// Checks the body's apiVersion/kind and fills them in when absent.
pub fn check_type(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::BadRequest(format!(
            "the body must be a {} object, not {}",
            rt.kind,
            match object {
                Value::Null => "empty",
                Value::Array(_) => "an array",
                _ => "a scalar",
            }
        )));
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(&rt.kind);
    if kind != rt.kind {
        let sent = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let version = sent.rsplit('/').next().unwrap_or(sent);
        if rt.custom {
            return Err(ApiError::BadRequest(format!(
                "the kind {kind:?} of the body does not match the resource {:?} (kind {})",
                rt.plural, rt.kind
            )));
        }
        // The real server's words: its scheme has no conversion from the body's type to the
        // internal type of the resource.
        // events.k8s.io Events are stored as core Events.
        let internal = match rt.group.as_str() {
            "" | "events.k8s.io" => "core",
            group => group.split('.').next().unwrap_or("core"),
        };
        return Err(ApiError::BadRequest(format!(
            "{kind} in version {version:?} cannot be handled as a {expected}: converting ({version}.{kind}) to ({internal}.{expected}): unknown conversion",
            expected = rt.kind
        )));
    }
    let expected = rt.api_version();
    if let Some(version) = object.get("apiVersion").and_then(Value::as_str) {
        if version != expected {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({version}) does not match the expected API version ({expected})"
            )));
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.insert("kind".into(), json!(rt.kind));
        map.insert("apiVersion".into(), json!(rt.api_version()));
    }
    Ok(())
}

/// Prepares a new object: name (or generateName), namespace, uid, timestamps, generation 1,
/// status dropped when it is a subresource, then validation.
pub fn prepare_create(
    rt: &ResourceType,
    namespace: Option<&str>,
    object: &mut Value,
    validation: FieldValidation,
) -> Result<(), ApiError> {
    check_type(rt, object)?;
    let timestamp = now();
    let meta = metadata_mut(object)?;
    refuse_resource_version_on_create(meta)?;
    if meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let name = format!("{prefix}{}", random_suffix());
                meta.insert("name".into(), json!(name));
            }
            _ => {
                return Err(ApiError::Invalid {
                    kind: rt.qualified_kind(),
                    name: String::new(),
                    causes: vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                })
            }
        }
    }
    names::check_name(
        rt,
        meta.get("name").and_then(Value::as_str).unwrap_or_default(),
    )?;
    match (rt.namespaced, namespace) {
        (true, Some(ns)) => {
            if let Some(body_ns) = meta.get("namespace").and_then(Value::as_str) {
                if !body_ns.is_empty() && body_ns != ns {
                    return Err(ApiError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
            }
            meta.insert("namespace".into(), json!(ns));
        }
        _ => {
            meta.remove("namespace");
        }
    }
    for field in SERVER_OWNED {
        meta.remove(*field);
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(timestamp));
    if has_generation(rt) {
        meta.insert("generation".into(), json!(1));
    }
    if rt.status_subresource {
        if let Some(map) = object.as_object_mut() {
            map.remove("status");
        }
    }
    if rt.group.is_empty() && rt.plural == "namespaces" {
        object["status"] = json!({"phase": "Active"});
    }
    // The one built-in default that clients visibly rely on.
    if rt.group.is_empty()
        && rt.plural == "secrets"
        && object["type"].as_str().unwrap_or("").is_empty()
    {
        object["type"] = json!("Opaque");
    }
    config_data::fold_string_data(rt, object);
    if is_crd(rt) {
        crd::check(object)?;
        crd::establish(object, &timestamp);
    }
    names::check_metadata(rt, object)?;
    defaults::fill(rt, object);
    // Decoding (a mistyped value is a 400) comes before validation, as on a real server.
    validation::admit(rt, object, None, validation)?;
    builtin_validation::check(rt, object, None)
}

/// The parts of an object whose change bumps `generation`: everything but metadata, and
/// status too when status is a subresource.
fn generation_relevant(rt: &ResourceType, object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        if rt.status_subresource {
            map.remove("status");
        }
    }
    copy
}

/// Prepares a changed object from `old` and the requested `new`: keeps server-owned metadata,
/// applies the status-subresource rules, bumps generation on spec changes, validates.
pub fn prepare_update(
    rt: &ResourceType,
    subresource: Option<&str>,
    old: &Value,
    mut new: Value,
    validation: FieldValidation,
) -> Result<Value, ApiError> {
    check_type(rt, &mut new)?;
    check_uid(rt, old, &new)?;
    check_resource_version(rt, old, &new)?;
    check_no_new_finalizers(rt, old, &new)?;
    names::check_metadata(rt, &new)?;
    if new.pointer("/metadata/name").and_then(Value::as_str)
        != old.pointer("/metadata/name").and_then(Value::as_str)
    {
        return Err(name_mismatch(&new, &name_of(old)));
    }
    let old_namespace = old.pointer("/metadata/namespace").and_then(Value::as_str);
    check_identity(rt, &name_of(old), old_namespace, &new)?;
    let mut result = if subresource == Some("status") {
        // Only status may change through /status; everything else stays as stored.
        let mut result = old.clone();
        match new.get("status") {
            Some(status) => result["status"] = status.clone(),
            None => {
                if let Some(map) = result.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        if let Some(fields) = new.pointer("/metadata/managedFields") {
            set_field(&mut result, &["metadata", "managedFields"], fields.clone());
        }
        result
    } else {
        if rt.status_subresource {
            match old.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    if let Some(map) = new.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        }
        new
    };
    config_data::fold_string_data(rt, &mut result);
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let meta = metadata_mut(&mut result)?;
    for field in SERVER_OWNED.iter().chain(&["name", "namespace"]) {
        match old_meta.get(*field) {
            Some(v) => meta.insert((*field).into(), v.clone()),
            None => meta.remove(*field),
        };
    }
    config_data::check_immutable(rt, old, &result)?;
    if is_crd(rt) {
        crd::check(&result)?;
        crd::establish(&mut result, &now());
    }
    defaults::fill(rt, &mut result);
    defaults::keep_allocated(rt, old, &mut result);
    validation::admit(rt, &mut result, Some(old), validation)?;
    builtin_validation::check(rt, &result, Some(old))?;
    // Judged on what is stored: a field pruned as unknown changes nothing.
    if has_generation(rt) && generation_relevant(rt, &result) != generation_relevant(rt, old) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .saturating_add(1);
        set_field(&mut result, &["metadata", "generation"], json!(generation));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins;

    fn type_named(plural: &str) -> ResourceType {
        builtins::all()
            .into_iter()
            .find(|t| t.plural == plural)
            .expect("a built-in")
    }

    #[test]
    fn names_must_be_lowercase_rfc_1123() {
        let mut upper = json!({"metadata": {"name": "Upper"}});
        let err = prepare_create(
            &type_named("configmaps"),
            Some("default"),
            &mut upper,
            FieldValidation::Warn,
        );
        assert!(matches!(err, Err(ApiError::Invalid { .. })));
        let mut dotted_namespace = json!({"metadata": {"name": "a.b"}});
        let err = prepare_create(
            &type_named("namespaces"),
            None,
            &mut dotted_namespace,
            FieldValidation::Warn,
        );
        assert!(matches!(err, Err(ApiError::Invalid { .. })));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_bad_request_not_a_panic() {
        let rt = type_named("configmaps");
        let old = json!({"metadata": {"name": "c", "resourceVersion": "1"}});
        for body in [json!([1]), json!("text"), Value::Null] {
            let err = prepare_update(&rt, None, &old, body, FieldValidation::Warn);
            assert!(matches!(err, Err(ApiError::BadRequest(_))));
        }
    }

    #[test]
    fn a_body_for_another_api_version_is_refused() {
        let mut object =
            json!({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let err = prepare_create(
            &type_named("configmaps"),
            Some("default"),
            &mut object,
            FieldValidation::Warn,
        );
        assert!(
            matches!(err, Err(ApiError::BadRequest(m)) if m.contains("does not match the expected API version"))
        );
    }

    #[test]
    fn a_generate_name_gets_a_five_character_suffix() {
        let mut object = json!({"metadata": {"generateName": "w1."}});
        prepare_create(
            &type_named("events"),
            Some("default"),
            &mut object,
            FieldValidation::Warn,
        )
        .expect("valid");
        let name = object["metadata"]["name"].as_str().expect("a name");
        assert_eq!(name.len(), "w1.".len() + 5);
    }
}
