//! kube-sandbox measured against a real kube-apiserver: one corpus of requests (kubectl commands
//! and raw API calls as kube-rs makes them: creates of every kind sfb-dr and its tests use, the
//! CRDs and a violation of each of their CEL rules, status and server-side apply writes,
//! list/watch with resourceVersions, RBAC denials, `auth can-i`, bad bodies) replayed against
//! both, the answers normalized (status codes, reasons, messages, the fields that matter) and
//! compared case by case.
//!
//! With `SFB_DR_TEST_SERVER=kube-apiserver` (as `tests/cluster/test-real.sh` runs it) both servers
//! answer live, and the real server's answers are checked against `tests/golden/differential.json`
//! (`SFB_DR_BLESS=1` rewrites it). Without Go, kube-sandbox is compared with that recording.
//! Either way, the cases that differ must be exactly the ones kube-sandbox's README lists under
//! "Measured against kube-apiserver", each with its reason; the count of agreeing cases is printed
//! last.

mod e2e;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use e2e::run_kubectl;
use e2e::server::{real, Real};
use http_body_util::BodyExt;
use kube::Client;
use kube_sandbox::{Authorization, Config, Sandbox};
use serde_json::{json, Value};

const NS: &str = "diff";
const BOT: &str = "system:serviceaccount:diff:bot";
const GOLDEN: &str = "tests/golden/differential.json";
const README: &str = "kube-sandbox/README.md";

/// Who sends a request.
#[derive(Clone, Copy, Debug)]
enum Who {
    /// The kubeconfig's administrator.
    Admin,
    /// The administrator impersonating the `bot` ServiceAccount (`kubectl --as`).
    Bot,
    /// A bearer token the server never issued.
    Stranger,
}

/// One request of a case.
#[derive(Clone, Debug)]
enum Step {
    Kubectl {
        args: Vec<String>,
        stdin: Option<String>,
    },
    Http {
        who: Who,
        method: &'static str,
        /// `{rv}` and `{continue}` stand for the last list's resourceVersion and continue token.
        path: String,
        content_type: &'static str,
        body: Option<String>,
        /// JSON pointers of a successful answer that are compared.
        keep: Vec<&'static str>,
    },
    /// History compacted up to now, as etcd's periodic compaction does (kube-sandbox's
    /// `compact()`; on kube-apiserver, etcd's own compaction).
    Compact,
}

/// A named sequence of requests; it agrees when every answer does.
struct Case {
    name: String,
    steps: Vec<Step>,
}

fn kubectl(name: &str, args: &[&str]) -> Case {
    kubectl_in(name, args, None)
}

fn kubectl_in(name: &str, args: &[&str], stdin: Option<String>) -> Case {
    Case {
        name: name.into(),
        steps: vec![kubectl_step(args, stdin)],
    }
}

fn kubectl_step(args: &[&str], stdin: Option<String>) -> Step {
    Step::Kubectl {
        args: args.iter().map(|a| a.replace("{root}", root())).collect(),
        stdin,
    }
}

