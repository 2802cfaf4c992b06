//! Failures come back as metav1.Status with the reason and code the real server uses, because
//! clients branch on them (retry on Conflict, create on NotFound, relist on Gone).

mod support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use support::{configmap, sandbox, widget_object, widgets};

fn status_of<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String, Vec<String>) {
    match result {
        Err(kube::Error::Api(status)) => {
            let fields = status
                .details
                .map(|d| d.causes.into_iter().map(|c| c.field).collect())
                .unwrap_or_default();
            (status.code, status.reason, fields)
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_reason_and_code_clients_switch_on() {
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    configmaps
        .create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");

    let (code, reason, _) = status_of(configmaps.get("missing").await);
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    let (code, reason, _) = status_of(
        configmaps
            .create(&PostParams::default(), &configmap("a", "1"))
            .await,
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let widgets = widgets(&sb).await;
    let (code, reason, fields) = status_of(
        widgets
            .create(&PostParams::default(), &widget_object("w1", 0))
            .await,
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(fields, ["spec.size"]);

    let post_to_an_object = axum::http::Request::post("/api/v1/namespaces/default/configmaps/a")
        .body(b"{}".to_vec())
        .expect("a request");
    let (code, reason, _) = status_of(client.request::<ConfigMap>(post_to_an_object).await);
    assert_eq!((code, reason.as_str()), (405, "MethodNotAllowed"));

    let mut mislabelled = configmap("b", "1");
    mislabelled.metadata.labels = Some([("tier".to_string(), "front end".to_string())].into());
    let (code, reason, fields) = status_of(
        configmaps
            .create(&PostParams::default(), &mislabelled)
            .await,
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(fields, ["metadata.labels"]);

    let bad_selector = kube::api::ListParams::default().labels("a in (b");
    let (code, reason, _) = status_of(configmaps.list(&bad_selector).await);
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_refuses_a_body_naming_another_object() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    let apply = PatchParams::apply("tester");
    let mut named_b = widget_object("b", 3);
    named_b.metadata.namespace = Some("default".into());
    let mut elsewhere = widget_object("a", 3);
    elsewhere.metadata.namespace = Some("kube-system".into());

    // Once while `a` does not exist (apply would create), once while it does (apply updates).
    for exists in [false, true] {
        let (code, reason, _) = status_of(api.patch("a", &apply, &Patch::Apply(&named_b)).await);
        assert_eq!(
            (code, reason.as_str()),
            (400, "BadRequest"),
            "exists: {exists}"
        );
        let (code, reason, _) = status_of(api.patch("a", &apply, &Patch::Apply(&elsewhere)).await);
        assert_eq!(
            (code, reason.as_str()),
            (400, "BadRequest"),
            "exists: {exists}"
        );
        assert!(api.get_opt("b").await.expect("get").is_none());
        if !exists {
            api.patch("a", &apply, &Patch::Apply(widget_object("a", 3)))
                .await
                .expect("a body naming the URL's object applies");
        }
    }
    let kube_system: Api<DynamicObject> =
        Api::namespaced_with(sb.client().expect("client"), "kube-system", &api_resource());
    assert!(kube_system.get_opt("a").await.expect("get").is_none());
}

fn api_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("sandbox.test", "v1", "Widget"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_continue_token_is_a_bad_request_not_a_fresh_list() {
    let sb = sandbox().await;
    let configmaps: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    configmaps
        .create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    for token in ["garbage", "[1]", "\"a\""] {
        let page = ListParams::default().limit(1).continue_token(token);
        let (code, reason, _) = status_of(configmaps.list(&page).await);
        assert_eq!((code, reason.as_str()), (400, "BadRequest"), "{token}");
    }
}

/// A client without kube-rs's own retrying, so an injected failure reaches the test.
async fn client_without_retries(sb: &kube_sandbox::Sandbox) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(sb.kubeconfig_path()).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    config.default_retry = false;
    kube::Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures_carry_the_real_reasons_and_a_429_says_when_to_retry() {
    use kube_sandbox::Verb;
    let sb = sandbox().await;
    let client = client_without_retries(&sb).await;
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    configmaps
        .create(&PostParams::default(), &configmap("c1", "1"))
        .await
        .expect("created");

    sb.fail_next(Verb::Update, "configmaps", 1, 409);
    let (code, reason, _) = status_of(
        configmaps
            .replace("c1", &PostParams::default(), &configmap("c1", "2"))
            .await,
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    sb.fail_next(Verb::Get, "configmaps", 1, 500);
    let (code, reason, _) = status_of(configmaps.get("c1").await);
    assert_eq!((code, reason.as_str()), (500, "InternalError"));

    sb.fail_next(Verb::List, "configmaps", 1, 429);
    let request = http::Request::get("/api/v1/namespaces/default/configmaps")
        .body(kube::client::Body::empty())
        .expect("a request");
    let response = client.send(request).await.expect("a response");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // kube-rs's default client honours Retry-After and succeeds on its own.
    sb.fail_next(Verb::List, "configmaps", 1, 429);
    let retrying: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let before = sb.request_count(Verb::List, "configmaps");
    retrying
        .list(&ListParams::default())
        .await
        .expect("retried");
    assert_eq!(sb.request_count(Verb::List, "configmaps"), before + 2);
}
