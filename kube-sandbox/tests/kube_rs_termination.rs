//! Deleting namespaces and CRDs through kube-rs: contents with finalizers hold them in
//! termination until their controllers let go, as on a real cluster.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::json;
use support::{configmap, eventually, sandbox, widget_object, widgets};

fn guarded(name: &str) -> DynamicObject {
    let mut widget = widget_object(name, 3);
    widget.metadata.finalizers = Some(vec!["sandbox.test/cleanup".into()]);
    widget
}

fn release() -> Patch<serde_json::Value> {
    Patch::Merge(json!({"metadata": {"finalizers": null}}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_terminates_only_once_its_finalized_contents_are_released() {
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    widgets(&sb).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let team: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("ns");
    namespaces
        .create(&PostParams::default(), &team)
        .await
        .expect("namespace");
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("sandbox.test", "v1", "Widget"));
    let team_widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "team", &resource);
    let team_configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    team_widgets
        .create(&PostParams::default(), &guarded("w1"))
        .await
        .expect("widget");
    team_configmaps
        .create(&PostParams::default(), &configmap("plain", "1"))
        .await
        .expect("cm");

    namespaces
        .delete("team", &Default::default())
        .await
        .expect("delete namespace");
    let terminating = namespaces.get("team").await.expect("still there");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    assert!(
        team_configmaps
            .get_opt("plain")
            .await
            .expect("get")
            .is_none(),
        "plain contents go at once"
    );
    let marked = team_widgets
        .get("w1")
        .await
        .expect("finalized contents stay");
    assert!(marked.metadata.deletion_timestamp.is_some());
    match team_configmaps
        .create(&PostParams::default(), &configmap("late", "1"))
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 in a terminating namespace, got {other:?}"),
    }

    team_widgets
        .patch("w1", &PatchParams::default(), &release())
        .await
        .expect("release");
    eventually("the namespace to go", Duration::from_secs(10), || async {
        namespaces
            .get_opt("team")
            .await
            .is_ok_and(|ns| ns.is_none())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_stays_served_until_its_finalized_objects_are_released() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    let crds: Api<CustomResourceDefinition> = Api::all(sb.client().expect("client"));
    api.create(&PostParams::default(), &guarded("w1"))
        .await
        .expect("guarded");
    api.create(&PostParams::default(), &widget_object("w2", 3))
        .await
        .expect("plain");

    crds.delete("widgets.sandbox.test", &Default::default())
        .await
        .expect("delete CRD");
    assert!(
        api.get_opt("w2").await.expect("get").is_none(),
        "objects without finalizers go"
    );
    let marked = api
        .get("w1")
        .await
        .expect("the guarded widget is still served");
    assert!(marked.metadata.deletion_timestamp.is_some());

    api.patch("w1", &PatchParams::default(), &release())
        .await
        .expect("release");
    eventually("the CRD to go", Duration::from_secs(10), || async {
        crds.get_opt("widgets.sandbox.test")
            .await
            .is_ok_and(|crd| crd.is_none())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_namespaces_cannot_be_deleted() {
    let sb = sandbox().await;
    let namespaces: Api<Namespace> = Api::all(sb.client().expect("client"));
    for name in ["default", "kube-system", "kube-public"] {
        match namespaces.delete(name, &Default::default()).await {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
            other => panic!("expected 403 deleting {name}, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_status_of_the_wrong_type_is_refused_and_the_namespace_still_terminates() {
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let odd: Namespace = serde_json::from_value(json!({"metadata": {"name": "odd"}})).expect("ns");
    namespaces
        .create(&PostParams::default(), &odd)
        .await
        .expect("namespace");
    // Built-ins decode into their schema, as into the real server's Go structs.
    let resource = ApiResource::erase::<Namespace>(&());
    let raw: Api<DynamicObject> = Api::all_with(client, &resource);
    let refused = raw
        .patch_status(
            "odd",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": "x"})),
        )
        .await
        .expect_err("a status that is a string");
    assert!(
        matches!(&refused, kube::Error::Api(s) if s.code == 400 && s.message == "Namespace in version \"v1\" cannot be handled as a Namespace: json: cannot unmarshal string into Go struct field Namespace.status of type v1.NamespaceStatus"),
        "{refused:?}"
    );

    let deleted = raw
        .delete("odd", &Default::default())
        .await
        .expect("the delete is answered, not dropped by a panic");
    let marked = deleted.left().expect("the namespace is marked first");
    assert_eq!(
        marked.data.pointer("/status/phase"),
        Some(&json!("Terminating"))
    );
    eventually(
        "the empty namespace to go",
        Duration::from_secs(10),
        || async { namespaces.get_opt("odd").await.is_ok_and(|ns| ns.is_none()) },
    )
    .await;
}
