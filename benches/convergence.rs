//! How fast the operator converges a whole-site failover, and how little it asks of the API.
//!
//! `cargo bench --bench convergence -- [--pairs N] [--parallel P] [--step-ms L] [--namespaces K]
//! [--steady-seconds S]`
//!
//! kube-sandbox, one simulator per deployment (every action taking exactly L ms) and the
//! operator run in this process. The bench applies the deployments, sets the first site inactive
//! in all of them at once, waits until every Topology has finished its plan and is Ready, then
//! watches S seconds of rest. The last line is one JSON object with the figures (see the
//! README's Performance section for what each means).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use kube_sandbox::{Sandbox, Verb};
use serde_json::json;
use sfb_dr::api::{Site, Topology};
use sfb_dr::controller::{self, DriverSource};
use sfb_dr::declared::{self, Declared};
use sfb_dr::model::{ObservedIndex, Plan};
use sfb_dr::simulator::{self, Deployment, Simulator};
use sfb_dr::synthetic::Shape;

struct Args {
    pairs: usize,
    parallel: u32,
    step_ms: u64,
    namespaces: Option<usize>,
    steady_seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        pairs: 200,
        parallel: 8,
        step_ms: 200,
        namespaces: None,
        steady_seconds: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--pairs" => a.pairs = value()?.parse().map_err(|e| format!("--pairs: {e}"))?,
            "--parallel" => {
                a.parallel = value()?.parse().map_err(|e| format!("--parallel: {e}"))?
            }
            "--step-ms" => a.step_ms = value()?.parse().map_err(|e| format!("--step-ms: {e}"))?,
            "--namespaces" => {
                a.namespaces = Some(value()?.parse().map_err(|e| format!("--namespaces: {e}"))?)
            }
            "--steady-seconds" => {
                a.steady_seconds = value()?
                    .parse()
                    .map_err(|e| format!("--steady-seconds: {e}"))?
            }
            // cargo bench passes --bench; libtest flags mean nothing here.
            "--bench" => {}
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.namespaces.is_some() && !std::env::args().any(|f| f == "--pairs") {
        a.pairs = 20;
    }
    if !(1..=64).contains(&a.parallel) {
        return Err("--parallel must be between 1 and 64".into());
    }
    Ok(a)
}

