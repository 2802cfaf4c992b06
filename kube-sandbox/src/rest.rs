//! The verbs on a resource: get, list, create, update and patch (apply included), each taking the state under its lock and returning served JSON or an `ApiError`.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::admission::{self, is_crd};
use crate::api_error::ApiError;
use crate::apply::{self, Applier};
use crate::events;
use crate::kind::{ResourceType, Shape};
use crate::managed_fields::{self, Writer};
use crate::meta::{self, name_of};
use crate::patch::{self, PatchType};
use crate::preconditions;
use crate::state::State;
use crate::store::ObjectKey;
use crate::termination;
use crate::validation::FieldValidation;

/// The resource (and optionally object and subresource) a request addresses.
#[derive(Debug, Clone)]
pub struct Target {
    /// The served type.
    pub rt: Arc<ResourceType>,
    /// Namespace from the path; `None` for cluster-scoped or all-namespaces requests.
    pub namespace: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// `status` for the status subresource.
    pub subresource: Option<String>,
}

impl Target {
    pub(crate) fn key(&self) -> Result<ObjectKey, ApiError> {
        let name = self
            .name
            .clone()
            .ok_or_else(|| ApiError::MethodNotAllowed("this verb needs an object name".into()))?;
        Ok(self.key_for(&name))
    }

    fn key_for(&self, name: &str) -> ObjectKey {
        ObjectKey {
            storage: self.rt.storage.clone(),
            namespace: if self.rt.namespaced {
                self.namespace.clone().unwrap_or_default()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::NotFound {
            resource: self.rt.qualified_resource(),
            name: name.to_string(),
        }
    }

    fn subresource(&self) -> Option<&str> {
        self.subresource.as_deref()
    }
}

/// Parameters shared by the writing verbs.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `fieldManager`, or the manager derived from the User-Agent.
    pub field_manager: String,
    /// `fieldValidation`.
    pub validation: FieldValidation,
    /// `dryRun=All`: compute the result but store nothing.
    pub dry_run: bool,
    /// `force=true` for apply.
    pub force: bool,
}

/// Converts a stored object into the form served by `rt`.
pub fn present(rt: &ResourceType, stored: &Value) -> Value {
    let mut object = match rt.shape {
        Shape::Plain => stored.clone(),
        Shape::EventsV1 => events::to_events_v1(stored.clone()),
        Shape::Review => stored.clone(),
    };
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    object
}

/// Converts a served object into its stored form.
pub fn absorb(rt: &ResourceType, served: Value) -> Value {
    match rt.shape {
        Shape::Plain => served,
        Shape::EventsV1 => events::to_core(served),
        Shape::Review => served,
    }
}

/// Reads one object.
pub fn get(state: &State, target: &Target) -> Result<Value, ApiError> {
    let key = target.key()?;
    state
        .store
        .get(&key)
        .map(|o| present(&target.rt, o))
        .ok_or_else(|| target.not_found(&key.name))
}

fn namespace_exists(state: &State, namespace: &str) -> bool {
    let key = ObjectKey {
        storage: crate::kind::StorageKey::namespaces(),
        namespace: String::new(),
        name: namespace.into(),
    };
    state.store.get(&key).is_some()
}

/// Stores a prepared new object.
fn store_new(
    state: &mut State,
    target: &Target,
    object: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let name = name_of(&object);
    if target.rt.namespaced {
        let ns = target.namespace.clone().unwrap_or_default();
        if !namespace_exists(state, &ns) {
            return Err(ApiError::NotFound {
                resource: "namespaces".into(),
                name: ns,
            });
        }
    }
    termination::refuse_new_contents(
        state,
        &target.rt,
        target.namespace.as_deref().unwrap_or_default(),
    )?;
    let key = target.key_for(&name);
    let mut object = object;
    crate::defaults::allocate_cluster_ip(&state.store, &target.rt, &mut object);
    if state.store.get(&key).is_some() {
        return Err(ApiError::AlreadyExists {
            resource: target.rt.qualified_resource(),
            name,
        });
    }
    if dry_run {
        return Ok(object);
    }
    let stored = state.store.put(key, absorb(&target.rt, object));
    if is_crd(&target.rt) {
        state.sync_crds();
    }
    Ok(present(&target.rt, &stored))
}

/// Creates an object (POST).
pub fn create(
    state: &mut State,
    target: &Target,
    mut body: Value,
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    if target.subresource.is_some() || target.name.is_some() {
        return Err(ApiError::MethodNotAllowed(
            "create is only allowed on a collection".into(),
        ));
    }
    admission::prepare_create(
        &target.rt,
        target.namespace.as_deref(),
        &mut body,
        options.validation,
    )?;
    let writer = Writer {
        manager: &options.field_manager,
        subresource: None,
        now: &meta::now(),
    };
    managed_fields::record_update(None, &mut body, &target.rt, &writer);
    store_new(state, target, body, options.dry_run)
}

/// Stores a prepared change, skipping no-op writes and completing deletions.
pub fn store_change(
    state: &mut State,
    target: &Target,
    old: &Value,
    new: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    // Timestamps alone do not make a change; ownership does (a no-op apply still records it).
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
                for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
                    entry.remove("time");
                }
            }
        }
        v
    };
    // The real server does not bump resourceVersion for writes that change nothing.
    if strip(old) == strip(&new) || dry_run {
        return Ok(if dry_run { new } else { old.clone() });
    }
    let key = target.key()?;
    let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
    // Namespaces and CRDs go only once empty; termination::settle decides when.
    let result = if meta::ready_to_go(&new) && !termination::is_container(&target.rt) {
        state.store.remove(&key);
        new
    } else {
        state.store.put(key, absorb(&target.rt, new))
    };
    if deleting {
        termination::settle(state);
    }
    if is_crd(&target.rt) {
        state.sync_crds();
    }
    Ok(present(&target.rt, &result))
}

