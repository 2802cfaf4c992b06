//! RBAC as a cluster enforces it, seen through kube-rs (what a controller meets) and kubectl
//! (what a user meets): tokens, Roles and bindings per subresource, the real 401 and 403,
//! access reviews that tell the truth, impersonation, and the objects a cluster starts with.

mod support;

use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, ApiResource, GroupVersionKind, Patch, PatchParams, PostParams};
use kube_sandbox::{Sandbox, Verb};
use serde_json::json;
use support::{configmap, rbac_sandbox, widget_object, widgets, Kubectl};

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("sandbox.test", "v1", "Widget"))
}

const OPERATOR: &str = "system:serviceaccount:default:operator";

/// Creates the `operator` ServiceAccount in `default`, bound to a ClusterRole with `rules`.
async fn operator_with_rules(sb: &Sandbox, rules: serde_json::Value) {
    let client = sb.client().expect("admin client");
    let accounts: Api<ServiceAccount> = Api::default_namespaced(client.clone());
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "operator"}})).expect("an account");
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("the ServiceAccount is created");
    let role: ClusterRole =
        serde_json::from_value(json!({"metadata": {"name": "widget-operator"}, "rules": rules}))
            .expect("a role");
    Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("the ClusterRole is created");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "widget-operator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "widget-operator"},
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": "default"}],
    }))
    .expect("a binding");
    Api::<ClusterRoleBinding>::all(client)
        .create(&PostParams::default(), &binding)
        .await
        .expect("the ClusterRoleBinding is created");
}

/// What the operator may do on widgets: everything but writing their status.
fn widget_rules_without_status_patch() -> serde_json::Value {
    json!([
        {"apiGroups": ["sandbox.test"], "resources": ["widgets"], "verbs": ["get", "list", "watch", "create", "patch"]},
        {"apiGroups": ["sandbox.test"], "resources": ["widgets/status"], "verbs": ["get"]},
    ])
}

fn status_patch() -> Patch<serde_json::Value> {
    Patch::Apply(json!({
        "apiVersion": "sandbox.test/v1", "kind": "Widget",
        "status": {"replicas": 1},
    }))
}

