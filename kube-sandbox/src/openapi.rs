//! OpenAPI v3 documents, just enough for kubectl: a root listing each group-version with a
//! hashed URL, and per group-version documents whose PATCH operations carry
//! `x-kubernetes-group-version-kind` and a `fieldValidation` parameter. That is what makes
//! kubectl's default `--validate=strict` send `fieldValidation=Strict` instead of failing.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

use serde_json::{json, Map, Value};

use crate::builtin_schemas;
use crate::kind::ResourceType;
use crate::registry::Registry;

fn path_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`.
pub fn root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let key = path_key(&group, &version);
            let hash = hash_of(&document(registry, &group, &version));
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    json!({ "paths": paths })
}

fn hash_of(doc: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    doc.to_string().hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// The definition name the real server would use, e.g. `test.sandbox.v1.Widget`.
fn definition_name(rt: &ResourceType) -> String {
    if let Some(name) = builtin_schemas::name_of(&rt.group, &rt.version, &rt.kind) {
        return name.to_string();
    }
    if rt.group.is_empty() {
        return format!("io.k8s.api.core.{}.{}", rt.version, rt.kind);
    }
    let reversed: Vec<&str> = rt.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind)
}

fn parameter(name: &str, location: &str, ty: &str) -> Value {
    json!({"name": name, "in": location, "required": location == "path", "schema": {"type": ty, "uniqueItems": true}})
}

fn patch_operation(rt: &ResourceType) -> Value {
    let body = json!({"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}});
    // Built-ins do not advertise strategic merge here, so kubectl computes it from its compiled
    // structs (with the real merge keys) instead of from this schemaless document.
    let content = json!({
        "application/json-patch+json": body,
        "application/merge-patch+json": body,
        "application/apply-patch+yaml": body,
    });
    json!({
        "operationId": format!("patch{}{}", if rt.namespaced { "Namespaced" } else { "" }, rt.kind),
        "parameters": [
            parameter("dryRun", "query", "string"),
            parameter("fieldManager", "query", "string"),
            parameter("fieldValidation", "query", "string"),
            parameter("force", "query", "boolean"),
        ],
        "requestBody": {"content": content, "required": true},
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", definition_name(rt))}}}}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
    })
}

/// A kind's schema: the built-in one from k8s-openapi, or a CRD's own with the `apiVersion`,
/// `kind` and `metadata` the real server adds to what it publishes.
fn kind_schema(rt: &ResourceType) -> Value {
    if let Some(schema) = builtin_schemas::name_of(&rt.group, &rt.version, &rt.kind)
        .and_then(builtin_schemas::definition)
    {
        return schema.clone();
    }
    let mut schema = rt
        .schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(properties) = schema
        .as_object_mut()
        .map(|s| s.entry("properties").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        properties.entry("apiVersion").or_insert_with(|| json!({
            "description": "APIVersion defines the versioned schema of this representation of an object.",
            "type": "string",
        }));
        properties.entry("kind").or_insert_with(|| json!({
            "description": "Kind is a string value representing the REST resource this object represents.",
            "type": "string",
        }));
        properties.insert("metadata".into(), json!({
            "allOf": [{"$ref": format!("{}{}", builtin_schemas::REF_PREFIX, builtin_schemas::object_meta())}],
            "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        }));
    }
    schema
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`.
pub fn document(registry: &Registry, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(),
        json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}),
    );
    let mut referenced = BTreeSet::new();
    for rt in registry.in_group_version(group, version) {
        let prefix = format!("/{}", path_key(group, version));
        let collection = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{prefix}/{}", rt.plural)
        };
        let mut path_params = vec![parameter("name", "path", "string")];
        if rt.namespaced {
            path_params.push(parameter("namespace", "path", "string"));
        }
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"patch": patch_operation(&rt), "parameters": path_params}),
        );
        let mut schema = kind_schema(&rt);
        schema["x-kubernetes-group-version-kind"] =
            json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]);
        builtin_schemas::referenced(&schema, &mut referenced);
        schemas.insert(definition_name(&rt), schema);
    }
    for name in referenced {
        if let Some(definition) = builtin_schemas::definition(&name) {
            schemas.entry(name).or_insert_with(|| definition.clone());
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
