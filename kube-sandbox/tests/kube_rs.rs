//! kube-rs clients and runtime against a sandbox: the flows a controller depends on.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use kube_sandbox::{Sandbox, Verb};
use serde_json::json;
use support::{eventually, sandbox, WIDGET_CRD};

fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"value": value}}))
        .expect("a configmap")
}

async fn widgets(sb: &Sandbox) -> Api<DynamicObject> {
    let client = sb.client().expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_yaml::from_str(WIDGET_CRD).expect("the CRD parses");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("the CRD is created");
    let established = await_condition(
        crds,
        "widgets.sandbox.test",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(10), established)
        .await
        .expect("established in time")
        .expect("no watch error");
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("sandbox.test", "v1", "Widget"));
    Api::namespaced_with(client, "default", &resource)
}

fn widget(name: &str, size: u32) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "sandbox.test/v1", "kind": "Widget",
        "metadata": {"name": name}, "spec": {"size": size},
    }))
    .expect("a widget")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflector_stays_in_sync_through_dropped_watches_and_410_gone() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let (reader, writer) = reflector::store();
    let stream = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    let has = |name: &str| {
        reader
            .get(&ObjectRef::new(name).within("default"))
            .is_some()
    };
    let pp = PostParams::default();

    api.create(&pp, &configmap("a", "1"))
        .await
        .expect("create a");
    eventually("a in the store", Duration::from_secs(10), || async {
        has("a")
    })
    .await;

    sb.drop_watches();
    api.create(&pp, &configmap("b", "1"))
        .await
        .expect("create b");
    eventually(
        "b after a dropped watch",
        Duration::from_secs(10),
        || async { has("b") },
    )
    .await;

    let lists_before = sb.request_count(Verb::List, "configmaps");
    sb.compact().expect("compaction");
    sb.drop_watches();
    api.create(&pp, &configmap("c", "1"))
        .await
        .expect("create c");
    api.delete("a", &Default::default())
        .await
        .expect("delete a");
    eventually(
        "c in and a out after 410 Gone",
        Duration::from_secs(20),
        || async { has("c") && !has("a") && has("b") },
    )
    .await;
    assert!(
        sb.request_count(Verb::List, "configmaps") > lists_before,
        "a 410 must force a relist"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_watcher_syncs_through_initial_events() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    api.create(&PostParams::default(), &configmap("before", "1"))
        .await
        .expect("create");
    let (reader, writer) = reflector::store();
    let stream = watcher(api.clone(), watcher::Config::default().streaming_lists())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    api.create(&PostParams::default(), &configmap("after", "1"))
        .await
        .expect("create");
    eventually("both configmaps", Duration::from_secs(10), || async {
        reader.state().len() == 2
    })
    .await;
    assert_eq!(
        sb.request_count(Verb::List, "configmaps"),
        0,
        "no list with streaming lists"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_status_with_a_stale_resource_version_conflicts() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    api.create(&PostParams::default(), &widget("w1", 3))
        .await
        .expect("create");
    let mut stale = api.get("w1").await.expect("get");
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 4}})),
    )
    .await
    .expect("spec patch");

    stale.data["status"] = json!({"observedGeneration": 1});
    match api
        .replace_status("w1", &PostParams::default(), &stale)
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("expected a 409 conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_conditions_from_two_managers_merge_by_type() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    api.create(&PostParams::default(), &widget("w1", 3))
        .await
        .expect("create");
    let condition = |type_: &str| {
        json!({"apiVersion": "sandbox.test/v1", "kind": "Widget",
               "status": {"conditions": [{"type": type_, "status": "True"}]}})
    };
    for (manager, type_) in [("controller", "Ready"), ("auditor", "Audited")] {
        api.patch_status(
            "w1",
            &PatchParams::apply(manager).force(),
            &Patch::Apply(condition(type_)),
        )
        .await
        .expect("status apply");
    }
    let live = api.get("w1").await.expect("get");
    let types: Vec<&str> = live.data["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(types, ["Ready", "Audited"]);
    assert_eq!(
        live.metadata.generation,
        Some(1),
        "status writes leave generation alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures_hit_only_the_next_matching_requests() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    api.create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    // 500 rather than 503: kube-rs retries 503s by itself.
    sb.fail_next(Verb::Get, "configmaps", 2, 500);
    for _ in 0..2 {
        match api.get("a").await {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 500),
            other => panic!("expected an injected 500, got {other:?}"),
        }
    }
    api.get("a").await.expect("the third get succeeds");
    assert_eq!(sb.request_count(Verb::Get, "configmaps"), 3);
    assert_eq!(sb.request_count(Verb::Create, "configmaps"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_with_limit_and_continue() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    for name in ["a", "b", "c"] {
        api.create(&PostParams::default(), &configmap(name, "1"))
            .await
            .expect("create");
    }
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("page 2");
    let names: Vec<_> = second
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, ["c"]);
}

#[derive(Debug, thiserror::Error)]
#[error("reconcile failed: {0}")]
struct ReconcileError(#[from] kube::Error);

async fn mark_reconciled(
    cm: Arc<ConfigMap>,
    client: Arc<Client>,
) -> Result<Action, ReconcileError> {
    let api: Api<ConfigMap> = Api::default_namespaced((*client).clone());
    let name = cm.metadata.name.clone().unwrap_or_default();
    let patch = json!({"metadata": {"annotations": {"sandbox.test/reconciled": "yes"}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(Action::await_change())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kube_runtime_controller_reconciles_against_the_sandbox() {
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(
            mark_reconciled,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            Arc::new(client),
        )
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    api.create(&PostParams::default(), &configmap("watched", "1"))
        .await
        .expect("create");
    eventually(
        "the controller to annotate the configmap",
        Duration::from_secs(15),
        || async {
            api.get("watched")
                .await
                .ok()
                .and_then(|cm| cm.metadata.annotations)
                .is_some_and(|a| {
                    a.get("sandbox.test/reconciled").map(String::as_str) == Some("yes")
                })
        },
    )
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_selected_reflector_drops_objects_that_lose_the_label() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().labels("tier=web");
    let stream = watcher(api.clone(), config)
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    let labelled = |tier: &str| Patch::Merge(json!({"metadata": {"labels": {"tier": tier}}}));

    api.create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    api.patch("a", &PatchParams::default(), &labelled("web"))
        .await
        .expect("label");
    eventually(
        "a to enter the selection",
        Duration::from_secs(10),
        || async { reader.state().len() == 1 },
    )
    .await;
    api.patch("a", &PatchParams::default(), &labelled("db"))
        .await
        .expect("relabel");
    eventually(
        "a to leave the selection",
        Duration::from_secs(10),
        || async { reader.state().is_empty() },
    )
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_owner_deletes_its_dependents() {
    let sb = sandbox().await;
    let widgets = widgets(&sb).await;
    let owner = widgets
        .create(&PostParams::default(), &widget("w1", 3))
        .await
        .expect("owner");
    let configmaps: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let mut child = configmap("w1-config", "1");
    child.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "sandbox.test/v1".into(),
            kind: "Widget".into(),
            name: "w1".into(),
            uid: owner.metadata.uid.clone().expect("a uid"),
            controller: Some(true),
            ..Default::default()
        },
    ]);
    configmaps
        .create(&PostParams::default(), &child)
        .await
        .expect("child");

    widgets
        .delete("w1", &Default::default())
        .await
        .expect("delete the owner");
    let gone = configmaps.get_opt("w1-config").await.expect("get");
    assert!(gone.is_none(), "the dependent configmap must be collected");
}
