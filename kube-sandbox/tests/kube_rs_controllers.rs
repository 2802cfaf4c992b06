//! kube-rs writes and the runtime against a sandbox: status subresource conflicts and merges,
//! garbage collection, a Controller, and the finalizer helper.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::Client;
use serde_json::json;
use support::{configmap, eventually, sandbox, widget_object, widgets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_status_with_a_stale_resource_version_conflicts() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    api.create(&PostParams::default(), &widget_object("w1", 3))
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
async fn an_apply_carrying_a_stale_resource_version_conflicts() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    let created = api
        .create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create");
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 4}})),
    )
    .await
    .expect("spec patch");
    let stale = json!({"apiVersion": "sandbox.test/v1", "kind": "Widget",
        "metadata": {"name": "w1", "resourceVersion": created.metadata.resource_version},
        "spec": {"size": 5}});
    match api
        .patch(
            "w1",
            &PatchParams::apply("late").force(),
            &Patch::Apply(stale),
        )
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
    api.create(&PostParams::default(), &widget_object("w1", 3))
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
async fn deleting_an_owner_deletes_its_dependents() {
    let sb = sandbox().await;
    let widgets = widgets(&sb).await;
    let owner = widgets
        .create(&PostParams::default(), &widget_object("w1", 3))
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
    eventually(
        "the garbage collector to delete the dependent",
        Duration::from_secs(10),
        || async {
            configmaps
                .get_opt("w1-config")
                .await
                .is_ok_and(|c| c.is_none())
        },
    )
    .await;
}

#[derive(Debug, thiserror::Error)]
#[error("finalizer failed: {0}")]
struct FinalizerError(#[from] Box<kube::runtime::finalizer::Error<std::convert::Infallible>>);

/// Reconciles widgets through kube-rs's finalizer helper, recording cleanups in a configmap.
async fn guard_widget(
    widget: Arc<DynamicObject>,
    api: Arc<Api<DynamicObject>>,
) -> Result<Action, FinalizerError> {
    use kube::runtime::finalizer::{finalizer, Event as Finalized};
    let configmaps: Api<ConfigMap> = Api::default_namespaced(Api::clone(&api).into_client());
    finalizer(&api, "sandbox.test/cleanup", widget, |event| async move {
        if let Finalized::Cleanup(w) = event {
            let name = format!("cleaned-{}", w.metadata.name.clone().unwrap_or_default());
            let _ = configmaps
                .create(&PostParams::default(), &configmap(&name, "1"))
                .await;
        }
        Ok::<_, std::convert::Infallible>(Action::await_change())
    })
    .await
    .map_err(|e| FinalizerError(Box::new(e)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kube_rs_finalizer_helper_adds_runs_and_removes_its_finalizer() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    let shared = Arc::new(api.clone());
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("sandbox.test", "v1", "Widget"));
    let controller = Controller::new_with(api.clone(), watcher::Config::default(), resource)
        .run(
            guard_widget,
            |_, _, _| Action::requeue(Duration::from_millis(200)),
            shared,
        )
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    api.create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create");
    eventually(
        "the finalizer to be added",
        Duration::from_secs(15),
        || async {
            api.get("w1")
                .await
                .is_ok_and(|w| w.metadata.finalizers == Some(vec!["sandbox.test/cleanup".into()]))
        },
    )
    .await;
    api.delete("w1", &Default::default()).await.expect("delete");
    eventually(
        "cleanup to run and the widget to go",
        Duration::from_secs(15),
        || async {
            let configmaps: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
            api.get_opt("w1").await.is_ok_and(|w| w.is_none())
                && configmaps
                    .get_opt("cleaned-w1")
                    .await
                    .is_ok_and(|c| c.is_some())
        },
    )
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_subresource_reads_and_writes_the_declared_replicas() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    api.create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create");
    let stale = api.get_scale("w1").await.expect("scale");
    assert_eq!(stale.spec.as_ref().and_then(|s| s.replicas), Some(0));

    let patched = api
        .patch_scale(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .expect("scale patch");
    assert_eq!(patched.spec.and_then(|s| s.replicas), Some(2));
    let live = api.get("w1").await.expect("get");
    assert_eq!(live.data["spec"]["replicas"], 2);

    match api
        .replace_scale("w1", &PostParams::default(), &stale)
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("expected a 409 conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_without_api_version_and_kind_is_a_bad_request() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    let bare = Patch::Apply(json!({"spec": {"size": 3}}));
    match api
        .patch("w1", &PatchParams::apply("forgetful"), &bare)
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 400, "{status:?}"),
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_custom_object_without_a_resource_version_is_invalid() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    api.create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create");
    match api
        .replace("w1", &PostParams::default(), &widget_object("w1", 4))
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 422, "{status:?}"),
        other => panic!("expected 422, got {other:?}"),
    }
}
