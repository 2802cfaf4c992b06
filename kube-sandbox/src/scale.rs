//! The scale subresource (`autoscaling/v1` Scale), for CRDs that declare one and for the
//! built-in workloads, so `kubectl scale` and autoscaler-style clients work.

use serde_json::{json, Value};

use crate::admission;
use crate::api_error::ApiError;
use crate::kind::{ResourceType, ScalePaths};
use crate::managed_fields::{self, Writer};
use crate::meta;
use crate::patch::{self, PatchType};
use crate::preconditions;
use crate::rest::{self, Target, WriteOptions};
use crate::state::State;
use crate::traffic::Verb;

fn pointer(json_path: &str) -> String {
    format!("/{}", json_path.trim_start_matches('.').replace('.', "/"))
}

fn paths(rt: &ResourceType) -> Result<&ScalePaths, ApiError> {
    rt.scale.as_ref().ok_or(ApiError::NoRoute)
}

/// The object's Scale.
fn to_scale(rt: &ResourceType, object: &Value) -> Result<Value, ApiError> {
    let paths = paths(rt)?;
    let meta = &object["metadata"];
    let mut scale = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object.pointer(&pointer(&paths.spec_replicas)).cloned().unwrap_or(json!(0))},
        "status": {"replicas": object.pointer(&pointer(&paths.status_replicas)).cloned().unwrap_or(json!(0))},
    });
    if let Some(selector) = paths
        .label_selector
        .as_deref()
        .and_then(|p| object.pointer(&pointer(p)))
    {
        scale["status"]["selector"] = selector.clone();
    }
    Ok(scale)
}

/// Serves GET, PUT and PATCH on `.../{name}/scale`, returning the resulting Scale.
pub fn serve(
    state: &mut State,
    verb: Verb,
    target: &Target,
    body: Value,
    patch_type: Option<PatchType>,
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    let main = Target {
        subresource: None,
        ..target.clone()
    };
    let old = rest::get(state, &main)?;
    let current = to_scale(&target.rt, &old)?;
    let desired = match (verb, patch_type) {
        (Verb::Get, _) => return Ok(current),
        (Verb::Update, _) => body,
        (Verb::Patch, Some(kind @ (PatchType::Merge | PatchType::Json | PatchType::Strategic))) => {
            let mut scale = current.clone();
            patch::patch(kind, &mut scale, &body)?;
            scale
        }
        _ => {
            return Err(ApiError::MethodNotAllowed(
                "the scale subresource supports get, update and merge or JSON patches".into(),
            ))
        }
    };
    // The Scale's resourceVersion is the object's, and a precondition like an update's.
    preconditions::check_resource_version(&target.rt, &old, &desired)?;
    let replicas = desired
        .pointer("/spec/replicas")
        .filter(|r| r.is_i64() || r.is_u64())
        .cloned()
        .ok_or_else(|| ApiError::BadRequest("a Scale needs an integer spec.replicas".into()))?;
    let mut new = old.clone();
    let spec_replicas = pointer(&paths(&target.rt)?.spec_replicas);
    let path: Vec<&str> = spec_replicas.trim_start_matches('/').split('/').collect();
    meta::set_field(&mut new, &path, replicas);
    let mut new = admission::prepare_update(&target.rt, None, &old, new, options.validation)?;
    let now = meta::now();
    let writer = Writer {
        manager: &options.field_manager,
        subresource: Some("scale"),
        now: &now,
    };
    managed_fields::record_update(Some(&old), &mut new, &target.rt, &writer);
    let stored = rest::store_change(state, &main, &old, new, options.dry_run)?;
    to_scale(&target.rt, &stored)
}
