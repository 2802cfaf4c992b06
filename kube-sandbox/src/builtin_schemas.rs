//! The OpenAPI v3 schemas of the built-in kinds, taken from k8s-openapi's own (the ones the
//! real server publishes, under the same `io.k8s...` names), so `kubectl explain` works on
//! built-ins and on every kind's `metadata`. Made once per process.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use k8s_openapi::api::{
    apps::v1 as apps, authentication::v1 as authentication, authorization::v1 as authorization,
    coordination::v1 as coordination, core::v1 as core, events::v1 as events,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The prefix of a reference to another schema of the same document.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// Every definition, and which one is each built-in kind's, by (group, version, kind).
struct Schemas {
    definitions: Map<String, Value>,
    kinds: Vec<((&'static str, &'static str, &'static str), String)>,
}

fn generate() -> Schemas {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut kinds = Vec::new();
    macro_rules! kinds {
        ($(($group:expr, $kind:expr, $type:ty)),* $(,)?) => {$(
            generator.subschema_for::<$type>();
            kinds.push((($group, "v1", $kind), <$type as JsonSchema>::schema_name().to_string()));
        )*};
    }
    kinds![
        ("", "Namespace", core::Namespace),
        ("", "ConfigMap", core::ConfigMap),
        ("", "Secret", core::Secret),
        ("", "ServiceAccount", core::ServiceAccount),
        ("", "Service", core::Service),
        ("", "Pod", core::Pod),
        ("", "Node", core::Node),
        ("", "Event", core::Event),
        ("events.k8s.io", "Event", events::Event),
        ("coordination.k8s.io", "Lease", coordination::Lease),
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            apiextensions::CustomResourceDefinition
        ),
        ("apps", "Deployment", apps::Deployment),
        ("apps", "StatefulSet", apps::StatefulSet),
        ("apps", "ReplicaSet", apps::ReplicaSet),
        ("rbac.authorization.k8s.io", "Role", rbac::Role),
        (
            "rbac.authorization.k8s.io",
            "RoleBinding",
            rbac::RoleBinding
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            rbac::ClusterRole
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            rbac::ClusterRoleBinding
        ),
        (
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            authorization::SelfSubjectAccessReview
        ),
        (
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            authorization::SelfSubjectRulesReview
        ),
        (
            "authorization.k8s.io",
            "SubjectAccessReview",
            authorization::SubjectAccessReview
        ),
        (
            "authorization.k8s.io",
            "LocalSubjectAccessReview",
            authorization::LocalSubjectAccessReview
        ),
        (
            "authentication.k8s.io",
            "SelfSubjectReview",
            authentication::SelfSubjectReview
        ),
        (
            "networking.k8s.io",
            "NetworkPolicy",
            networking::NetworkPolicy
        ),
        ("policy", "PodDisruptionBudget", policy::PodDisruptionBudget),
    ];
    generator.subschema_for::<ObjectMeta>();
    Schemas {
        definitions: generator.take_definitions(true),
        kinds,
    }
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(generate)
}

/// The definition name of a built-in kind (`io.k8s.api.apps.v1.Deployment`), if known.
pub fn name_of(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    schemas()
        .kinds
        .iter()
        .find(|((g, v, k), _)| *g == group && *v == version && *k == kind)
        .map(|(_, name)| name.as_str())
}

/// The definition called `name`.
pub fn definition(name: &str) -> Option<&'static Value> {
    schemas().definitions.get(name)
}

/// The name of ObjectMeta's definition, which every kind's `metadata` refers to.
pub fn object_meta() -> String {
    <ObjectMeta as JsonSchema>::schema_name().to_string()
}

/// Adds to `names` every definition `value` refers to, transitively.
pub fn referenced(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
            {
                if names.insert(name.to_string()) {
                    if let Some(target) = definition(name) {
                        referenced(target, names);
                    }
                }
            }
            for child in map.values() {
                referenced(child, names);
            }
        }
        Value::Array(items) => {
            for item in items {
                referenced(item, names);
            }
        }
        _ => {}
    }
}

