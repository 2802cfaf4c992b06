//! The operator: a kube-runtime controller keyed on `Topology` that observes each deployment,
//! plans, executes the plan's steps through the driver and reports status, Events and metrics.
//!
//! - [`reconcile`]: the pipeline of one reconcile (observe -> record -> validate -> plan ->
//!   gate and execute -> report).
//! - [`journal`]: the write-ahead journal of steps in `Topology.status.plan` (pure).
//! - [`status`] and [`conditions`]: the status of every kind, computed in memory (pure).
//! - [`executor`]: step tasks and their outcomes; [`drivers`]: the driver per Topology.
//! - [`leader`]: the Lease; [`events`]: Events; [`metrics`]: `/metrics`, `/healthz`, `/readyz`.

pub mod conditions;
pub mod drivers;
pub mod events;
pub mod executor;
pub mod journal;
pub mod leader;
pub mod metrics;
pub mod observation;
pub mod reconcile;
pub mod status;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::ListParams;
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use crate::api::{CentralManagementStore, PoolPair, Site, Topology};
pub use drivers::DriverSource;
use leader::Leadership;
pub use leader::LeaseConfig;
pub use metrics::Metrics;

/// The field manager of every status the operator applies, and its Events' controller name.
pub const FIELD_MANAGER: &str = "sfb-dr";
/// The reporting controller of Events: a qualified name, as the API server asks.
pub const REPORTING_CONTROLLER: &str = "sfbdr.io/sfb-dr";

