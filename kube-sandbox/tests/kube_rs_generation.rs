//! `metadata.generation` only where the real server keeps one: kinds with a spec/status split
//! have it (and deletion held by a finalizer bumps it); plain data kinds never do.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use support::{sandbox, widget_object, widgets};

const FINALIZER: &str = "sandbox.test/hold";

fn object<K: DeserializeOwned>(value: serde_json::Value) -> K {
    serde_json::from_value(value).expect("a valid object")
}

/// Creates `object` with a finalizer, changes it, deletes it, and returns its generation
/// after each step.
async fn generations<K>(api: &Api<K>, object: &K, change: serde_json::Value) -> [Option<i64>; 3]
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = object.meta().name.clone().expect("a name");
    let created = api
        .create(&PostParams::default(), object)
        .await
        .expect("create");
    let changed = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(change))
        .await
        .expect("change");
    api.delete(&name, &Default::default())
        .await
        .expect("delete");
    let marked = api.get(&name).await.expect("held by its finalizer");
    assert!(marked.meta().deletion_timestamp.is_some());
    [
        created.meta().generation,
        changed.meta().generation,
        marked.meta().generation,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_data_kinds_have_no_generation_even_when_deleted() {
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let meta = |name: &str| json!({"name": name, "finalizers": [FINALIZER]});

    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm = object(json!({"metadata": meta("c"), "data": {"k": "1"}}));
    let seen = generations(&configmaps, &cm, json!({"data": {"k": "2"}})).await;
    assert_eq!(seen, [None; 3], "configmap");

    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let secret = object(json!({"metadata": meta("s"), "stringData": {"k": "1"}}));
    let seen = generations(&secrets, &secret, json!({"stringData": {"k": "2"}})).await;
    assert_eq!(seen, [None; 3], "secret");

    let leases: Api<Lease> = Api::default_namespaced(client.clone());
    let lease = object(json!({"metadata": meta("l"), "spec": {"holderIdentity": "a"}}));
    let seen = generations(&leases, &lease, json!({"spec": {"holderIdentity": "b"}})).await;
    assert_eq!(seen, [None; 3], "lease");

    let events: Api<Event> = Api::default_namespaced(client.clone());
    let event = object(json!({
        "metadata": meta("e"), "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "A",
    }));
    let seen = generations(&events, &event, json!({"reason": "B"})).await;
    assert_eq!(seen, [None; 3], "event");

    let namespaces: Api<Namespace> = Api::all(client);
    let default = namespaces.get("default").await.expect("default namespace");
    assert_eq!(default.metadata.generation, None, "namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_with_a_spec_keep_a_generation_bumped_by_a_held_deletion() {
    let sb = sandbox().await;
    let deployments: Api<Deployment> = Api::default_namespaced(sb.client().expect("client"));
    let deployment = object(json!({
        "metadata": {"name": "d", "finalizers": [FINALIZER]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }));
    let seen = generations(&deployments, &deployment, json!({"spec": {"replicas": 2}})).await;
    assert_eq!(seen, [Some(1), Some(2), Some(3)], "deployment");

    let api = widgets(&sb).await;
    let mut widget = widget_object("w", 3);
    widget.metadata.finalizers = Some(vec![FINALIZER.into()]);
    let seen = generations(&api, &widget, json!({"spec": {"size": 4}})).await;
    assert_eq!(seen, [Some(1), Some(2), Some(3)], "custom resource");
}
