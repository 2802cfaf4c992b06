//! `sfb-dr sandbox`: the embedded default. kube-sandbox (a Kubernetes API in this process), a
//! simulated SfB deployment and the operator, with the CRDs installed and the example manifests
//! applied, every Topology pointed at this simulator.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::Args;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde_json::{json, Value};

use sfb_dr::api::{
    CentralManagementStore, PlanOutcome, PlanStatus, PoolPair, SimulatorDriver, Site, StepState,
    Topology,
};
use sfb_dr::controller::{self, DriverSource};
use sfb_dr::manifest::{self, Manifests};
use sfb_dr::model::printable::printable;
use sfb_dr::simulator::{self, Deployment, Outcome, Simulator};

use super::run::{identity, init_logging, LogFormat};
use super::Failure;

/// Flags of `sfb-dr sandbox`.
#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Where to write `kubeconfig` and `sandbox.json`; default `.sfb-dr`, and for `--drill` a
    /// temporary directory (so a drill never overwrites a running sandbox's kubeconfig).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The simulated deployment's initial state, in the observed-topology format.
    #[arg(long, default_value = "examples/topology.json")]
    pub topology: PathBuf,
    /// Manifests (files or directories) to apply.
    #[arg(long, default_value = "examples")]
    pub manifests: Vec<PathBuf>,
    /// Divide every simulated latency by this: at 60, a 15-minute failover takes 15 s.
    #[arg(long, default_value_t = 60.0, value_parser = super::positive_scale)]
    pub time_scale: f64,
    /// Start no operator: run `sfb-dr run --kubeconfig <dir>/kubeconfig` yourself.
    #[arg(long, conflicts_with = "drill")]
    pub no_operator: bool,
    /// Run a site failover and failback through the API, print a summary and exit (0 only if
    /// everything converged with no refusal).
    #[arg(long)]
    pub drill: bool,
}

/// What `sandbox.json` holds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SandboxFile {
    kubeconfig: String,
    api_server: String,
    simulator: String,
}

/// Runs the sandbox until Ctrl-C, or the drill to its end.
pub fn run(args: SandboxArgs) -> Result<(), Failure> {
    init_logging(LogFormat::Text);
    let observed = manifest::load_observed(&args.topology)?;
    let deployment = Deployment::new(observed).map_err(|e| {
        Failure::BadInput(vec![format!(
            "{}: observed topology: {e}",
            args.topology.display()
        )])
    })?;
    let manifests = manifest::load(&args.manifests, Some(&args.topology))?;
    if manifests.topologies.is_empty() {
        return Err(Failure::BadInput(vec![format!(
            "{}: no Topology among the manifests; the sandbox needs one to operate",
            paths(&args.manifests)
        )]));
    }
    let temporary = match (&args.dir, args.drill) {
        (None, true) => Some(tempfile::tempdir().context("a temporary directory for the drill")?),
        _ => None,
    };
    let dir = match (&args.dir, &temporary) {
        (Some(dir), _) => dir.clone(),
        (None, Some(t)) => t.path().to_owned(),
        (None, None) => PathBuf::from(".sfb-dr"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args, &dir, deployment, manifests))
}

