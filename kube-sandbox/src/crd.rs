//! CustomResourceDefinitions: checking one, marking it Established, and deriving the resource
//! types it serves, so that creating a CRD is all it takes for its objects to be served.

use serde_json::{json, Value};

use crate::api_error::{ApiError, Cause};
use crate::kind::{PrinterColumn, ResourceType, Shape, StorageKey};

/// Refuses CRDs the real server would refuse for reasons that would break serving them.
pub fn check(crd: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    if group.is_empty() {
        causes.push(Cause::invalid("spec.group", "Required value"));
    }
    if plural.is_empty() {
        causes.push(Cause::invalid("spec.names.plural", "Required value"));
    }
    if spec["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        causes.push(Cause::invalid("spec.names.kind", "Required value"));
    }
    if !matches!(spec["scope"].as_str(), Some("Namespaced" | "Cluster")) {
        causes.push(Cause::invalid(
            "spec.scope",
            "Unsupported value: supported values: \"Cluster\", \"Namespaced\"",
        ));
    }
    let versions = spec["versions"].as_array().map(Vec::len).unwrap_or(0);
    if versions == 0 {
        causes.push(Cause::invalid(
            "spec.versions",
            "Required value: must have exactly one version marked as storage version",
        ));
    }
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    for (i, version) in spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, field) in version["selectableFields"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let path = field["jsonPath"].as_str().unwrap_or_default();
            if !path.starts_with('.') {
                causes.push(Cause::invalid(
                    format!("spec.versions[{i}].selectableFields[{j}].jsonPath"),
                    format!("Invalid value: {path:?}: must be a simple field path: expected [ or . but got {}", path.chars().next().map(String::from).unwrap_or_default()),
                ));
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            kind: "CustomResourceDefinition.apiextensions.k8s.io".into(),
            name: name.to_string(),
            causes,
        })
    }
}

/// Fills in the status the real server reports once names are accepted and the CRD serves.
pub fn establish(crd: &mut Value, now: &str) {
    let names = crd["spec"]["names"].clone();
    let mut accepted = names.clone();
    if accepted.get("singular").is_none() {
        accepted["singular"] = json!(names["kind"].as_str().unwrap_or_default().to_lowercase());
    }
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = json!(format!(
            "{}List",
            names["kind"].as_str().unwrap_or_default()
        ));
    }
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    let condition = |type_: &str, reason: &str, message: &str| json!({"type": type_, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": accepted,
        "storedVersions": stored,
    });
}

/// Where the objects of a CRD are stored.
pub fn storage_of(crd: &Value) -> StorageKey {
    let text = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    StorageKey {
        group: text("/spec/group"),
        resource: text("/spec/names/plural"),
    }
}

/// The resource types a stored CRD serves, one per served version.
pub fn resource_types(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool() != Some(false))
        .map(|v| ResourceType {
            group: group.clone(),
            version: v["name"].as_str().unwrap_or_default().to_string(),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: names["singular"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| kind.to_lowercase()),
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            namespaced: spec["scope"].as_str() == Some("Namespaced"),
            status_subresource: v.pointer("/subresources/status").is_some(),
            scale: v
                .pointer("/subresources/scale")
                .map(|s| crate::kind::ScalePaths {
                    spec_replicas: s["specReplicasPath"]
                        .as_str()
                        .unwrap_or(".spec.replicas")
                        .to_string(),
                    status_replicas: s["statusReplicasPath"]
                        .as_str()
                        .unwrap_or(".status.replicas")
                        .to_string(),
                    label_selector: s["labelSelectorPath"].as_str().map(str::to_string),
                }),
            columns: v["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| PrinterColumn {
                    name: c["name"].as_str().unwrap_or_default().to_string(),
                    type_: c["type"].as_str().unwrap_or("string").to_string(),
                    format: c["format"].as_str().unwrap_or_default().to_string(),
                    description: c["description"].as_str().unwrap_or_default().to_string(),
                    priority: c["priority"].as_i64().unwrap_or(0),
                    json_path: c["jsonPath"].as_str().unwrap_or_default().to_string(),
                })
                .collect(),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            compiled: v
                .pointer("/schema/openAPIV3Schema")
                .map(|s| std::sync::Arc::new(kube::core::cel::compile_schema(s))),
            rule_roots: v.pointer("/schema/openAPIV3Schema").and_then(rule_roots),
            selectable_fields: v["selectableFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["jsonPath"].as_str())
                .map(|p| p.trim_start_matches('.').to_string())
                .collect(),
            storage: StorageKey {
                group: group.clone(),
                resource: plural.clone(),
            },
            shape: Shape::Plain,
            custom: true,
        })
        .collect()
}

/// The top-level properties whose subtree holds an `x-kubernetes-validations` rule; `None` when
/// the root itself has rules (they may read any field, so the whole object is needed).
fn rule_roots(schema: &Value) -> Option<Vec<String>> {
    fn has_rules(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                m.contains_key("x-kubernetes-validations") || m.values().any(has_rules)
            }
            Value::Array(a) => a.iter().any(has_rules),
            _ => false,
        }
    }
    if schema.get("x-kubernetes-validations").is_some() {
        return None;
    }
    let properties = schema.get("properties")?.as_object()?;
    Some(
        properties
            .iter()
            .filter(|(_, s)| has_rules(s))
            .map(|(k, _)| k.clone())
            .collect(),
    )
}