fn http(
    who: Who,
    method: &'static str,
    path: &str,
    body: Option<Value>,
    keep: &[&'static str],
) -> Step {
    let content_type = match method {
        "PATCH" if path.contains("fieldManager") && !path.contains("merge") => {
            "application/apply-patch+yaml"
        }
        "PATCH" => "application/merge-patch+json",
        _ => "application/json",
    };
    Step::Http {
        who,
        method,
        path: path.into(),
        content_type,
        body: body.map(|b| b.to_string()),
        keep: keep.to_vec(),
    }
}

fn raw(method: &'static str, path: &str, content_type: &'static str, body: &str) -> Step {
    Step::Http {
        who: Who::Admin,
        method,
        path: path.into(),
        content_type,
        body: Some(body.into()),
        keep: vec![],
    }
}

fn case(name: &str, steps: Vec<Step>) -> Case {
    Case {
        name: name.into(),
        steps,
    }
}

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// The corpus, in the order it runs (later cases build on earlier ones).
fn corpus() -> Vec<Case> {
    let ns_cm = format!("/api/v1/namespaces/{NS}/configmaps");
    let pairs = format!("/apis/sfbdr.io/v1alpha1/namespaces/{NS}/poolpairs");
    let mut cases = vec![
        kubectl("kubectl create namespace", &["create", "namespace", NS]),
        kubectl("kubectl create namespace twice", &["create", "namespace", NS]),
        kubectl("kubectl create serviceaccount", &["create", "serviceaccount", "bot", "-n", NS]),
        kubectl("kubectl create token", &["create", "token", "bot", "-n", NS, "--duration=10m"]),
        kubectl("kubectl create token too short", &["create", "token", "bot", "-n", NS, "--duration=1m"]),
        kubectl("kubectl create token of a missing account", &["create", "token", "nobody", "-n", NS]),
        kubectl("kubectl create configmap", &["create", "configmap", "settings", "-n", NS, "--from-literal=mode=fast"]),
        kubectl("kubectl create secret", &["create", "secret", "generic", "creds", "-n", NS, "--from-literal=password=s3cret"]),
        kubectl("kubectl create role", &["create", "role", "reader", "-n", NS, "--verb=get,list,watch", "--resource=configmaps"]),
        kubectl("kubectl create rolebinding", &["create", "rolebinding", "reader", "-n", NS, "--role=reader", "--serviceaccount=diff:bot"]),
        kubectl("kubectl create clusterrole with an aggregation rule", &["create", "clusterrole", "diff-rollup", "--aggregation-rule=diff=true"]),
        kubectl("kubectl create deployment", &["create", "deployment", "web", "-n", NS, "--image=nginx:1.27", "--replicas=2", "--port=8080"]),
        kubectl("kubectl create service", &["create", "service", "clusterip", "web", "-n", NS, "--tcp=80:8080"]),
        kubectl("kubectl create poddisruptionbudget", &["create", "poddisruptionbudget", "web", "-n", NS, "--selector=app=web", "--min-available=1"]),
        kubectl("kubectl create deployment without an image", &["create", "deployment", "bare", "-n", NS, "--image="]),
        kubectl("kubectl get the role's rules", &["get", "role", "reader", "-n", NS, "-o", "jsonpath={.rules}"]),
        kubectl("kubectl get the rolebinding's subjects", &["get", "rolebinding", "reader", "-n", NS, "-o", "jsonpath={.roleRef} {.subjects}"]),
        kubectl("kubectl get the aggregation rule", &["get", "clusterrole", "diff-rollup", "-o", "jsonpath={.aggregationRule}"]),
        kubectl("kubectl get the deployment's spec", &["get", "deployment", "web", "-n", NS, "-o", "jsonpath={.spec.replicas} {.spec.selector} {.spec.template.metadata.labels} {.spec.template.spec.containers[0].name} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports} {.spec.template.spec.containers[0].resources}"]),
        kubectl("kubectl get the service's ports", &["get", "service", "web", "-n", NS, "-o", "jsonpath={.spec.ports} {.spec.selector}"]),
        kubectl("kubectl get the budget's spec", &["get", "pdb", "web", "-n", NS, "-o", "jsonpath={.spec}"]),
        // Under bot: no controller-manager makes a `default` account on kube-apiserver.
        kubectl("kubectl run a pod", &["run", "one-off", "-n", NS, "--image=busybox", "--restart=Never", "--labels=tier=batch", "--env=MODE=fast", "--overrides={\"spec\":{\"serviceAccountName\":\"bot\"}}", "--", "sleep", "1"]),
        kubectl("kubectl get the pod's spec", &["get", "pod", "one-off", "-n", NS, "-o", "jsonpath={.metadata.labels} {.spec.restartPolicy} {.spec.containers[0].args} {.spec.containers[0].env}"]),
        kubectl("kubectl get a missing object", &["get", "configmap", "nothing", "-n", NS]),
        kubectl("kubectl get an unknown kind", &["get", "widgets"]),
        kubectl("kubectl get with a bad selector", &["get", "configmaps", "-n", NS, "-l", "a in (b"]),
        kubectl("kubectl get the deployment's defaults", &["get", "deployment", "web", "-n", NS, "-o", "jsonpath={.spec.strategy} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds} {.spec.template.spec.restartPolicy} {.spec.template.spec.containers[0].imagePullPolicy}"]),
        kubectl("kubectl get the service's defaults", &["get", "service", "web", "-n", NS, "-o", "jsonpath={.spec.type} {.spec.sessionAffinity} {.spec.ports[0].protocol} {.spec.ipFamilies}"]),
        kubectl("kubectl get the secret", &["get", "secret", "creds", "-n", NS, "-o", "jsonpath={.type} {.data.password}"]),
        kubectl("kubectl auth can-i allowed", &["auth", "can-i", "list", "configmaps", "-n", NS, "--as", BOT]),
        kubectl("kubectl auth can-i refused", &["auth", "can-i", "delete", "configmaps", "-n", NS, "--as", BOT]),
        kubectl("kubectl auth can-i a subresource", &["auth", "can-i", "patch", "poolpairs.sfbdr.io", "--subresource=status", "-n", NS, "--as", BOT]),
        kubectl("kubectl auth whoami", &["auth", "whoami", "--as", BOT, "-o", "jsonpath={.status.userInfo.username}"]),
        kubectl("kubectl get as a ServiceAccount refused", &["get", "secrets", "-n", NS, "--as", BOT]),
        kubectl("kubectl delete as a ServiceAccount refused", &["delete", "configmap", "settings", "-n", NS, "--as", BOT]),
        kubectl("kubectl label", &["label", "configmap", "settings", "-n", NS, "tier=gold"]),
        kubectl("kubectl label with a bad value", &["label", "configmap", "settings", "-n", NS, "tier=-bad-"]),
        kubectl("kubectl annotate", &["annotate", "configmap", "settings", "-n", NS, "sfbdr.io/note=kept"]),
        kubectl("kubectl patch strategic", &["patch", "deployment", "web", "-n", NS, "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}"#]),
        kubectl("kubectl patch json with a failing test", &["patch", "configmap", "settings", "-n", NS, "--type=json", "-p", r#"[{"op":"test","path":"/data/mode","value":"slow"}]"#]),
        kubectl("kubectl apply -f crds/", &["apply", "-f", "{root}/crds/"]),
        kubectl("kubectl wait for the CRDs", &["wait", "--for=condition=Established", "crd/topologies.sfbdr.io", "crd/sites.sfbdr.io", "crd/poolpairs.sfbdr.io", "crd/centralmanagementstores.sfbdr.io", "--timeout=60s"]),
        kubectl("kubectl create clusterrole", &["create", "clusterrole", "diff-pairs", "--verb=get,list", "--resource=poolpairs.sfbdr.io"]),
        kubectl("kubectl create clusterrolebinding", &["create", "clusterrolebinding", "diff-pairs", "--clusterrole=diff-pairs", "--serviceaccount=diff:bot"]),
        kubectl("kubectl apply -f crds/ again", &["apply", "-f", "{root}/crds/"]),
        kubectl_in("kubectl apply a pool pair", &["apply", "-n", NS, "-f", "-"], Some(yaml(&pool_pair()))),
        kubectl_in("a custom resource with an enum violation beside a CEL one", &["create", "--dry-run=server", "-f", "-"], Some(yaml(&{
            let mut t = valid("Topology");
            t["spec"]["approval"] = json!("Sometimes");
            t["spec"]["driver"]["powershell"]["host"] = json!("FE1");
            t
        }))),
        kubectl_in("a custom resource with a field of the wrong type", &["create", "--dry-run=server", "-f", "-"], Some(yaml(&{
            let mut t = valid("Topology");
            t["spec"]["maxAttempts"] = json!("three");
            t
        }))),
        kubectl_in("a custom resource without a required field", &["create", "--dry-run=server", "-f", "-"], Some(yaml(&{
            let mut t = valid("PoolPair");
            t["spec"]["pools"][0].as_object_mut().map(|p| p.remove("site"));
            t
        }))),
        kubectl("kubectl get pool pairs by short name", &["get", "pp", "-n", NS, "-o", "name"]),
        kubectl("kubectl get the sfbdr category", &["get", "sfbdr", "-n", NS, "-o", "name"]),
        kubectl("kubectl explain a pool pair", &["explain", "poolpairs.spec.pools.fqdn"]),
        kubectl("kubectl patch strategic on a custom resource", &["patch", "poolpair", "pool1-pool2", "-n", NS, "-p", r#"{"spec":{"activeSites":["redmond"]}}"#]),
        kubectl("kubectl patch merge on a custom resource", &["patch", "poolpair", "pool1-pool2", "-n", NS, "--type=merge", "-p", r#"{"spec":{"activeSites":["redmond"]}}"#]),
        kubectl("kubectl apply an unknown field strictly", &["patch", "poolpair", "pool1-pool2", "-n", NS, "--type=merge", "-p", r#"{"spec":{"pool":[]}}"#]),
        case(
            "server-side apply of a status, then a conflict",
            vec![
                http(Who::Admin, "PATCH", &format!("{pairs}/pool1-pool2/status?fieldManager=sfb-dr&force=true"), Some(json!({"apiVersion": "sfbdr.io/v1alpha1", "kind": "PoolPair", "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "reason": "Served", "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})), &["/status/observedGeneration", "/status/conditions/0/reason"]),
                http(Who::Admin, "PATCH", &format!("{pairs}/pool1-pool2/status?fieldManager=someone-else"), Some(json!({"apiVersion": "sfbdr.io/v1alpha1", "kind": "PoolPair", "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Other", "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})), &[]),
            ],
        ),
        case("server-side apply without a field manager", vec![http(Who::Admin, "PATCH", &format!("{pairs}/pool1-pool2?force=true&fieldManager="), Some(json!({"apiVersion": "sfbdr.io/v1alpha1", "kind": "PoolPair"})), &[])]),
        case("a status write does not change the spec", vec![http(Who::Admin, "PATCH", &format!("{pairs}/pool1-pool2/status"), Some(json!({"spec": {"activeSites": ["dublin"]}})), &["/spec/activeSites"])]),
        case("a merge patch of status as a ServiceAccount refused", vec![http(Who::Bot, "PATCH", &format!("{pairs}/pool1-pool2/status"), Some(json!({"status": {}})), &[])]),
        case("a request with a token the server never issued", vec![http(Who::Stranger, "GET", &ns_cm, None, &[])]),
        case("a create carrying a resourceVersion", vec![http(Who::Admin, "POST", &ns_cm, Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "with-rv", "resourceVersion": "5"}})), &[])]),
        case("an update with a stale resourceVersion", vec![http(Who::Admin, "PUT", &format!("{ns_cm}/settings"), Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "resourceVersion": "1"}})), &[])]),
        case("an update of a custom resource without a resourceVersion", vec![http(Who::Admin, "PUT", &format!("{pairs}/pool1-pool2"), Some(pool_pair()), &[])]),
        case("an update naming another object", vec![http(Who::Admin, "PUT", &format!("{ns_cm}/settings"), Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}})), &[])]),
        case("a body that is not JSON", vec![raw("POST", &ns_cm, "application/json", "{not json")]),
        case("a body of the wrong type", vec![http(Who::Admin, "POST", &format!("/apis/apps/v1/namespaces/{NS}/deployments"), Some(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "typed"}, "spec": {"replicas": "two"}})), &[])]),
        case("an unknown field under strict validation", vec![http(Who::Admin, "POST", &format!("{ns_cm}?fieldValidation=Strict"), Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "strict"}, "datta": {}})), &[])]),
        case("an unknown field dropped by default", vec![http(Who::Admin, "POST", &format!("{ns_cm}?dryRun=All"), Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "lenient"}, "datta": {}})), &["/metadata/name", "/datta"])]),
        case("an invalid object name", vec![http(Who::Admin, "POST", &ns_cm, Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}})), &[])]),
        case("a body kind that does not match the path", vec![http(Who::Admin, "POST", &ns_cm, Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mismatch"}})), &[])]),
        case("a dry run with an unknown value", vec![http(Who::Admin, "POST", &format!("{ns_cm}?dryRun=Some"), Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}})), &[])]),
        case("a Lease with a zero duration", vec![http(Who::Admin, "POST", &format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"), Some(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "sfb-dr"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 0}})), &[])]),
        case("a Lease acquired", vec![http(Who::Admin, "POST", &format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"), Some(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "sfb-dr"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})), &["/spec/holderIdentity", "/spec/leaseDurationSeconds"])]),
        case("an events.k8s.io Event without its required fields", vec![http(Who::Admin, "POST", &format!("/apis/events.k8s.io/v1/namespaces/{NS}/events"), Some(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"}, "type": "Sideways"})), &[])]),
        case(
            "a list in pages and a watch from its resourceVersion",
            vec![
                http(Who::Admin, "POST", &ns_cm, Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "page-a", "labels": {"page": "yes"}}})), &["/metadata/name"]),
                http(Who::Admin, "POST", &ns_cm, Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "page-b", "labels": {"page": "yes"}}})), &["/metadata/name"]),
                http(Who::Admin, "GET", &format!("{ns_cm}?labelSelector=page%3Dyes&limit=1"), None, &["/items/0/metadata/name", "/metadata/continue?", "/metadata/remainingItemCount"]),
                http(Who::Admin, "GET", &format!("{ns_cm}?labelSelector=page%3Dyes&limit=1&continue={{continue}}"), None, &["/items/0/metadata/name", "/metadata/continue?"]),
                http(Who::Admin, "POST", &ns_cm, Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "page-c", "labels": {"page": "yes"}}})), &["/metadata/name"]),
                http(Who::Admin, "GET", &format!("{ns_cm}?labelSelector=page%3Dyes&watch=1&resourceVersion={{rv}}&timeoutSeconds=1"), None, &[]),
            ],
        ),
        case("a watch from a resourceVersion that is not a number", vec![http(Who::Admin, "GET", &format!("{ns_cm}?watch=1&resourceVersion=abc&timeoutSeconds=1"), None, &[])]),
        case("a continue token that is not one", vec![http(Who::Admin, "GET", &format!("{ns_cm}?limit=1&continue=garbage"), None, &[])]),
        case("a watch asking for initial events without resourceVersionMatch", vec![http(Who::Admin, "GET", &format!("{ns_cm}?watch=1&sendInitialEvents=true&timeoutSeconds=1"), None, &[])]),
        case("a field selector the kind does not support", vec![http(Who::Admin, "GET", &format!("{ns_cm}?fieldSelector=spec.nothing%3Dx"), None, &[])]),
        case("a delete with an unknown propagation policy", vec![http(Who::Admin, "DELETE", &format!("{ns_cm}/settings"), Some(json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Sideways"})), &[])]),
        kubectl("kubectl apply -k deploy/", &["apply", "-k", "{root}/deploy"]),
        kubectl("kubectl apply -k deploy/ again", &["apply", "-k", "{root}/deploy"]),
        kubectl("kubectl get -k deploy/", &["get", "-k", "{root}/deploy", "-o", "name"]),
        kubectl_in("kubectl apply a Topology", &["apply", "-n", NS, "-f", "-"], Some(yaml(&named(valid("Topology"), "contoso")))),
        kubectl_in("kubectl apply a Site", &["apply", "-n", NS, "-f", "-"], Some(yaml(&named(valid("Site"), "redmond")))),
        kubectl_in("kubectl apply a CentralManagementStore", &["apply", "-n", NS, "-f", "-"], Some(yaml(&named(valid("CentralManagementStore"), "cms")))),
        kubectl("kubectl get the Topology's defaults", &["get", "topology", "contoso", "-n", NS, "-o", "jsonpath={.spec.approval} {.spec.paused} {.spec.allowDataLoss}"]),
        kubectl("kubectl get a table of pool pairs", &["get", "poolpairs", "-n", NS]),
        kubectl("kubectl get a wide table of topologies", &["get", "topologies", "-n", NS, "-o", "wide"]),
        kubectl("kubectl auth can-i --list", &["auth", "can-i", "--list", "-n", NS, "--as", BOT]),
        case("a core Event written as kube-rs's recorder would", vec![http(Who::Admin, "POST", &format!("/api/v1/namespaces/{NS}/events"), Some(json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "pool1-pool2.1"}, "involvedObject": {"kind": "PoolPair", "name": "pool1-pool2", "namespace": NS, "apiVersion": "sfbdr.io/v1alpha1"}, "reason": "Failover", "message": "m", "type": "Normal", "source": {"component": "sfb-dr"}})), &["/reason", "/type", "/involvedObject/kind"])]),
        case("a status replaced with a stale resourceVersion", vec![http(Who::Admin, "PUT", &format!("{pairs}/pool1-pool2/status"), Some(json!({"apiVersion": "sfbdr.io/v1alpha1", "kind": "PoolPair", "metadata": {"name": "pool1-pool2", "resourceVersion": "1"}, "spec": pool_pair()["spec"].clone()})), &[])]),
        case("a watch from the first resourceVersion", vec![http(Who::Admin, "GET", &format!("{ns_cm}?watch=1&resourceVersion=1&timeoutSeconds=1"), None, &[])]),
        case("a get of a missing object through the API", vec![http(Who::Admin, "GET", &format!("{pairs}/nothing"), None, &[])]),
        case("a create in a namespace that does not exist", vec![http(Who::Admin, "POST", "/api/v1/namespaces/nowhere/configmaps", Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "lost"}})), &[])]),
        case("a delete with an unknown dry-run value", vec![http(Who::Admin, "DELETE", &format!("{ns_cm}/settings?dryRun=Maybe"), None, &[])]),
        case("a finalizer added to an object being deleted", vec![
            http(Who::Admin, "POST", &ns_cm, Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["sfbdr.io/a"]}})), &["/metadata/finalizers"]),
            http(Who::Admin, "DELETE", &format!("{ns_cm}/held"), None, &["/metadata/finalizers"]),
            http(Who::Admin, "PATCH", &format!("{ns_cm}/held"), Some(json!({"metadata": {"finalizers": ["sfbdr.io/a", "sfbdr.io/b"]}})), &[]),
            http(Who::Admin, "PATCH", &format!("{ns_cm}/held"), Some(json!({"metadata": {"finalizers": null}})), &["/metadata/finalizers"]),
        ]),
        case("a finalizer added to a custom resource being deleted", vec![
            http(Who::Admin, "PATCH", &format!("{pairs}/pool1-pool2"), Some(json!({"metadata": {"finalizers": ["sfbdr.io/a"]}})), &["/metadata/finalizers"]),
            http(Who::Admin, "DELETE", &format!("{pairs}/pool1-pool2"), None, &["/metadata/finalizers"]),
            http(Who::Admin, "PATCH", &format!("{pairs}/pool1-pool2"), Some(json!({"metadata": {"finalizers": ["sfbdr.io/a", "sfbdr.io/b"]}})), &[]),
            http(Who::Admin, "PATCH", &format!("{pairs}/pool1-pool2"), Some(json!({"metadata": {"finalizers": null}})), &["/metadata/finalizers"]),
            http(Who::Admin, "GET", &format!("{pairs}/pool1-pool2"), None, &[]),
        ]),
        kubectl("kubectl delete the deployment", &["delete", "deployment", "web", "-n", NS]),
        kubectl("kubectl delete a missing object", &["delete", "configmap", "nothing", "-n", NS]),
    ];
    cases.extend(cel_cases());
    // Last, since it ends every older resourceVersion on kube-sandbox.
    cases.push(case(
        "a continue token and a watch from before a compaction",
        vec![
            http(
                Who::Admin,
                "GET",
                &format!("{ns_cm}?labelSelector=page%3Dyes&limit=1"),
                None,
                &["/items/0/metadata/name"],
            ),
            Step::Compact,
            http(
                Who::Admin,
                "GET",
                &format!("{ns_cm}?labelSelector=page%3Dyes&limit=1&continue={{continue}}"),
                None,
                &[],
            ),
            http(
                Who::Admin,
                "GET",
                &format!("{ns_cm}?watch=1&resourceVersion=2&timeoutSeconds=1"),
                None,
                &[],
            ),
        ],
    ));
    cases
}