fn paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn serve(
    args: SandboxArgs,
    dir: &Path,
    deployment: Deployment,
    manifests: Manifests,
) -> Result<(), Failure> {
    let sim = Arc::new(Simulator::new(
        deployment,
        simulator::Config {
            time_scale: args.time_scale,
            seed: 0,
        },
    ));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("binding the simulator")?;
    let sim_url = format!(
        "http://{}",
        listener.local_addr().context("simulator address")?
    );
    let router = simulator::server::router(Arc::clone(&sim));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let kubeconfig = dir.join("kubeconfig");
    let sandbox = kube_sandbox::Sandbox::start(kube_sandbox::Config {
        kubeconfig: Some(kubeconfig.clone()),
        ..Default::default()
    })
    .await
    .context("starting kube-sandbox")?;
    let client = sandbox.client().context("a client for kube-sandbox")?;
    install(&client, &manifests, &sim_url)
        .await
        .map_err(Failure::Other)?;
    let file = SandboxFile {
        kubeconfig: absolute(&kubeconfig),
        api_server: sandbox.url().to_owned(),
        simulator: sim_url.clone(),
    };
    let state = dir.join("sandbox.json");
    std::fs::write(
        &state,
        serde_json::to_string_pretty(&file).context("sandbox.json")? + "\n",
    )
    .with_context(|| format!("writing {}", state.display()))?;

    let operator = if args.no_operator {
        None
    } else {
        Some(
            controller::start(controller::Config {
                client: client.clone(),
                namespace: None,
                metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                election: None,
                drivers: DriverSource::Simulator {
                    url: sim_url.clone(),
                    namespaces: namespaces(&manifests),
                },
                instance: identity(),
                simulator_step_timeout: None,
            })
            .await
            .context("starting the operator")?,
        )
    };
    let topology = &manifests.topologies[0].object;
    let ns = topology.namespace().unwrap_or_else(|| "default".into());
    if args.drill {
        let result = drill(&client, &sim, &manifests, &ns).await;
        if let Some(op) = operator {
            op.shutdown().await;
        }
        return result;
    }
    banner(&args, &file, &manifests, &ns, operator.as_ref());
    super::shutdown_signal().await;
    if let Some(op) = operator {
        op.shutdown().await;
    }
    drop(sandbox);
    Ok(())
}

/// The namespaces of the manifests' Topologies: the ones the sandbox's simulator stands for.
fn namespaces(manifests: &Manifests) -> BTreeSet<String> {
    manifests
        .topologies
        .iter()
        .map(|t| t.object.namespace().unwrap_or_else(|| "default".into()))
        .collect()
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_owned())
        .display()
        .to_string()
}

fn banner(
    args: &SandboxArgs,
    file: &SandboxFile,
    manifests: &Manifests,
    ns: &str,
    operator: Option<&controller::Operator>,
) {
    let topology = manifests.topologies[0].object.name_any();
    let site = manifests
        .sites
        .first()
        .map(|s| s.object.name_any())
        .unwrap_or_else(|| "<site>".into());
    println!("sfb-dr sandbox is running. Stop it with Ctrl-C.");
    println!(
        "  Kubernetes API  {}  (kubeconfig {})",
        file.api_server, file.kubeconfig
    );
    println!(
        "  SfB simulator   {}  (time scale {}: a 15-minute failover takes {:.0} s)",
        file.simulator,
        args.time_scale,
        900.0 / args.time_scale
    );
    match operator.and_then(|o| o.metrics_addr()) {
        Some(addr) => println!("  operator        running; metrics at http://{addr}/metrics"),
        None => println!(
            "  operator        not started: run  sfb-dr run --kubeconfig {} --leader-election=false",
            file.kubeconfig
        ),
    }
    println!();
    println!("Try, in another terminal:");
    println!("  export KUBECONFIG={}", file.kubeconfig);
    println!("  kubectl get sfbdr -n {ns}");
    println!("  kubectl wait --for=condition=Ready topology/{topology} -n {ns} --timeout=120s");
    println!(
        "  kubectl patch site {site} -n {ns} --type merge -p '{{\"spec\":{{\"active\":false}}}}'"
    );
    println!("  kubectl get poolpairs -n {ns} -w");
    println!("  kubectl describe topology {topology} -n {ns}");
    println!("  curl -s {}/audit", file.simulator);
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// Installs the CRDs, creates the namespaces and applies the manifests, each Topology pointed
/// at the simulator.
async fn install(client: &Client, manifests: &Manifests, sim_url: &str) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in sfb_dr::api::crds() {
        let name = crd.name_any();
        crds.create(&PostParams::default(), &crd)
            .await
            .with_context(|| format!("installing CRD {name}"))?;
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| anyhow!("CRD {name} was not established within 30 s"))?
        .with_context(|| format!("waiting for CRD {name}"))?;
    }
    let mut namespaces = BTreeSet::new();
    let ns_of = |o: &dyn Fn() -> Option<String>| o().unwrap_or_else(|| "default".into());
    for t in &manifests.topologies {
        namespaces.insert(ns_of(&|| t.object.namespace()));
    }
    for s in &manifests.sites {
        namespaces.insert(ns_of(&|| s.object.namespace()));
    }
    for p in &manifests.pairs {
        namespaces.insert(ns_of(&|| p.object.namespace()));
    }
    for c in &manifests.cms {
        namespaces.insert(ns_of(&|| c.object.namespace()));
    }
    // What a GitOps folder holds beside sfb-dr's objects (its Namespace, the driver's Secret,
    // a Role) is applied as kubectl would, Namespaces first; what this server cannot take is
    // said on standard error and left out.
    let (declared, rest): (Vec<_>, Vec<_>) = manifests
        .others
        .iter()
        .partition(|o| o.object.api_version == "v1" && o.object.kind == "Namespace");
    for other in declared.iter().chain(rest.iter()) {
        if other.object.name.is_empty() {
            eprintln!(
                "{}: {} not applied: it has no metadata.name",
                printable(&other.source),
                printable(&other.object.kind)
            );
            continue;
        }
        let applied = match &other.object.namespace {
            Some(ns) => ensure_namespace(client, ns).await,
            None => Ok(()),
        };
        if let Err(e) = match applied {
            Ok(()) => apply_other(client, &other.object).await,
            Err(e) => Err(e),
        } {
            eprintln!(
                "{}: {} {} not applied: {}",
                printable(&other.source),
                printable(&other.object.kind),
                printable(&other.object.name),
                printable(&format!("{e:#}"))
            );
        }
    }
    for ns in &namespaces {
        ensure_namespace(client, ns).await?;
    }
    for t in &manifests.topologies {
        let mut t = t.object.clone();
        t.spec.driver.simulator = Some(SimulatorDriver {
            url: sim_url.to_owned(),
        });
        t.spec.driver.powershell = None;
        apply(client, &t).await?;
    }
    for s in &manifests.sites {
        apply(client, &s.object).await?;
    }
    for p in &manifests.pairs {
        apply(client, &p.object).await?;
    }
    for c in &manifests.cms {
        apply(client, &c.object).await?;
    }
    Ok(())
}