/// What a reconcile can fail with; each is retried with a short back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Someone (another replica, a person) wrote the Topology since it was read.
    #[error("the Topology changed while it was being reconciled; trying again")]
    Conflict,
    /// The API server refused a status write.
    #[error("writing status: {0}")]
    Write(#[source] kube::Error),
    /// The status could not be encoded.
    #[error("encoding status: {0}")]
    Encode(#[source] serde_json::Error),
    /// The driver could not observe the deployment (reported in the Topology's status).
    #[error("observing the deployment: {0}")]
    Observe(String),
    /// The lease turned out not to be held: nothing was started.
    #[error("this replica does not hold the lease; nothing was started")]
    NotLeader,
}

impl Error {
    /// A short label for metrics.
    /// Every value `kind` gives: `sfbdr_reconcile_errors_total` exports each from the start.
    pub const KINDS: [&'static str; 5] = ["conflict", "write", "encode", "observe", "not_leader"];

    pub fn kind(&self) -> &'static str {
        match self {
            Error::Conflict => "conflict",
            Error::Write(_) => "write",
            Error::Encode(_) => "encode",
            Error::Observe(_) => "observe",
            Error::NotLeader => "not_leader",
        }
    }
}

/// The caches of the four kinds.
#[derive(Clone)]
pub struct Stores {
    pub topologies: Store<Topology>,
    pub sites: Store<Site>,
    pub pairs: Store<PoolPair>,
    pub cms: Store<CentralManagementStore>,
}

/// Topologies this process wrote, each with the resourceVersion its write replaced.
type WrittenTopologies = HashMap<ObjectRef<Topology>, (String, Arc<Topology>)>;

/// What every reconcile shares.
pub struct Context {
    client: Client,
    stores: Stores,
    drivers: drivers::Drivers,
    executor: Arc<executor::Executor>,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    leadership: Leadership,
    /// The Topologies this process last wrote, with the resourceVersion each write replaced.
    topologies_written: Mutex<WrittenTopologies>,
    /// The child statuses this process last applied, with the resourceVersion they replaced.
    children_written: Mutex<HashMap<String, (String, serde_json::Value)>>,
    observations: observation::Publisher,
}

impl Context {
    fn written_topologies(&self) -> MutexGuard<'_, WrittenTopologies> {
        self.topologies_written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn written_children(&self) -> MutexGuard<'_, HashMap<String, (String, serde_json::Value)>> {
        self.children_written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// How to run the operator.
#[derive(Clone)]
pub struct Config {
    pub client: Client,
    /// Watch this namespace only; `None` watches all.
    pub namespace: Option<String>,
    /// Where to serve `/metrics`, `/healthz` and `/readyz`; `None` serves nothing.
    pub metrics_addr: Option<SocketAddr>,
    /// Leader election; `None` when this is the only replica.
    pub election: Option<LeaseConfig>,
    pub drivers: DriverSource,
    /// This replica's name in Events (its pod name, or the host name).
    pub instance: String,
    /// How long a simulator step call may run before it is abandoned and the step settled under
    /// the same key; `None` is three hours (fault tests make it short).
    pub simulator_step_timeout: Option<Duration>,
}

/// Why the operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the CRD {crd} is not installed (the API server answered 404 for {kind}); install the CRDs first: kubectl apply -f crds/")]
    MissingCrd { crd: String, kind: &'static str },
    #[error("cannot list {kind} to check that its CRD is installed")]
    CrdCheck {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Election(#[from] leader::ElectionError),
    #[error("cannot serve metrics on {addr}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running operator.
pub struct Operator {
    metrics_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    executor: Arc<executor::Executor>,
    metrics_task: Option<tokio::task::JoinHandle<()>>,
    election_task: Option<tokio::task::AbortHandle>,
}

impl Operator {
    /// Where `/metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops as on SIGTERM: no new step starts, the steps in flight are logged (the journal
    /// already holds them as `Running`), the lease is released, and the controller ends.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        if let Some(t) = self.metrics_task.take() {
            t.abort();
        }
    }

    /// Ends at once, as a crash would: nothing is released or recorded, and the driver calls in
    /// flight are abandoned (for the simulator, they run on to their end server-side).
    pub fn abort(mut self) {
        self.task.abort();
        self.executor.abort_all();
        if let Some(t) = self.metrics_task.take() {
            t.abort();
        }
        if let Some(t) = self.election_task.take() {
            t.abort();
        }
    }

    /// Waits until the operator ends on its own (after [`Self::shutdown`] was asked elsewhere).
    pub async fn join(mut self) {
        let _ = (&mut self.task).await;
    }
}

/// How long a graceful shutdown waits for reconciles in progress before abandoning them.
const DRAIN: Duration = Duration::from_secs(10);

/// Checks that the CRDs are installed, then starts the controller.
pub async fn start(config: Config) -> Result<Operator, StartError> {
    check_crds(&config).await?;
    let metrics = Arc::new(Metrics::new());
    let (leadership, election) = match &config.election {
        Some(lease) => {
            let (l, e) = leader::elect(config.client.clone(), lease.clone()).await?;
            (l, Some(e))
        }
        None => (Leadership::always(), None),
    };
    let (wake_tx, wake_rx) = mpsc::unbounded_channel();
    let executor = Arc::new(executor::Executor::new(
        wake_tx.clone(),
        leadership.clone(),
        Arc::clone(&metrics),
    ));

    let wc = watcher::Config::default();
    let (primed_tx, primed_rx) = tokio::sync::watch::channel(false);
    let priming = Priming {
        listed: Arc::new(AtomicUsize::new(0)),
        metrics: Arc::clone(&metrics),
        primed: Arc::new(primed_tx),
    };
    let (topologies, topology_stream) = cache::<Topology>(&config, &wc, priming.clone());
    let (sites, site_stream) = cache::<Site>(&config, &wc, priming.clone());
    let (pairs, pair_stream) = cache::<PoolPair>(&config, &wc, priming.clone());
    let (cms, cms_stream) = cache::<CentralManagementStore>(&config, &wc, priming);
    let stores = Stores {
        topologies: topologies.clone(),
        sites: sites.clone(),
        pairs: pairs.clone(),
        cms: cms.clone(),
    };
    let ctx = Arc::new(Context {
        client: config.client.clone(),
        stores: stores.clone(),
        drivers: drivers::Drivers::new(
            config.client.clone(),
            config.drivers.clone(),
            config
                .simulator_step_timeout
                .unwrap_or(drivers::SIMULATOR_STEP_TIMEOUT),
        ),
        executor: Arc::clone(&executor),
        recorder: Recorder::new(
            config.client.clone(),
            Reporter {
                controller: REPORTING_CONTROLLER.into(),
                instance: Some(config.instance.clone()),
            },
        ),
        metrics: Arc::clone(&metrics),
        leadership: leadership.clone(),
        topologies_written: Mutex::new(HashMap::new()),
        children_written: Mutex::new(HashMap::new()),
        observations: observation::Publisher::default(),
    });

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (metrics_addr, metrics_task) = match config.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Metrics { addr, source })?;
            let bound = listener.local_addr().ok();
            let health: Arc<dyn metrics::Health> = Arc::new(Probe {
                metrics: Arc::clone(&metrics),
                leadership: leadership.clone(),
                topologies: topologies.clone(),
            });
            let task = tokio::spawn(async move {
                if let Err(error) = metrics::serve(listener, health, std::future::pending()).await {
                    tracing::error!(%error, "the metrics server stopped");
                }
            });
            (bound, Some(task))
        }
        None => (None, None),
    };

    let to_topology = |store: Store<Topology>| {
        move |namespace: Option<String>| -> Vec<ObjectRef<Topology>> {
            store
                .state()
                .iter()
                .filter(|t| t.namespace() == namespace)
                .map(|t| ObjectRef::from_obj(&**t))
                .collect()
        }
    };
    let by_site = to_topology(topologies.clone());
    let by_pair = to_topology(topologies.clone());
    let by_cms = to_topology(topologies.clone());
    let wake =
        futures::stream::unfold(
            wake_rx,
            |mut rx| async move { rx.recv().await.map(|r| (r, rx)) },
        );
    let election_task = election.as_ref().map(|e| e.abort_handle());
    // A Topology created or deleted beside another changes the other's verdict (a namespace
    // holds one deployment): reconcile its siblings too.
    let siblings = (wake_tx.clone(), topologies.clone());
    let topology_stream = topology_stream.inspect(move |changed| {
        let (wake, store) = &siblings;
        if let Ok(t) = changed {
            for other in store.state() {
                if other.namespace() == t.namespace() && other.uid() != t.uid() {
                    let _ = wake.send(ObjectRef::from_obj(&*other));
                }
            }
        }
    });
    let controller = Controller::for_stream(topology_stream, topologies)
        .watches_stream(site_stream, move |s: Site| by_site(s.namespace()))
        .watches_stream(pair_stream, move |p: PoolPair| by_pair(p.namespace()))
        .watches_stream(cms_stream, move |c: CentralManagementStore| {
            by_cms(c.namespace())
        })
        .reconcile_on(wake)
        .reconcile_all_on(leadership.acquired())
        // Reconciles before then only wait (see `reconcile`): once every cache has listed,
        // each Topology is reconciled again.
        .reconcile_all_on(once_primed(primed_rx))
        // Steps that end together (parallel failovers) are folded into one reconcile, hence
        // one status write; 5 ms is nothing next to a step.
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(16)
                .debounce(Duration::from_millis(5)),
        );
    let shutdown_leadership = leadership.clone();
    let shutdown_executor = Arc::clone(&executor);
    let task = tokio::spawn(async move {
        let (draining_tx, mut draining_rx) = tokio::sync::watch::channel(false);
        let stopped = async move {
            let _ = stop_rx.await;
            // Stop starting steps first; what is in flight stays `Running` in the journal.
            shutdown_leadership.stop();
            let in_flight = shutdown_executor.all_in_flight();
            if !in_flight.is_empty() {
                tracing::warn!(
                    ?in_flight,
                    "shutting down with steps in flight: the journal holds them as Running and the next leader settles them under the same keys"
                );
            }
            let _ = draining_tx.send(true);
        };
        let run = controller
            .graceful_shutdown_on(stopped)
            .run(reconcile::reconcile, error_policy, ctx)
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::debug!(%error, "reconcile did not complete");
                }
            });
        // The controller drains its queue before it ends, reconciles waiting on a requeue
        // included; past DRAIN the rest is abandoned, as a crash would, which the write-ahead
        // journal makes safe.
        let drained = async move {
            let _ = draining_rx.wait_for(|draining| *draining).await;
            tokio::time::sleep(DRAIN).await;
        };
        tokio::select! {
            () = run => {}
            () = drained => tracing::info!(?DRAIN, "stopped without waiting longer for reconciles to drain"),
        }
        if let Some(election) = election {
            election.release(Duration::from_secs(5)).await;
        }
    });
    Ok(Operator {
        metrics_addr,
        stop: Some(stop_tx),
        task,
        executor,
        metrics_task,
        election_task,
    })
}

