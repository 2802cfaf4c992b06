//! Field ownership (`metadata.managedFields`), the bookkeeping behind server-side apply:
//! which manager set which field, so that apply can detect conflicts and remove fields a
//! manager stopped applying. Paths use the fieldsV1 element syntax (`f:`, `k:`, `v:`, `i:`).

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::kind::ResourceType;
use crate::merge_strategy::{Cursor, ListKind};

/// One field, as the chain of fieldsV1 path elements leading to it.
pub type FieldPath = Vec<String>;
/// The fields one manager owns.
pub type FieldSet = BTreeSet<FieldPath>;

/// The part of an object a write through `subresource` may touch, as the field manager sees it.
pub fn scoped(object: &Value, rt: &ResourceType, subresource: Option<&str>) -> Value {
    if subresource == Some("status") {
        return match object.get("status") {
            Some(status) => json!({ "status": status }),
            None => json!({}),
        };
    }
    let mut out = Map::new();
    if let Some(map) = object.as_object() {
        for (k, v) in map {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "status" if rt.status_subresource => {}
                "metadata" => {
                    let mut meta = Map::new();
                    for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
                        if let Some(value) = v.get(field) {
                            meta.insert(field.into(), value.clone());
                        }
                    }
                    if !meta.is_empty() {
                        out.insert(k.clone(), Value::Object(meta));
                    }
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Value::Object(out)
}

/// The leaf fields (and list-map items) present in `value`.
pub fn field_set(value: &Value, cursor: Cursor) -> FieldSet {
    let mut out = FieldSet::new();
    walk(value, cursor, "", &mut Vec::new(), &mut out);
    out
}

fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut key = Map::new();
    for k in keys {
        key.insert(k.clone(), item.get(k)?.clone());
    }
    Some(format!("k:{}", Value::Object(key)))
}

fn walk(value: &Value, cursor: Cursor, name: &str, path: &mut FieldPath, out: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                path.push(format!("f:{k}"));
                walk(v, cursor.field(k), k, path, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match cursor.list_kind(name) {
            ListKind::Map(keys) => {
                for item in items {
                    match item_key(item, &keys) {
                        Some(key) => {
                            path.push(key);
                            out.insert(path.clone());
                            walk(item, cursor.items(), "", path, out);
                            path.pop();
                        }
                        None => {
                            out.insert(path.clone());
                        }
                    }
                }
            }
            ListKind::Set => {
                for item in items {
                    path.push(format!("v:{item}"));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            ListKind::Atomic => {
                out.insert(path.clone());
            }
        },
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

fn matches_element(items: &[Value], element: &str) -> Option<usize> {
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        items
            .iter()
            .position(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
    } else if let Some(value) = element.strip_prefix("v:") {
        let value: Value = serde_json::from_str(value).ok()?;
        items.iter().position(|item| *item == value)
    } else {
        element.strip_prefix("i:")?.parse().ok()
    }
}

/// The value at a field path, if the object has it.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = object;
    for element in path {
        current = match (element.strip_prefix("f:"), current) {
            (Some(field), Value::Object(map)) => map.get(field)?,
            (None, Value::Array(items)) => items.get(matches_element(items, element)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Removes the field (or list item) at `path`, if present.
pub fn remove_at(object: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut current = object;
    for element in parent_path {
        let next = match (element.strip_prefix("f:"), current) {
            (Some(field), Value::Object(map)) => map.get_mut(field),
            (None, Value::Array(items)) => match matches_element(items, element) {
                Some(i) => items.get_mut(i),
                None => None,
            },
            _ => None,
        };
        match next {
            Some(n) => current = n,
            None => return,
        }
    }
    match (last.strip_prefix("f:"), current) {
        (Some(field), Value::Object(map)) => {
            map.remove(field);
        }
        (None, Value::Array(items)) => {
            if let Some(i) = matches_element(items, last) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// Renders a field set as the nested fieldsV1 JSON the API returns.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    fn insert(node: &mut Map<String, Value>, path: &[String], marker: bool) {
        match path.split_first() {
            None => {
                if marker {
                    node.insert(".".into(), json!({}));
                }
            }
            Some((first, rest)) => {
                let child = node
                    .entry(first.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(child) = child {
                    insert(child, rest, marker);
                }
            }
        }
    }
    let mut root = Map::new();
    for path in set {
        // A path that is also a prefix of others (a list-map item) is marked with ".".
        let marker = set
            .iter()
            .any(|p| p.len() > path.len() && p.starts_with(path));
        insert(&mut root, path, marker);
    }
    Value::Object(root)
}

/// Parses fieldsV1 JSON back into a field set.
pub fn from_fields_v1(value: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn go(value: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        let Some(map) = value.as_object() else { return };
        if map.is_empty() && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, v) in map {
            if k == "." {
                out.insert(path.clone());
            } else {
                path.push(k.clone());
                go(v, path, out);
                path.pop();
            }
        }
    }
    go(value, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The field manager's name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// `status` for writes through the status subresource.
    pub subresource: Option<String>,
    /// The API version the manager wrote with.
    pub api_version: String,
    /// When the manager last wrote.
    pub time: String,
    /// The fields it owns.
    pub fields: FieldSet,
}

impl Entry {
    /// Whether this entry belongs to the given writer.
    pub fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }
}

/// The entries recorded on an object.
pub fn entries(object: &Value) -> Vec<Entry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().into(),
            operation: e["operation"].as_str().unwrap_or("Update").into(),
            subresource: e["subresource"].as_str().map(str::to_string),
            api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
            time: e["time"].as_str().unwrap_or_default().into(),
            fields: from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

/// Writes entries back, dropping fields that no longer exist and managers left with none.
pub fn set_entries(object: &mut Value, mut list: Vec<Entry>) {
    let snapshot = object.clone();
    for entry in &mut list {
        entry.fields.retain(|p| value_at(&snapshot, p).is_some());
    }
    list.retain(|e| !e.fields.is_empty());
    let rendered: Vec<Value> = list
        .iter()
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields),
            });
            if let Some(sub) = &e.subresource {
                v["subresource"] = json!(sub);
            }
            v
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if rendered.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(rendered));
        }
    }
}

/// Who is writing, for the managedFields bookkeeping of a non-apply write.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// The field manager name.
    pub manager: &'a str,
    /// The subresource written through, if any.
    pub subresource: Option<&'a str>,
    /// The current time, RFC 3339.
    pub now: &'a str,
}

/// Records an Update-operation write: the writer takes the fields it changed away from others.
pub fn record_update(old: Option<&Value>, new: &mut Value, rt: &ResourceType, writer: &Writer) {
    // A client that rewrites managedFields itself (kubectl's migration to server-side apply
    // does) gets them as written; an empty list resets ownership.
    let requested = new.pointer("/metadata/managedFields").cloned();
    let current = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .cloned();
    let reset = match &requested {
        Some(Value::Array(list)) if requested != current => {
            if !list.is_empty() {
                return;
            }
            true
        }
        _ => false,
    };
    let cursor = Cursor::root(rt.schema.as_ref());
    let new_scoped = scoped(new, rt, writer.subresource);
    let old_scoped = old.map(|o| scoped(o, rt, writer.subresource));
    let changed: FieldSet = field_set(&new_scoped, cursor)
        .into_iter()
        .filter(|p| old_scoped.as_ref().and_then(|o| value_at(o, p)) != value_at(&new_scoped, p))
        .collect();
    let mut list = if reset {
        Vec::new()
    } else {
        old.map(entries).unwrap_or_default()
    };
    for entry in &mut list {
        if !entry.is(writer.manager, "Update", writer.subresource) {
            entry.fields.retain(|p| !changed.contains(p));
        }
    }
    if !changed.is_empty() {
        match list
            .iter_mut()
            .find(|e| e.is(writer.manager, "Update", writer.subresource))
        {
            Some(mine) => {
                mine.fields.extend(changed);
                mine.time = writer.now.to_string();
            }
            None => list.push(Entry {
                manager: writer.manager.to_string(),
                operation: "Update".into(),
                subresource: writer.subresource.map(str::to_string),
                api_version: rt.api_version(),
                time: writer.now.to_string(),
                fields: changed,
            }),
        }
    }
    set_entries(new, list);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_owned_per_type_and_round_trip_through_fields_v1() {
        let obj = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let set = field_set(&obj, Cursor::root(None));
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1,
            json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
        );
        assert_eq!(from_fields_v1(&v1), set);
    }
}