fn yaml(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON is YAML")
}

fn named(mut object: Value, name: &str) -> Value {
    object["metadata"]["name"] = json!(name);
    object
}

fn pool_pair() -> Value {
    json!({"apiVersion": "sfbdr.io/v1alpha1", "kind": "PoolPair", "metadata": {"name": "pool1-pool2", "namespace": NS},
           "spec": {"pools": [{"fqdn": "pool1.contoso.com", "site": "redmond"}, {"fqdn": "pool2.contoso.com", "site": "dublin"}], "activeSites": ["redmond", "dublin"]}})
}

/// A valid object of each kind, with every optional field that carries a rule.
fn valid(kind: &str) -> Value {
    let spec = match kind {
        "Topology" => json!({
            "driver": {"powershell": {"host": "fe1.contoso.com", "port": 5986, "user": "CONTOSO\\sfbdr",
                "credentialsSecretRef": {"name": "sfb-creds"},
                "timeouts": {"cmsFailoverMinutes": 30, "otherMinutes": 10, "poolFailbackMinutes": 60, "poolFailoverMinutes": 60}}},
            "maxAttempts": 3, "maxParallelSteps": 4, "objectives": {"rpoSeconds": 300, "rtoSeconds": 1200},
            "observeIntervalSeconds": 30,
            "federationRoutes": {"sip": ["edge1.contoso.com", "edge2.contoso.com"], "xmpp": ["edge1.contoso.com"]},
            "persistentChat": [{"pool": "pchat.contoso.com",
                "primary": {"site": "redmond", "servers": ["pc1.contoso.com", "pc2.contoso.com"]},
                "backup": {"site": "dublin", "servers": ["pc3.contoso.com"]}}]}),
        "Site" => {
            json!({"active": true, "edgePools": [{"fqdn": "edge1.contoso.com", "nextHop": "pool1.contoso.com"}]})
        }
        "PoolPair" => pool_pair()["spec"].clone(),
        "CentralManagementStore" => {
            json!({"pair": "pool1-pool2", "preferredPool": "pool1.contoso.com",
            "backupSql": [{"pool": "pool1.contoso.com", "sqlServerFqdn": "sql1.contoso.com", "sqlInstanceName": "rtc",
                           "mirrorSqlServerFqdn": "sql1m.contoso.com", "mirrorSqlInstanceName": "rtc"}]})
        }
        other => panic!("no valid {other}"),
    };
    json!({"apiVersion": "sfbdr.io/v1alpha1", "kind": kind, "metadata": {"name": "cel-case", "namespace": NS}, "spec": spec})
}

