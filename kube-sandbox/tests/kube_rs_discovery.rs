//! kube-rs discovery against a sandbox: CRDs appear with their scope and subresources, and
//! built-ins with their groups, as dynamic clients and `kubectl api-resources` expect.

mod support;

use kube::discovery::{verbs, Discovery, Scope};
use support::{sandbox, widgets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_a_crd_with_its_subresources_next_to_the_built_ins() {
    let sb = sandbox().await;
    widgets(&sb).await;
    let discovery = Discovery::new(sb.client().expect("client"))
        .run()
        .await
        .expect("discovery");

    let group = discovery.get("sandbox.test").expect("the CRD's group");
    let (widget, caps) = group
        .recommended_resources()
        .into_iter()
        .find(|(r, _)| r.kind == "Widget")
        .expect("widgets are served");
    assert_eq!(widget.plural, "widgets");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.supports_operation(verbs::WATCH));
    let subresources: Vec<String> = caps
        .subresources
        .iter()
        .map(|(r, _)| r.plural.clone())
        .collect();
    assert!(
        subresources.iter().any(|s| s.ends_with("status")),
        "{subresources:?}"
    );
    assert!(
        subresources.iter().any(|s| s.ends_with("scale")),
        "{subresources:?}"
    );

    for group in [
        "",
        "apps",
        "coordination.k8s.io",
        "events.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
    ] {
        assert!(discovery.has_group(group), "missing group {group:?}");
    }
}
