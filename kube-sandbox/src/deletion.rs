//! Deletion as the apiserver does it: preconditions, finalizers that keep a marked object
//! around until the last one goes, orphaning, and handing namespaces and CRDs to termination.

use serde_json::{json, Value};

use crate::admission::{self, name_of};
use crate::api_error::ApiError;
use crate::cluster::State;
use crate::garbage;
use crate::rest::{absorb, get, list, list_object, present, ListOptions, Target};
use crate::termination;

/// Namespaces the real server refuses to delete.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Deletes an object (DELETE): marks it while finalizers remain, removes it otherwise.
/// Deleting a namespace or a CRD also deletes what it contains.
pub fn delete(
    state: &mut State,
    target: &Target,
    options: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let old = get(state, target)?;
    for (field, pointer) in [
        ("uid", "/metadata/uid"),
        ("resourceVersion", "/metadata/resourceVersion"),
    ] {
        if let Some(expected) = options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
        {
            if old.pointer(pointer).and_then(Value::as_str) != Some(expected) {
                return Err(ApiError::Conflict {
                    resource: target.rt.qualified_resource(),
                    name: name_of(&old),
                    detail: format!("Precondition failed: {field} in precondition: {expected}, {field} in object meta: {}", old.pointer(pointer).and_then(Value::as_str).unwrap_or("")),
                });
            }
        }
    }
    if target.rt.storage == crate::registry::StorageKey::namespaces()
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
    if admission::has_finalizers(&old) {
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let mut marked = old.clone();
        admission::mark_deleting(&mut marked);
        let stored = state.store.put(key, absorb(&target.rt, marked));
        return Ok(present(&target.rt, &stored));
    }
    if options.get("propagationPolicy").and_then(Value::as_str) == Some("Orphan") {
        if let Some(uid) = old.pointer("/metadata/uid").and_then(Value::as_str) {
            garbage::orphan(state, uid);
        }
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
    dry_run: bool,
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
        delete(state, &one, &Value::Null, dry_run)?;
    }
    Ok(list_object(&target.rt, items, metadata))
}