/// Runs the operator until `shutdown` resolves, then stops it gracefully.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let operator = start(config).await?;
    if let Some(addr) = operator.metrics_addr() {
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    }
    shutdown.await;
    tracing::info!("shutting down");
    operator.shutdown().await;
    Ok(())
}

fn error_policy(_topology: Arc<Topology>, error: &Error, _ctx: Arc<Context>) -> Requeue {
    match error {
        Error::Conflict | Error::NotLeader => Requeue::requeue(Duration::from_millis(500)),
        Error::Observe(message) => {
            tracing::warn!(%message, "observation failed");
            Requeue::requeue(Duration::from_secs(10))
        }
        other => {
            tracing::warn!(error = %other, "reconcile failed");
            Requeue::requeue(Duration::from_secs(5))
        }
    }
}

/// Readiness: caches primed and, for the leader, a driver that answered once.
struct Probe {
    metrics: Arc<Metrics>,
    leadership: Leadership,
    topologies: Store<Topology>,
}

impl metrics::Health for Probe {
    fn ready(&self) -> bool {
        self.metrics
            .ready(self.leadership.leads(), self.topologies.state().len())
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn prune(&self) {
        // Only once the Topology cache has listed: before that every namespace looks empty.
        if !self.metrics.primed() {
            return;
        }
        let live = self
            .topologies
            .state()
            .iter()
            .filter_map(|t| t.namespace())
            .collect();
        self.metrics.retain_namespaces(&live);
    }
}

type Triggers<K> = Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

/// How many of the four caches hold their first full list; the operator is primed at four.
/// Counted from the watch streams rather than with `Store::wait_until_ready`: a store's
/// readiness keeps one waiter's waker only, the Controller already waits on the Topology
/// store, and a second waiter can be left asleep for ever (so `/readyz` never said ready).
#[derive(Clone)]
struct Priming {
    listed: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    primed: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Priming {
    const KINDS: usize = 4;

    fn listed_one(&self) {
        if self.listed.fetch_add(1, Ordering::AcqRel) + 1 == Self::KINDS {
            self.metrics.set_primed();
            self.primed.send_replace(true);
        }
    }
}

/// One item once every cache has listed (at once if they already have), then the end.
fn once_primed(
    primed: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = ()> + Send + 'static {
    futures::stream::once(async move {
        let mut primed = primed;
        // An error means the sender is gone, which happens only when the operator stops.
        let _ = primed.wait_for(|p| *p).await;
    })
}

/// A cache of one kind and the stream of its changes worth a reconcile: a new spec (generation)
/// or new annotations, or a deletion; status writes, the operator's own included, are not.
fn cache<K>(config: &Config, wc: &watcher::Config, priming: Priming) -> (Store<K>, Triggers<K>)
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = match &config.namespace {
        Some(ns) => Api::namespaced(config.client.clone(), ns),
        None => Api::all(config.client.clone()),
    };
    let (reader, writer) = reflector::store();
    let mut seen: HashMap<String, (Option<i64>, u64)> = HashMap::new();
    let mut listed = false;
    let stream = watcher(api, wc.clone())
        .default_backoff()
        .reflect(writer)
        .filter_map(move |event| {
            let changed = match event {
                Err(e) => Some(Err(e)),
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    let uid = o.meta().uid.clone().unwrap_or_default();
                    let print = (o.meta().generation, annotations_hash(&o));
                    (seen.insert(uid, print) != Some(print)).then_some(Ok(o))
                }
                Ok(watcher::Event::Delete(o)) => {
                    seen.remove(&o.meta().uid.clone().unwrap_or_default());
                    Some(Ok(o))
                }
                Ok(watcher::Event::InitDone) => {
                    // The reflector has swapped the full list into the store by now.
                    if !listed {
                        listed = true;
                        priming.listed_one();
                    }
                    None
                }
                Ok(watcher::Event::Init) => None,
            };
            std::future::ready(changed)
        });
    (reader, Box::pin(stream))
}

fn annotations_hash<K: Resource>(o: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    o.meta().annotations.hash(&mut h);
    h.finish()
}

/// Lists each kind once: a 404 means its CRD is missing.
async fn check_crds(config: &Config) -> Result<(), StartError> {
    async fn one<K>(config: &Config, kind: &'static str) -> Result<(), StartError>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = match &config.namespace {
            Some(ns) => Api::namespaced(config.client.clone(), ns),
            None => Api::all(config.client.clone()),
        };
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(StartError::MissingCrd {
                crd: format!("{}.{}", K::plural(&()), K::group(&())),
                kind,
            }),
            Err(source) => Err(StartError::CrdCheck { kind, source }),
        }
    }
    one::<Topology>(config, "Topology").await?;
    one::<Site>(config, "Site").await?;
    one::<PoolPair>(config, "PoolPair").await?;
    one::<CentralManagementStore>(config, "CentralManagementStore").await?;
    Ok(())
}