/// Replaces an object (PUT).
pub fn update(
    state: &mut State,
    target: &Target,
    body: Value,
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    let old = get(state, target)?;
    let unconditional = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if target.rt.custom && unconditional {
        // Custom resources, unlike most built-ins, refuse updates without a precondition.
        return Err(ApiError::Invalid {
            kind: target.rt.qualified_resource(),
            name: name_of(&old),
            causes: vec![crate::api_error::Cause::invalid(
                "metadata.resourceVersion",
                "Invalid value: 0: must be specified for an update",
            )],
        });
    }
    let mut new = admission::prepare_update(
        &target.rt,
        target.subresource(),
        &old,
        body,
        options.validation,
    )?;
    let now = meta::now();
    let writer = Writer {
        manager: &options.field_manager,
        subresource: target.subresource(),
        now: &now,
    };
    managed_fields::record_update(Some(&old), &mut new, &target.rt, &writer);
    store_change(state, target, &old, new, options.dry_run)
}

/// Patches an object (PATCH), including server-side apply.
pub fn patch(
    state: &mut State,
    target: &Target,
    kind: PatchType,
    body: Value,
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    let now = meta::now();
    if kind == PatchType::Apply {
        // Options were validated with the request (a missing fieldManager is a 422 there).
        if body.pointer("/metadata/managedFields").is_some() {
            return Err(ApiError::BadRequest(
                "metadata.managedFields must be nil".into(),
            ));
        }
        let applier = Applier {
            manager: &options.field_manager,
            force: options.force,
            subresource: target.subresource(),
            now: &now,
        };
        // Unlike other writes, an applied configuration must say what it is.
        for field in ["apiVersion", "kind"] {
            if body
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::BadRequest(format!(
                    "invalid object: the applied configuration has no {field}"
                )));
            }
        }
        let mut body = body;
        admission::check_type(&target.rt, &mut body)?;
        // Checked before anything else so neither the update nor the create path can write
        // the object the body names instead of the one the URL does.
        let key = target.key()?;
        preconditions::check_identity(&target.rt, &key.name, Some(&key.namespace), &body)?;
        return match get(state, target) {
            Ok(old) => {
                let mut merged = apply::apply(Some(&old), &body, &target.rt, &applier)?;
                // An applied resourceVersion is a precondition, checked like an update's.
                if let Some(rv) = body.pointer("/metadata/resourceVersion") {
                    meta::set_field(&mut merged, &["metadata", "resourceVersion"], rv.clone());
                }
                let new = admission::prepare_update(
                    &target.rt,
                    target.subresource(),
                    &old,
                    merged,
                    options.validation,
                )?;
                store_change(state, target, &old, new, options.dry_run)
            }
            Err(ApiError::NotFound { .. }) if target.subresource.is_none() => {
                if let Some(meta) = body.get("metadata").and_then(Value::as_object) {
                    preconditions::refuse_resource_version_on_create(meta)?;
                }
                // The object is the URL's, whether or not the body names it.
                meta::set_field(&mut body, &["metadata", "name"], json!(key.name));
                if target.rt.namespaced {
                    meta::set_field(&mut body, &["metadata", "namespace"], json!(key.namespace));
                }
                let mut created = apply::apply(None, &body, &target.rt, &applier)?;
                let fields = created.pointer("/metadata/managedFields").cloned();
                let collection = Target {
                    name: None,
                    ..target.clone()
                };
                admission::prepare_create(
                    &target.rt,
                    collection.namespace.as_deref(),
                    &mut created,
                    options.validation,
                )?;
                if let Some(fields) = fields {
                    meta::set_field(&mut created, &["metadata", "managedFields"], fields);
                }
                store_new(state, &collection, created, options.dry_run)
            }
            Err(e) => Err(e),
        };
    }
    if kind == PatchType::Strategic && target.rt.custom {
        // As on a real server: custom resources have no patch strategy metadata.
        return Err(ApiError::UnsupportedMediaType(
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                .into(),
        ));
    }
    let old = get(state, target)?;
    let mut doc = old.clone();
    patch::patch(kind, &mut doc, &body).map_err(|e| match e {
        ApiError::Invalid { causes, .. } => ApiError::Invalid {
            kind: target.rt.qualified_kind(),
            name: name_of(&old),
            causes,
        },
        other => other,
    })?;
    let mut new = admission::prepare_update(
        &target.rt,
        target.subresource(),
        &old,
        doc,
        options.validation,
    )?;
    let writer = Writer {
        manager: &options.field_manager,
        subresource: target.subresource(),
        now: &now,
    };
    managed_fields::record_update(Some(&old), &mut new, &target.rt, &writer);
    store_change(state, target, &old, new, options.dry_run)
}
