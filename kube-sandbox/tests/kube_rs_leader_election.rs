//! Leader election as an operator runs it (kube-lease-manager on a coordination.k8s.io/v1
//! Lease, with server-side apply and strategic patches), under a ServiceAccount whose Role
//! grants exactly what it needs: one holder at a time, a hand-over on release, no 403.

mod support;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use serde_json::json;
use support::{in_time, rbac_sandbox};

async fn create<K>(api: &Api<K>, object: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).expect("a valid object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("created by the admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_leader_and_hand_over_on_release_without_a_denial() {
    let sb = rbac_sandbox().await;
    let admin = sb.client().expect("admin");
    create(
        &Api::<Namespace>::all(admin.clone()),
        json!({"metadata": {"name": "ops"}}),
    )
    .await;
    create(
        &Api::<ServiceAccount>::namespaced(admin.clone(), "ops"),
        json!({"metadata": {"name": "operator"}}),
    )
    .await;
    create(
        &Api::<Role>::namespaced(admin.clone(), "ops"),
        json!({"metadata": {"name": "leader-election"}, "rules": [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "verbs": ["get", "list", "watch", "create", "update", "patch"]}]}),
    )
    .await;
    create(
        &Api::<RoleBinding>::namespaced(admin, "ops"),
        json!({"metadata": {"name": "leader-election"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leader-election"},
               "subjects": [{"kind": "ServiceAccount", "name": "operator"}]}),
    )
    .await;

    let replica = |identity: &'static str| {
        let token = sb.token_for("ops", "operator").expect("a token");
        let client = sb.client_with_token(&token, "ops").expect("client");
        LeaseManagerBuilder::new(client, "operator-leader")
            .with_namespace("ops")
            .with_parameters(LeaseParams::new(identity, 3, 1))
            .build()
    };
    let first = replica("replica-a").await.expect("first manager");
    let second = replica("replica-b").await.expect("second manager");
    let deadline = Duration::from_secs(20);
    assert!(in_time("the first to lead", deadline, first.changed())
        .await
        .expect("no error"));
    let waiting = tokio::spawn(async move {
        let leads = second.changed().await;
        (second, leads)
    });
    let leases: Api<Lease> = Api::namespaced(sb.client().expect("admin"), "ops");
    let holder = leases
        .get("operator-leader")
        .await
        .expect("the lease")
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("replica-a"));
    assert!(
        !waiting.is_finished(),
        "the second replica must not lead while the first does"
    );
    in_time("the release", deadline, first.release())
        .await
        .expect("released");
    let (second, leads) = in_time("the hand-over", deadline, waiting)
        .await
        .expect("joined");
    assert!(
        leads.expect("no error"),
        "the second replica leads after the release"
    );
    second.release().await.expect("released");
    assert!(sb.denials().is_empty(), "{:?}", sb.denials());
}
