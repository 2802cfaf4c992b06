//! kube-rs watchers and reflectors against a sandbox: staying in sync through dropped watches,
//! 410 Gone, streaming lists and selectors; plus paging and injected failures.

mod support;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{watcher, WatchStreamExt};
use kube_sandbox::Verb;
use serde_json::json;
use support::{configmap, eventually, sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflector_stays_in_sync_through_dropped_watches_and_410_gone() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let (reader, writer) = reflector::store();
    let stream = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    let has = |name: &str| {
        reader
            .get(&ObjectRef::new(name).within("default"))
            .is_some()
    };
    let pp = PostParams::default();

    api.create(&pp, &configmap("a", "1"))
        .await
        .expect("create a");
    eventually("a in the store", Duration::from_secs(10), || async {
        has("a")
    })
    .await;

    sb.drop_watches();
    api.create(&pp, &configmap("b", "1"))
        .await
        .expect("create b");
    eventually(
        "b after a dropped watch",
        Duration::from_secs(10),
        || async { has("b") },
    )
    .await;

    let lists_before = sb.request_count(Verb::List, "configmaps");
    sb.compact();
    sb.drop_watches();
    api.create(&pp, &configmap("c", "1"))
        .await
        .expect("create c");
    api.delete("a", &Default::default())
        .await
        .expect("delete a");
    eventually(
        "c in and a out after 410 Gone",
        Duration::from_secs(20),
        || async { has("c") && !has("a") && has("b") },
    )
    .await;
    assert!(
        sb.request_count(Verb::List, "configmaps") > lists_before,
        "a 410 must force a relist"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_watcher_syncs_through_initial_events() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    api.create(&PostParams::default(), &configmap("before", "1"))
        .await
        .expect("create");
    let (reader, writer) = reflector::store();
    let stream = watcher(api.clone(), watcher::Config::default().streaming_lists())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    api.create(&PostParams::default(), &configmap("after", "1"))
        .await
        .expect("create");
    eventually("both configmaps", Duration::from_secs(10), || async {
        reader.state().len() == 2
    })
    .await;
    assert_eq!(
        sb.request_count(Verb::List, "configmaps"),
        0,
        "no list with streaming lists"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures_hit_only_the_next_matching_requests() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    api.create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    // 500 rather than 503: kube-rs retries 503s by itself.
    sb.fail_next(Verb::Get, "configmaps", 2, 500);
    for _ in 0..2 {
        match api.get("a").await {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 500),
            other => panic!("expected an injected 500, got {other:?}"),
        }
    }
    api.get("a").await.expect("the third get succeeds");
    assert_eq!(sb.request_count(Verb::Get, "configmaps"), 3);
    assert_eq!(sb.request_count(Verb::Create, "configmaps"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_with_limit_and_continue_across_namespaces() {
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in ["team", "team-b"] {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns");
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("namespace");
    }
    for ns in ["default", "team", "team-b"] {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        for name in ["a", "b"] {
            api.create(&PostParams::default(), &configmap(name, "1"))
                .await
                .expect("create");
        }
    }
    let all: Api<ConfigMap> = Api::all(client);
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(4);
    loop {
        let page = all.list(&params).await.expect("a page");
        assert!(page.items.len() <= 4);
        seen.extend(page.items.iter().map(|c| {
            format!(
                "{}/{}",
                c.metadata.namespace.clone().unwrap_or_default(),
                c.metadata.name.clone().unwrap_or_default()
            )
        }));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => {
                params = ListParams::default().limit(4).continue_token(&token)
            }
            _ => break,
        }
    }
    assert_eq!(
        seen,
        [
            "default/a",
            "default/b",
            "team/a",
            "team/b",
            "team-b/a",
            "team-b/b"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_selected_reflector_drops_objects_that_lose_the_label() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().labels("tier=web");
    let stream = watcher(api.clone(), config)
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    let labelled = |tier: &str| Patch::Merge(json!({"metadata": {"labels": {"tier": tier}}}));

    api.create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    api.patch("a", &PatchParams::default(), &labelled("web"))
        .await
        .expect("label");
    eventually(
        "a to enter the selection",
        Duration::from_secs(10),
        || async { reader.state().len() == 1 },
    )
    .await;
    api.patch("a", &PatchParams::default(), &labelled("db"))
        .await
        .expect("relabel");
    eventually(
        "a to leave the selection",
        Duration::from_secs(10),
        || async { reader.state().is_empty() },
    )
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_watch_resumes_from_a_version_sends_bookmarks_and_honours_its_timeout() {
    use kube::api::{WatchEvent, WatchParams};
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let first = api
        .create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create a");
    api.create(&PostParams::default(), &configmap("b", "1"))
        .await
        .expect("create b");
    let since = first.metadata.resource_version.expect("a version");

    let started = tokio::time::Instant::now();
    let params = WatchParams::default().timeout(4);
    let watch = api.watch(&params, &since).await.expect("watch starts");
    // The server ends the watch at its timeoutSeconds; the generous deadline only turns a watch
    // that never ends into a failure instead of a hang.
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(120), watch.collect())
        .await
        .expect("the server ends the watch at timeoutSeconds");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3),
        "ended before its timeout: {elapsed:?}"
    );

    let mut added = Vec::new();
    let mut bookmarks = 0;
    for event in events {
        match event.expect("a well-formed event") {
            WatchEvent::Added(cm) => added.push(cm.metadata.name.unwrap_or_default()),
            WatchEvent::Bookmark(_) => bookmarks += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, ["b"], "only changes after the version are replayed");
    assert!(bookmarks >= 1, "bookmarks were asked for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_compacted_version_gets_410_gone_in_the_stream() {
    use kube::api::{WatchEvent, WatchParams};
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let first = api
        .create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create a");
    sb.compact();
    let since = first.metadata.resource_version.expect("a version");
    let mut stream = api
        .watch(&WatchParams::default(), &since)
        .await
        .expect("watch starts")
        .boxed();
    match stream.next().await {
        Some(Ok(WatchEvent::Error(status))) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected an in-stream 410, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_watcher_sees_only_metadata() {
    use kube::core::PartialObjectMeta;
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let metadata: Api<PartialObjectMeta<ConfigMap>> = Api::default_namespaced(client);
    let (reader, writer) = reflector::store();
    let stream = watcher(metadata, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    api.create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    eventually("a's metadata", Duration::from_secs(10), || async {
        reader.state().len() == 1
    })
    .await;
    let seen = reader.state().remove(0);
    assert_eq!(seen.metadata.name.as_deref(), Some("a"));
    assert_eq!(
        seen.types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_with_timeout_zero_runs_for_the_server_default() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::default_namespaced(sb.client().expect("client"));
    let events = api
        .watch(&WatchParams::default().timeout(0), "0")
        .await
        .expect("watch starts");
    let mut events = std::pin::pin!(events);
    api.create(&PostParams::default(), &configmap("later", "1"))
        .await
        .expect("create");
    let first = tokio::time::timeout(Duration::from_secs(20), events.next())
        .await
        .expect("an event in time");
    match first {
        Some(Ok(WatchEvent::Added(cm))) => assert_eq!(cm.metadata.name.as_deref(), Some("later")),
        other => panic!("expected the watch to stay open and see the create, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_events_are_refused_without_resource_version_match_not_older_than() {
    let sb = sandbox().await;
    let client = sb.client().expect("client");
    let path = "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true";
    for query in [
        "&sendInitialEvents=true",
        "&sendInitialEvents=true&resourceVersionMatch=Exact",
        "&resourceVersionMatch=NotOlderThan",
    ] {
        let request = axum::http::Request::get(format!("{path}{query}"))
            .body(Vec::new())
            .expect("a request");
        // An accepted watch would stream until its timeout, so bound the wait.
        let answer = tokio::time::timeout(Duration::from_secs(20), client.request_text(request))
            .await
            .unwrap_or_else(|_| panic!("{query}: the watch was accepted instead of refused"));
        match answer {
            Err(kube::Error::Api(status)) => {
                assert_eq!(
                    (status.code, status.reason.as_str()),
                    (422, "Invalid"),
                    "{query}"
                );
                assert!(
                    status.message.contains("resourceVersionMatch"),
                    "{query}: {status:?}"
                );
            }
            other => panic!("{query}: expected 422 Invalid, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_of_a_crds_objects_end_when_the_crd_is_deleted() {
    let sb = sandbox().await;
    let api = support::widgets(&sb).await;
    let events = api
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch starts");
    let mut events = std::pin::pin!(events);
    let crds: Api<CustomResourceDefinition> = Api::all(sb.client().expect("client"));
    crds.delete("widgets.sandbox.test", &Default::default())
        .await
        .expect("delete CRD");
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while events.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the watch outlived its CRD");
}
