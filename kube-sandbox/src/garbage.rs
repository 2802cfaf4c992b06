//! Garbage collection of dependents: objects whose every owner (by `ownerReferences` uid) is
//! gone are deleted too, as the kube-controller-manager's garbage collector would do with
//! background propagation, so that deleting a custom resource takes its children with it.

use std::collections::HashSet;

use serde_json::Value;

use crate::admission;
use crate::cluster::State;
use crate::store::ObjectKey;

fn owner_uids(object: &Value) -> Vec<&str> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
        .collect()
}

/// Deletes (or, with finalizers, marks for deletion) every object whose owners are all gone,
/// repeating until nothing changes so that chains of owners cascade.
pub fn collect(state: &mut State) {
    loop {
        let uids: HashSet<String> = state
            .store
            .list_all()
            .iter()
            .filter_map(|k| state.store.get(k))
            .filter_map(|o| o.pointer("/metadata/uid").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let orphans: Vec<(ObjectKey, Value)> = state
            .store
            .list_all()
            .into_iter()
            .filter_map(|k| state.store.get(&k).cloned().map(|o| (k, o)))
            .filter(|(_, o)| o.pointer("/metadata/deletionTimestamp").is_none())
            .filter(|(_, o)| {
                let owners = owner_uids(o);
                !owners.is_empty() && owners.iter().all(|uid| !uids.contains(*uid))
            })
            .collect();
        if orphans.is_empty() {
            return;
        }
        for (key, mut object) in orphans {
            if admission::has_finalizers(&object) {
                admission::mark_deleting(&mut object);
                state.store.put(key, object);
            } else {
                state.store.remove(&key);
            }
        }
    }
}

/// Removes the owner reference to `uid` from every dependent (`propagationPolicy: Orphan`).
pub fn orphan(state: &mut State, uid: &str) {
    let dependents: Vec<(ObjectKey, Value)> = state
        .store
        .list_all()
        .into_iter()
        .filter_map(|k| state.store.get(&k).cloned().map(|o| (k, o)))
        .filter(|(_, o)| owner_uids(o).contains(&uid))
        .collect();
    for (key, mut object) in dependents {
        if let Some(refs) = object
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            refs.retain(|r| r["uid"].as_str() != Some(uid));
        }
        state.store.put(key, object);
    }
}
