//! Server-side apply as strict as the real server: what a manager stops applying goes (list-map
//! items whole), the options are validated with the real 422s, a body carrying managedFields is
//! refused, and conflicts name list items and subresources the way structured-merge-diff does.

mod support;

use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{sandbox, widget_object, widgets, Kubectl};

fn conditions(types: &[&str]) -> Patch<serde_json::Value> {
    let list: Vec<_> = types
        .iter()
        .map(|t| json!({"type": t, "status": "True"}))
        .collect();
    Patch::Apply(json!({"apiVersion": "sandbox.test/v1", "kind": "Widget",
                        "status": {"conditions": list}}))
}

fn condition_types(widget: &DynamicObject) -> Vec<String> {
    widget.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["type"].as_str().map(str::to_string))
        .collect()
}

fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_its_manager_stops_applying_is_removed_whole() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    api.create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create");
    let manager = PatchParams::apply("controller").force();
    api.patch_status("w1", &manager, &conditions(&["Ready", "Synced"]))
        .await
        .expect("both conditions");
    let after = api
        .patch_status("w1", &manager, &conditions(&["Ready"]))
        .await
        .expect("one condition: the other is removed, not left keyless");
    assert_eq!(condition_types(&after), ["Ready"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_its_manager_stops_applying_leaves_no_nameless_item() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    let deployment = |containers: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: {containers}\n")
    };
    kubectl
        .apply(
            &deployment("[{name: web, image: 'web:1'}, {name: sidecar, image: 'side:1'}]"),
            &["--server-side"],
        )
        .await
        .ok();
    kubectl
        .apply(
            &deployment("[{name: web, image: 'web:1'}]"),
            &["--server-side"],
        )
        .await
        .ok();
    let names = kubectl
        .run(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={range .spec.template.spec.containers[*]}[{.name}]{end}",
        ])
        .await
        .ok();
    assert_eq!(names, "[web]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_body_carrying_managed_fields_is_a_bad_request() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    let created = api
        .create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create");
    // The get-modify-apply pattern sends the stored managedFields back.
    let mut body = serde_json::to_value(&created).expect("json");
    body["spec"]["size"] = json!(4);
    let status = api_error(
        api.patch("w1", &PatchParams::apply("controller"), &Patch::Apply(body))
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert_eq!(status.message, "metadata.managedFields must be nil");
}

/// Sends a raw PATCH, bypassing kube-rs's own option checks.
async fn raw_patch(
    sb: &kube_sandbox::Sandbox,
    query: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let client = sb.client().expect("client");
    let request = http::Request::patch(format!(
        "/apis/sandbox.test/v1/namespaces/default/widgets/w1{query}"
    ))
    .header("content-type", content_type)
    .body(body.as_bytes().to_vec())
    .expect("a request");
    match client.request_text(request).await {
        Ok(text) => (200, text),
        Err(kube::Error::Api(status)) => (status.code, status.message),
        Err(other) => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_options_are_validated_with_the_real_servers_messages() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    api.create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create");
    let apply = r#"{"apiVersion":"sandbox.test/v1","kind":"Widget","spec":{"size":4}}"#;
    assert_eq!(
        raw_patch(&sb, "", "application/apply-patch+yaml", apply).await,
        (422, r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#.into())
    );
    let long = "m".repeat(129);
    assert_eq!(
        raw_patch(&sb, &format!("?fieldManager={long}"), "application/apply-patch+yaml", apply).await,
        (422, r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes"#.into())
    );
    let merge = r#"{"spec":{"size":5}}"#;
    assert_eq!(
        raw_patch(&sb, "?force=true", "application/merge-patch+json", merge).await,
        (422, r#"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#.into())
    );
    assert_eq!(
        raw_patch(&sb, "?dryRun=Some", "application/merge-patch+json", merge).await,
        (422, r#"PatchOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["Some"]: supported values: "All""#.into())
    );
    let (code, _) = raw_patch(&sb, "?dryRun=All", "application/merge-patch+json", merge).await;
    assert_eq!(code, 200);
    let live = api.get("w1").await.expect("get");
    assert_eq!(live.data["spec"]["size"], 3, "a dry run writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_names_the_list_item_and_the_subresource() {
    let sb = sandbox().await;
    let api = widgets(&sb).await;
    api.create(&PostParams::default(), &widget_object("w1", 3))
        .await
        .expect("create");
    api.patch_status(
        "w1",
        &PatchParams::apply("controller"),
        &conditions(&["Ready"]),
    )
    .await
    .expect("the controller owns Ready");
    let other = Patch::Apply(json!({"apiVersion": "sandbox.test/v1", "kind": "Widget",
        "status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
    let status = api_error(
        api.patch_status("w1", &PatchParams::apply("auditor"), &other)
            .await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(
        status.message,
        r#"Apply failed with 1 conflict: conflict with "controller" with subresource "status": .status.conditions[type="Ready"].status"#
    );
    let cause = &status.details.expect("details").causes[0];
    assert_eq!(cause.field, r#".status.conditions[type="Ready"].status"#);
    assert_eq!(
        cause.message,
        r#"conflict with "controller" with subresource "status""#
    );
}
