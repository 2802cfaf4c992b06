//! A CRD declared the way operators declare theirs, with kube-derive: the generated schema
//! (optional fields, enums, maps, embedded k8s-openapi Conditions, CEL rules, list-map merge
//! keys, printer columns) must be served, validated and printed like the real server does.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{sandbox, Kubectl};

/// How a gadget runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
enum Mode {
    Fast,
    Safe,
}

/// A made-up resource with the shapes real operator CRDs have.
// Clippy reads the repeated `type_` of separate printcolumns as one duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug)]
#[kube(
    group = "sandbox.test",
    version = "v1alpha1",
    kind = "Gadget",
    namespaced,
    status = "GadgetStatus",
    shortname = "gd",
    category = "sandbox",
    selectable = ".spec.target",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    validation = "self.metadata.name.size() <= 20"
)]
#[x_kube(validation = Rule::new("!has(self.replicas) || self.replicas <= 5").message("at most 5 replicas"))]
#[serde(rename_all = "camelCase")]
struct GadgetSpec {
    #[x_kube(validation = Rule::new("self == oldSelf").message("target is immutable"))]
    target: String,
    /// Skipped when None: sent as null, `has(self.replicas)` would be true and the rule would
    /// fail on `null <= 5`, as it does on a real apiserver.
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<u32>,
    mode: Mode,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<Window>,
    #[serde(default)]
    steps: Vec<Step>,
}

/// An optional nested struct: its schema comes out as an inlined, nullable object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Window {
    start_hour: u8,
    length_hours: Option<u8>,
}

/// A list of nested structs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
struct Step {
    name: String,
    weight: f64,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct GadgetStatus {
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    #[serde(default)]
    conditions: Vec<Condition>,
    observed_generation: Option<i64>,
}

fn gadget(name: &str, target: &str, replicas: Option<u32>) -> Gadget {
    Gadget::new(
        name,
        GadgetSpec {
            target: target.into(),
            replicas,
            mode: Mode::Fast,
            labels: BTreeMap::from([("tier".into(), "web".into())]),
            window: Some(Window {
                start_hour: 22,
                length_hours: None,
            }),
            steps: vec![Step {
                name: "drain".into(),
                weight: 0.5,
            }],
        },
    )
}

fn ready(generation: i64) -> Condition {
    Condition {
        type_: "Ready".into(),
        status: "True".into(),
        reason: "Reconciled".into(),
        message: "all good".into(),
        observed_generation: Some(generation),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
    }
}

async fn install(sb: &kube_sandbox::Sandbox) -> Api<Gadget> {
    let client = sb.client().expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Gadget::crd())
        .await
        .expect("the derived CRD is accepted");
    let established = await_condition(
        crds,
        "gadgets.sandbox.test",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(10), established)
        .await
        .expect("established in time")
        .expect("no watch error");
    Api::default_namespaced(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_crd_round_trips_typed_objects_and_status() {
    let sb = sandbox().await;
    let api = install(&sb).await;
    let created = api
        .create(&PostParams::default(), &gadget("g1", "pool-a", Some(2)))
        .await
        .expect("create");
    assert_eq!(created.spec.mode, Mode::Fast);
    assert_eq!(
        created.spec.labels.get("tier").map(String::as_str),
        Some("web")
    );

    let status = json!({"apiVersion": "sandbox.test/v1alpha1", "kind": "Gadget",
                        "status": {"conditions": [ready(1)], "observedGeneration": 1}});
    let patched = api
        .patch_status(
            "g1",
            &PatchParams::apply("gadget-controller").force(),
            &Patch::Apply(status),
        )
        .await
        .expect("status apply");
    let status = patched.status.expect("a status");
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.conditions[0].type_, "Ready");

    let kubectl = Kubectl::new(&sb);
    let table = kubectl.run(&["get", "gd"]).await.ok();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "TARGET", "READY", "AGE"]);
    assert_eq!(rows[1][..3], ["g1", "pool-a", "True"]);
    let selected = kubectl
        .run(&[
            "get",
            "gadgets",
            "--field-selector",
            "spec.target=pool-a",
            "-o",
            "name",
        ])
        .await
        .ok();
    assert_eq!(selected.trim(), "gadget.sandbox.test/g1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_crds_cel_rules_are_enforced() {
    let sb = sandbox().await;
    let api = install(&sb).await;
    let pp = PostParams::default();

    let too_many = api
        .create(&pp, &gadget("g1", "pool-a", Some(9)))
        .await
        .expect_err("rule");
    assert!(
        too_many.to_string().contains("at most 5 replicas"),
        "{too_many}"
    );
    let long_name = api
        .create(&pp, &gadget("a-name-longer-than-twenty", "pool-a", None))
        .await
        .expect_err("root rule");
    assert!(
        long_name
            .to_string()
            .contains("self.metadata.name.size() <= 20"),
        "{long_name}"
    );

    api.create(&pp, &gadget("g1", "pool-a", None))
        .await
        .expect("valid");
    let moved = json!({"spec": {"target": "pool-b"}});
    let immutable = api
        .patch("g1", &PatchParams::default(), &Patch::Merge(moved))
        .await
        .expect_err("transition rule");
    assert!(
        immutable.to_string().contains("target is immutable"),
        "{immutable}"
    );
}