/// Creates the namespace `ns` unless it exists.
async fn ensure_namespace(client: &Client, ns: &str) -> anyhow::Result<()> {
    let nss: Api<Namespace> = Api::all(client.clone());
    let body: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
    match nss.create(&PostParams::default(), &body).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating namespace {ns}")),
    }
}

/// Creates an object of another kind as `kubectl apply` would (found through discovery; one
/// that exists already is left as it is).
async fn apply_other(client: &Client, other: &manifest::Other) -> anyhow::Result<()> {
    let (group, version) = other
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", other.api_version.as_str()));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &other.kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| {
            format!(
                "the server does not serve {} {}",
                other.api_version, other.kind
            )
        })?;
    let api: Api<kube::api::DynamicObject> = match capabilities.scope {
        kube::discovery::Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            other.namespace.as_deref().unwrap_or("default"),
            &resource,
        ),
        kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let mut body = other.value.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("status");
    }
    let last_applied = serde_json::to_string(&body)?;
    let annotations = body
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| anyhow!("metadata must be a map"))?
        .entry("annotations")
        .or_insert_with(|| json!({}));
    if annotations.is_null() {
        *annotations = json!({});
    }
    annotations
        .as_object_mut()
        .ok_or_else(|| anyhow!("metadata.annotations must be a map"))?
        .insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            json!(last_applied),
        );
    let object: kube::api::DynamicObject = serde_json::from_value(body)?;
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates an object as `kubectl apply` would, so later `kubectl apply`s of it merge cleanly.
async fn apply<K>(client: &Client, object: &K) -> anyhow::Result<()>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let ns = object.namespace().unwrap_or_else(|| "default".into());
    let name = object.name_any();
    let mut body = serde_json::to_value(object)?;
    body["apiVersion"] = json!(K::api_version(&()));
    body["kind"] = json!(K::kind(&()));
    body["metadata"]["namespace"] = json!(ns);
    if let Some(o) = body.as_object_mut() {
        o.remove("status");
    }
    let last_applied = serde_json::to_string(&body)?;
    body["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!(last_applied);
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    let object: K = serde_json::from_value(body)?;
    api.create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("creating {} {ns}/{name}", K::kind(&())))?;
    Ok(())
}

