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
}
