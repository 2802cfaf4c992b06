//! ConfigMap and Secret data as the real server treats it: a Secret's `stringData` ends up
//! base64-encoded in `data`, and `immutable: true` freezes the data.

mod support;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use support::sandbox;

fn data_of(secret: &Secret) -> Vec<(String, String)> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

fn refused_as_invalid<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                (status.code, status.reason.as_str()),
                (422, "Invalid"),
                "{what}"
            )
        }
        other => panic!("{what}: expected 422 Invalid, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_data_is_folded_into_data_on_every_write_and_wins_conflicts() {
    let sb = sandbox().await;
    let secrets: Api<Secret> = Api::default_namespaced(sb.client().expect("client"));
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "s"},
        "data": {"shared": "ZnJvbS1kYXRh", "only-data": "eA=="},
        "stringData": {"shared": "from-string-data", "only-string": "hello"},
    }))
    .expect("a secret");
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create");
    assert_eq!(
        data_of(&created),
        [
            ("only-data".to_string(), "x".to_string()),
            ("only-string".into(), "hello".into()),
            ("shared".into(), "from-string-data".into()),
        ]
    );
    assert!(created.string_data.is_none(), "stringData is not stored");

    let patched = secrets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"added": "by-patch"}})),
        )
        .await
        .expect("merge patch");
    assert!(data_of(&patched).contains(&("added".into(), "by-patch".into())));
    assert!(patched.string_data.is_none());

    let mut replaced = patched.clone();
    replaced.string_data = Some([("added".to_string(), "by-update".to_string())].into());
    let updated = secrets
        .replace("s", &PostParams::default(), &replaced)
        .await
        .expect("update");
    assert!(data_of(&updated).contains(&("added".into(), "by-update".into())));
    let stored = secrets.get("s").await.expect("get");
    assert!(stored.string_data.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_configmaps_and_secrets_refuse_data_changes() {
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client);
    let frozen_cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "c"}, "immutable": true, "data": {"k": "1"}}),
    )
    .expect("a configmap");
    let frozen_secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "immutable": true, "stringData": {"k": "1"}}),
    )
    .expect("a secret");
    configmaps
        .create(&PostParams::default(), &frozen_cm)
        .await
        .expect("create configmap");
    secrets
        .create(&PostParams::default(), &frozen_secret)
        .await
        .expect("create secret");
    let merge = |body| Patch::Merge(body);
    let pp = PatchParams::default();

    refused_as_invalid(
        configmaps
            .patch("c", &pp, &merge(json!({"data": {"k": "2"}})))
            .await,
        "changing an immutable configmap's data",
    );
    refused_as_invalid(
        configmaps
            .patch("c", &pp, &merge(json!({"binaryData": {"b": "eA=="}})))
            .await,
        "adding binaryData to an immutable configmap",
    );
    refused_as_invalid(
        configmaps
            .patch("c", &pp, &merge(json!({"immutable": false})))
            .await,
        "making a configmap mutable again",
    );
    refused_as_invalid(
        secrets
            .patch("s", &pp, &merge(json!({"stringData": {"k": "2"}})))
            .await,
        "changing an immutable secret's data through stringData",
    );
    refused_as_invalid(
        secrets
            .patch("s", &pp, &merge(json!({"immutable": null})))
            .await,
        "making a secret mutable again",
    );

    let labelled = configmaps
        .patch(
            "c",
            &pp,
            &merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .expect("metadata stays writable");
    assert_eq!(
        labelled.data,
        Some([("k".to_string(), "1".to_string())].into())
    );
    secrets
        .patch("s", &pp, &merge(json!({"stringData": {"k": "1"}})))
        .await
        .expect("writing the same data is no change");
    configmaps
        .delete("c", &Default::default())
        .await
        .expect("immutable objects can still be deleted");
}
