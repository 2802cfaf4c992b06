//! deploy/ as kubectl renders it: every kustomization builds, the RBAC grants exactly what the
//! operator calls and no wildcard or cluster-wide Secret access, the Deployment runs restricted
//! with probes, two replicas and leader election, and every built-in object holds only fields
//! a real API server knows.

mod kustomize;

use std::collections::BTreeSet;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kustomize::{build, file, find, of_kind, strings};
use serde_json::Value;

/// The base and each add-on, as `kubectl kustomize` takes them.
const KUSTOMIZATIONS: [&str; 4] = [
    "deploy",
    "deploy/monitoring",
    "deploy/gitops/argocd",
    "deploy/gitops/flux",
];

/// The per-namespace examples, applied with `kubectl apply -f`.
const EXAMPLES: [&str; 2] = [
    "deploy/examples/powershell-credentials-rbac.yaml",
    "deploy/examples/plan-reader-rbac.yaml",
];

/// The operator's namespace.
const SYSTEM: &str = "sfb-dr-system";

fn deployment(objects: &[Value]) -> &Value {
    find(objects, "Deployment", "sfb-dr")
}

fn container(objects: &[Value]) -> &Value {
    let containers = &deployment(objects)["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers.as_array().map(Vec::len),
        Some(1),
        "one container"
    );
    &containers[0]
}

fn args(objects: &[Value]) -> Vec<String> {
    strings(&container(objects)["args"])
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The value of `--flag=value` among the container's args.
fn flag(objects: &[Value], name: &str) -> String {
    let prefix = format!("--{name}=");
    let found: Vec<String> = args(objects)
        .iter()
        .filter_map(|a| a.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    assert_eq!(found.len(), 1, "--{name} once in {:?}", args(objects));
    found[0].clone()
}

/// Every (apiGroup, resource, verb, resourceName or "") a rule list grants.
fn grants(rules: &Value) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules") {
        assert!(
            rule.get("nonResourceURLs").is_none(),
            "no non-resource URLs: {rule}"
        );
        let names: Vec<&str> = match strings(&rule["resourceNames"]) {
            n if n.is_empty() => vec![""],
            n => n,
        };
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    for name in &names {
                        out.insert((group.into(), resource.into(), verb.into(), (*name).into()));
                    }
                }
            }
        }
    }
    out
}

fn grant(group: &str, resource: &str, verb: &str, name: &str) -> (String, String, String, String) {
    (group.into(), resource.into(), verb.into(), name.into())
}

/// Every Role and ClusterRole of the base and the examples.
fn every_role() -> Vec<Value> {
    let mut objects = build("deploy");
    for example in EXAMPLES {
        objects.extend(file(example));
    }
    objects
        .into_iter()
        .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
        .collect()
}

#[test]
fn the_base_and_every_add_on_build_with_kubectl_kustomize() {
    for dir in KUSTOMIZATIONS {
        let objects = build(dir);
        assert!(!objects.is_empty(), "{dir} renders nothing");
        for o in &objects {
            assert!(
                o["apiVersion"].is_string()
                    && o["kind"].is_string()
                    && o["metadata"]["name"].is_string(),
                "{dir}: an object without apiVersion, kind or name: {o}"
            );
        }
    }
    let base = build("deploy");
    let kinds: BTreeSet<&str> = base.iter().filter_map(|o| o["kind"].as_str()).collect();
    let wanted: BTreeSet<&str> = [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ]
    .into();
    assert_eq!(kinds, wanted);
    for o in &base {
        let cluster_scoped = ["Namespace", "ClusterRole", "ClusterRoleBinding"]
            .contains(&o["kind"].as_str().unwrap_or_default());
        let namespace = o["metadata"]["namespace"].as_str();
        if cluster_scoped {
            assert_eq!(namespace, None, "{o}");
        } else {
            assert_eq!(namespace, Some(SYSTEM), "{o}");
        }
    }
    find(&base, "Namespace", SYSTEM);
}

