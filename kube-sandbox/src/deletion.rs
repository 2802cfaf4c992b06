//! Deletion as the apiserver does it: preconditions, finalizers that keep a marked object
//! around until the last one goes, orphaning, and handing namespaces and CRDs to termination.

use serde_json::{json, Value};

use crate::api_error::{ApiError, Cause};
use crate::garbage;
use crate::listing::{list, list_object, ListOptions};
use crate::meta::{self, name_of};
use crate::rest::{absorb, get, present, Target};
use crate::state::State;
use crate::termination;

/// Namespaces the real server refuses to delete.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// What happens to an object's dependents when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// The object goes now; the garbage collector deletes its dependents afterwards.
    #[default]
    Background,
    /// The object stays (finalizer `foregroundDeletion`) until its blocking dependents are gone.
    Foreground,
    /// The object stays (finalizer `orphan`) until its dependents no longer name it.
    Orphan,
}

/// A delete's options, from its `DeleteOptions` body and query parameters.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `propagationPolicy` (or the deprecated `orphanDependents`).
    pub propagation: Propagation,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The `preconditions` object, if any.
    pub preconditions: Value,
}

/// Reads and validates a delete's options as `ValidateDeleteOptions` does (422 on
/// `DeleteOptions.meta.k8s.io`). Query parameters count as the body's fields.
pub fn options(
    body: &Value,
    query: &std::collections::HashMap<String, String>,
) -> Result<DeleteOptions, ApiError> {
    let text = |field: &str| {
        body.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| query.get(field).cloned())
            .filter(|v| !v.is_empty())
    };
    let policy = text("propagationPolicy");
    let orphan_dependents = body
        .get("orphanDependents")
        .and_then(Value::as_bool)
        .or_else(|| query.get("orphanDependents").map(|v| v == "true"));
    let mut dry_run: Vec<String> = body
        .get("dryRun")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    dry_run.extend(query.get("dryRun").cloned());
    let mut causes = Vec::new();
    if orphan_dependents.is_some() && policy.is_some() {
        causes.push(Cause::invalid(
            "propagationPolicy",
            format!(
                "Invalid value: {:?}: orphanDependents and deletionPropagation cannot be both set",
                policy.clone().unwrap_or_default()
            ),
        ));
    }
    let propagation = match policy.as_deref() {
        None if orphan_dependents == Some(true) => Propagation::Orphan,
        None | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!("Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""),
                field: "propagationPolicy".into(),
            });
            Propagation::Background
        }
    };
    if dry_run.iter().any(|d| d != "All") {
        let quoted: Vec<String> = dry_run.iter().map(|d| format!("{d:?}")).collect();
        // kube-apiserver 1.35 shows a list of values as JSON.
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: [{}]: supported values: \"All\"",
                quoted.join(",")
            ),
            field: "dryRun".into(),
        });
    }
    if !causes.is_empty() {
        return Err(ApiError::Invalid {
            kind: "DeleteOptions.meta.k8s.io".into(),
            name: String::new(),
            causes,
        });
    }
    Ok(DeleteOptions {
        propagation,
        dry_run: !dry_run.is_empty(),
        preconditions: body.get("preconditions").cloned().unwrap_or(Value::Null),
    })
}

/// Deletes an object (DELETE): marks it while finalizers remain, removes it otherwise.
/// Deleting a namespace or a CRD also deletes what it contains; `Orphan` and `Foreground`
/// leave the object marked, with their finalizer, for the garbage collector.
pub fn delete(
    state: &mut State,
    target: &Target,
    options: &DeleteOptions,
) -> Result<Value, ApiError> {
    let dry_run = options.dry_run;
    let old = get(state, target)?;
    for (field, pointer) in [
        ("uid", "/metadata/uid"),
        ("resourceVersion", "/metadata/resourceVersion"),
    ] {
        if let Some(expected) = options.preconditions.get(field).and_then(Value::as_str) {
            if old.pointer(pointer).and_then(Value::as_str) != Some(expected) {
                return Err(ApiError::Conflict {
                    resource: target.rt.qualified_resource(),
                    name: name_of(&old),
                    detail: format!("Precondition failed: {field} in precondition: {expected}, {field} in object meta: {}", old.pointer(pointer).and_then(Value::as_str).unwrap_or("")),
                });
            }
        }
    }
    if target.rt.storage == crate::kind::StorageKey::namespaces()
        && PROTECTED_NAMESPACES.contains(&name_of(&old).as_str())
    {
        return Err(ApiError::Forbidden(format!(
            "namespaces \"{}\" is forbidden: this namespace may not be deleted",
            name_of(&old)
        )));
    }
    if dry_run {
        return Ok(old);
    }
    let key = target.key()?;
    if termination::is_container(&target.rt) {
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let stored = termination::terminate(state, key, absorb(&target.rt, old));
        return Ok(present(&target.rt, &stored));
    }
    let finalizer = match options.propagation {
        Propagation::Background => None,
        Propagation::Foreground => Some(garbage::FOREGROUND),
        Propagation::Orphan => Some(garbage::ORPHAN),
    };
    if meta::has_finalizers(&old) || finalizer.is_some() {
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let mut marked = old.clone();
        if let Some(finalizer) = finalizer {
            garbage::add_finalizer(&mut marked, finalizer);
        }
        meta::mark_deleting(&mut marked);
        let stored = state.store.put(key, absorb(&target.rt, marked));
        return Ok(present(&target.rt, &stored));
    }
    state.store.remove(&key);
    termination::settle(state);
    Ok(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name_of(&old), "group": target.rt.group, "kind": target.rt.plural,
                    "uid": old.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)},
    }))
}

/// Deletes every object of a collection matching the list options (DELETE on a collection).
pub fn delete_collection(
    state: &mut State,
    target: &Target,
    list_options: &ListOptions,
    options: &DeleteOptions,
) -> Result<Value, ApiError> {
    let (items, metadata) = list(state, target, list_options)?;
    for item in &items {
        let one = Target {
            name: Some(name_of(item)),
            namespace: item
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string),
            ..target.clone()
        };
        delete(state, &one, options)?;
    }
    Ok(list_object(&target.rt, items, metadata))
}