/// One CEL rule (kind, schema path, the start of its message) and the edits that break it.
type CelCase = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, Value)>,
);

/// For each CEL rule (kind, schema path, message): the edits that break only it.
fn cel_edits() -> Vec<CelCase> {
    let fqdn = "must be a lowercase fully qualified domain name";
    let sql = "must be a named SQL Server instance";
    let minutes = "must be between 1 and 1440 minutes";
    vec![
        (
            "Topology",
            ".spec.persistentChat",
            "each Persistent Chat pool is listed once",
            vec![(
                "/spec/persistentChat/1",
                json!({"pool": "pchat.contoso.com",
                    "primary": {"site": "paris", "servers": ["pc5.contoso.com"]},
                    "backup": {"site": "oslo", "servers": ["pc6.contoso.com"]}}),
            )],
        ),
        (
            "Topology",
            ".spec.persistentChat[*]",
            "the primary and the backup database must be in different sites",
            vec![("/spec/persistentChat/0/backup/site", json!("Redmond"))],
        ),
        (
            "Topology",
            ".spec.persistentChat[*]",
            "a server stands in one site",
            vec![(
                "/spec/persistentChat/0/backup/servers/0",
                json!("pc2.contoso.com"),
            )],
        ),
        (
            "Topology",
            ".spec.persistentChat[*].pool",
            fqdn,
            vec![("/spec/persistentChat/0/pool", json!("PChat.contoso.com"))],
        ),
        (
            "Topology",
            ".spec.persistentChat[*].primary.servers",
            "each entry must be a lowercase fully qualified domain name",
            vec![("/spec/persistentChat/0/primary/servers/1", json!("pc2"))],
        ),
        (
            "Topology",
            ".spec.persistentChat[*].primary.servers",
            "each server is listed once",
            vec![(
                "/spec/persistentChat/0/primary/servers/1",
                json!("pc1.contoso.com"),
            )],
        ),
        (
            "Topology",
            ".spec.persistentChat[*].primary.site",
            "must not be empty",
            vec![("/spec/persistentChat/0/primary/site", json!(""))],
        ),
        (
            "Topology",
            ".spec.persistentChat[*].backup.servers",
            "each entry must be a lowercase fully qualified domain name",
            vec![(
                "/spec/persistentChat/0/backup/servers/0",
                json!("PC3.contoso.com"),
            )],
        ),
        (
            "Topology",
            ".spec.persistentChat[*].backup.servers",
            "each server is listed once",
            vec![(
                "/spec/persistentChat/0/backup/servers/1",
                json!("pc3.contoso.com"),
            )],
        ),
        (
            "Topology",
            ".spec.persistentChat[*].backup.site",
            "must not be empty",
            vec![("/spec/persistentChat/0/backup/site", json!(""))],
        ),
        (
            "Topology",
            ".spec.federationRoutes",
            "each list names an Edge pool once",
            vec![("/spec/federationRoutes/sip/1", json!("edge1.contoso.com"))],
        ),
        (
            "Topology",
            ".spec.federationRoutes.sip",
            "each entry must be a lowercase fully qualified domain name",
            vec![("/spec/federationRoutes/sip/0", json!("Edge1.contoso.com"))],
        ),
        (
            "Topology",
            ".spec.federationRoutes.xmpp",
            "each entry must be a lowercase fully qualified domain name",
            vec![("/spec/federationRoutes/xmpp/0", json!("edge1"))],
        ),
        (
            "Topology",
            ".spec.driver",
            "set exactly one driver",
            vec![(
                "/spec/driver/simulator",
                json!({"url": "http://127.0.0.1:7070"}),
            )],
        ),
        (
            "Topology",
            ".spec.driver.powershell.credentialsSecretRef.name",
            "must be a Secret name",
            vec![(
                "/spec/driver/powershell/credentialsSecretRef/name",
                json!("Bad_Secret"),
            )],
        ),
        (
            "Topology",
            ".spec.driver.powershell.host",
            fqdn,
            vec![("/spec/driver/powershell/host", json!("FE1"))],
        ),
        (
            "Topology",
            ".spec.driver.powershell.port",
            "must be a TCP port",
            vec![("/spec/driver/powershell/port", json!(70000))],
        ),
        (
            "Topology",
            ".spec.driver.powershell.timeouts.cmsFailoverMinutes",
            minutes,
            vec![(
                "/spec/driver/powershell/timeouts/cmsFailoverMinutes",
                json!(0),
            )],
        ),
        (
            "Topology",
            ".spec.driver.powershell.timeouts.otherMinutes",
            minutes,
            vec![("/spec/driver/powershell/timeouts/otherMinutes", json!(1441))],
        ),
        (
            "Topology",
            ".spec.driver.powershell.timeouts.poolFailbackMinutes",
            minutes,
            vec![(
                "/spec/driver/powershell/timeouts/poolFailbackMinutes",
                json!(-1),
            )],
        ),
        (
            "Topology",
            ".spec.driver.powershell.timeouts.poolFailoverMinutes",
            minutes,
            vec![(
                "/spec/driver/powershell/timeouts/poolFailoverMinutes",
                json!(0),
            )],
        ),
        (
            "Topology",
            ".spec.driver.powershell.user",
            "must be an account name",
            vec![("/spec/driver/powershell/user", json!("bad user;"))],
        ),
        (
            "Topology",
            ".spec.driver.simulator.url",
            "must be an http:// or https:// URL",
            vec![("/spec/driver", json!({"simulator": {"url": "ftp://x"}}))],
        ),
        (
            "Topology",
            ".spec.maxAttempts",
            "must be between 1 and 10",
            vec![("/spec/maxAttempts", json!(11))],
        ),
        (
            "Topology",
            ".spec.maxParallelSteps",
            "must be between 1 and 64",
            vec![("/spec/maxParallelSteps", json!(0))],
        ),
        (
            "Topology",
            ".spec.objectives.rpoSeconds",
            "must be at least 1 second",
            vec![("/spec/objectives/rpoSeconds", json!(0))],
        ),
        (
            "Topology",
            ".spec.objectives.rtoSeconds",
            "must be at least 1 second",
            vec![("/spec/objectives/rtoSeconds", json!(-5))],
        ),
        (
            "Topology",
            ".spec.observeIntervalSeconds",
            "must be between 5 and 3600 seconds",
            vec![("/spec/observeIntervalSeconds", json!(4))],
        ),
        (
            "Site",
            ".spec",
            "edgePools lists each Edge pool once",
            vec![(
                "/spec/edgePools",
                json!([{"fqdn": "edge1.contoso.com", "nextHop": "pool1.contoso.com"}, {"fqdn": "edge1.contoso.com", "nextHop": "pool2.contoso.com"}]),
            )],
        ),
        (
            "Site",
            ".spec.edgePools[*].fqdn",
            fqdn,
            vec![("/spec/edgePools/0/fqdn", json!("Edge1.contoso.com"))],
        ),
        (
            "Site",
            ".spec.edgePools[*].nextHop",
            fqdn,
            vec![("/spec/edgePools/0/nextHop", json!("pool1"))],
        ),
        (
            "PoolPair",
            ".spec",
            "a PoolPair has exactly two pools",
            vec![
                (
                    "/spec/pools",
                    json!([{"fqdn": "pool1.contoso.com", "site": "redmond"}]),
                ),
                ("/spec/activeSites", json!(["redmond"])),
            ],
        ),
        (
            "PoolPair",
            ".spec",
            "the two pools of a pair must have distinct FQDNs",
            vec![("/spec/pools/1/fqdn", json!("pool1.contoso.com"))],
        ),
        (
            "PoolPair",
            ".spec",
            "the two pools of a pair must be in different sites",
            vec![("/spec/pools/1/site", json!("Redmond"))],
        ),
        (
            "PoolPair",
            ".spec",
            "activeSites must be a non-empty subset",
            vec![("/spec/activeSites", json!(["paris"]))],
        ),
        (
            "PoolPair",
            ".spec.pools[*].fqdn",
            fqdn,
            vec![("/spec/pools/0/fqdn", json!("pool1..contoso.com"))],
        ),
        (
            "PoolPair",
            ".spec.pools[*].site",
            "must not be empty",
            vec![("/spec/pools/0/site", json!(""))],
        ),
        (
            "CentralManagementStore",
            ".spec",
            "backupSql has at most one entry per pool",
            vec![(
                "/spec/backupSql/1",
                json!({"pool": "pool1.contoso.com", "sqlServerFqdn": "sql9.contoso.com"}),
            )],
        ),
        (
            "CentralManagementStore",
            ".spec.backupSql[*]",
            "mirrorSqlInstanceName needs mirrorSqlServerFqdn",
            vec![(
                "/spec/backupSql/0",
                json!({"pool": "pool1.contoso.com", "sqlServerFqdn": "sql1.contoso.com", "mirrorSqlInstanceName": "rtc"}),
            )],
        ),
        (
            "CentralManagementStore",
            ".spec.backupSql[*].mirrorSqlInstanceName",
            sql,
            vec![(
                "/spec/backupSql/0/mirrorSqlInstanceName",
                json!("MSSQLSERVER"),
            )],
        ),
        (
            "CentralManagementStore",
            ".spec.backupSql[*].mirrorSqlServerFqdn",
            fqdn,
            vec![("/spec/backupSql/0/mirrorSqlServerFqdn", json!("sql1m"))],
        ),
        (
            "CentralManagementStore",
            ".spec.backupSql[*].pool",
            fqdn,
            vec![("/spec/backupSql/0/pool", json!("POOL1.contoso.com"))],
        ),
        (
            "CentralManagementStore",
            ".spec.backupSql[*].sqlInstanceName",
            sql,
            vec![("/spec/backupSql/0/sqlInstanceName", json!("1rtc"))],
        ),
        (
            "CentralManagementStore",
            ".spec.backupSql[*].sqlServerFqdn",
            fqdn,
            vec![(
                "/spec/backupSql/0/sqlServerFqdn",
                json!("sql_1.contoso.com"),
            )],
        ),
        (
            "CentralManagementStore",
            ".spec.pair",
            "must not be empty",
            vec![("/spec/pair", json!(""))],
        ),
        (
            "CentralManagementStore",
            ".spec.preferredPool",
            fqdn,
            vec![("/spec/preferredPool", json!("pool1"))],
        ),
    ]
}