#[test]
fn no_role_grants_a_wildcard_verb_resource_group_or_name() {
    for role in every_role() {
        for rule in role["rules"].as_array().expect("rules") {
            for field in ["verbs", "resources", "apiGroups", "resourceNames"] {
                for value in strings(&rule[field]) {
                    assert!(
                        !value.contains('*'),
                        "{} {}: wildcard in {field}: {rule}",
                        role["kind"],
                        role["metadata"]["name"]
                    );
                }
            }
        }
    }
}

#[test]
fn the_cluster_role_grants_exactly_what_the_operator_calls() {
    let base = build("deploy");
    let clusters = of_kind(&base, "ClusterRole");
    assert_eq!(clusters.len(), 1, "one ClusterRole");
    let mut wanted = BTreeSet::new();
    for kind in [
        "topologies",
        "sites",
        "poolpairs",
        "centralmanagementstores",
    ] {
        for verb in ["get", "list", "watch"] {
            wanted.insert(grant("sfbdr.io", kind, verb, ""));
        }
    }
    wanted.insert(grant("sfbdr.io", "topologies/status", "update", ""));
    for kind in ["sites", "poolpairs", "centralmanagementstores"] {
        wanted.insert(grant("sfbdr.io", &format!("{kind}/status"), "patch", ""));
    }
    for verb in ["create", "patch"] {
        wanted.insert(grant("events.k8s.io", "events", verb, ""));
    }
    for verb in ["create", "patch"] {
        wanted.insert(grant("", "configmaps", verb, ""));
    }
    assert_eq!(grants(&clusters[0]["rules"]), wanted);
    let binding = find(&base, "ClusterRoleBinding", "sfb-dr-operator");
    assert_eq!(binding["roleRef"]["name"], clusters[0]["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(binding["subjects"][0]["name"], "sfb-dr");
    assert_eq!(binding["subjects"][0]["namespace"], SYSTEM);
}

#[test]
fn the_lease_role_covers_only_the_lease_the_deployment_names_in_its_own_namespace() {
    let base = build("deploy");
    let roles = of_kind(&base, "Role");
    assert_eq!(roles.len(), 1, "one Role in the base");
    let role = roles[0];
    assert_eq!(role["metadata"]["namespace"], SYSTEM);
    let lease = flag(&base, "lease-name");
    let mut wanted = BTreeSet::from([grant("coordination.k8s.io", "leases", "create", "")]);
    for verb in ["get", "update", "patch"] {
        wanted.insert(grant("coordination.k8s.io", "leases", verb, &lease));
    }
    assert_eq!(grants(&role["rules"]), wanted);
    let binding = find(&base, "RoleBinding", "sfb-dr-leader-election");
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], "sfb-dr");
    assert_eq!(binding["subjects"][0]["namespace"], SYSTEM);
    // The Lease lives where the pod does: the Role's namespace.
    assert_eq!(flag(&base, "lease-namespace"), "$(POD_NAMESPACE)");
}

