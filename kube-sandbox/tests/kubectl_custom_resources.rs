//! The real kubectl against a sandbox, on a custom resource: what users run every day.

mod support;

use std::time::Duration;

use kube_sandbox::Verb;
use support::{eventually, sandbox, widget, Kubectl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_shows_printer_columns_by_plural_and_short_name() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    kubectl.apply(&widget("w1", 3), &[]).await.ok();

    for name in ["widgets", "wd", "widget"] {
        let out = kubectl.run(&["get", name]).await.ok();
        let header: Vec<&str> = out
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            ["NAME", "SIZE", "COLOR", "READY", "AGE"],
            "kubectl get {name}"
        );
        let row: Vec<&str> = out
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(&row[..3], ["w1", "3", "blue"], "kubectl get {name}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_creates_then_updates_and_generation_follows_the_spec() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;

    assert!(kubectl
        .apply(&widget("w1", 3), &[])
        .await
        .ok()
        .contains("created"));
    assert!(kubectl
        .apply(&widget("w1", 4), &[])
        .await
        .ok()
        .contains("configured"));
    assert!(kubectl
        .apply(&widget("w1", 4), &[])
        .await
        .ok()
        .contains("unchanged"));
    let out = kubectl
        .run(&[
            "get",
            "wd",
            "w1",
            "-o",
            "jsonpath={.spec.size} {.metadata.generation}",
        ])
        .await
        .ok();
    assert_eq!(out, "4 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_with_another_manager_unless_forced() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;

    kubectl
        .apply(&widget("w1", 3), &["--server-side"])
        .await
        .ok();
    kubectl
        .apply(&widget("w1", 4), &["--server-side"])
        .await
        .ok();
    let conflict = kubectl
        .apply(
            &widget("w1", 5),
            &["--server-side", "--field-manager=intruder"],
        )
        .await
        .failed();
    assert!(conflict.contains("conflict with \"kubectl\""), "{conflict}");
    assert!(conflict.contains(".spec.size"), "{conflict}");

    kubectl
        .apply(
            &widget("w1", 5),
            &[
                "--server-side",
                "--field-manager=intruder",
                "--force-conflicts",
            ],
        )
        .await
        .ok();
    let managers = kubectl
        .run(&[
            "get",
            "wd",
            "w1",
            "--show-managed-fields",
            "-o",
            "jsonpath={.spec.size} {.metadata.managedFields[*].manager}",
        ])
        .await
        .ok();
    assert_eq!(managers, "5 kubectl intruder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_breaking_the_schema_or_a_cel_rule_are_rejected_with_the_rules_message() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;

    let too_small = kubectl.apply(&widget("w1", 0), &[]).await.failed();
    assert!(
        too_small.contains("should be greater than or equal to 1"),
        "{too_small}"
    );

    let unknown = kubectl
        .apply(&format!("{}  flavour: mint\n", widget("w1", 3)), &[])
        .await
        .failed();
    assert!(
        unknown.contains("unknown field \"spec.flavour\""),
        "{unknown}"
    );

    let cel = kubectl.apply(&widget("w1", 20), &[]).await.failed();
    assert!(cel.contains("widgets larger than 10 must be red"), "{cel}");

    kubectl.apply(&widget("w1", 3), &[]).await.ok();
    let moved = widget("w1", 3).replace("target: t1", "target: t2");
    let transition = kubectl.apply(&moved, &[]).await.failed();
    assert!(transition.contains("target is immutable"), "{transition}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_patches_change_only_status_and_wait_honours_observed_generation() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    kubectl.apply(&widget("w1", 3), &[]).await.ok();

    let ready = r#"{"spec":{"size":9},"status":{"conditions":[{"type":"Ready","status":"True","observedGeneration":1}]}}"#;
    kubectl
        .run(&[
            "patch",
            "wd",
            "w1",
            "--subresource=status",
            "--type=merge",
            "-p",
            ready,
        ])
        .await
        .ok();
    let strategic = kubectl
        .run(&["patch", "wd", "w1", "-p", r#"{"spec":{"size":5}}"#])
        .await
        .failed();
    assert!(
        strategic.contains("not supported"),
        "custom resources refuse strategic merge: {strategic}"
    );
    let size = kubectl
        .run(&["get", "wd", "w1", "-o", "jsonpath={.spec.size}"])
        .await
        .ok();
    assert_eq!(size, "3", "a status write must not change the spec");
    kubectl
        .run(&["wait", "--for=condition=Ready", "wd/w1", "--timeout=10s"])
        .await
        .ok();

    // A spec change makes the condition stale (observedGeneration 1 < generation 2).
    kubectl.apply(&widget("w1", 4), &[]).await.ok();
    let stale = kubectl
        .run(&["wait", "--for=condition=Ready", "wd/w1", "--timeout=1s"])
        .await
        .failed();
    assert!(stale.contains("timed out"), "{stale}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_returns_once_a_later_status_write_sets_ready() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    kubectl.apply(&widget("w1", 3), &[]).await.ok();

    let waiter = kubectl.spawn(&["wait", "--for=condition=Ready", "wd/w1", "--timeout=20s"]);
    // Write the condition only once kubectl is watching, so the watch path is what is tested.
    eventually(
        "kubectl wait to start watching",
        Duration::from_secs(10),
        || async { sb.request_count(Verb::Watch, "widgets") > 0 },
    )
    .await;
    let ready =
        r#"{"status":{"conditions":[{"type":"Ready","status":"True","observedGeneration":1}]}}"#;
    kubectl
        .run(&[
            "patch",
            "wd",
            "w1",
            "--subresource=status",
            "--type=merge",
            "-p",
            ready,
        ])
        .await
        .ok();
    waiter.finish().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_sees_an_update() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    kubectl.apply(&widget("w1", 3), &[]).await.ok();

    let mut watcher = kubectl.spawn(&["get", "widgets", "-w"]);
    let first = watcher.next_line().await.unwrap_or_default();
    assert!(first.starts_with("NAME"), "{first}");
    kubectl.apply(&widget("w1", 7), &[]).await.ok();

    let mut saw_update = false;
    while let Some(line) = watcher.next_line().await {
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.get(..2) == Some(&["w1", "7"][..]) {
            saw_update = true;
            break;
        }
    }
    watcher.stop().await;
    assert!(
        saw_update,
        "kubectl get -w ended without showing the update"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "nothing after")]
async fn a_silent_kubectl_fails_its_test_instead_of_hanging_it() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    // No configmap matches, so `get -w` prints nothing and never ends by itself.
    let mut watcher = kubectl
        .spawn(&["get", "configmaps", "-l", "absent=yes", "-w"])
        .with_deadline(Duration::from_secs(2));
    watcher.next_line().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_object_with_a_finalizer_waits_for_the_finalizer() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    let guarded = widget("w1", 3).replace(
        "  name: w1\n",
        "  name: w1\n  finalizers: [sandbox.test/cleanup]\n",
    );
    kubectl.apply(&guarded, &[]).await.ok();

    kubectl
        .run(&["delete", "wd", "w1", "--wait=false"])
        .await
        .ok();
    let marked = kubectl
        .run(&[
            "get",
            "wd",
            "w1",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await
        .ok();
    assert!(!marked.is_empty(), "the object stays, marked for deletion");

    kubectl
        .run(&[
            "patch",
            "wd",
            "w1",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ])
        .await
        .ok();
    eventually("the widget to be gone", Duration::from_secs(10), || async {
        kubectl
            .run(&["get", "wd", "w1"])
            .await
            .stderr
            .contains("NotFound")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_all_namespaces_and_field_selectors_work() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    kubectl
        .apply(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
            &[],
        )
        .await
        .ok();
    kubectl.apply(&widget("w1", 3), &[]).await.ok();
    kubectl
        .apply(
            &widget("w2", 3).replace("size: 3", "size: 12\n  color: red"),
            &["-n", "team-a"],
        )
        .await
        .ok();

    let out = kubectl.run(&["get", "widgets", "-A"]).await.ok();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..2], ["NAMESPACE", "NAME"]);
    assert_eq!(rows[1][..2], ["default", "w1"]);
    assert_eq!(rows[2][..2], ["team-a", "w2"]);

    let red = kubectl
        .run(&[
            "get",
            "widgets",
            "-A",
            "--field-selector",
            "spec.color=red",
            "-o",
            "name",
        ])
        .await
        .ok();
    assert_eq!(red.trim(), "widget.sandbox.test/w2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_writes_the_declared_replicas_path() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.install_widgets().await;
    kubectl.apply(&widget("w1", 3), &[]).await.ok();

    kubectl
        .run(&["scale", "widget", "w1", "--replicas=4"])
        .await
        .ok();
    let out = kubectl
        .run(&[
            "get",
            "wd",
            "w1",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}",
        ])
        .await
        .ok();
    assert_eq!(out, "4 2");
}

/// A CRD with no printer columns, cluster-scoped, with no status subresource.
const GIZMO_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.sandbox.test}
spec:
  group: sandbox.test
  scope: Cluster
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_without_printer_columns_gets_name_and_age() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    kubectl.apply(GIZMO_CRD, &[]).await.ok();
    kubectl
        .run(&[
            "wait",
            "--for=condition=Established",
            "crd/gizmos.sandbox.test",
            "--timeout=10s",
        ])
        .await
        .ok();
    kubectl
        .apply(
            "apiVersion: sandbox.test/v1\nkind: Gizmo\nmetadata:\n  name: g1\nanything: goes\n",
            &[],
        )
        .await
        .ok();
    let out = kubectl.run(&["get", "gizmos"]).await.ok();
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "AGE"]);
    let kept = kubectl
        .run(&["get", "gizmo", "g1", "-o", "jsonpath={.anything}"])
        .await
        .ok();
    assert_eq!(
        kept, "goes",
        "preserve-unknown-fields keeps what it is given"
    );
}
