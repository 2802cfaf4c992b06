//! The non-apply PATCH formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902, `test`
//! included) and strategic merge patch, approximated by merge semantics plus key-wise merging
//! of lists of named objects, which is what kubectl's patches of built-ins rely on.

use serde_json::{Map, Value};

use crate::api_error::ApiError;

/// The patch format, from the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

impl PatchType {
    /// Maps a Content-Type to a patch type; anything else is 415.
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
            _ => Err(ApiError::UnsupportedMediaType(
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                    .into(),
            )),
        }
    }
}

/// Applies a merge, JSON or strategic patch to `doc`.
pub fn patch(kind: PatchType, doc: &mut Value, body: &Value) -> Result<(), ApiError> {
    match kind {
        PatchType::Merge => {
            json_patch::merge(doc, body);
            Ok(())
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(body.clone())
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON patch: {e}")))?;
            for op in &ops.0 {
                // As in the apiserver's json-patch, testing a missing path against null
                // succeeds; kube-rs's finalizer helper relies on it to add the first finalizer.
                if let json_patch::PatchOperation::Test(test) = op {
                    if test.value.is_null() && doc.pointer(test.path.as_str()).is_none() {
                        continue;
                    }
                }
                json_patch::patch(doc, std::slice::from_ref(op))
                    .map_err(|_| ApiError::PatchRejected)?;
            }
            Ok(())
        }
        PatchType::Strategic => {
            strategic_merge(doc, body);
            Ok(())
        }
        PatchType::Apply => Err(ApiError::Internal(
            "server-side apply is not a plain patch".into(),
        )),
    }
}

/// The key a list of objects is merged by, when every item has it.
fn merge_key(items: &[Value]) -> Option<&'static str> {
    ["name", "type", "containerPort", "port", "uid"]
        .into_iter()
        .find(|key| !items.is_empty() && items.iter().all(|i| i.get(*key).is_some()))
}

fn strategic_merge(doc: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *doc = patch.clone();
        return;
    };
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Value::Object(target) = doc else { return };
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(remove)) =
                (target.get_mut(field), value)
            {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if key.starts_with('$') {
            continue; // $setElementOrder, $retainKeys, $patch: ordering hints we do not need.
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Array(patch_items) => {
                let merged = match (target.get_mut(key), merge_key(patch_items)) {
                    (Some(Value::Array(live)), Some(mk))
                        if live.iter().all(|i| i.get(mk).is_some()) =>
                    {
                        for item in patch_items {
                            let position = live.iter().position(|l| l.get(mk) == item.get(mk));
                            let delete =
                                item.get("$patch").and_then(Value::as_str) == Some("delete");
                            match (position, delete) {
                                (Some(i), true) => {
                                    live.remove(i);
                                }
                                (Some(i), false) => strategic_merge(&mut live[i], item),
                                (None, false) => {
                                    let mut fresh = Value::Object(Map::new());
                                    strategic_merge(&mut fresh, item);
                                    live.push(fresh);
                                }
                                (None, true) => {}
                            }
                        }
                        true
                    }
                    _ => false,
                };
                if !merged {
                    target.insert(key.clone(), value.clone());
                }
            }
            Value::Object(_) => {
                let slot = target.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(slot, value);
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_strategic_patch_updates_one_container_without_dropping_the_others() {
        let mut doc = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "s:1"}
        ]}});
        let body = json!({"spec": {"$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{"name": "app", "image": "a:2"}]}});
        patch(PatchType::Strategic, &mut doc, &body).expect("patches");
        assert_eq!(doc["spec"]["containers"][0]["image"], "a:2");
        assert_eq!(
            doc["spec"]["containers"][0]["ports"][0]["containerPort"],
            80
        );
        assert_eq!(doc["spec"]["containers"][1]["name"], "sidecar");
    }

    #[test]
    fn testing_a_missing_path_against_null_succeeds_like_the_apiserver() {
        let mut doc = json!({"metadata": {"name": "w1"}});
        let body = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["sandbox.test/cleanup"]}
        ]);
        patch(PatchType::Json, &mut doc, &body).expect("patches");
        assert_eq!(doc["metadata"]["finalizers"][0], "sandbox.test/cleanup");
    }

    #[test]
    fn a_failed_json_patch_test_is_refused() {
        let mut doc = json!({"metadata": {"finalizers": ["a"]}});
        let body = json!([{"op": "test", "path": "/metadata/finalizers", "value": ["b"]}]);
        assert!(patch(PatchType::Json, &mut doc, &body).is_err());
    }
}