#[test]
fn secrets_are_readable_only_by_name_through_a_namespaced_role() {
    for role in every_role() {
        let secret_rules: Vec<&Value> = role["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter(|r| strings(&r["resources"]).contains(&"secrets"))
            .collect();
        if secret_rules.is_empty() {
            continue;
        }
        assert_eq!(
            role["kind"], "Role",
            "no ClusterRole touches Secrets: {role}"
        );
        for rule in secret_rules {
            assert_eq!(strings(&rule["verbs"]), ["get"], "{rule}");
            assert!(!strings(&rule["resourceNames"]).is_empty(), "{rule}");
            assert_eq!(strings(&rule["resources"]), ["secrets"], "{rule}");
        }
    }
    // The example grants the name a Topology's credentialsSecretRef uses in the README.
    let example = file(EXAMPLES[0]);
    let role = find(&example, "Role", "sfb-dr-credentials");
    assert_eq!(
        grants(&role["rules"]),
        BTreeSet::from([grant("", "secrets", "get", "sfb-mgmt-ssh")])
    );
    let binding = find(&example, "RoleBinding", "sfb-dr-credentials");
    assert_eq!(
        binding["metadata"]["namespace"],
        role["metadata"]["namespace"]
    );
    assert_eq!(binding["subjects"][0]["name"], "sfb-dr");
    assert_eq!(binding["subjects"][0]["namespace"], SYSTEM);
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    assert!(readme.contains("credentialsSecretRef: {name: sfb-mgmt-ssh}"));
}

#[test]
fn the_operator_runs_as_a_non_root_user_with_nothing_it_does_not_need() {
    let base = build("deploy");
    let pod = &deployment(&base)["spec"]["template"]["spec"];
    let c = container(&base);
    let (pod_sc, sc) = (&pod["securityContext"], &c["securityContext"]);
    assert_eq!(pod_sc["runAsNonRoot"], true);
    assert!(pod_sc["runAsUser"].as_i64().is_some_and(|u| u > 0));
    assert_eq!(pod_sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert!(sc["capabilities"].get("add").is_none());
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert!(sc.get("privileged").is_none_or(|p| p == false));
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod.get(host).is_none_or(|h| h == false), "{host}");
    }
    for (kind, what) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "cpu"),
        ("limits", "memory"),
    ] {
        assert!(
            c["resources"][kind][what].is_string(),
            "resources.{kind}.{what}"
        );
    }
    // The only writable place is a memory-backed /tmp, where the SSH key goes.
    let mounts = c["volumeMounts"].as_array().expect("volumeMounts");
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["mountPath"], "/tmp");
    let volume = &pod["volumes"][0];
    assert_eq!(volume["name"], mounts[0]["name"]);
    assert_eq!(volume["emptyDir"]["medium"], "Memory");
    let namespace = find(&base, "Namespace", SYSTEM);
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

#[test]
fn liveness_and_readiness_probe_the_metrics_port_the_operator_listens_on() {
    let base = build("deploy");
    let c = container(&base);
    let port = &c["ports"][0];
    assert_eq!(port["name"], "metrics");
    let number = port["containerPort"].as_i64().expect("containerPort");
    assert_eq!(flag(&base, "metrics-addr"), format!("0.0.0.0:{number}"));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], "metrics", "{probe}");
    }
    let service = find(&base, "Service", "sfb-dr-metrics");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    let labels = &deployment(&base)["spec"]["template"]["metadata"]["labels"];
    for (k, v) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&labels[k], v, "the Service selects the operator's pods");
    }
}

#[test]
fn two_replicas_elect_a_leader_and_outlast_their_shutdown() {
    let base = build("deploy");
    let d = deployment(&base);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(flag(&base, "leader-election"), "true");
    assert_eq!(flag(&base, "log-format"), "json");
    assert_eq!(args(&base)[0], "run");
    let env = container(&base)["env"].as_array().expect("env").clone();
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let var = env
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} is set"));
        assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], field);
    }
    // SIGTERM ends the operator within a few seconds; the grace period leaves room to spare.
    let grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .expect("terminationGracePeriodSeconds");
    assert!(grace >= 30, "{grace}");
    // A rollout never takes the standby away before its successor is ready.
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pdb = find(&base, "PodDisruptionBudget", "sfb-dr");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    for selector in [
        &pdb["spec"]["selector"]["matchLabels"],
        &d["spec"]["selector"]["matchLabels"],
        &find(&base, "NetworkPolicy", "sfb-dr")["spec"]["podSelector"]["matchLabels"],
    ] {
        for (k, v) in selector.as_object().expect("matchLabels") {
            assert_eq!(&labels[k], v);
        }
    }
}

