//! The built-in kinds an operator writes are validated as a real server validates them, so a
//! Recorder note that is too long, a Lease with a bad duration or a Deployment whose selector
//! misses its template fails here as it would on a cluster.

mod support;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::json;
use support::{configmap, sandbox, Kubectl};

fn status<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn reference() -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some("target".into()),
        namespace: Some("default".into()),
        ..Default::default()
    }
}

fn event(reason: &str, note: String) -> Event {
    Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_note_over_one_kibibyte_is_refused_as_on_a_cluster() {
    let sb = sandbox().await;
    let recorder = Recorder::new(
        sb.client().expect("client"),
        Reporter {
            controller: "sfbdr.io/operator".into(),
            instance: None,
        },
    );
    recorder
        .publish(&event("DriverFailed", "x".repeat(1024)), &reference())
        .await
        .expect("a note of exactly 1 KiB is fine");
    recorder
        .publish(&event("DriverFailed", "x".repeat(1024)), &reference())
        .await
        .expect("its repeat becomes a series");
    // Another reason, or the Recorder would patch the cached event's series instead.
    let too_long = event("DriverTimedOut", "x".repeat(1025));
    let (code, message) = status(recorder.publish(&too_long, &reference()).await);
    assert_eq!(code, 422);
    assert!(message.starts_with("Event \"target."), "{message}");
    assert!(
        message.ends_with(
            "is invalid: message: Invalid value: \"\": can have at most 1024 characters"
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_v1_event_needs_what_the_real_server_requires() {
    let sb = sandbox().await;
    let events: Api<EventV1> = Api::default_namespaced(sb.client().expect("client"));
    let bare: EventV1 = serde_json::from_value(json!({
        "metadata": {"name": "e1"}, "eventTime": "2026-01-01T00:00:00.000000Z",
        "regarding": {"kind": "ConfigMap", "name": "target", "namespace": "default"},
        "type": "Odd",
    }))
    .expect("an event");
    let (code, message) = status(events.create(&PostParams::default(), &bare).await);
    assert_eq!(code, 422);
    let expected = [
        "reportingController: Required value",
        "reportingController: Invalid value: \"\": name part must be non-empty",
        "reportingController: Invalid value: \"\": name part must consist of alphanumeric characters",
        "reportingInstance: Required value, action: Required value, reason: Required value, type: Invalid value: \"\": has invalid value: Odd]",
    ];
    assert!(
        message.starts_with("Event \"e1\" is invalid: ["),
        "{message}"
    );
    let mut rest = message.as_str();
    for part in expected {
        let at = rest
            .find(part)
            .unwrap_or_else(|| panic!("{part:?} missing in order from {message}"));
        rest = &rest[at + part.len()..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_duration_must_be_positive_and_transitions_not_negative() {
    let sb = sandbox().await;
    let leases: Api<Lease> = Api::default_namespaced(sb.client().expect("client"));
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "operator"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 0, "leaseTransitions": -1},
    }))
    .expect("a lease");
    let (code, message) = status(leases.create(&PostParams::default(), &lease).await);
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "Lease.coordination.k8s.io \"operator\" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]"
    );
    let valid = Patch::Apply(
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
    );
    leases
        .patch("operator", &PatchParams::apply("elector"), &valid)
        .await
        .expect("a valid lease is applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_selector_must_match_its_template_and_never_change() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    let deployment = |selector: &str, label: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: {selector}}}}}\n  template:\n    metadata: {{labels: {{app: {label}}}}}\n    spec:\n      containers: [{{name: web, image: 'web:1'}}]\n")
    };
    let refused = kubectl
        .apply(&deployment("web", "other"), &[])
        .await
        .failed();
    assert!(
        refused.contains("The Deployment \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"),
        "{refused}"
    );
    kubectl.apply(&deployment("web", "web"), &[]).await.ok();
    let refused = kubectl
        .apply(&deployment("web2", "web2"), &[])
        .await
        .failed();
    assert!(
        refused.contains("spec.selector: Invalid value:") && refused.contains("field is immutable"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_data_over_one_mebibyte_is_invalid_and_a_body_over_three_is_too_large() {
    let sb = sandbox().await;
    let configmaps: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let (code, message) = status(
        configmaps
            .create(
                &PostParams::default(),
                &configmap("big", &"x".repeat(1024 * 1024)),
            )
            .await,
    );
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "ConfigMap \"big\" is invalid: []: Too long: may not be more than 1048576 bytes"
    );
    let (code, message) = status(
        configmaps
            .create(
                &PostParams::default(),
                &configmap("huge", &"x".repeat(3 * 1024 * 1024)),
            )
            .await,
    );
    assert_eq!(code, 413);
    assert_eq!(message, "Request entity too large: limit is 3145728");
    configmaps
        .create(
            &PostParams::default(),
            &configmap("fits", &"x".repeat(1000 * 1024)),
        )
        .await
        .expect("under the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_services_and_pod_templates_get_the_real_servers_defaults() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let minimal: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "web:1",
                                                        "ports": [{"containerPort": 8080}]}]}}},
    }))
    .expect("a deployment");
    let stored = deployments
        .create(&PostParams::default(), &minimal)
        .await
        .expect("created");
    let stored = serde_json::to_value(stored).expect("json");
    let spec = &stored["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["schedulerName"], "default-scheduler");
    let container = &pod["containers"][0];
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(container["ports"][0]["protocol"], "TCP");

    let services: Api<Service> = Api::default_namespaced(client);
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }))
    .expect("a service");
    let stored = services
        .create(&PostParams::default(), &service)
        .await
        .expect("created");
    let spec = serde_json::to_value(stored.spec).expect("json");
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    let ip = spec["clusterIP"].as_str().expect("an allocated address");
    assert!(ip.starts_with("10.96.") && ip != "10.96.0.1", "{ip}");
    assert_eq!(spec["clusterIPs"], json!([ip]));
    // Replacing it without the address keeps the address, as the real server does.
    let mut replacement = service.clone();
    replacement.metadata.resource_version = stored.metadata.resource_version.clone();
    let replaced = services
        .replace("web", &PostParams::default(), &replacement)
        .await
        .expect("replaced");
    assert_eq!(
        replaced.spec.and_then(|s| s.cluster_ip).as_deref(),
        Some(ip)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_built_in_field_is_refused_under_strict_validation_and_dropped_otherwise() {
    let sb = sandbox().await;
    let kubectl = Kubectl::new(&sb);
    let manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replica: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: 'web:1'}]\n";
    let refused = kubectl.apply(manifest, &[]).await.failed();
    assert!(
        refused.contains("Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replica\""),
        "{refused}"
    );
    kubectl.apply(manifest, &["--validate=false"]).await.ok();
    let stored = kubectl
        .run(&["get", "deploy", "web", "-o", "jsonpath={.spec}"])
        .await
        .ok();
    assert!(!stored.contains("replica\""), "{stored}");
    let typed = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {count: 1}\n";
    let refused = kubectl.apply(typed, &["--validate=false"]).await.failed();
    assert!(
        refused
            .contains("cannot unmarshal number into Go struct field ConfigMap.data of type string"),
        "{refused}"
    );
}