fn forbidden_status_patch_message() -> String {
    format!("widgets.sandbox.test \"w1\" is forbidden: User \"{OPERATOR}\" cannot patch resource \"widgets/status\" in API group \"sandbox.test\" in the namespace \"default\"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_lacking_patch_on_status_is_forbidden_exactly_there_through_kube_rs() {
    let sb = rbac_sandbox().await;
    widgets(&sb).await;
    operator_with_rules(&sb, widget_rules_without_status_patch()).await;
    let token = sb.token_for("default", "operator").expect("a token");
    let client = sb
        .client_with_token(&token, "default")
        .expect("operator client");
    let widgets: Api<kube::api::DynamicObject> =
        Api::default_namespaced_with(client, &widget_resource());

    widgets
        .create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create is granted");
    widgets
        .list(&Default::default())
        .await
        .expect("list is granted");
    widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await
        .expect("patch on the resource is granted");
    let denied = widgets
        .patch_status(
            "w1",
            &PatchParams::apply("operator").force(),
            &status_patch(),
        )
        .await
        .expect_err("patch on the status is not granted");
    let kube::Error::Api(status) = denied else {
        panic!("expected an API error, got {denied:?}");
    };
    assert_eq!(status.code, 403);
    assert_eq!(status.reason, "Forbidden");
    assert_eq!(status.message, forbidden_status_patch_message());

    let denials = sb.denials();
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0].resource, "widgets/status");
    assert_eq!(denials[0].user.as_deref(), Some(OPERATOR));
    assert_eq!(sb.denial_count(Verb::Patch, "widgets/status"), 1);
    assert_eq!(sb.denial_count(Verb::Patch, "widgets"), 0);
    assert_eq!(sb.request_count(Verb::Patch, "widgets/status"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_missing_rule_is_forbidden_through_kubectl_and_can_i_tells_the_truth() {
    let sb = rbac_sandbox().await;
    let admin = Kubectl::new(&sb);
    admin.install_widgets().await;
    admin.apply(&support::widget("w1", 3), &[]).await.ok();
    operator_with_rules(&sb, widget_rules_without_status_patch()).await;

    let token = admin
        .run(&["create", "token", "operator", "-n", "default"])
        .await
        .ok();
    let operator = Kubectl::with_token(&sb, "operator", token.trim(), "default");
    assert_eq!(
        operator
            .run(&[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}"
            ])
            .await
            .ok(),
        OPERATOR
    );
    operator.run(&["get", "widgets"]).await.ok();
    let refused = operator
        .run(&[
            "patch",
            "widget",
            "w1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"replicas":1}}"#,
        ])
        .await
        .failed();
    assert!(
        refused.contains(&format!(
            "Error from server (Forbidden): {}",
            forbidden_status_patch_message()
        )),
        "{refused}"
    );
    assert_eq!(
        can(&operator, &["auth", "can-i", "patch", "widgets"]).await,
        "yes"
    );
    assert_eq!(
        can(
            &operator,
            &["auth", "can-i", "patch", "widgets", "--subresource=status"]
        )
        .await,
        "no"
    );
    let as_operator = admin
        .run(&[
            "auth",
            "can-i",
            "patch",
            "widgets",
            "--subresource=status",
            "--as",
            OPERATOR,
        ])
        .await;
    assert_eq!(as_operator.stdout.trim(), "no", "{as_operator:?}");
    let as_operator = admin
        .run(&[
            "auth",
            "can-i",
            "get",
            "widgets",
            "--subresource=status",
            "--as",
            OPERATOR,
        ])
        .await
        .ok();
    assert_eq!(as_operator.trim(), "yes");
    let listed = operator.run(&["auth", "can-i", "--list"]).await.ok();
    let widget_rule = listed
        .lines()
        .find(|line| line.starts_with("widgets.sandbox.test "))
        .unwrap_or_else(|| panic!("no widgets rule in:\n{listed}"));
    assert!(
        widget_rule.contains("[get list watch create patch]"),
        "{listed}"
    );
    let impersonating = operator
        .run(&["auth", "can-i", "--as", "someone-else", "get", "widgets"])
        .await
        .failed();
    assert!(
        impersonating.contains("cannot impersonate resource \"users\""),
        "a ServiceAccount may not impersonate: {impersonating}"
    );
}

async fn can(kubectl: &Kubectl, args: &[&str]) -> String {
    kubectl.run(args).await.stdout.trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granting_the_status_rule_lets_the_same_token_write_status() {
    let sb = rbac_sandbox().await;
    let admin_widgets = widgets(&sb).await;
    let mut rules = widget_rules_without_status_patch();
    rules.as_array_mut().expect("a list").push(json!(
        {"apiGroups": ["sandbox.test"], "resources": ["widgets/status"], "verbs": ["patch"]}
    ));
    operator_with_rules(&sb, rules).await;
    admin_widgets
        .create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("created");
    let token = sb.token_for("default", "operator").expect("a token");
    let client = sb.client_with_token(&token, "default").expect("client");
    let widgets: Api<kube::api::DynamicObject> =
        Api::default_namespaced_with(client, &widget_resource());
    let patched = widgets
        .patch_status(
            "w1",
            &PatchParams::apply("operator").force(),
            &status_patch(),
        )
        .await
        .expect("status patch is granted");
    assert_eq!(patched.data["status"]["replicas"], 1);
    assert!(sb.denials().is_empty(), "{:?}", sb.denials());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_sandbox_did_not_issue_is_unauthorized() {
    let sb = rbac_sandbox().await;
    let client = sb
        .client_with_token("not-a-token", "default")
        .expect("client");
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client);
    let err = configmaps
        .list(&Default::default())
        .await
        .expect_err("refused");
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));
    assert_eq!(status.message, "Unauthorized");
    assert_eq!(sb.denials()[0].code, 401);

    let kubectl = Kubectl::with_token(&sb, "stranger", "not-a-token", "default");
    let refused = kubectl.run(&["get", "configmaps"]).await.failed();
    assert!(
        refused.contains("You must be logged in to the server"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_stops_working_when_its_service_account_is_deleted() {
    let sb = rbac_sandbox().await;
    operator_with_rules(
        &sb,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
    )
    .await;
    let token = sb.token_for("default", "operator").expect("a token");
    let configmaps: Api<ConfigMap> =
        Api::default_namespaced(sb.client_with_token(&token, "default").expect("client"));
    configmaps.list(&Default::default()).await.expect("granted");
    Api::<ServiceAccount>::default_namespaced(sb.client().expect("admin"))
        .delete("operator", &Default::default())
        .await
        .expect("deleted");
    let err = configmaps
        .list(&Default::default())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 401),
        "{err:?}"
    );
    assert!(sb.token_for("default", "operator").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_limited_to_resource_names_grants_those_objects_only() {
    let sb = rbac_sandbox().await;
    let admin = Api::<ConfigMap>::default_namespaced(sb.client().expect("admin"));
    for name in ["allowed", "other"] {
        admin
            .create(&PostParams::default(), &configmap(name, "1"))
            .await
            .expect("created");
    }
    operator_with_rules(
        &sb,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch", "list"], "resourceNames": ["allowed"]}]),
    )
    .await;
    let token = sb.token_for("default", "operator").expect("a token");
    let configmaps: Api<ConfigMap> =
        Api::default_namespaced(sb.client_with_token(&token, "default").expect("client"));
    configmaps.get("allowed").await.expect("named in the rule");
    let err = configmaps.get("other").await.expect_err("not named");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403 && s.message == format!(
            "configmaps \"other\" is forbidden: User \"{OPERATOR}\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"default\""
        )),
        "{err:?}"
    );
    let err = configmaps
        .list(&Default::default())
        .await
        .expect_err("an unnamed list");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err:?}"
    );
    let one = kube::api::ListParams::default().fields("metadata.name=allowed");
    assert_eq!(
        configmaps
            .list(&one)
            .await
            .expect("a list of the named one")
            .items
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_resource_urls_are_authorized_by_path() {
    let sb = rbac_sandbox().await;
    // Anonymous requests may read the version (public-info-viewer), not discovery.
    let anonymous = sb
        .client_with_token("", "default")
        .expect("anonymous client");
    let get = |path: &str| {
        http::Request::get(path)
            .body(Vec::new())
            .expect("a request")
    };
    let err = anonymous
        .request_text(get("/apis"))
        .await
        .expect_err("refused");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403
            && s.message == r#"forbidden: User "system:anonymous" cannot get path "/apis""#),
        "{err:?}"
    );
    anonymous
        .request_text(get("/version"))
        .await
        .expect("the version is public");
    operator_with_rules(&sb, json!([])).await;
    let token = sb.token_for("default", "operator").expect("a token");
    let operator = Kubectl::with_token(&sb, "operator", &token, "default");
    operator.run(&["get", "--raw", "/apis"]).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_needs_the_impersonate_verb() {
    let sb = rbac_sandbox().await;
    operator_with_rules(
        &sb,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
    )
    .await;
    let token = sb.token_for("default", "operator").expect("a token");
    let operator = Kubectl::with_token(&sb, "operator", &token, "default");
    let refused = operator
        .run(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps",
            "--as",
            "bob",
        ])
        .await
        .failed();
    assert!(
        refused.contains(&format!("users \"bob\" is forbidden: User \"{OPERATOR}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope")),
        "{refused}"
    );
    let admin = Kubectl::new(&sb);
    admin
        .run(&["get", "configmaps", "--as", OPERATOR])
        .await
        .ok();
    let refused = admin
        .run(&["get", "secrets", "--as", OPERATOR])
        .await
        .failed();
    assert!(
        refused.contains("cannot list resource \"secrets\""),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_access_review_answers_from_the_bindings() {
    let sb = rbac_sandbox().await;
    operator_with_rules(&sb, widget_rules_without_status_patch()).await;
    let client = sb.client().expect("admin");
    let reviews: Api<k8s_openapi::api::authorization::v1::SubjectAccessReview> = Api::all(client);
    let review = |subresource: &str| {
        serde_json::from_value(json!({"spec": {
            "user": OPERATOR, "groups": ["system:serviceaccounts", "system:authenticated"],
            "resourceAttributes": {"namespace": "default", "verb": "patch", "group": "sandbox.test",
                                   "resource": "widgets", "subresource": subresource, "name": "w1"},
        }}))
        .expect("a review")
    };
    let allowed = reviews
        .create(&PostParams::default(), &review(""))
        .await
        .expect("answered")
        .status
        .expect("a status");
    assert!(allowed.allowed);
    assert_eq!(
        allowed.reason.as_deref(),
        Some("RBAC: allowed by ClusterRoleBinding \"widget-operator\" of ClusterRole \"widget-operator\" to ServiceAccount \"default/operator\"")
    );
    let denied = reviews
        .create(&PostParams::default(), &review("status"))
        .await
        .expect("answered")
        .status
        .expect("a status");
    assert!(!denied.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_starts_with_the_kubernetes_service_and_the_bootstrap_roles() {
    let sb = rbac_sandbox().await;
    let kubectl = Kubectl::new(&sb);
    let service = kubectl
        .run(&[
            "get",
            "service",
            "kubernetes",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.ports[0].port}",
        ])
        .await
        .ok();
    assert_eq!(service, "443");
    for role in ["cluster-admin", "admin", "edit", "view"] {
        kubectl.run(&["get", "clusterrole", role]).await.ok();
    }
    let masters = kubectl
        .run(&[
            "get",
            "clusterrolebinding",
            "cluster-admin",
            "-o",
            "jsonpath={.subjects[0].name}",
        ])
        .await
        .ok();
    assert_eq!(masters, "system:masters");
    let who = kubectl
        .run(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}"])
        .await
        .ok();
    assert!(who.contains("system:masters"), "{who}");
    kubectl
        .run(&["get", "serviceaccount", "default", "-n", "kube-system"])
        .await
        .ok();
}

/// An operator's deploy/: every kind it holds, namespace included, as `kubectl apply -k` sees it.
const DEPLOY: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: ops}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: operator, namespace: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-operator}
rules:
- {apiGroups: [sandbox.test], resources: [widgets], verbs: [get, list, watch]}
- {apiGroups: [events.k8s.io], resources: [events], verbs: [create, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: widget-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-operator}
subjects: [{kind: ServiceAccount, name: operator, namespace: ops}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: operator-leases, namespace: ops}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, create, update, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operator-leases, namespace: ops}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: operator-leases}
subjects: [{kind: ServiceAccount, name: operator}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: operator, namespace: ops}
spec:
  replicas: 1
  selector: {matchLabels: {app: operator}}
  template:
    metadata: {labels: {app: operator}}
    spec:
      serviceAccountName: operator
      containers: [{name: operator, image: "operator:1"}]
