//! Server-side apply: merging an applied configuration into the live object by the schema's
//! list semantics, detecting conflicts with other managers, and forgetting fields the manager
//! no longer applies. See <https://kubernetes.io/docs/reference/using-api/server-side-apply/>.

use serde_json::{json, Value};

use crate::api_error::{ApiError, Cause};
use crate::kind::ResourceType;
use crate::managed_fields::{
    entries, field_set, remove_at, scoped, set_entries, value_at, Entry, FieldPath,
};
use crate::merge_strategy::{Cursor, ListKind};

/// One apply request's parameters.
#[derive(Debug, Clone)]
pub struct Applier<'a> {
    /// The `fieldManager` query parameter (required for apply).
    pub manager: &'a str,
    /// Whether `force=true` was given: take conflicting fields instead of failing.
    pub force: bool,
    /// `status` when applying through the status subresource.
    pub subresource: Option<&'a str>,
    /// Current time, RFC 3339, for the managedFields entry.
    pub now: &'a str,
}

/// Renders a field path the way structured-merge-diff names fields in conflicts:
/// `.spec.replicas`, `.status.conditions[type="Ready"].status`, `.metadata.finalizers[="a"]`.
pub fn display_path(path: &FieldPath) -> String {
    path.iter()
        .map(|element| {
            if let Some(field) = element.strip_prefix("f:") {
                return format!(".{field}");
            }
            if let Some(key) = element.strip_prefix("k:") {
                if let Ok(serde_json::Value::Object(keys)) = serde_json::from_str::<Value>(key) {
                    let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    return format!("[{}]", parts.join(","));
                }
            }
            if let Some(value) = element.strip_prefix("v:") {
                return format!("[={value}]");
            }
            format!("[{}]", element.strip_prefix("i:").unwrap_or(element))
        })
        .collect()
}

/// How conflicts name a manager (`printManager`): quoted, with its subresource, and the API
/// version of an Update.
fn describe_manager(entry: &Entry) -> String {
    let mut text = format!("{:?}", entry.manager);
    if let Some(subresource) = &entry.subresource {
        text = format!("{text} with subresource {subresource:?}");
    }
    if entry.operation == "Update" {
        text = format!("{text} using {}", entry.api_version);
    }
    text
}

/// The conflict error: one cause per field, and a message grouped by manager.
fn conflict_error(conflicts: Vec<(String, FieldPath)>) -> ApiError {
    let causes = conflicts
        .iter()
        .map(|(manager, path)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {manager}"),
            field: display_path(path),
        })
        .collect();
    let message = match conflicts.as_slice() {
        [(manager, path)] => format!(
            "Apply failed with 1 conflict: conflict with {manager}: {}",
            display_path(path)
        ),
        _ => {
            let mut managers: Vec<&String> = conflicts.iter().map(|(m, _)| m).collect();
            managers.sort();
            managers.dedup();
            let mut lines = Vec::new();
            for manager in managers {
                lines.push(format!("conflicts with {manager}:"));
                for (_, path) in conflicts.iter().filter(|(m, _)| m == manager) {
                    lines.push(format!("- {}", display_path(path)));
                }
            }
            format!(
                "Apply failed with {} conflicts: {}",
                conflicts.len(),
                lines.join("\n")
            )
        }
    };
    ApiError::ApplyConflict { causes, message }
}

/// Only leaves can conflict: list-map items and set members carry no value of their own.
fn is_value_leaf(path: &FieldPath) -> bool {
    path.last()
        .is_some_and(|e| e.starts_with("f:") || e.starts_with("i:"))
}