/// The drill: converge, take a site out, converge, bring it back, converge; then a summary.
async fn drill(
    client: &Client,
    sim: &Simulator,
    manifests: &Manifests,
    ns: &str,
) -> Result<(), Failure> {
    let Some(site) = manifests.sites.first().map(|s| s.object.name_any()) else {
        return Err(Failure::BadInput(vec![
            "--drill needs a Site among the manifests to take out of service".into(),
        ]));
    };
    let topology = manifests.topologies[0].object.name_any();
    let started = Instant::now();
    let phases = [
        ("converge", None),
        ("fail over", Some(false)),
        ("fail back", Some(true)),
    ];
    let mut converged = true;
    for (name, active) in phases {
        let phase = Instant::now();
        if let Some(active) = active {
            let sites: Api<Site> = Api::namespaced(client.clone(), ns);
            sites
                .patch(
                    &site,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"active": active}})),
                )
                .await
                .with_context(|| format!("setting Site {site} active={active}"))?;
            println!("drill: site {site} active={active}");
        }
        let ok = wait_ready(client, sim, ns, &topology, Duration::from_secs(600)).await?;
        println!(
            "drill: {name}: {} in {:.1} s",
            if ok { "converged" } else { "DID NOT CONVERGE" },
            phase.elapsed().as_secs_f64()
        );
        converged &= ok;
        if !ok {
            break;
        }
    }
    let audit = sim.audit();
    let refused = audit
        .iter()
        .filter(|a| a.outcome == Outcome::Refused)
        .count();
    let failed = audit
        .iter()
        .filter(|a| a.outcome == Outcome::Failed)
        .count();
    let loss = sim.observe().ok().and_then(|t| t.data_loss).unwrap_or(0);
    println!("drill summary:");
    println!("  steps executed    {}", audit.len());
    println!("  refusals          {refused}");
    println!("  failures          {failed}");
    println!("  data loss         {loss} changes");
    println!(
        "  time              {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if converged && refused == 0 {
        println!("drill: PASSED");
        Ok(())
    } else {
        Err(Failure::Other(anyhow!(
            "drill failed: {}{refused} refusals",
            if converged { "" } else { "did not converge; " }
        )))
    }
}