/// One case per CEL rule: the object that breaks it, created with a server-side dry run.
fn cel_cases() -> Vec<Case> {
    cel_edits()
        .into_iter()
        .map(|(kind, path, message, edits)| {
            let mut object = valid(kind);
            for (pointer, value) in edits {
                set(&mut object, pointer, value);
            }
            kubectl_in(
                &format!("CEL {kind} {path}: {message}"),
                &["create", "--dry-run=server", "-f", "-"],
                Some(yaml(&object)),
            )
        })
        .collect()
}

/// Sets the value at a JSON pointer, appending when it names the next array index.
fn set(object: &mut Value, pointer: &str, value: Value) {
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer");
    let parent = object.pointer_mut(parent).expect("the parent exists");
    match parent {
        Value::Array(items) => {
            let i: usize = last.parse().expect("an index");
            if i == items.len() {
                items.push(value);
            } else {
                items[i] = value;
            }
        }
        Value::Object(map) => {
            map.insert(last.into(), value);
        }
        _ => panic!("{pointer} is not inside an object or array"),
    }
}

/// Every CEL rule the CRDs carry, as (kind, schema path, message).
fn crd_rules() -> BTreeSet<(String, String, String)> {
    let text =
        std::fs::read_to_string(Path::new(root()).join("crds/sfbdr.io.yaml")).expect("crds/");
    let mut rules = BTreeSet::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let crd: Value = serde::Deserialize::deserialize(document).expect("a CRD");
        let kind = crd["spec"]["names"]["kind"]
            .as_str()
            .expect("a kind")
            .to_owned();
        for version in crd["spec"]["versions"].as_array().expect("versions") {
            walk_rules(
                &version["schema"]["openAPIV3Schema"],
                String::new(),
                &kind,
                &mut rules,
            );
        }
    }
    rules
}

