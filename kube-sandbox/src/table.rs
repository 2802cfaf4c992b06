//! Server-side printing: `meta.k8s.io/v1` Tables, because kubectl shows printer columns only
//! when the server converts objects to Tables (otherwise it falls back to NAME and AGE).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::jsonpath::JsonPath;
use crate::kind::{PrinterColumn, ResourceType};

/// What a Table row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default; kubectl reads namespaces and labels from it).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// Where a column's cells come from.
#[derive(Debug, Clone)]
enum Source {
    /// A JSONPath, as CRDs declare.
    Path(String),
    /// The first of several JSONPaths that yields a value (events keep their time in several).
    FirstOf(&'static [&'static str]),
    /// An object reference printed as `kind/name`, as kubectl shows an event's object.
    ObjectRef(&'static str),
}

/// One column after Name.
#[derive(Debug, Clone)]
struct Column {
    definition: PrinterColumn,
    source: Source,
}

fn builtin(name: &str, type_: &str, source: Source) -> Column {
    Column {
        definition: PrinterColumn {
            name: name.into(),
            type_: type_.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: String::new(),
        },
        source,
    }
}

fn age() -> Column {
    let mut column = builtin(
        "Age",
        "date",
        Source::Path(".metadata.creationTimestamp".into()),
    );
    column.definition.description =
        "CreationTimestamp is a timestamp representing the server time when this object was created.".into();
    column
}

/// The columns after Name: the declared ones, or the defaults the real server shows.
fn columns(rt: &ResourceType) -> Vec<Column> {
    if !rt.columns.is_empty() {
        return rt
            .columns
            .iter()
            .map(|c| Column {
                definition: c.clone(),
                source: Source::Path(c.json_path.clone()),
            })
            .collect();
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => vec![
            builtin("Status", "string", Source::Path(".status.phase".into())),
            age(),
        ],
        ("", "events") => vec![
            builtin(
                "Last Seen",
                "date",
                Source::FirstOf(&[
                    ".series.lastObservedTime",
                    ".lastTimestamp",
                    ".eventTime",
                    ".metadata.creationTimestamp",
                ]),
            ),
            builtin("Type", "string", Source::Path(".type".into())),
            builtin("Reason", "string", Source::Path(".reason".into())),
            builtin("Object", "string", Source::ObjectRef(".involvedObject")),
            builtin("Message", "string", Source::Path(".message".into())),
        ],
        _ => vec![age()],
    }
}

fn column_definitions(cols: &[Column]) -> Value {
    let mut defs = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace."
    })];
    defs.extend(cols.iter().map(|c| &c.definition).map(|c| {
        json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
    }));
    Value::Array(defs)
}

/// One row for one (served) object.
fn row(object: &Value, cols: &[Column], include: IncludeObject, now: DateTime<Utc>) -> Value {
    let mut cells = vec![object
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or(Value::Null)];
    cells.extend(cols.iter().map(|c| cell(object, c, now)));
    let mut row = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(object),
        IncludeObject::Object => row["object"] = object.clone(),
    }
    row
}

/// The object reduced to `PartialObjectMetadata`.
pub fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
    })
}

fn first(object: &Value, path: &str) -> Option<Value> {
    JsonPath::parse(path)
        .ok()?
        .find(object)
        .into_iter()
        .find(|v| !v.is_null())
        .cloned()
}

fn cell(object: &Value, column: &Column, now: DateTime<Utc>) -> Value {
    let found = match &column.source {
        Source::Path(path) => first(object, path),
        Source::FirstOf(paths) => paths.iter().find_map(|p| first(object, p)),
        Source::ObjectRef(path) => first(object, path).map(|r| {
            let kind = r["kind"].as_str().unwrap_or_default().to_lowercase();
            json!(format!("{kind}/{}", r["name"].as_str().unwrap_or_default()))
        }),
    };
    let Some(value) = found else {
        return Value::Null;
    };
    match (column.definition.type_.as_str(), &value) {
        ("date", Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Value::String(human_duration(now - t.with_timezone(&Utc))),
            Err(_) => value,
        },
        ("string", Value::String(_)) => value,
        ("string", other) => Value::String(other.to_string()),
        _ => value,
    }
}

/// The apimachinery `HumanDuration` format kubectl users know: 45s, 3m12s, 5h, 2d3h, 3y.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let (days, h) = (hours / 24, hours % 24);
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    let years = hours / 24 / 365;
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{days}d")
        };
    }
    format!("{years}y")
}

/// A Table of `objects` (already in served form); `list_meta` is the list's metadata.
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    list_meta: Value,
    include: IncludeObject,
) -> Value {
    let cols = columns(rt);
    let now = Utc::now();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": column_definitions(&cols),
        "rows": objects.iter().map(|o| row(o, &cols, include, now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl_prints_them() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(45)), "45s");
        assert_eq!(human_duration(d(3 * 60 + 12)), "3m12s");
        assert_eq!(human_duration(d(5 * 3600)), "5h");
        assert_eq!(human_duration(d(51 * 3600)), "2d3h");
    }
}
