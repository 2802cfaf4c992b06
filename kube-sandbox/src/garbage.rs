//! The garbage collector, as kube-controller-manager runs it: asynchronously, after the write
//! that made the garbage. Dependents whose owners (by `ownerReferences` uid) are all gone are
//! deleted; references to missing owners are dropped from dependents that still have one;
//! an owner deleted with `propagationPolicy: Orphan` carries the `orphan` finalizer until its
//! dependents no longer name it, and one deleted with `Foreground` carries
//! `foregroundDeletion` until its dependents with `blockOwnerDeletion` are gone.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::meta;
use crate::state::State;
use crate::store::ObjectKey;

/// The finalizer of an owner whose dependents are being orphaned.
pub const ORPHAN: &str = "orphan";
/// The finalizer of an owner waiting for its blocking dependents to go.
pub const FOREGROUND: &str = "foregroundDeletion";

/// Whether an object carries `finalizer`.
pub fn has_finalizer(object: &Value, finalizer: &str) -> bool {
    meta::finalizer_names(object).contains(&finalizer)
}

/// Adds `finalizer` to an object's list, if it is not there yet.
pub fn add_finalizer(object: &mut Value, finalizer: &str) {
    if has_finalizer(object, finalizer) {
        return;
    }
    let mut list: Vec<Value> = meta::finalizer_names(object)
        .into_iter()
        .map(|f| json!(f))
        .collect();
    list.push(json!(finalizer));
    meta::set_field(object, &["metadata", "finalizers"], Value::Array(list));
}

fn remove_finalizer(object: &mut Value, finalizer: &str) {
    if let Some(list) = object
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        list.retain(|f| f.as_str() != Some(finalizer));
    }
}

fn uid(object: &Value) -> &str {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn references(object: &Value) -> Vec<&Value> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect()
}

fn deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

/// One change the collector decided on.
enum Action {
    /// Delete a dependent (mark it, when it has finalizers); `foreground` propagates the wait
    /// to its own dependents.
    Delete { foreground: bool },
    /// Drop the references to these (missing) owners.
    DropReferences(Vec<String>),
    /// Drop a released owner's finalizer (and remove the owner once it has none).
    Release(&'static str),
}

/// Writes `object` back, or removes it when it is being deleted and has no finalizer left.
fn store(state: &mut State, key: ObjectKey, object: Value) {
    if meta::ready_to_go(&object) {
        state.store.remove(&key);
    } else {
        state.store.put(key, object);
    }
}

/// Whether `object` names `owner` among its owners (with `blockOwnerDeletion`, if `blocking`).
fn names_owner(object: &Value, owner: &str, blocking: bool) -> bool {
    references(object).iter().any(|r| {
        r["uid"].as_str() == Some(owner)
            && (!blocking || r["blockOwnerDeletion"].as_bool() == Some(true))
    })
}

/// What the collector does about one object, given every object's current state.
fn decide(
    key: &ObjectKey,
    object: &Value,
    all: &[(&ObjectKey, &Value)],
    by_uid: &HashMap<&str, &Value>,
    out: &mut Vec<(ObjectKey, Action)>,
) {
    let owner_of = |owner: &str| by_uid.get(owner).copied();
    let refs = references(object);
    if !refs.is_empty() && !deleting(object) {
        let (mut solid, mut waiting, mut dangling) = (0usize, 0usize, Vec::new());
        for reference in &refs {
            let owner_uid = reference["uid"].as_str().unwrap_or_default();
            match owner_of(owner_uid) {
                None => dangling.push(owner_uid.to_string()),
                Some(owner)
                    if deleting(owner)
                        && has_finalizer(owner, FOREGROUND)
                        && reference["blockOwnerDeletion"].as_bool() == Some(true) =>
                {
                    waiting += 1
                }
                Some(_) => solid += 1,
            }
        }
        match (solid, waiting, dangling.is_empty()) {
            (0, 0, _) => out.push((key.clone(), Action::Delete { foreground: false })),
            (0, _, _) => {
                // Waiting for the owner means deleting in the foreground in turn, so this
                // object's own blocking dependents go first.
                let foreground = all.iter().any(|(_, o)| names_owner(o, uid(object), false));
                out.push((key.clone(), Action::Delete { foreground }))
            }
            (_, _, false) => out.push((key.clone(), Action::DropReferences(dangling))),
            _ => {}
        }
    }
    if !deleting(object) {
        return;
    }
    let me = uid(object);
    let dependents: Vec<&(&ObjectKey, &Value)> = all
        .iter()
        .filter(|(_, o)| names_owner(o, me, false))
        .collect();
    if has_finalizer(object, ORPHAN) {
        if dependents.is_empty() {
            out.push((key.clone(), Action::Release(ORPHAN)));
        }
        // The dependents stop naming the owner first; the next pass releases it.
        for (dependent, _) in &dependents {
            out.push((
                (*dependent).clone(),
                Action::DropReferences(vec![me.to_string()]),
            ));
        }
    }
    if has_finalizer(object, FOREGROUND)
        && !dependents.iter().any(|(_, o)| names_owner(o, me, true))
    {
        out.push((key.clone(), Action::Release(FOREGROUND)));
    }
}

/// One pass of the collector over every object; says whether it changed anything.
pub fn collect(state: &mut State) -> bool {
    let mut actions = Vec::new();
    {
        let all: Vec<(&ObjectKey, &Value)> = state.store.iter().collect();
        let by_uid: HashMap<&str, &Value> = all.iter().map(|(_, o)| (uid(o), *o)).collect();
        for (key, object) in &all {
            decide(key, object, &all, &by_uid, &mut actions);
        }
    }
    let changed = !actions.is_empty();
    for (key, action) in actions {
        let Some(mut object) = state.store.get(&key).cloned() else {
            continue;
        };
        match action {
            Action::Delete { foreground } => {
                if deleting(&object) {
                    continue;
                }
                if foreground {
                    add_finalizer(&mut object, FOREGROUND);
                }
                if meta::has_finalizers(&object) {
                    meta::mark_deleting(&mut object);
                    state.store.put(key, object);
                } else {
                    state.store.remove(&key);
                }
            }
            Action::DropReferences(owners) => {
                if let Some(list) = object
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    list.retain(|r| !owners.iter().any(|o| r["uid"].as_str() == Some(o)));
                }
                store(state, key, object);
            }
            Action::Release(finalizer) => {
                remove_finalizer(&mut object, finalizer);
                store(state, key, object);
            }
        }
    }
    changed
}