fn walk_rules(
    schema: &Value,
    path: String,
    kind: &str,
    out: &mut BTreeSet<(String, String, String)>,
) {
    for rule in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let message = rule["message"].as_str().unwrap_or_default().to_owned();
        out.insert((kind.to_owned(), path.clone(), message));
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, sub) in properties {
            walk_rules(sub, format!("{path}.{name}"), kind, out);
        }
    }
    if schema["items"].is_object() {
        walk_rules(&schema["items"], format!("{path}[*]"), kind, out);
    }
    if schema["additionalProperties"].is_object() {
        walk_rules(
            &schema["additionalProperties"],
            format!("{path}{{*}}"),
            kind,
            out,
        );
    }
}

/// One server under test, with its own kubectl cache.
enum Kind {
    Sandbox(Sandbox),
    Real(Real),
}

struct Target {
    server: Kind,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
    admin: Client,
    stranger: Client,
    vars: BTreeMap<&'static str, String>,
}

async fn config_of(kubeconfig: &Path) -> kube::Config {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).expect("a kubeconfig");
    kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("a client configuration")
}

impl Target {
    async fn new(server: Kind, kubeconfig: PathBuf) -> Target {
        let config = config_of(&kubeconfig).await;
        let admin = Client::try_from(config.clone()).expect("a client");
        let mut stranger = config;
        stranger.auth_info = kube::config::AuthInfo {
            token: Some("not-a-token-of-this-server".to_owned().into()),
            ..Default::default()
        };
        Target {
            server,
            kubeconfig,
            cache: tempfile::tempdir().expect("a cache dir"),
            admin,
            stranger: Client::try_from(stranger).expect("a client"),
            vars: BTreeMap::new(),
        }
    }