/// What checking an object against its built-in schema found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Fields the schema does not declare (`spec.replica`), already pruned from the object.
    pub unknown: Vec<String>,
    /// The first value of the wrong JSON type, worded as Go's JSON decoder words it.
    pub mistyped: Option<String>,
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Follows a `$ref` (or an `allOf` holding one) to its definition, with the definition's short
/// name (the Go struct's), if there is one.
fn resolve(node: &Value) -> (&Value, Option<&str>) {
    let reference = node.get("$ref").or_else(|| {
        node.get("allOf")
            .and_then(Value::as_array)
            .and_then(|all| all.first())
            .and_then(|first| first.get("$ref"))
    });
    match reference
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(REF_PREFIX))
    {
        Some(name) => match definition(name) {
            Some(target) => (target, name.rsplit('.').next()),
            None => (node, None),
        },
        None => (node, None),
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The Go type a schema node decodes into, for messages.
fn go_type(node: &Value, struct_name: Option<&str>) -> String {
    if let Some(name) = struct_name {
        return format!("v1.{name}");
    }
    match (node["type"].as_str(), node["format"].as_str()) {
        (Some("integer"), Some(format)) => format.to_string(),
        (Some("integer"), None) => "int".into(),
        (Some("number"), _) => "float64".into(),
        (Some("boolean"), _) => "bool".into(),
        (Some("string"), _) => "string".into(),
        (Some("array"), _) => "[]".into(),
        _ => "map[string]interface {}".into(),
    }
}

fn walk(node: &Value, value: &mut Value, path: &str, owner: &str, findings: &mut Findings) {
    let (node, struct_name) = resolve(node);
    if value.is_null() || node["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true) {
        return;
    }
    let mistyped = |findings: &mut Findings, value: &Value| {
        if findings.mistyped.is_none() {
            findings.mistyped = Some(format!(
                "json: cannot unmarshal {} into Go struct field {owner}.{path} of type {}",
                json_type(value),
                go_type(node, struct_name)
            ));
        }
    };
    if node["x-kubernetes-int-or-string"].as_bool() == Some(true) {
        if !(value.is_string() || value.is_i64() || value.is_u64() || value.is_f64()) {
            mistyped(findings, value);
        }
        return;
    }
    match node["type"].as_str() {
        Some("object") => {
            let Some(map) = value.as_object_mut() else {
                return mistyped(findings, value);
            };
            let properties = node.get("properties").and_then(Value::as_object);
            let additional = node.get("additionalProperties").filter(|a| a.is_object());
            let owner = struct_name.unwrap_or(owner);
            let mut unknown = Vec::new();
            for (key, child) in map.iter_mut() {
                let child_path = join(path, key);
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(schema), _) => walk(schema, child, &child_path, owner, findings),
                    // Go names a map's struct field, not the entry's key.
                    (None, Some(schema)) => walk(schema, child, path, owner, findings),
                    // An object that declares nothing (RawExtension, FieldsV1) takes anything.
                    (None, None) if properties.is_none() => {}
                    (None, None) => unknown.push(key.clone()),
                }
            }
            for key in unknown {
                map.remove(&key);
                findings.unknown.push(join(path, &key));
            }
        }
        Some("array") => {
            let Some(items) = value.as_array_mut() else {
                return mistyped(findings, value);
            };
            if let Some(item_schema) = node.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), owner, findings);
                }
            }
        }
        Some("string") if !value.is_string() => mistyped(findings, value),
        Some("integer") if !(value.is_i64() || value.is_u64()) => mistyped(findings, value),
        Some("number") if !value.is_number() => mistyped(findings, value),
        Some("boolean") if !value.is_boolean() => mistyped(findings, value),
        _ => {}
    }
}

/// Checks a built-in kind's object against its schema, pruning the fields it does not declare
/// (as decoding into the real server's Go structs drops them) and noting the first mistyped
/// value. `None` for kinds without a known schema.
pub fn check(group: &str, version: &str, kind: &str, object: &mut Value) -> Option<Findings> {
    let schema = definition(name_of(group, version, kind)?)?;
    let mut findings = Findings::default();
    walk(schema, object, "", kind, &mut findings);
    findings.unknown.sort();
    Some(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_schema_reaches_object_meta_and_the_pod_spec() {
        let name = name_of("apps", "v1", "Deployment").expect("known");
        let mut names = BTreeSet::new();
        referenced(definition(name).expect("defined"), &mut names);
        assert!(names.contains(&object_meta()), "{names:?}");
        assert!(names.contains("io.k8s.api.core.v1.PodSpec"), "{names:?}");
    }

    #[test]
    fn undeclared_fields_are_pruned_and_named_with_their_path() {
        let mut deployment = serde_json::json!({
            "metadata": {"name": "web", "labels": {"app": "web"}, "managedFields": [{"fieldsV1": {"f:spec": {}}}]},
            "spec": {"replica": 2, "template": {"spec": {"containers": [{"name": "web", "imagee": "x"}]}}},
        });
        let findings = check("apps", "v1", "Deployment", &mut deployment).expect("known");
        assert_eq!(
            findings.unknown,
            ["spec.replica", "spec.template.spec.containers[0].imagee"]
        );
        assert!(deployment["spec"].get("replica").is_none());
        assert_eq!(
            deployment["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"],
            serde_json::json!({})
        );
        assert!(findings.mistyped.is_none());
    }

    #[test]
    fn a_string_where_an_integer_belongs_is_a_decoding_error() {
        let mut deployment = serde_json::json!({"spec": {"replicas": "two"}});
        let findings = check("apps", "v1", "Deployment", &mut deployment).expect("known");
        assert_eq!(
            findings.mistyped.as_deref(),
            Some("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")
        );
    }
}