/// Waits until the Topology and every pair are Ready for their current generation, printing
/// each step as it changes state.
async fn wait_ready(
    client: &Client,
    sim: &Simulator,
    ns: &str,
    topology: &str,
    limit: Duration,
) -> Result<bool, Failure> {
    let topologies: Api<Topology> = Api::namespaced(client.clone(), ns);
    let sites: Api<Site> = Api::namespaced(client.clone(), ns);
    let pairs: Api<PoolPair> = Api::namespaced(client.clone(), ns);
    let cms: Api<CentralManagementStore> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + limit;
    let mut seen: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut last: Option<PlanStatus> = None;
    while Instant::now() < deadline {
        let t = topologies
            .get(topology)
            .await
            .context("reading the Topology")?;
        // A plan that finished between two looks: its last steps succeeded unseen.
        let current = t.status.as_ref().and_then(|s| s.plan.as_ref());
        if let Some(previous) = last.take().filter(|p| current.is_none_or(|c| c.id != p.id)) {
            let succeeded = t.status.as_ref().is_some_and(|s| {
                s.history
                    .iter()
                    .any(|h| h.id == previous.id && h.outcome == PlanOutcome::Succeeded)
            });
            for step in previous.steps.iter().filter(|_| succeeded) {
                if seen.insert((previous.id.clone(), step.id.clone(), "Succeeded".into())) {
                    let what = sfb_dr::controller::journal::step_action(step)
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    println!("  [{}] Succeeded {what}", step.id);
                }
            }
        }
        last = current.cloned();
        if let Some(plan) = current {
            for step in &plan.steps {
                let state = format!("{:?}", step.state);
                if step.state != StepState::Pending
                    && seen.insert((plan.id.clone(), step.id.clone(), state.clone()))
                {
                    let what = sfb_dr::controller::journal::step_action(step)
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    println!("  [{}] {state:<9} {what}", step.id);
                }
                if step.state == StepState::AwaitingConfirmation
                    && seen.insert((
                        step.confirm_with.clone().unwrap_or_default(),
                        step.id.clone(),
                        "confirmed".into(),
                    ))
                {
                    act_as_a_person(&topologies, sim, &t, step).await?;
                }
            }
        }
        let ready_t = ready(
            t.meta().generation,
            t.status.as_ref().map(|s| &s.conditions),
        );
        let all_pairs = pairs
            .list(&Default::default())
            .await
            .context("listing pairs")?;
        let ready_p = all_pairs.iter().all(|p| {
            ready(
                p.meta().generation,
                p.status.as_ref().map(|s| &s.conditions),
            )
        });
        let all_cms = cms
            .list(&Default::default())
            .await
            .context("listing the CMS")?;
        let ready_c = all_cms.iter().all(|c| {
            ready(
                c.meta().generation,
                c.status.as_ref().map(|s| &s.conditions),
            )
        });
        let all_sites = sites
            .list(&Default::default())
            .await
            .context("listing sites")?;
        let ready_s = all_sites.iter().all(|s| {
            ready(
                s.meta().generation,
                s.status.as_ref().map(|s| &s.conditions),
            )
        });
        if ready_t && ready_p && ready_c && ready_s {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(false)
}

/// What a person does for a step that waits for one: its change in the simulated deployment
/// (the SIP route and Persistent Chat's SQL steps have one to make), then the confirmation `kubectl sfbdr confirm` writes.
async fn act_as_a_person(
    topologies: &Api<Topology>,
    sim: &Simulator,
    topology: &Topology,
    step: &sfb_dr::api::StepStatus,
) -> Result<(), Failure> {
    use sfb_dr::controller::journal::{confirmations, CONFIRM_ANNOTATION};
    let action = sfb_dr::controller::journal::step_action(step).map_err(|e| anyhow!(e))?;
    use sfb_dr::model::Action;
    use sfb_dr::simulator::Fault;
    let change = match &action {
        Action::MoveSipFederationRoute { to, .. } => {
            Some(Fault::SipRouteMovedByHand { edge: to.clone() })
        }
        Action::RecoverPersistentChatDatabase { pool } => {
            Some(Fault::PersistentChatDatabaseRecovered { pool: pool.clone() })
        }
        Action::RestorePersistentChatDatabase { pool } => {
            Some(Fault::PersistentChatDatabaseRestored { pool: pool.clone() })
        }
        _ => None,
    };
    if let Some(fault) = change {
        sim.inject(&fault)
            .map_err(|e| anyhow!("doing the person's step \"{action}\" by hand: {e}"))?;
    }
    // Read again: another step confirmed a moment ago is in the annotation by now.
    let fresh = topologies
        .get(&topology.name_any())
        .await
        .context("reading the Topology")?;
    let mut keys = fresh
        .annotations()
        .get(CONFIRM_ANNOTATION)
        .map(|v| confirmations(v))
        .unwrap_or_default();
    keys.extend(step.confirm_with.clone());
    topologies
        .patch(
            &topology.name_any(),
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {CONFIRM_ANNOTATION: keys.join(",")}}}),
            ),
        )
        .await
        .context("confirming a person's step")?;
    println!(
        "  [{}] confirmed by the drill, as a person would after: {action}",
        step.id
    );
    Ok(())
}

fn ready(
    generation: Option<i64>,
    conditions: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
) -> bool {
    conditions.is_some_and(|cs| {
        cs.iter().any(|c| {
            c.type_ == "Ready"
                && c.status == "True"
                && c.observed_generation.is_some()
                && c.observed_generation >= generation
        })
    })
}