    async fn sandbox() -> Target {
        let sandbox = Sandbox::start(Config {
            authorization: Authorization::Rbac,
            ..Config::default()
        })
        .await
        .expect("kube-sandbox starts");
        let kubeconfig = sandbox.kubeconfig_path().to_owned();
        Target::new(Kind::Sandbox(sandbox), kubeconfig).await
    }

    async fn real() -> Target {
        // ConfigMaps are watched from etcd rather than the watch cache, so an etcd compaction
        // expires older versions at once, as it does on a cluster once the cache's window has
        // moved past them: the corpus's 410s are then kube-apiserver's own.
        let real = Real::start_with("--watch-cache-sizes=configmaps#0").await;
        let kubeconfig = real.kubeconfig().to_owned();
        Target::new(Kind::Real(real), kubeconfig).await
    }

    async fn answer(&mut self, step: &Step) -> Value {
        match step {
            Step::Kubectl { args, stdin } => self.kubectl(args, stdin.as_deref()).await,
            Step::Compact => {
                match &self.server {
                    Kind::Sandbox(s) => s.compact(),
                    Kind::Real(r) => r.compact().await,
                }
                json!({"compacted": true})
            }
            Step::Http {
                who,
                method,
                path,
                content_type,
                body,
                keep,
            } => {
                let mut path = path.clone();
                for (name, value) in &self.vars {
                    path = path.replace(&format!("{{{name}}}"), &query_escaped(value));
                }
                let mut request = http::Request::builder()
                    .method(*method)
                    .uri(&path)
                    .header("Content-Type", *content_type);
                if matches!(who, Who::Bot) {
                    request = request.header("Impersonate-User", BOT);
                }
                let request = request
                    .body(body.clone().unwrap_or_default().into_bytes())
                    .expect("a request");
                let client = if matches!(who, Who::Stranger) {
                    &self.stranger
                } else {
                    &self.admin
                };
                let response = client
                    .send(request.map(Into::into))
                    .await
                    .expect("the server answers");
                let code = response.status().as_u16();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .expect("a body")
                    .to_bytes();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                self.remember(&text);
                http_answer(code, &text, keep, path.contains("watch=1"))
            }
        }
    }

    fn remember(&mut self, text: &str) {
        let Ok(body) = serde_json::from_str::<Value>(text) else {
            return;
        };
        if body["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
            if let Some(rv) = body["metadata"]["resourceVersion"].as_str() {
                self.vars.insert("rv", rv.to_owned());
            }
            if let Some(token) = body["metadata"]["continue"].as_str() {
                self.vars.insert("continue", token.to_owned());
            }
        }
    }

    async fn kubectl(&self, args: &[String], stdin: Option<&str>) -> Value {
        let out = run_kubectl(&self.kubeconfig, self.cache.path(), args, stdin).await;
        json!({
            "exit": out.exit,
            "stdout": normalize_ages(&normalize(&out.stdout)),
            "stderr": normalize(&out.stderr),
        })
    }
}

/// `value` escaped for a query string.
fn query_escaped(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The parts of an HTTP answer that are compared.
fn http_answer(code: u16, text: &str, keep: &[&str], watch: bool) -> Value {
    let mut answer = json!({"code": code});
    if watch && code == 200 {
        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|e| match e["type"].as_str() {
                Some("ERROR") => json!([
                    "ERROR",
                    e["object"]["code"],
                    e["object"]["reason"],
                    normalize(e["object"]["message"].as_str().unwrap_or_default())
                ]),
                t => json!([t, e["object"]["metadata"]["name"]]),
            })
            .collect();
        answer["events"] = json!(events);
        return answer;
    }
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        answer["body"] = json!(normalize(text.trim()));
        return answer;
    };
    if body["kind"] == "Status" {
        answer["reason"] = body["reason"].clone();
        answer["message"] = json!(normalize(body["message"].as_str().unwrap_or_default()));
        let mut causes: Vec<Value> = body["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!([
                    c["field"],
                    c["reason"],
                    normalize(c["message"].as_str().unwrap_or_default())
                ])
            })
            .collect();
        causes.sort_by_key(|c| c.to_string());
        answer["causes"] = json!(causes);
        return answer;
    }
    for pointer in keep {
        let (pointer, presence) = match pointer.strip_suffix('?') {
            Some(p) => (p, true),
            None => (*pointer, false),
        };
        let value = body.pointer(pointer).cloned().unwrap_or(Value::Null);
        answer[pointer] = if presence {
            json!(value.as_str().is_some_and(|s| !s.is_empty()))
        } else {
            value
        };
    }
    answer
}

