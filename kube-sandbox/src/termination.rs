//! Namespaces and CRDs terminate like the real ones: deleting one marks it (a namespace's phase
//! becomes Terminating), deletes its contents (objects with finalizers are only marked, so their
//! controllers get to clean up), refuses new contents, and removes it once it is empty.

use serde_json::{json, Value};

use crate::api_error::ApiError;
use crate::crd;
use crate::kind::{ResourceType, StorageKey};
use crate::meta::{self, name_of};
use crate::state::{crd_storage, State};
use crate::store::ObjectKey;

/// What a terminating object contains.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Container {
    /// Every object in the namespace.
    Namespace(String),
    /// Every object of the CRD's resource.
    Crd(StorageKey),
}

fn container_of(storage: &StorageKey, object: &Value) -> Option<Container> {
    if *storage == StorageKey::namespaces() {
        return Some(Container::Namespace(name_of(object)));
    }
    if *storage == crd_storage() {
        return Some(Container::Crd(crd::storage_of(object)));
    }
    None
}

/// Whether objects of this type contain others (namespaces and CRDs).
pub fn is_container(rt: &ResourceType) -> bool {
    rt.storage == StorageKey::namespaces() || rt.storage == crd_storage()
}

fn contents(state: &State, container: &Container) -> Vec<ObjectKey> {
    match container {
        Container::Namespace(ns) => state
            .store
            .list_all()
            .into_iter()
            .filter(|k| k.namespace == *ns)
            .collect(),
        Container::Crd(storage) => state
            .store
            .list(storage, None)
            .into_iter()
            .map(|(k, _)| k.clone())
            .collect(),
    }
}

/// Deletes a namespace or CRD: marks it, deletes its contents, and removes it if it is then
/// empty (and free of finalizers). Returns the object as it stands.
pub fn terminate(state: &mut State, key: ObjectKey, mut object: Value) -> Value {
    let Some(container) = container_of(&key.storage, &object) else {
        return object;
    };
    meta::mark_deleting(&mut object);
    if let Container::Namespace(_) = container {
        meta::set_field(&mut object, &["status", "phase"], json!("Terminating"));
    }
    let marked = state.store.put(key, object);
    for content in contents(state, &container) {
        let Some(mut item) = state.store.get(&content).cloned() else {
            continue;
        };
        if !meta::has_finalizers(&item) {
            state.store.remove(&content);
        } else if item.pointer("/metadata/deletionTimestamp").is_none() {
            meta::mark_deleting(&mut item);
            state.store.put(content, item);
        }
    }
    settle(state);
    marked
}

/// Removes terminating namespaces and CRDs that have become empty, until nothing more goes.
/// Call after anything is removed or marked for deletion.
pub fn settle(state: &mut State) {
    loop {
        let storages = [StorageKey::namespaces(), crd_storage()];
        let done: Vec<ObjectKey> = storages
            .iter()
            .flat_map(|s| state.store.list(s, None))
            .filter(|(_, o)| o.pointer("/metadata/deletionTimestamp").is_some())
            .filter(|(_, o)| !meta::has_finalizers(o))
            .filter(|(k, o)| {
                container_of(&k.storage, o).is_none_or(|c| contents(state, &c).is_empty())
            })
            .map(|(k, _)| k.clone())
            .collect();
        if done.is_empty() {
            return;
        }
        let crds_changed = done.iter().any(|k| k.storage == crd_storage());
        for key in done {
            state.store.remove(&key);
        }
        if crds_changed {
            state.sync_crds();
        }
    }
}

/// Refuses new objects in a terminating namespace or of a terminating CRD.
pub fn refuse_new_contents(
    state: &State,
    rt: &ResourceType,
    namespace: &str,
) -> Result<(), ApiError> {
    let deleting = |key: ObjectKey| {
        state
            .store
            .get(&key)
            .is_some_and(|o| o.pointer("/metadata/deletionTimestamp").is_some())
    };
    if rt.namespaced
        && deleting(ObjectKey {
            storage: StorageKey::namespaces(),
            namespace: String::new(),
            name: namespace.to_string(),
        })
    {
        return Err(ApiError::Forbidden(format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        )));
    }
    if rt.custom
        && deleting(ObjectKey {
            storage: crd_storage(),
            namespace: String::new(),
            name: rt.qualified_resource(),
        })
    {
        return Err(ApiError::MethodNotAllowed(
            "create not allowed while custom resource definition is terminating".into(),
        ));
    }
    Ok(())
}