#[test]
fn the_deployment_passes_only_flags_sfb_dr_run_accepts() {
    let help = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .args(["run", "--help"])
        .output()
        .expect("sfb-dr runs");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for arg in args(&build("deploy")).iter().skip(1) {
        let name = arg.split('=').next().unwrap_or_default();
        assert!(
            name.starts_with("--") && help.contains(&format!("{name} ")),
            "sfb-dr run knows no {name}:\n{help}"
        );
    }
}

#[test]
fn the_network_policy_opens_dns_the_api_server_ssh_and_the_metrics_port_only() {
    let base = build("deploy");
    let policy = &find(&base, "NetworkPolicy", "sfb-dr")["spec"];
    assert_eq!(strings(&policy["policyTypes"]), ["Ingress", "Egress"]);
    let ports = |rules: &Value| -> BTreeSet<(String, i64)> {
        rules
            .as_array()
            .expect("rules")
            .iter()
            .flat_map(|r| r["ports"].as_array().cloned().unwrap_or_default())
            .map(|p| {
                (
                    p["protocol"].as_str().unwrap_or("TCP").to_owned(),
                    p["port"].as_i64().expect("a numeric port"),
                )
            })
            .collect()
    };
    let tcp = |p: i64| ("TCP".to_owned(), p);
    assert_eq!(ports(&policy["ingress"]), BTreeSet::from([tcp(8080)]));
    assert_eq!(
        ports(&policy["egress"]),
        BTreeSet::from([
            ("UDP".to_owned(), 53),
            tcp(53),
            tcp(443),
            tcp(6443),
            tcp(22)
        ])
    );
    let dns = &policy["egress"][0]["to"][0];
    assert_eq!(
        dns["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "kube-system"
    );
}

#[test]
fn the_service_monitor_scrapes_the_metrics_service_keeping_the_topology_namespace() {
    let base = build("deploy");
    let service = find(&base, "Service", "sfb-dr-metrics");
    let monitoring = build("deploy/monitoring");
    let monitor = find(&monitoring, "ServiceMonitor", "sfb-dr");
    assert_eq!(monitor["metadata"]["namespace"], SYSTEM);
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(&service["metadata"]["labels"][k], v, "selects the Service");
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["honorLabels"], true);
    find(&monitoring, "PrometheusRule", "sfb-dr");
}

/// `value` read as `T` and written back: equal only if `T` knows every field `value` holds.
fn round_trips<T>(value: &Value) -> Result<(), String>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let typed: T = serde_path_to_error::deserialize(value.clone())
        .map_err(|e| format!("{}: {e}", e.path()))?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    if &back == value {
        Ok(())
    } else {
        Err(format!(
            "fields the API does not know were dropped:\n  written: {value}\n  kept:    {back}"
        ))
    }
}

#[test]
fn built_in_objects_hold_only_fields_the_kubernetes_api_knows() {
    let mut objects = build("deploy");
    objects.extend(build("deploy/gitops/argocd"));
    for example in EXAMPLES {
        objects.extend(file(example));
    }
    for o in &objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let checked = match kind {
            "Namespace" => round_trips::<Namespace>(o),
            "ServiceAccount" => round_trips::<ServiceAccount>(o),
            "ConfigMap" => round_trips::<ConfigMap>(o),
            "Service" => round_trips::<Service>(o),
            "Deployment" => round_trips::<Deployment>(o),
            "PodDisruptionBudget" => round_trips::<PodDisruptionBudget>(o),
            "NetworkPolicy" => round_trips::<NetworkPolicy>(o),
            "ClusterRole" => round_trips::<ClusterRole>(o),
            "ClusterRoleBinding" => round_trips::<ClusterRoleBinding>(o),
            "Role" => round_trips::<Role>(o),
            "RoleBinding" => round_trips::<RoleBinding>(o),
            other => panic!("no typed check for {other}"),
        };
        if let Err(e) = checked {
            panic!("{kind} {}: {e}", o["metadata"]["name"]);
        }
    }
}
