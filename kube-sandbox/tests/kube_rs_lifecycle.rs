//! Object lifecycle as strict as the real server: finalizers on objects being deleted, creates
//! carrying a resourceVersion, updates naming another uid, delete options, malformed watch
//! versions, paged lists read from one snapshot, streaming-list options, and the garbage
//! collector's asynchronous background, orphan and foreground propagation.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube_sandbox::Sandbox;
use serde_json::json;
use support::{configmap, eventually, sandbox};

const WITHIN: Duration = Duration::from_secs(10);

fn error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason, status.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn configmaps(sb: &Sandbox) -> Api<ConfigMap> {
    Api::default_namespaced(sb.client().expect("client"))
}

async fn raw(
    sb: &Sandbox,
    method: &str,
    uri: &str,
    body: serde_json::Value,
) -> Result<String, kube::Error> {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).expect("json"))
        .expect("a request");
    sb.client().expect("client").request_text(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalizer_added_to_an_object_being_deleted_is_forbidden() {
    let sb = sandbox().await;
    let api = configmaps(&sb);
    let mut held = configmap("held", "1");
    held.metadata.finalizers = Some(vec!["sandbox.test/a".into()]);
    api.create(&PostParams::default(), &held)
        .await
        .expect("created");
    api.delete("held", &DeleteParams::default())
        .await
        .expect("marked");
    let add =
        Patch::Merge(json!({"metadata": {"finalizers": ["sandbox.test/a", "sandbox.test/b"]}}));
    let (code, _, message) = error(api.patch("held", &PatchParams::default(), &add).await);
    assert_eq!(code, 422);
    assert_eq!(
        message,
        r#"ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"sandbox.test/b"}"#
    );
    api.create(&PostParams::default(), &configmap("free", "1"))
        .await
        .expect("created");
    let bad_name = Patch::Merge(json!({"metadata": {"finalizers": ["not a name"]}}));
    let (code, _, message) = error(api.patch("free", &PatchParams::default(), &bad_name).await);
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("metadata.finalizers[0]: Invalid value: \"not a name\""),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_with_a_resource_version_and_replacing_with_another_uid_are_refused() {
    let sb = sandbox().await;
    let api = configmaps(&sb);
    let mut versioned = configmap("c1", "1");
    versioned.metadata.resource_version = Some("42".into());
    let (code, reason, message) = error(api.create(&PostParams::default(), &versioned).await);
    assert_eq!((code, reason.as_str()), (500, ""));
    assert_eq!(
        message,
        "resourceVersion should not be set on objects to be created"
    );

    let created = api
        .create(&PostParams::default(), &configmap("c1", "1"))
        .await
        .expect("created");
    let mut other = created.clone();
    other.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
    let (code, _, message) = error(api.replace("c1", &PostParams::default(), &other).await);
    assert_eq!(code, 409);
    assert_eq!(
        message,
        format!(
            "Operation cannot be fulfilled on configmaps \"c1\": Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: {}",
            created.metadata.uid.clone().expect("a uid")
        )
    );
    let mut annotated = created.clone();
    annotated.metadata.annotations = Some([("Not Valid".to_string(), "x".to_string())].into());
    let (code, _, message) = error(api.replace("c1", &PostParams::default(), &annotated).await);
    assert_eq!(code, 422);
    assert!(
        message.contains("metadata.annotations: Invalid value: \"Not Valid\""),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_options_are_validated_and_a_dry_run_deletes_nothing() {
    let sb = sandbox().await;
    let api = configmaps(&sb);
    api.create(&PostParams::default(), &configmap("c1", "1"))
        .await
        .expect("created");
    let uri = "/api/v1/namespaces/default/configmaps/c1";
    let (code, _, message) = error(
        raw(
            &sb,
            "DELETE",
            uri,
            json!({"propagationPolicy": "Sometimes"}),
        )
        .await,
    );
    assert_eq!(code, 422);
    assert_eq!(
        message,
        r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sometimes": supported values: "Foreground", "Background", "Orphan", "nil""#
    );
    let (code, _, message) = error(raw(&sb, "DELETE", uri, json!({"dryRun": ["Maybe"]})).await);
    assert_eq!(code, 422);
    assert_eq!(
        message,
        r#"DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["Maybe"]: supported values: "All""#
    );
    api.delete("c1", &DeleteParams::default().dry_run())
        .await
        .expect("a dry run");
    assert!(
        api.get_opt("c1").await.expect("get").is_some(),
        "a dry run deletes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_watch_resource_version_is_refused() {
    let sb = sandbox().await;
    let uri = "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc";
    let (code, reason, message) = error(raw(&sb, "GET", uri, json!(null)).await);
    assert_eq!((code, reason.as_str()), (500, ""));
    assert_eq!(
        message,
        r#"resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_pages_are_a_snapshot_of_the_first_pages_version() {
    let sb = sandbox().await;
    let api = configmaps(&sb);
    for name in ["c1", "c2", "c3", "c4"] {
        api.create(&PostParams::default(), &configmap(name, "old"))
            .await
            .expect("created");
    }
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("the first page");
    let token = first.metadata.continue_.clone().expect("more to come");
    api.delete("c3", &DeleteParams::default())
        .await
        .expect("deleted");
    api.patch(
        "c4",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"value": "new"}})),
    )
    .await
    .expect("changed");
    api.create(&PostParams::default(), &configmap("c5", "new"))
        .await
        .expect("created");
    let second = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .expect("the second page");
    let seen: Vec<(String, String)> = second
        .items
        .iter()
        .map(|c| {
            let name = c.metadata.name.clone().unwrap_or_default();
            let value = c
                .data
                .as_ref()
                .and_then(|d| d.get("value"))
                .cloned()
                .unwrap_or_default();
            (name, value)
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("c3".to_string(), "old".to_string()),
            ("c4".to_string(), "old".to_string())
        ]
    );
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );

    sb.compact();
    let (code, reason, message) = error(
        api.list(&ListParams::default().limit(10).continue_token(&token))
            .await,
    );
    assert_eq!((code, reason.as_str()), (410, "Expired"));
    assert!(
        message.starts_with("The provided continue parameter is too old"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_options_follow_the_real_server() {
    let sb = sandbox().await;
    let api = configmaps(&sb);
    api.create(&PostParams::default(), &configmap("c1", "1"))
        .await
        .expect("created");
    let (code, _, message) = error(
        raw(
            &sb,
            "GET",
            "/api/v1/namespaces/default/configmaps?sendInitialEvents=true",
            json!(null),
        )
        .await,
    );
    assert_eq!(code, 422);
    assert_eq!(
        message,
        r#"ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"#
    );
    // sendInitialEvents=false without a version starts at the most recent: no ADDED for c1.
    let quiet = raw(
        &sb,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
        json!(null),
    )
    .await
    .expect("a watch");
    assert!(!quiet.contains("\"ADDED\""), "{quiet}");
    let streamed = raw(
        &sb,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
        json!(null),
    )
    .await
    .expect("a watch");
    assert!(
        streamed.contains("\"ADDED\"") && streamed.contains("k8s.io/initial-events-end"),
        "{streamed}"
    );
}

fn owned_by(name: &str, owner: &ConfigMap, blocking: bool) -> ConfigMap {
    let mut dependent = configmap(name, "1");
    dependent.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.metadata.name.clone().unwrap_or_default(),
        uid: owner.metadata.uid.clone().unwrap_or_default(),
        block_owner_deletion: blocking.then_some(true),
        ..Default::default()
    }]);
    dependent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_propagation_keeps_the_dependents_without_their_owner_reference() {
    let sb = sandbox().await;
    let api = configmaps(&sb);
    let owner = api
        .create(&PostParams::default(), &configmap("owner", "1"))
        .await
        .expect("owner");
    api.create(
        &PostParams::default(),
        &owned_by("dependent", &owner, false),
    )
    .await
    .expect("dependent");
    let marked = api
        .delete("owner", &DeleteParams::orphan())
        .await
        .expect("deleted")
        .left()
        .expect("the owner is kept while orphaning");
    assert_eq!(marked.metadata.finalizers, Some(vec!["orphan".to_string()]));
    eventually("the owner to go", WITHIN, || async {
        api.get_opt("owner").await.is_ok_and(|o| o.is_none())
    })
    .await;
    let dependent = api.get("dependent").await.expect("the dependent stays");
    assert!(dependent
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_propagation_waits_for_blocking_dependents() {
    let sb = sandbox().await;
    let api = configmaps(&sb);
    let owner = api
        .create(&PostParams::default(), &configmap("owner", "1"))
        .await
        .expect("owner");
    let mut held = owned_by("held", &owner, true);
    held.metadata.finalizers = Some(vec!["sandbox.test/hold".into()]);
    api.create(&PostParams::default(), &held)
        .await
        .expect("dependent");
    api.delete("owner", &DeleteParams::foreground())
        .await
        .expect("deleted");
    eventually(
        "the dependent to be marked for deletion",
        WITHIN,
        || async {
            api.get("held")
                .await
                .is_ok_and(|d| d.metadata.deletion_timestamp.is_some())
        },
    )
    .await;
    let waiting = api.get("owner").await.expect("the owner waits");
    assert_eq!(
        waiting.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()])
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("released");
    eventually("the owner to follow its dependent", WITHIN, || async {
        api.get_opt("owner").await.is_ok_and(|o| o.is_none())
            && api.get_opt("held").await.is_ok_and(|d| d.is_none())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_of_a_missing_owner_is_collected_and_namespaces_get_a_default_account() {
    let sb = sandbox().await;
    let api = configmaps(&sb);
    let ghost = configmap("ghost", "1");
    let mut ghost_with_uid = ghost.clone();
    ghost_with_uid.metadata.uid = Some("11111111-1111-1111-1111-111111111111".into());
    api.create(
        &PostParams::default(),
        &owned_by("stray", &ghost_with_uid, false),
    )
    .await
    .expect("created");
    eventually("the stray dependent to be collected", WITHIN, || async {
        api.get_opt("stray").await.is_ok_and(|c| c.is_none())
    })
    .await;

    let client = sb.client().expect("client");
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("a namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("created");
    let accounts: Api<ServiceAccount> = Api::namespaced(client, "team");
    eventually("the default ServiceAccount", WITHIN, || async {
        accounts.get_opt("default").await.is_ok_and(|a| a.is_some())
    })
    .await;
}

/// The body is decoded by its media type: YAML is read only under a YAML content type, so a
/// JSON request whose body is YAML is a 400, as on the real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yaml_body_sent_as_json_is_a_bad_request() {
    let sb = sandbox().await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n";
    let send = |content_type: &'static str| {
        let sb = &sb;
        async move {
            let request = http::Request::builder()
                .method("POST")
                .uri("/api/v1/namespaces/default/configmaps")
                .header("content-type", content_type)
                .body(yaml.as_bytes().to_vec())
                .expect("a request");
            sb.client().expect("client").request_text(request).await
        }
    };
    let (code, _, message) = error(send("application/json").await);
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("not valid JSON"), "{message}");
    send("application/yaml")
        .await
        .expect("the same body as YAML is created");
    // Nesting whose parse cost grows with the square of its depth is refused before parsing.
    let deep = format!("{}\n", "{? ".repeat(200_000));
    let request = http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/yaml")
        .body(deep.into_bytes())
        .expect("a request");
    let (code, _, message) = error(sb.client().expect("client").request_text(request).await);
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("nests more than 100 levels"), "{message}");
}