---
apiVersion: v1
kind: Service
metadata: {name: operator, namespace: ops}
spec: {selector: {app: operator}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: operator, namespace: ops}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: operator}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: operator, namespace: ops}
spec:
  podSelector: {matchLabels: {app: operator}}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: 8080}]}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_kustomization_applies_under_rbac_and_its_account_meets_no_denial_within_its_rules(
) {
    let sb = rbac_sandbox().await;
    let admin = Kubectl::new(&sb);
    admin.install_widgets().await;
    admin.apply(&support::widget("w1", 3), &[]).await.ok();
    admin.write("deploy/kustomization.yaml", "resources: [deploy.yaml]\n");
    admin.write("deploy/deploy.yaml", DEPLOY);
    let applied = admin.run(&["apply", "-k", "deploy"]).await.ok();
    assert_eq!(applied.lines().count(), 10, "{applied}");
    assert!(
        applied.contains("networkpolicy.networking.k8s.io/operator created"),
        "{applied}"
    );

    let token = sb.token_for("ops", "operator").expect("a token");
    let client = sb.client_with_token(&token, "ops").expect("client");
    let widgets: Api<kube::api::DynamicObject> =
        Api::default_namespaced_with(client.clone(), &widget_resource());
    widgets
        .list(&Default::default())
        .await
        .expect("list widgets");
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client, "ops");
    let lease = serde_json::from_value(
        json!({"metadata": {"name": "operator"}, "spec": {"holderIdentity": "a"}}),
    )
    .expect("a lease");
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create the lease");
    leases
        .patch("operator", &PatchParams::apply("operator"), &Patch::Apply(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
        })))
        .await
        .expect("apply the lease");
    assert!(sb.denials().is_empty(), "{:?}", sb.denials());
    let err = widgets
        .patch_status(
            "w1",
            &PatchParams::apply("operator").force(),
            &status_patch(),
        )
        .await
        .expect_err("status is not in the rules");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err:?}"
    );
    assert_eq!(sb.denial_count(Verb::Patch, "widgets/status"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_that_creates_needs_create_as_well_as_patch() {
    let sb = rbac_sandbox().await;
    operator_with_rules(
        &sb,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}]),
    )
    .await;
    let token = sb.token_for("default", "operator").expect("a token");
    let configmaps: Api<ConfigMap> =
        Api::default_namespaced(sb.client_with_token(&token, "default").expect("client"));
    let apply = Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}));
    let err = configmaps
        .patch("c1", &PatchParams::apply("operator"), &apply)
        .await
        .expect_err("no create");
    // The real patch handler's create check reports RBAC's (here empty) reason alone.
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403 && s.message == "configmaps \"c1\" is forbidden: "),
        "{err:?}"
    );
    Api::<ConfigMap>::default_namespaced(sb.client().expect("admin"))
        .create(&PostParams::default(), &configmap("c1", "0"))
        .await
        .expect("created by the admin");
    configmaps
        .patch("c1", &PatchParams::apply("operator").force(), &apply)
        .await
        .expect("patching an existing object needs patch only");
}