/// Merges `applied` into `live` (or into a new object) and updates managedFields.
/// The result still has to pass admission (status rules, schema, CEL) like any write.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    rt: &ResourceType,
    applier: &Applier,
) -> Result<Value, ApiError> {
    let cursor = Cursor::root(rt.schema.as_ref());
    let applied_scoped = scoped(applied, rt, applier.subresource);
    let applied_set = field_set(&applied_scoped, cursor);
    let mut object = match live {
        Some(live) => live.clone(),
        None => json!({
            "apiVersion": rt.api_version(),
            "kind": rt.kind,
            "metadata": {
                "name": applied.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
                "namespace": applied.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null),
            },
        }),
    };
    let mut list = entries(&object);
    let is_mine = |e: &Entry| e.is(applier.manager, "Apply", applier.subresource);

    let mut conflicts = Vec::new();
    for entry in list.iter_mut().filter(|e| !is_mine(e)) {
        let conflicting: Vec<FieldPath> = entry
            .fields
            .intersection(&applied_set)
            .filter(|p| is_value_leaf(p))
            .filter(|p| {
                let current = value_at(&object, p);
                current.is_some() && current != value_at(&applied_scoped, p)
            })
            .cloned()
            .collect();
        let manager = describe_manager(entry);
        conflicts.extend(
            conflicting
                .iter()
                .map(|path| (manager.clone(), path.clone())),
        );
        if applier.force {
            entry.fields.retain(|p| !conflicting.contains(p));
        }
    }
    if !conflicts.is_empty() && !applier.force {
        return Err(conflict_error(conflicts));
    }

    if let Some(mine) = list.iter().find(|e| is_mine(e)) {
        let dropped: Vec<FieldPath> = mine
            .fields
            .difference(&applied_set)
            .filter(|p| !list.iter().any(|e| !is_mine(e) && e.fields.contains(*p)))
            .cloned()
            .collect();
        // Shallowest first: a list-map item goes whole, before its key fields are removed
        // (which would leave a keyless item behind that no path can reach any more).
        let mut dropped = dropped;
        dropped.sort_by_key(Vec::len);
        for path in &dropped {
            remove_at(&mut object, path);
        }
    }
    merge(&mut object, &applied_scoped, cursor, "");

    match list.iter_mut().find(|e| is_mine(e)) {
        Some(mine) => {
            mine.fields = applied_set;
            mine.time = applier.now.to_string();
            mine.api_version = rt.api_version();
        }
        None => list.push(Entry {
            manager: applier.manager.to_string(),
            operation: "Apply".into(),
            subresource: applier.subresource.map(str::to_string),
            api_version: rt.api_version(),
            time: applier.now.to_string(),
            fields: applied_set,
        }),
    }
    set_entries(&mut object, list);
    Ok(object)
}

/// Structural merge: maps field by field, list-maps item by key, sets by value, the rest replaced.
pub fn merge(base: &mut Value, applied: &Value, cursor: Cursor, name: &str) {
    match (base, applied) {
        (Value::Object(base), Value::Object(applied)) => {
            for (k, v) in applied {
                match base.get_mut(k) {
                    Some(existing) => merge(existing, v, cursor.field(k), k),
                    None => {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(base), Value::Array(applied)) => match cursor.list_kind(name) {
            ListKind::Map(keys) => {
                for item in applied {
                    let same = |b: &&mut Value| keys.iter().all(|k| b.get(k) == item.get(k));
                    match base.iter_mut().find(same) {
                        Some(existing) => merge(existing, item, cursor.items(), ""),
                        None => base.push(item.clone()),
                    }
                }
            }
            ListKind::Set => {
                for item in applied {
                    if !base.contains(item) {
                        base.push(item.clone());
                    }
                }
            }
            ListKind::Atomic => *base = applied.clone(),
        },
        (base, applied) => *base = applied.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins;

    fn configmap_type() -> ResourceType {
        builtins::all()
            .into_iter()
            .find(|t| t.plural == "configmaps")
            .expect("configmaps is built in")
    }

    fn applier(manager: &str, force: bool) -> Applier<'_> {
        Applier {
            manager,
            force,
            subresource: None,
            now: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn a_second_manager_changing_an_owned_field_conflicts_unless_forced() {
        let rt = configmap_type();
        let first = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
        let live = apply(None, &first, &rt, &applier("one", false)).expect("first apply");
        let second = json!({"metadata": {"name": "c"}, "data": {"a": "2"}});
        let err = apply(Some(&live), &second, &rt, &applier("two", false)).expect_err("conflict");
        assert_eq!(err.code(), 409);
        let forced = apply(Some(&live), &second, &rt, &applier("two", true)).expect("forced");
        assert_eq!(forced["data"]["a"], "2");
    }

    #[test]
    fn fields_a_manager_stops_applying_are_removed() {
        let rt = configmap_type();
        let first = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let live = apply(None, &first, &rt, &applier("one", false)).expect("first apply");
        let second = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
        let after = apply(Some(&live), &second, &rt, &applier("one", false)).expect("re-apply");
        assert_eq!(after["data"], json!({"a": "1"}));
    }
}
