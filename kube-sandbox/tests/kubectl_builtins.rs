//! The real kubectl against a sandbox, on built-in kinds: events written by kube-rs shown by
//! `describe`, and a kustomization holding what an operator's deployment needs.

mod support;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use support::{sandbox, widget, Kubectl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_shows_an_event_written_by_the_kube_rs_recorder() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    kubectl.apply(&widget("w1", 3), &[]).await.ok();
    let uid = kubectl
        .run(&["get", "wd", "w1", "-o", "jsonpath={.metadata.uid}"])
        .await
        .ok();

    let recorder = Recorder::new(
        sb.client().expect("client"),
        Reporter {
            controller: "widget-controller".into(),
            instance: None,
        },
    );
    let reference = ObjectReference {
        api_version: Some("sandbox.test/v1".into()),
        kind: Some("Widget".into()),
        name: Some("w1".into()),
        namespace: Some("default".into()),
        uid: Some(uid),
        ..Default::default()
    };
    let event = Event {
        type_: EventType::Normal,
        reason: "Resized".into(),
        note: Some("widget resized to 3".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &reference)
        .await
        .expect("first event");
    // A repeat becomes a series (a patch through events.k8s.io), not a second event.
    recorder
        .publish(&event, &reference)
        .await
        .expect("repeated event");

    let described = kubectl.run(&["describe", "widget", "w1"]).await.ok();
    let events = described.split("Events:").nth(1).unwrap_or_default();
    assert!(events.contains("Resized"), "{described}");
    assert!(events.contains("widget resized to 3"), "{described}");
    assert!(events.contains("widget-controller"), "{described}");
    assert_eq!(events.matches("Resized").count(), 1, "{described}");

    let listed = kubectl.run(&["get", "events"]).await.ok();
    let header: Vec<&str> = listed
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert!(listed.contains("widget/w1"), "{listed}");
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: operator}
spec:
  replicas: 1
  selector: {matchLabels: {app: operator}}
  template:
    metadata: {labels: {app: operator}}
    spec:
      serviceAccountName: operator
      containers:
      - {name: operator, image: "operator:1", ports: [{containerPort: 8080}]}
      - {name: sidecar, image: "sidecar:1"}
---
apiVersion: v1
kind: Service
metadata: {name: operator}
spec: {selector: {app: operator}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: operator}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: operator}
rules: [{apiGroups: [sandbox.test], resources: [widgets], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: operator}
subjects: [{kind: ServiceAccount, name: operator, namespace: ops}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: operator-leases}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, update]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operator-leases}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: operator-leases}
subjects: [{kind: ServiceAccount, name: operator}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: operator}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: operator}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: operator}
spec:
  podSelector: {matchLabels: {app: operator}}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: 8080}]}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_k_installs_and_updates_a_kustomization() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl
        .apply(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n",
            &[],
        )
        .await
        .ok();
    kubectl.write(
        "deploy/kustomization.yaml",
        "namespace: ops\nresources: [operator.yaml]\n",
    );
    kubectl.write("deploy/operator.yaml", DEPLOYMENT);

    let created = kubectl.run(&["apply", "-k", "deploy"]).await.ok();
    for kind in [
        "deployment.apps/operator created",
        "service/operator created",
        "serviceaccount/operator created",
        "clusterrole.rbac.authorization.k8s.io/operator created",
        "clusterrolebinding.rbac.authorization.k8s.io/operator created",
        "role.rbac.authorization.k8s.io/operator-leases created",
        "rolebinding.rbac.authorization.k8s.io/operator-leases created",
        "poddisruptionbudget.policy/operator created",
        "networkpolicy.networking.k8s.io/operator created",
    ] {
        assert!(created.contains(kind), "missing {kind:?} in:\n{created}");
    }

    // A second apply is a strategic merge patch: one container changes, the other survives.
    kubectl.write(
        "deploy/operator.yaml",
        &DEPLOYMENT.replace("operator:1", "operator:2"),
    );
    let updated = kubectl.run(&["apply", "-k", "deploy"]).await.ok();
    assert!(
        updated.contains("deployment.apps/operator configured"),
        "{updated}"
    );
    let images = kubectl
        .run(&[
            "get",
            "deploy",
            "operator",
            "-n",
            "ops",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].image}",
        ])
        .await
        .ok();
    assert_eq!(images, "operator:2 sidecar:1");
    kubectl
        .run(&[
            "scale",
            "deployment",
            "operator",
            "-n",
            "ops",
            "--replicas=3",
        ])
        .await
        .ok();
    let replicas = kubectl
        .run(&[
            "get",
            "deploy",
            "operator",
            "-n",
            "ops",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await
        .ok();
    assert_eq!(replicas, "3");
    let listed = kubectl
        .run(&["get", "deploy,svc,pdb,sa", "-n", "ops", "-o", "name"])
        .await
        .ok();
    assert!(
        listed.contains("poddisruptionbudget.policy/operator"),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_generators_work_although_they_send_protobuf() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.run(&["create", "namespace", "team-a"]).await.ok();
    kubectl
        .run(&[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=mode=fast",
        ])
        .await
        .ok();
    kubectl
        .run(&[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "team-a",
            "--from-literal=password=s3cret",
        ])
        .await
        .ok();
    kubectl
        .run(&["create", "serviceaccount", "bot", "-n", "team-a"])
        .await
        .ok();

    let mode = kubectl
        .run(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.mode}",
        ])
        .await
        .ok();
    assert_eq!(mode, "fast");
    let secret = kubectl
        .run(&[
            "get",
            "secret",
            "creds",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.type} {.data.password}",
        ])
        .await
        .ok();
    assert_eq!(secret, "Opaque czNjcmV0");
    let names = kubectl
        .run(&["get", "sa", "-n", "team-a", "-o", "name"])
        .await
        .ok();
    // The ServiceAccount controller adds `default` to every namespace, as on a cluster.
    assert!(names.lines().any(|n| n == "serviceaccount/bot"), "{names}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_rbac_workloads_and_budgets_from_its_protobuf_generators() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    let ns = ["-n", "team-b"];
    kubectl.run(&["create", "namespace", "team-b"]).await.ok();
    let creates: &[&[&str]] = &[
        &[
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=configmaps",
            "--resource-name=settings",
        ],
        &[
            "create",
            "rolebinding",
            "reader",
            "--role=reader",
            "--serviceaccount=team-b:bot",
            "--user=alice",
        ],
        &[
            "create",
            "clusterrole",
            "watcher",
            "--verb=get",
            "--resource=leases.coordination.k8s.io",
            "--non-resource-url=/healthz",
        ],
        &[
            "create",
            "clusterrole",
            "rollup",
            "--aggregation-rule=rollup=true",
        ],
        &[
            "create",
            "clusterrolebinding",
            "watcher",
            "--clusterrole=watcher",
            "--group=ops",
        ],
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=0",
            "--port=8080",
            "--",
            "nginx",
            "-g",
            "daemon off;",
        ],
        &["create", "service", "clusterip", "web", "--tcp=80:8080"],
        &[
            "create",
            "poddisruptionbudget",
            "web",
            "--selector=app=web",
            "--min-available=50%",
        ],
        &[
            "run",
            "one-off",
            "--image=busybox",
            "--restart=Never",
            "--labels=tier=batch",
            "--",
            "sleep",
            "1",
        ],
    ];
    for args in creates {
        let all: Vec<&str> = ns.iter().chain(args.iter()).copied().collect();
        kubectl.run(&all).await.ok();
    }
    let get = |what: &'static str, path: &'static str| {
        let kubectl = &kubectl;
        async move {
            kubectl
                .run(&[
                    "get",
                    what,
                    "-n",
                    "team-b",
                    "-o",
                    &format!("jsonpath={path}"),
                ])
                .await
                .ok()
        }
    };
    assert_eq!(
        get(
            "role/reader",
            "{.rules[0].verbs} {.rules[0].resources} {.rules[0].resourceNames}"
        )
        .await,
        r#"["get","list"] ["configmaps"] ["settings"]"#
    );
    assert_eq!(
        get(
            "rolebinding/reader",
            "{.roleRef.kind}/{.roleRef.name} {.subjects[*].kind} {.subjects[*].name}"
        )
        .await,
        "Role/reader User ServiceAccount alice bot"
    );
    assert_eq!(
        get(
            "clusterrole/watcher",
            "{.rules[0].apiGroups} {.rules[1].nonResourceURLs}"
        )
        .await,
        r#"["coordination.k8s.io"] ["/healthz"]"#
    );
    assert_eq!(
        get(
            "clusterrole/rollup",
            "{.aggregationRule.clusterRoleSelectors[0].matchLabels.rollup}"
        )
        .await,
        "true"
    );
    assert_eq!(
        get(
            "clusterrolebinding/watcher",
            "{.roleRef.name} {.subjects[0].kind}:{.subjects[0].name}"
        )
        .await,
        "watcher Group:ops"
    );
    // replicas 0 is a set pointer and survives; the container's command, port and empty
    // resources arrive as kubectl sent them.
    assert_eq!(
        get("deployment/web", "{.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].command} {.spec.template.spec.containers[0].ports[0].containerPort}").await,
        r#"0 web ["nginx","-g","daemon off;"] 8080"#
    );
    assert_eq!(
        get(
            "service/web",
            "{.spec.ports[0].port}->{.spec.ports[0].targetPort} {.spec.selector.app} {.spec.type}"
        )
        .await,
        "80->8080 web ClusterIP"
    );
    assert_eq!(
        get(
            "pdb/web",
            "{.spec.minAvailable} {.spec.selector.matchLabels.app}"
        )
        .await,
        "50% web"
    );
    assert_eq!(
        get(
            "pod/one-off",
            "{.metadata.labels.tier} {.spec.restartPolicy} {.spec.containers[0].args}"
        )
        .await,
        r#"batch Never ["sleep","1"]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_reports_the_kubeconfig_administrator_allowed_everything() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    assert_eq!(
        kubectl
            .run(&["auth", "can-i", "delete", "secrets", "-A"])
            .await
            .ok()
            .trim(),
        "yes"
    );
    let whoami = kubectl.run(&["auth", "whoami"]).await.ok();
    assert!(whoami.contains("kube-sandbox-admin"), "{whoami}");
    assert!(whoami.contains("system:masters"), "{whoami}");
    let listing = kubectl
        .run(&["get", "selfsubjectaccessreviews"])
        .await
        .failed();
    assert!(
        listing.contains("MethodNotAllowed") || listing.contains("not allowed"),
        "{listing}"
    );
}
