//! What people watching the operator see: Events in `kubectl describe`, `/metrics` in the
//! Prometheus format, health endpoints, and how little it writes: at most four status writes
//! per step, none at rest.

mod e2e;
mod promtool;

use e2e::{eventually, get, reconciles, Env, CONVERGE, NS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_metrics_health_and_writes_tell_the_truth() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    let base = format!(
        "http://{}",
        operator.metrics_addr().expect("metrics served")
    );
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    // Observe every 5 s, so the test sees reconciles at rest without waiting long.
    env.kubectl(&["create", "namespace", NS]).await.ok();
    env.apply(
        &env.contoso_yaml()
            .replace("observeIntervalSeconds: 30", "observeIntervalSeconds: 5"),
    )
    .await;
    env.wait_all_ready().await;
    let base_ref = &base;
    eventually(
        "ready once caches are primed and the driver answered",
        CONVERGE,
        || async move {
            match get(&format!("{base_ref}/readyz")).await {
                (200, _) => Ok(()),
                (code, body) => Err(format!("{code} {body}")),
            }
        },
    )
    .await;

    let writes_before = env.status_writes().await;
    let counts_before = env.server.status_writes().await;
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let steps = env.audit().len() as u64;
    assert_eq!(steps, 5);
    let writes = env.status_writes().await - writes_before;
    println!("{writes} status writes for {steps} steps");
    for (k, v) in env.server.status_writes().await {
        let b = counts_before.get(&k).copied().unwrap_or(0);
        if v > b {
            println!("  {k}: {}", v - b);
        }
    }
    assert!(
        writes <= 4 * steps,
        "{writes} status writes for {steps} steps: more than four a step"
    );

    // At rest: two more reconciles, each observing, and not one status write.
    let at_rest = env.status_writes().await;
    let (_, text) = get(&format!("{base}/metrics")).await;
    let seen = reconciles(&text, None);
    eventually("two reconciles at rest", CONVERGE, || async move {
        let (_, text) = get(&format!("{base_ref}/metrics")).await;
        let now = reconciles(&text, None);
        if now >= seen + 2.0 {
            Ok(())
        } else {
            Err(format!("{now} reconciles, from {seen}"))
        }
    })
    .await;
    let now = env.status_writes().await;
    if now != at_rest {
        for (k, v) in env.server.status_writes().await {
            println!("  {k}: {v}");
        }
    }
    assert_eq!(now, at_rest, "no status write at rest");

    let (_, text) = get(&format!("{base}/metrics")).await;
    // A client that does not ask for OpenMetrics (promtool, curl) gets the classic format,
    // which Prometheus's own linter accepts; a Prometheus scrape gets OpenMetrics.
    let (clean, lint) = promtool::run(&["check", "metrics"], Some(&text));
    assert!(clean, "promtool check metrics:\n{lint}\n{text}");
    let openmetrics = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .expect("the operator answers");
    let content_type = openmetrics.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let body = openmetrics.text().await.expect("a body");
    assert!(
        content_type.starts_with("application/openmetrics-text") && body.ends_with("# EOF\n"),
        "{content_type}:\n{body}"
    );
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("/metrics parses as Prometheus text");
    let has = |name: &str| scrape.samples.iter().any(|s| s.metric == name);
    for family in [
        "sfbdr_reconciles_total",
        "sfbdr_reconcile_errors_total",
        "sfbdr_steps_total",
        "sfbdr_step_duration_seconds",
        "sfbdr_steps_pending",
        "sfbdr_backup_sync_age_seconds",
        "sfbdr_rpo_met",
        "sfbdr_leader",
    ] {
        assert!(has(family), "{family} missing from /metrics:\n{text}");
    }
    let failovers = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "sfbdr_steps_total"
                && s.labels.get("action") == Some("FailOverPool")
                && s.labels.get("result") == Some("Succeeded")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        });
    assert_eq!(failovers, Some(3.0), "three pools failed over");

    let described = env
        .kubectl(&["describe", "topology", "contoso", "-n", NS])
        .await
        .ok();
    for reason in [
        "PlanPublished",
        "StepStarted",
        "StepSucceeded",
        "PlanFinished",
    ] {
        assert!(
            described.contains(reason),
            "{reason} missing from kubectl describe:\n{described}"
        );
    }
    assert!(
        described.contains("fail over pool pool1.contoso.com"),
        "events say what ran:\n{described}"
    );
    operator.shutdown().await;
}

/// A deleted Topology takes its series with it: a Stalled one no longer keeps
/// `SfbDrTopologyStalled` firing until the operator restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stalled_topology_leaves_no_series_behind() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    env.apply(
        "apiVersion: sfbdr.io/v1alpha1\nkind: PoolPair\nmetadata: {name: pool1-pool4, namespace: sfb-contoso}\nspec:\n  pools:\n    - {fqdn: pool1.contoso.com, site: redmond}\n    - {fqdn: pool4.contoso.com, site: dublin}\n",
    )
    .await;
    let url = format!(
        "http://{}/metrics",
        operator.metrics_addr().expect("metrics served")
    );
    let u = &url;
    let stalled = r#"sfbdr_topology_condition{namespace="sfb-contoso",topology="contoso",condition="Stalled"} 1"#;
    eventually("the Stalled gauge", CONVERGE, || async move {
        let text = get(u).await.1;
        if text.lines().any(|l| l == stalled) {
            Ok(())
        } else {
            Err(format!("{stalled} missing"))
        }
    })
    .await;
    env.kubectl(&["delete", "topology", "contoso", "-n", NS])
        .await
        .ok();
    eventually("no series of sfb-contoso", CONVERGE, || async move {
        let text = get(u).await.1;
        let left: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(r#"namespace="sfb-contoso""#))
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(left.join("\n"))
        }
    })
    .await;
    operator.shutdown().await;
}
