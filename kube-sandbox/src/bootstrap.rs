//! The objects every cluster starts with and that RBAC set-ups and clients take for granted:
//! the namespaces kubeadm creates, a `default` ServiceAccount in each, the `kubernetes` Service,
//! and the bootstrap ClusterRoles and ClusterRoleBindings (`cluster-admin` bound to
//! `system:masters`; discovery, basic-user and public-info-viewer for everyone; the
//! user-facing `admin`, `edit` and `view`). The user-facing roles are written out flat (a real
//! server aggregates them from labelled parts); their rules follow the real ones for the kinds
//! the sandbox serves.

use serde_json::{json, Value};

/// Namespaces a fresh cluster has, as kubeadm clusters do.
pub const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The address the `kubernetes` Service gets, the first of kubeadm's default service range.
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn url_rule(urls: &[&str], verbs: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                     "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
        "rules": rules,
    })
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                     "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// What `view` may read: the namespaced kinds a user works with, Secrets excluded.
fn viewable() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "pods",
                "pods/status",
                "replicationcontrollers",
                "services",
                "services/status",
                "serviceaccounts",
                "events",
                "limitranges",
                "resourcequotas",
            ],
            READ,
        ),
        rule(&[""], &["namespaces", "namespaces/status"], READ),
        rule(
            &["apps"],
            &[
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
                "daemonsets",
                "controllerrevisions",
            ],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses"],
            READ,
        ),
        rule(&["events.k8s.io"], &["events"], READ),
        rule(&["coordination.k8s.io"], &["leases"], READ),
    ]
}

/// What `edit` may write on top of reading: workloads, their configuration and Secrets.
fn editable() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "pods",
                "replicationcontrollers",
                "services",
                "serviceaccounts",
                "secrets",
                "events",
            ],
            WRITE,
        ),
        rule(&[""], &["secrets"], READ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "deployments",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
            ],
            WRITE,
        ),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses"],
            WRITE,
        ),
        rule(&["events.k8s.io"], &["events"], WRITE),
        rule(&["coordination.k8s.io"], &["leases"], WRITE),
    ]
}

/// The bootstrap ClusterRoles and ClusterRoleBindings.
pub fn rbac_objects() -> Vec<Value> {
    let all = &["*"];
    let mut admin_rules = viewable();
    admin_rules.extend(editable());
    admin_rules.push(rule(
        &["rbac.authorization.k8s.io"],
        &["roles", "rolebindings"],
        &[WRITE, READ].concat(),
    ));
    admin_rules.push(rule(
        &["authorization.k8s.io"],
        &["localsubjectaccessreviews"],
        &["create"],
    ));
    let mut edit_rules = viewable();
    edit_rules.extend(editable());
    let discovery_urls = &[
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    vec![
        cluster_role(
            "cluster-admin",
            vec![rule(all, all, all), url_rule(all, all)],
        ),
        cluster_role("admin", admin_rules),
        cluster_role("edit", edit_rules),
        cluster_role("view", viewable()),
        cluster_role("system:discovery", vec![url_rule(discovery_urls, &["get"])]),
        cluster_role(
            "system:public-info-viewer",
            vec![url_rule(
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
                &["get"],
            )],
        ),
        // What a ServiceAccount may read to verify tokens (OIDC discovery), as on a cluster.
        cluster_role(
            "system:service-account-issuer-discovery",
            vec![url_rule(
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
                &["get"],
            )],
        ),
        cluster_role(
            "system:basic-user",
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ],
        ),
        binding(
            "cluster-admin",
            "cluster-admin",
            &[crate::identity::MASTERS],
        ),
        binding(
            "system:discovery",
            "system:discovery",
            &[crate::identity::AUTHENTICATED],
        ),
        binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            &["system:serviceaccounts"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &[crate::identity::AUTHENTICATED],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &[
                crate::identity::AUTHENTICATED,
                crate::identity::UNAUTHENTICATED,
            ],
        ),
    ]
}

/// The `kubernetes` Service in `default`, pointing clients in pods at the API server.
pub fn kubernetes_service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "clusterIP": KUBERNETES_SERVICE_IP, "clusterIPs": [KUBERNETES_SERVICE_IP],
            "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "sessionAffinity": "None", "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    })
}

/// The `default` ServiceAccount a namespace gets as soon as it exists.
pub fn default_service_account(namespace: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": namespace},
    })
}
