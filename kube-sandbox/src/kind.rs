//! What the sandbox knows about one served type (group, version, kind, names, scope,
//! subresources, printer columns, schema) and where its objects are stored. Every layer above
//! reads types through this description.

use serde_json::Value;

/// Where objects of a type live in the store; two served types may share one (events).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageKey {
    /// API group of the stored form ("" for core).
    pub group: String,
    /// Plural resource name of the stored form.
    pub resource: String,
}

impl StorageKey {
    /// Where namespaces are stored, which creation checks and the initial cluster need.
    pub fn namespaces() -> Self {
        StorageKey {
            group: String::new(),
            resource: "namespaces".into(),
        }
    }
}

/// How a served type's objects differ from their stored form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Stored exactly as served (apart from `apiVersion`).
    Plain,
    /// `events.k8s.io/v1` Event, stored as a core/v1 Event so both APIs see the same objects.
    EventsV1,
    /// An access or identity review: create-only, answered at once and never stored.
    Review,
}

impl ResourceType {
    /// The verbs discovery advertises for the main resource.
    pub fn verbs(&self) -> &'static [&'static str] {
        match self.shape {
            Shape::Review => &["create"],
            _ => &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
        }
    }
}

/// One `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: string, integer, number, boolean or date.
    pub type_: String,
    /// Optional OpenAPI format, such as `name`.
    pub format: String,
    /// Help text shown by `kubectl explain`-like tools.
    pub description: String,
    /// 0 for the default view, higher for `-o wide`.
    pub priority: i64,
    /// Kubernetes JSONPath evaluated against the object.
    pub json_path: String,
}

/// Where a type keeps the numbers its scale subresource shows (JSONPaths such as `.spec.replicas`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    /// Desired replicas.
    pub spec_replicas: String,
    /// Observed replicas.
    pub status_replicas: String,
    /// The label selector, as a string, if the type exposes one.
    pub label_selector: Option<String>,
}

/// Everything the server needs to know about one served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group ("" for core).
    pub group: String,
    /// API version inside the group.
    pub version: String,
    /// Kind of a single object.
    pub kind: String,
    /// Plural resource name, used in paths.
    pub plural: String,
    /// Singular name, used by kubectl's REST mapper.
    pub singular: String,
    /// Short names such as `deploy`.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Whether objects live inside a namespace.
    pub namespaced: bool,
    /// Whether `/status` is a separate subresource (and the main resource ignores status).
    pub status_subresource: bool,
    /// The scale subresource's paths, when the type has one.
    pub scale: Option<ScalePaths>,
    /// Printer columns after `Name`; empty means the default `Age` column.
    pub columns: Vec<PrinterColumn>,
    /// The `openAPIV3Schema`, for custom resources only.
    pub schema: Option<Value>,
    /// Its CEL rules, compiled once when the CRD is registered rather than on every write.
    pub compiled: Option<std::sync::Arc<kube::core::cel::CompiledSchema>>,
    /// The top-level fields whose schema holds CEL rules, when the root itself holds none: only
    /// those need converting for the rules (a status write then costs its rules, not its size).
    pub rule_roots: Option<Vec<String>>,
    /// JSONPaths the CRD declares as `selectableFields`.
    pub selectable_fields: Vec<String>,
    /// Where the objects are stored.
    pub storage: StorageKey,
    /// How served objects map onto stored ones.
    pub shape: Shape,
    /// Whether this type comes from a CRD (affects patch types and table defaults).
    pub custom: bool,
}

impl ResourceType {
    /// `apiVersion` as written in objects: `v1` for core, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `foos.sandbox.test`, as used in NotFound/Conflict messages.
    pub fn qualified_resource(&self) -> String {
        qualify(&self.plural, &self.group)
    }

    /// `Foo.sandbox.test`, as used in Invalid messages.
    pub fn qualified_kind(&self) -> String {
        qualify(&self.kind, &self.group)
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}
