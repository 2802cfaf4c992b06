//! `kubectl explain` reads the OpenAPI v3 documents: every kind's `metadata` is ObjectMeta, and
//! the built-ins have their real schemas, so explaining fields works as on a cluster.

mod support;

use support::{sandbox, Kubectl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_shows_the_metadata_of_custom_and_built_in_kinds() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    let metadata = kubectl.run(&["explain", "widget.metadata"]).await.ok();
    assert!(metadata.contains("KIND:       Widget"), "{metadata}");
    assert!(
        metadata.contains("FIELD: metadata <ObjectMeta>"),
        "{metadata}"
    );
    let labels = kubectl
        .run(&["explain", "widgets.metadata.labels"])
        .await
        .ok();
    assert!(
        labels.contains("FIELD: labels <map[string]string>"),
        "{labels}"
    );
    let size = kubectl.run(&["explain", "widget.spec.size"]).await.ok();
    assert!(size.contains("FIELD: size <integer>"), "{size}");

    let strategy = kubectl
        .run(&["explain", "deployment.spec.strategy.type"])
        .await
        .ok();
    assert!(strategy.contains("FIELD: type <string>"), "{strategy}");
    let lease = kubectl.run(&["explain", "lease.metadata.name"]).await.ok();
    assert!(lease.contains("FIELD: name <string>"), "{lease}");
    let missing = kubectl
        .run(&["explain", "deployment.spec.nonsense"])
        .await
        .failed();
    assert!(missing.contains("nonsense"), "{missing}");
}
