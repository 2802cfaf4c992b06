//! The defaults a real server fills in on the built-in workloads and Services (`SetDefaults_*`
//! in `pkg/apis/*/v1`). A controller that compares what it wants with what is stored sees
//! these fields on a cluster, so it sees them here too, instead of passing here and fighting
//! the server for ever on a cluster.

use serde_json::{json, Map, Value};

use crate::kind::ResourceType;
use crate::store::Store;

/// Sets `field` to `value` when it is absent or null.
fn default(object: &mut Map<String, Value>, field: &str, value: Value) {
    match object.get(field) {
        Some(v) if !v.is_null() => {}
        _ => {
            object.insert(field.into(), value);
        }
    }
}

/// The object at `field`, created when absent; `None` when something else stands there.
fn child<'a>(
    object: &'a mut Map<String, Value>,
    field: &str,
) -> Option<&'a mut Map<String, Value>> {
    let slot = object.entry(field).or_insert_with(|| json!({}));
    if slot.is_null() {
        *slot = json!({});
    }
    slot.as_object_mut()
}

/// Fills in the defaults of a built-in kind's object, in place.
pub fn fill(rt: &ResourceType, object: &mut Value) {
    if rt.custom {
        return;
    }
    let Some(root) = object.as_object_mut() else {
        return;
    };
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments") => {
            if let Some(spec) = child(root, "spec") {
                deployment_spec(spec);
            }
        }
        ("apps", "statefulsets") => {
            if let Some(spec) = child(root, "spec") {
                statefulset_spec(spec);
            }
        }
        ("apps", "replicasets") => {
            if let Some(spec) = child(root, "spec") {
                default(spec, "replicas", json!(1));
                template(spec);
            }
        }
        ("", "pods") => {
            if let Some(spec) = child(root, "spec") {
                pod_spec(spec);
                default(spec, "enableServiceLinks", json!(true));
            }
        }
        ("", "services") => {
            if let Some(spec) = child(root, "spec") {
                service_spec(spec);
            }
            default(root, "status", json!({"loadBalancer": {}}));
        }
        _ => {}
    }
}

fn template(spec: &mut Map<String, Value>) {
    if let Some(pod) = child(spec, "template").and_then(|t| child(t, "spec")) {
        pod_spec(pod);
    }
}

fn deployment_spec(spec: &mut Map<String, Value>) {
    default(spec, "replicas", json!(1));
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "progressDeadlineSeconds", json!(600));
    if let Some(strategy) = child(spec, "strategy") {
        default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            if let Some(rolling) = child(strategy, "rollingUpdate") {
                default(rolling, "maxUnavailable", json!("25%"));
                default(rolling, "maxSurge", json!("25%"));
            }
        }
    }
    template(spec);
}

fn statefulset_spec(spec: &mut Map<String, Value>) {
    default(spec, "replicas", json!(1));
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "podManagementPolicy", json!("OrderedReady"));
    default(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    if let Some(strategy) = child(spec, "updateStrategy") {
        default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            if let Some(rolling) = child(strategy, "rollingUpdate") {
                default(rolling, "partition", json!(0));
            }
        }
    }
    template(spec);
}

fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        let containers = spec.get_mut(list).and_then(Value::as_array_mut);
        for container in containers
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            container_defaults(container);
        }
    }
    let volumes = spec.get_mut("volumes").and_then(Value::as_array_mut);
    for volume in volumes
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        for source in ["configMap", "secret"] {
            if let Some(source) = volume.get_mut(source).and_then(Value::as_object_mut) {
                default(source, "defaultMode", json!(420));
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise.
fn pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last.split_once(':') {
        Some((_, "latest")) | None if !image.contains('@') => "Always",
        _ => "IfNotPresent",
    }
}

fn container_defaults(container: &mut Map<String, Value>) {
    default(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    default(container, "terminationMessagePolicy", json!("File"));
    default(container, "resources", json!({}));
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    default(container, "imagePullPolicy", json!(pull_policy(&image)));
    let ports = container.get_mut("ports").and_then(Value::as_array_mut);
    for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
        default(port, "protocol", json!("TCP"));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = container.get_mut(probe).and_then(Value::as_object_mut) {
            default(probe, "timeoutSeconds", json!(1));
            default(probe, "periodSeconds", json!(10));
            default(probe, "successThreshold", json!(1));
            default(probe, "failureThreshold", json!(3));
        }
    }
}

fn service_spec(spec: &mut Map<String, Value>) {
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if kind != "ExternalName" {
        default(spec, "internalTrafficPolicy", json!("Cluster"));
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
    for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
        default(port, "protocol", json!("TCP"));
        if let Some(number) = port.get("port").cloned() {
            default(port, "targetPort", number);
        }
    }
}

/// Gives a new Service its cluster IP, the lowest free address of kubeadm's default range
/// (10.96.0.0/12, past the `kubernetes` Service's), unless it is headless or ExternalName.
pub fn allocate_cluster_ip(store: &Store, rt: &ResourceType, object: &mut Value) {
    if !(rt.group.is_empty() && rt.plural == "services") {
        return;
    }
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return;
    }
    let requested = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .map(str::to_string);
    let ip = match requested {
        Some(ip) => ip,
        None => {
            let storage = rt.storage.clone();
            let taken: Vec<String> = store
                .list(&storage, None)
                .into_iter()
                .filter_map(|(_, s)| s.pointer("/spec/clusterIP").and_then(Value::as_str))
                .map(str::to_string)
                .collect();
            // 10.96.0.0/12 holds 2^20 addresses; .0 is the network and .1 the API server.
            let free = (2u32..(1 << 20)).map(|n| {
                let address = (10u32 << 24) | (96 << 16) | n;
                std::net::Ipv4Addr::from(address).to_string()
            });
            match free.into_iter().find(|ip| !taken.contains(ip)) {
                Some(ip) => ip,
                None => return,
            }
        }
    };
    spec.insert("clusterIP".into(), json!(ip));
    default(spec, "clusterIPs", json!([ip]));
}

/// Carries a Service's allocated addresses over an update that leaves them out, as the real
/// server does (`patchAllocatedValues`).
pub fn keep_allocated(rt: &ResourceType, old: &Value, new: &mut Value) {
    if !(rt.group.is_empty() && rt.plural == "services") {
        return;
    }
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["clusterIP", "clusterIPs"] {
        let unset = spec.get(field).is_none_or(|v| {
            v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty)
        });
        if unset {
            if let Some(value) = old.pointer(&format!("/spec/{field}")) {
                spec.insert(field.into(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_and_latest_images_are_always_pulled() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("registry:5000/app"), "Always");
        assert_eq!(pull_policy("app@sha256:abc"), "IfNotPresent");
    }
}
