//! How parts of an object merge, read from the schema (`x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys`) or, for schemaless built-ins, from well-known field names.
//! Server-side apply and field ownership both follow it.

use serde_json::Value;

/// How a list merges, from `x-kubernetes-list-type` or, for schemaless built-ins, the field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole.
    Atomic,
    /// Items are scalars, merged as a set.
    Set,
    /// Items are objects identified by these key fields.
    Map(Vec<String>),
}

/// A position in an openAPIV3Schema, absent where the schema says nothing.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    node: Option<&'a Value>,
}

impl<'a> Cursor<'a> {
    /// The root of a type's schema (absent for schemaless types).
    pub fn root(schema: Option<&'a Value>) -> Self {
        Cursor { node: schema }
    }

    /// The schema of a property (or of map values).
    pub fn field(self, name: &str) -> Self {
        let node = self.node.and_then(|n| {
            n.get("properties")
                .and_then(|p| p.get(name))
                .or_else(|| n.get("additionalProperties").filter(|a| a.is_object()))
        });
        Cursor { node }
    }

    /// The schema of list items.
    pub fn items(self) -> Self {
        Cursor {
            node: self.node.and_then(|n| n.get("items")),
        }
    }

    /// How the list at this position merges; `name` is its field name, for the built-in fallbacks.
    pub fn list_kind(self, name: &str) -> ListKind {
        if let Some(node) = self.node {
            return match node["x-kubernetes-list-type"].as_str() {
                Some("map") => ListKind::Map(
                    node["x-kubernetes-list-map-keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                ),
                Some("set") => ListKind::Set,
                _ => ListKind::Atomic,
            };
        }
        match name {
            "conditions" => ListKind::Map(vec!["type".into()]),
            "finalizers" => ListKind::Set,
            "ownerReferences" => ListKind::Map(vec!["uid".into()]),
            "containers" | "initContainers" | "ephemeralContainers" | "volumes" | "env" => {
                ListKind::Map(vec!["name".into()])
            }
            _ => ListKind::Atomic,
        }
    }
}