/// Text with what differs between any two runs (uids, times, ports, tokens, addresses, ages)
/// replaced by placeholders.
fn normalize(text: &str) -> String {
    use std::sync::LazyLock;
    static RULES: LazyLock<Vec<(regex::Regex, &str)>> = LazyLock::new(|| {
        [
            (
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "<uid>",
            ),
            (
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                "<time>",
            ),
            (
                r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+",
                "<token>",
            ),
            (r"127\.0\.0\.1:\d+", "<server>"),
            (r"\b10\.\d+\.\d+\.\d+\b", "<ip>"),
        ]
        .into_iter()
        .map(|(pattern, with)| (regex::Regex::new(pattern).expect("a pattern"), with))
        .collect()
    });
    let mut out = text.trim_end().to_owned();
    for (pattern, with) in RULES.iter() {
        out = pattern.replace_all(&out, *with).into_owned();
    }
    out
}

/// A table's AGE column (`0s`, `12m`) as a placeholder: only kubectl's standard output has one.
fn normalize_ages(text: &str) -> String {
    use std::sync::LazyLock;
    static AGE: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\b\d+(ms|s|m|h|d)\b").expect("a pattern"));
    AGE.replace_all(text, "<age>").into_owned()
}

/// Runs the corpus against one server: each case's answers.
async fn replay(target: &mut Target, cases: &[Case]) -> BTreeMap<String, Vec<Value>> {
    let mut answers = BTreeMap::new();
    for case in cases {
        let mut seen = Vec::new();
        for step in &case.steps {
            seen.push(target.answer(step).await);
        }
        answers.insert(case.name.clone(), seen);
    }
    answers
}

/// The cases kube-sandbox's README lists as differing: the first cell of each row of the table
/// under "Measured against kube-apiserver", in backquotes.
fn listed_differences() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(Path::new(root()).join(README)).expect("the README");
    let section = readme
        .split("\n## Measured against kube-apiserver")
        .nth(1)
        .expect("kube-sandbox's README has a \"Measured against kube-apiserver\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (name, rest) = l.split_once("` |")?;
            Some((
                name.to_owned(),
                rest.trim().trim_end_matches('|').trim().to_owned(),
            ))
        })
        .collect()
}

#[test]
fn every_cel_rule_of_the_crds_has_a_case() {
    let covered: BTreeSet<(String, String, String)> = cel_edits()
        .into_iter()
        .map(|(k, p, m, _)| (k.to_owned(), p.to_owned(), m.to_owned()))
        .collect();
    let rules = crd_rules();
    let missing: Vec<_> = rules
        .iter()
        .filter(|(k, p, m)| {
            !covered
                .iter()
                .any(|(ck, cp, cm)| ck == k && cp == p && m.starts_with(cm.as_str()))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "CEL rules without a differential case: {missing:#?}"
    );
    assert_eq!(covered.len(), rules.len(), "one case per rule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_sandbox_answers_the_corpus_as_kube_apiserver_does() {
    let cases = corpus();
    let golden_path = Path::new(root()).join(GOLDEN);
    let reference: BTreeMap<String, Vec<Value>> = if real() {
        let mut server = Target::real().await;
        let live = replay(&mut server, &cases).await;
        if std::env::var_os("SFB_DR_BLESS").is_some() {
            let text = serde_json::to_string_pretty(&live).expect("JSON") + "\n";
            std::fs::write(&golden_path, text).expect("the recording is written");
        }
        let recorded: BTreeMap<String, Vec<Value>> =
            serde_json::from_str(&std::fs::read_to_string(&golden_path).unwrap_or_default())
                .unwrap_or_default();
        let stale: Vec<&String> = live
            .keys()
            .filter(|k| recorded.get(*k) != live.get(*k))
            .collect();
        assert!(
            stale.is_empty(),
            "{GOLDEN} no longer records what kube-apiserver answers for {stale:?}; re-record with SFB_DR_BLESS=1 tests/cluster/test-real.sh"
        );
        live
    } else {
        let text = std::fs::read_to_string(&golden_path)
            .expect("the recording of kube-apiserver's answers");
        serde_json::from_str(&text).expect("the recording parses")
    };
    let mut sandbox = Target::sandbox().await;
    let answers = replay(&mut sandbox, &cases).await;

    let listed = listed_differences();
    let mut differing = BTreeSet::new();
    let mut report = String::new();
    for case in &cases {
        let ours = &answers[&case.name];
        let theirs = reference.get(&case.name);
        if theirs == Some(ours) {
            continue;
        }
        differing.insert(case.name.clone());
        if !listed.contains_key(&case.name) {
            report += &format!(
                "\n{}:\n  kube-apiserver: {}\n  kube-sandbox:   {}\n",
                case.name,
                serde_json::to_string(&theirs).unwrap_or_default(),
                serde_json::to_string(ours).unwrap_or_default()
            );
        }
    }
    let unlisted: Vec<_> = differing
        .iter()
        .filter(|c| !listed.contains_key(*c))
        .collect();
    let agreeing_but_listed: Vec<_> = listed.keys().filter(|c| !differing.contains(*c)).collect();
    let unexplained: Vec<_> = listed
        .iter()
        .filter(|(_, why)| why.len() < 20)
        .map(|(c, _)| c)
        .collect();
    assert!(
        unlisted.is_empty(),
        "differences not listed in {README}:{report}"
    );
    assert!(
        agreeing_but_listed.is_empty(),
        "{README} lists differences that are gone (or cases that no longer exist): {agreeing_but_listed:?}"
    );
    assert!(
        unexplained.is_empty(),
        "{README} lists differences without a reason: {unexplained:?}"
    );
    let agree = cases.len() - differing.len();
    println!(
        "differential: {agree} of {} cases answered alike by kube-sandbox and kube-apiserver ({} listed differences)",
        cases.len(),
        differing.len()
    );
}