/// The least time `plan` can take with `lanes` steps at once, each taking `step`: a list
/// schedule that always starts the ready step with the longest chain behind it (optimal for the
/// forests of chains site failovers make; never shorter than the true optimum).
fn critical_path(plan: &Plan, lanes: usize, step: Duration) -> Duration {
    let index: BTreeMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let n = plan.steps.len();
    let mut dependents = vec![Vec::new(); n];
    let mut waiting = vec![0usize; n];
    for (i, s) in plan.steps.iter().enumerate() {
        for d in &s.depends_on {
            if let Some(&j) = index.get(d.as_str()) {
                dependents[j].push(i);
                waiting[i] += 1;
            }
        }
    }
    // Longest chain from each step to the end (steps are in dependency order).
    let mut chain = vec![1usize; n];
    for i in (0..n).rev() {
        for &k in &dependents[i] {
            chain[i] = chain[i].max(chain[k] + 1);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut rounds = 0u32;
    let mut done = 0;
    while done < n {
        ready.sort_by_key(|&i| std::cmp::Reverse(chain[i]));
        let now: Vec<usize> = ready.drain(..ready.len().min(lanes)).collect();
        if now.is_empty() {
            break;
        }
        rounds += 1;
        done += now.len();
        for i in now {
            for &k in &dependents[i] {
                waiting[k] -= 1;
                if waiting[k] == 0 {
                    ready.push(k);
                }
            }
        }
    }
    step * rounds
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Counts {
    requests: u64,
    writes: u64,
    status_writes: u64,
    event_writes: u64,
}

fn counts(sandbox: &Sandbox) -> Counts {
    let mut c = Counts {
        requests: 0,
        writes: 0,
        status_writes: 0,
        event_writes: 0,
    };
    for ((verb, resource), n) in sandbox.request_counts() {
        c.requests += n;
        if matches!(
            verb,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
        ) {
            c.writes += n;
            if resource.ends_with("/status") {
                c.status_writes += n;
            }
            if resource == "events" {
                c.event_writes += n;
            }
        }
    }
    c
}

/// One deployment: its simulator and the plan the failover needs.
struct Deployed {
    sim: Arc<Simulator>,
    plan: Plan,
}

async fn deploy(
    client: &Client,
    shape: Shape,
    step: Duration,
    parallel: u32,
) -> Result<Deployed, String> {
    let observed = shape.observed();
    let sim = Arc::new(
        Simulator::new(
            Deployment::new(observed.clone()).map_err(|e| e.to_string())?,
            simulator::Config {
                time_scale: 1.0,
                seed: 1,
            },
        )
        .with_fixed_latency(step),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let router = simulator::server::router(Arc::clone(&sim));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let ns = shape.namespace.clone();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let body: Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).map_err(|e| e.to_string())?;
    namespaces
        .create(&PostParams::default(), &body)
        .await
        .map_err(|e| format!("namespace {ns}: {e}"))?;
    let pp = PostParams::default();
    let topology = shape.topology(&url, parallel);
    Api::<Topology>::namespaced(client.clone(), &ns)
        .create(&pp, &topology)
        .await
        .map_err(|e| format!("Topology: {e}"))?;
    let sites = shape.sites_declared();
    for s in &sites {
        Api::<Site>::namespaced(client.clone(), &ns)
            .create(&pp, s)
            .await
            .map_err(|e| format!("Site: {e}"))?;
    }
    let pairs = shape.pairs_declared();
    for p in &pairs {
        Api::namespaced(client.clone(), &ns)
            .create(&pp, p)
            .await
            .map_err(|e| format!("PoolPair: {e}"))?;
    }
    let cms = shape.cms_declared();
    if let Some(c) = &cms {
        Api::namespaced(client.clone(), &ns)
            .create(&pp, c)
            .await
            .map_err(|e| format!("CMS: {e}"))?;
    }
    // The plan the failover will need: the first site inactive, planned on the same inputs.
    let mut inactive = sites.clone();
    inactive[0].spec.active = false;
    let index = ObservedIndex::new(observed).map_err(|e| e.to_string())?;
    let topologies = [&topology];
    let sites: Vec<&Site> = inactive.iter().collect();
    let pairs: Vec<_> = pairs.iter().collect();
    let cms: Vec<_> = cms.iter().collect();
    let desired = declared::desired_state(
        Declared {
            topologies: &topologies,
            sites: &sites,
            pairs: &pairs,
            cms: &cms,
        },
        Some(&index),
    )
    .map_err(|e| format!("{e:?}"))?;
    let plan = sfb_dr::planner::plan(&desired, &index, &Default::default());
    Ok(Deployed { sim, plan })
}

/// Whether a Topology is Ready with a finished plan recorded after `history` earlier ones.
fn converged(t: &Topology, history: usize) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.history.len() > history
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

async fn run(a: Args) -> Result<serde_json::Value, String> {
    let step = Duration::from_millis(a.step_ms);
    // The API server's watch cache is the API server's memory, not the operator's: keep it
    // small so peak RSS says what the operator and the simulators cost.
    let sandbox = Sandbox::start(kube_sandbox::Config {
        history_bytes: 4 * 1024 * 1024,
        ..kube_sandbox::Config::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let client = sandbox.client().map_err(|e| e.to_string())?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in sfb_dr::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.create(&PostParams::default(), &crd)
            .await
            .map_err(|e| e.to_string())?;
        await_condition(crds.clone(), &name, conditions::is_crd_established())
            .await
            .map_err(|e| e.to_string())?;
    }
    let names: Vec<String> = match a.namespaces {
        Some(k) => (0..k).map(|i| format!("sfb-{i}")).collect(),
        None => vec!["sfb".into()],
    };
    let mut deployed = Vec::new();
    for ns in &names {
        deployed.push(deploy(&client, Shape::new(ns, a.pairs), step, a.parallel).await?);
    }
    let operator = controller::start(controller::Config {
        client: client.clone(),
        namespace: None,
        metrics_addr: None,
        election: None,
        drivers: DriverSource::FromSpec,
        instance: "bench".into(),
        simulator_step_timeout: None,
    })
    .await
    .map_err(|e| e.to_string())?;
    // Converged at rest first: every Topology Ready.
    let deadline = Instant::now() + Duration::from_secs(600);
    for ns in &names {
        let api: Api<Topology> = Api::namespaced(client.clone(), ns);
        loop {
            let t = api.get(ns).await.map_err(|e| e.to_string())?;
            let ready = t.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{ns} never became Ready at rest"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Watch every Topology; flip the first site everywhere; wait for all to converge.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    for ns in &names {
        let api: Api<Topology> = Api::namespaced(client.clone(), ns);
        let tx = tx.clone();
        let ns = ns.clone();
        tokio::spawn(async move {
            // A watch that falls behind the API server's history (410) relists and goes on.
            let mut stream =
                kube::runtime::WatchStreamExt::default_backoff(kube::runtime::watcher(
                    api,
                    kube::runtime::watcher::Config::default()
                        .fields(&format!("metadata.name={ns}")),
                ))
                .boxed();
            while let Some(event) = stream.next().await {
                if let Ok(
                    kube::runtime::watcher::Event::Apply(t)
                    | kube::runtime::watcher::Event::InitApply(t),
                ) = event
                {
                    if converged(&t, 0) {
                        let _ = tx.send((ns.clone(), Instant::now()));
                    }
                }
            }
        });
    }
    let before = counts(&sandbox);
    let flip = Instant::now();
    let flip_wall = jiff::Timestamp::now();
    for ns in &names {
        Api::<Site>::namespaced(client.clone(), ns)
            .patch(
                "redmond",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"active": false}})),
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut done: BTreeMap<String, Duration> = BTreeMap::new();
    let limit = Instant::now() + Duration::from_secs(3600);
    while done.len() < names.len() {
        let left = limit.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some((ns, at))) => {
                done.entry(ns).or_insert(at - flip);
            }
            _ => {
                return Err(format!(
                    "only {} of {} deployments converged",
                    done.len(),
                    names.len()
                ))
            }
        }
    }
    let converge = done.values().copied().max().unwrap_or_default();
    let after = counts(&sandbox);

    let mut steps = 0usize;
    let mut first_call: Option<Duration> = None;
    let mut refused = 0usize;
    for d in &deployed {
        let audit = d.sim.audit();
        steps += audit.len();
        refused += audit
            .iter()
            .filter(|e| e.outcome != simulator::Outcome::Succeeded)
            .count();
        for e in &audit {
            if let Some(at) = e
                .started_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            {
                let since = Duration::try_from(flip_wall.duration_until(at)).unwrap_or_default();
                first_call = Some(first_call.map_or(since, |f| f.min(since)));
            }
        }
    }
    let critical = deployed
        .iter()
        .map(|d| critical_path(&d.plan, a.parallel as usize, step))
        .max()
        .unwrap_or_default();
    let planned: usize = deployed.iter().map(|d| d.plan.steps.len()).sum();
    let serial = step * u32::try_from(planned).unwrap_or(u32::MAX);

    // Rest, once the last reconcile's trailing writes (the pairs' status, Events, the published
    // observation) are done: two seconds without a write.
    let mut quiet = counts(&sandbox).writes;
    let settle_limit = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = counts(&sandbox).writes;
        if now == quiet || Instant::now() > settle_limit {
            break;
        }
        quiet = now;
    }
    let rest_before = counts(&sandbox);
    tokio::time::sleep(Duration::from_secs(a.steady_seconds)).await;
    let rest_after = counts(&sandbox);
    operator.shutdown().await;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let per_min = if a.steady_seconds == 0 {
        0.0
    } else {
        (rest_after.writes - rest_before.writes) as f64 * 60.0 / a.steady_seconds as f64
    };
    let object_writes = (after.writes - before.writes) - (after.event_writes - before.event_writes);
    Ok(json!({
        "pairs": a.pairs * names.len(),
        "parallel": a.parallel,
        "step_ms": a.step_ms,
        "steps": steps,
        "critical_path_ms": ms(critical).round(),
        "converge_ms": ms(converge).round(),
        "overhead_ratio": (ms(converge) / ms(critical).max(1.0) * 1000.0).round() / 1000.0,
        "serial_runbook_ms": ms(serial).round(),
        "speedup_vs_runbook": (ms(serial) / ms(converge).max(1.0) * 100.0).round() / 100.0,
        "api_requests": after.requests - before.requests,
        "api_writes": after.writes - before.writes,
        "writes_per_step": ((object_writes as f64 / steps.max(1) as f64) * 100.0).round() / 100.0,
        "steady_state_writes_per_min": per_min,
        "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
        "first_driver_call_ms": first_call.map(|d| ms(d).round()),
        "deployments": names.len(),
        "slowest_deployment_ms": ms(converge).round(),
        "fastest_deployment_ms": done.values().copied().min().map(|d| ms(d).round()),
        "status_writes": after.status_writes - before.status_writes,
        "event_writes": after.event_writes - before.event_writes,
        "refused_or_failed": refused,
    }))
}

fn main() {
    // RUST_LOG shows what the operator does; silent otherwise.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(a)) {
        Ok(figures) => println!("{figures}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
