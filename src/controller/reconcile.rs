//! One reconcile of one Topology, as the pipeline it is:
//! observe -> record -> validate -> plan -> gate and execute -> report.
//!
//! Only `observe` and `report` (and the launch of step tasks) touch the world; the stages in
//! between are the pure functions of [`super::journal`], [`crate::declared`],
//! [`crate::planner`] and [`super::status`].

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use super::events::{notice, publish};
use super::journal::{self, Advanced, Gate, Limits, Policy, Situation, StepOutcome};
use super::status::{self, Findings, Objects, Planned, Statuses};
use super::{Context, Error, FIELD_MANAGER};
use crate::api::{CentralManagementStore, PoolPair, Site, Topology, TopologyStatus};
use crate::declared::{self, Declared};
use crate::model::{Desired, ObservedIndex};
use crate::planner;

/// The annotation that approves a plan under `approval: Manual`.
pub const APPROVE_ANNOTATION: &str = "sfbdr.io/approve-plan";
/// The annotation that gives a plan's failed steps another round of attempts.
pub const RETRY_ANNOTATION: &str = "sfbdr.io/retry";

/// The snapshot of the namespace's resources one reconcile works from.
struct Namespace {
    sites: Vec<Arc<Site>>,
    pairs: Vec<Arc<PoolPair>>,
    cms: Vec<Arc<CentralManagementStore>>,
    topologies: Vec<Arc<Topology>>,
}

/// Reconciles one Topology.
pub async fn reconcile(cached: Arc<Topology>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let leads = ctx.leadership.leads();
    ctx.metrics.set_leader(leads);
    if !leads {
        // A standby keeps its caches warm and waits; becoming leader reconciles everything.
        return Ok(Requeue::await_change());
    }
    if !ctx.metrics.primed() {
        // A Site, PoolPair or CMS not listed yet would read as absent, and an absent Site as
        // active: a Site taken out of service on purpose could be failed back. Nothing is
        // decided until every cache holds its first full list; then all are reconciled again.
        tracing::debug!("waiting for every cache to list before deciding anything");
        ctx.metrics.reconciled_waiting();
        return Ok(Requeue::await_change());
    }
    let topology = ctx.latest(&cached);
    let key = ObjectRef::from_obj(&*topology);
    let interval = Duration::from_secs(u64::from(
        topology.spec.observe_interval_seconds.clamp(5, 3600),
    ));
    let outcomes = ctx.executor.take_finished(&key);
    let result = pipeline(&topology, &key, &ctx, outcomes.clone()).await;
    match result {
        Ok(next) => {
            ctx.metrics.reconciled(None);
            Ok(Requeue::requeue(next.unwrap_or(interval).min(interval)))
        }
        Err(e) => {
            ctx.executor.put_back(&key, outcomes);
            ctx.metrics.reconciled(Some(e.kind()));
            Err(e)
        }
    }
}

/// The stages; returns when to look again, if sooner than the observe interval.
async fn pipeline(
    topology: &Arc<Topology>,
    key: &ObjectRef<Topology>,
    ctx: &Arc<Context>,
    outcomes: Vec<StepOutcome>,
) -> Result<Option<Duration>, Error> {
    let now = Timestamp::now();
    let clock = std::time::Instant::now();
    let namespace = ctx.namespace(&topology.namespace().unwrap_or_default());
    let stored = topology.status.clone().unwrap_or_default();
    let limits = Limits {
        max_parallel: usize::try_from(topology.spec.max_parallel_steps.max(1)).unwrap_or(1),
        max_attempts: topology.spec.max_attempts.max(1),
    };

    // Observe.
    let observed = match observe(ctx, topology).await {
        Ok(observed) => observed,
        Err(message) => {
            let statuses = status::compute(
                namespace.view(topology).as_objects(),
                Findings::ObserveFailed { message: &message },
                now,
            );
            let mut next = stored.clone();
            next.conditions = statuses.topology.conditions;
            next.observed_generation = statuses.topology.observed_generation;
            gauge_conditions(ctx, topology, &next.conditions);
            ctx.write_topology(topology, next, &stored).await?;
            return Err(Error::Observe(message));
        }
    };
    ctx.metrics.set_observed();
    let observed_in = clock.elapsed();
    let ns = topology.namespace().unwrap_or_default();
    ctx.metrics.backup(&ns, &observed.topology.backup);

    // Record what finished since last time, checked against this observation.
    let mut recorded = journal::record(
        stored.plan.clone(),
        stored.ledger.clone(),
        outcomes,
        &observed,
        limits,
    );
    let policy = policy(topology);
    journal::confirm(&mut recorded, &policy.confirmed, &observed, now);

    // Validate the resources against each other and the deployment.
    let desired = match validate(&namespace, &observed) {
        Ok(desired) => desired,
        Err(errors) => {
            let statuses = status::compute(
                namespace.view(topology).as_objects(),
                Findings::Invalid { errors: &errors },
                now,
            );
            let in_flight = ctx.executor.in_flight(key);
            let launch = recorded
                .plan
                .as_ref()
                .map(|plan| journal::orphans(plan, &in_flight))
                .unwrap_or_default();
            let progress = recorded.plan.as_ref().map(|p| {
                let done = p
                    .steps
                    .iter()
                    .filter(|s| s.state == crate::api::StepState::Succeeded)
                    .count();
                format!("{done}/{}", p.steps.len())
            });
            let next = TopologyStatus {
                plan: recorded.plan.clone(),
                ledger: recorded.ledger.clone(),
                progress: progress.or(stored.progress.clone()),
                ..with_conditions(&stored, &statuses)
            };
            let stalled = super::events::stalled(&stored.conditions, &next.conditions);
            // The gauges follow the conditions on every exit: SfbDrTopologyStalled fires for an
            // invalid spec too.
            gauge_conditions(ctx, topology, &next.conditions);
            ctx.write_topology(topology, next, &stored).await?;
            if let Some(notice) = stalled {
                publish(&ctx.recorder, &topology.object_ref(&()), None, notice).await;
            }
            ctx.launch(key, topology, launch).await;
            write_children(ctx, &namespace, &statuses).await;
            announce(ctx, topology, None, &recorded.events).await;
            return Ok(None);
        }
    };

    // Plan, then gate and execute.
    let fresh = planner::plan(&desired, &observed, &recorded.ledger);
    let approved = policy.approved.clone();
    let in_flight = ctx.executor.in_flight(key);
    let instance: String = topology
        .uid()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let situation = Situation {
        instance: &instance,
        fresh: &fresh,
        observed: &observed,
        in_flight: &in_flight,
        policy,
        limits,
        now,
    };
    let mut advanced = journal::advance(recorded.plan.clone(), situation);
    tracing::debug!(
        journal = ?recorded.plan.as_ref().map(|p| p.steps.iter().map(|s| format!("{}:{:?}", s.id, s.state)).collect::<Vec<_>>()),
        fresh = %fresh.id,
        fresh_steps = ?fresh.steps.iter().map(|s| s.action.to_string()).collect::<Vec<_>>(),
        plan = %advanced.plan.id,
        superseded = advanced.superseded,
        rv = ?topology.resource_version(),
        owed = ?recorded.ledger.conference_content_owed,
        "advanced"
    );
    if advanced.launch.iter().any(|l| !l.settling) && !ctx.leadership.confirm().await {
        // The lease is not (or no longer) ours: start nothing, write nothing.
        return Err(Error::NotLeader);
    }
    let mut history = stored.history.clone();
    if let Some(record) = advanced.finished.take() {
        journal::push_history(&mut history, record);
    }

    // Report.
    let statuses = status::compute(
        namespace.view(topology).as_objects(),
        Findings::Planned(Planned {
            desired: &desired,
            observed: &observed,
            fresh: &fresh,
            journal: &advanced.plan,
            ledger: &recorded.ledger,
            gate: advanced.gate,
            superseded: advanced.superseded,
            max_attempts: limits.max_attempts,
            rpo_seconds: u64::from(topology.spec.objectives.rpo_seconds),
            rto_seconds: u64::from(topology.spec.objectives.rto_seconds),
            history: &history,
            approved: approved.as_deref(),
        }),
        now,
    );
    let mut next = TopologyStatus {
        plan: Some(advanced.plan.clone()),
        history,
        ledger: recorded.ledger.clone(),
        ..with_conditions(&stored, &statuses)
    };
    // Published between steps only: mid-plan the deployment changes at every step.
    let idle = !advanced
        .plan
        .steps
        .iter()
        .any(|s| s.state == crate::api::StepState::Running)
        && advanced.launch.is_empty();
    if idle {
        match ctx
            .observations
            .publish(
                &ctx.client,
                topology,
                &observed.topology,
                &recorded.ledger,
                &now.to_string(),
            )
            .await
        {
            Ok(name) => next.observation = Some(name),
            Err(error) => tracing::warn!(%error, "could not publish the observation"),
        }
    }
    let planned_in = clock.elapsed();
    let stalled = super::events::stalled(&stored.conditions, &next.conditions);
    // The write-ahead record: `Running` is stored before any driver call starts.
    ctx.write_topology(topology, next, &stored).await?;
    let written_in = clock.elapsed();
    let launch = std::mem::take(&mut advanced.launch);
    let launches = launch.len();
    ctx.launch(key, topology, launch).await;
    write_children(ctx, &namespace, &statuses).await;
    tracing::debug!(
        ?observed_in,
        ?planned_in,
        ?written_in,
        children_in = ?clock.elapsed(),
        launches,
        "reconciled"
    );
    let pending = advanced
        .plan
        .steps
        .iter()
        .filter(|s| s.state != crate::api::StepState::Succeeded)
        .count();
    ctx.metrics.pending(&ns, &topology.name_any(), pending);
    gauge_conditions(ctx, topology, &statuses.topology.conditions);
    for (pair, s) in &statuses.pairs {
        let met = s
            .conditions
            .iter()
            .any(|c| c.type_ == "RPOMet" && c.status == "True");
        ctx.metrics.rpo(&ns, pair, met);
    }
    let mut events = recorded.events;
    events.extend(advanced.events.iter().cloned());
    announce(ctx, topology, Some(&desired), &events).await;
    if let Some(notice) = stalled {
        publish(&ctx.recorder, &topology.object_ref(&()), None, notice).await;
    }
    Ok(wake_in(&advanced, now))
}

/// The Topology's objective and condition gauges, as its status now says (on every exit of a
/// reconcile that wrote conditions).
fn gauge_conditions(
    ctx: &Context,
    topology: &Topology,
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) {
    ctx.metrics.topology(
        &topology.namespace().unwrap_or_default(),
        &topology.name_any(),
        topology.spec.objectives.rpo_seconds,
        conditions,
    );
}

fn wake_in(advanced: &Advanced, now: Timestamp) -> Option<Duration> {
    let at = advanced.wake_at?;
    let wait = now.duration_until(at);
    Some(
        Duration::try_from(wait)
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(100)),
    )
}

/// The Topology's status with freshly computed conditions and progress, keeping the rest.
fn with_conditions(stored: &TopologyStatus, statuses: &Statuses) -> TopologyStatus {
    TopologyStatus {
        observed_generation: statuses.topology.observed_generation,
        conditions: statuses.topology.conditions.clone(),
        progress: statuses
            .topology
            .progress
            .clone()
            .or(stored.progress.clone()),
        ..stored.clone()
    }
}

/// What the spec and annotations allow now.
fn policy(topology: &Topology) -> Policy {
    let annotation = |name: &str| {
        topology
            .annotations()
            .get(name)
            .map(|v| v.trim().to_owned())
    };
    Policy {
        paused: topology.spec.paused,
        manual: topology.spec.approval == crate::api::Approval::Manual,
        approved: annotation(APPROVE_ANNOTATION),
        retry: annotation(RETRY_ANNOTATION),
        confirmed: annotation(journal::CONFIRM_ANNOTATION)
            .map(|v| journal::confirmations(&v))
            .unwrap_or_default(),
    }
}

/// Observes through the Topology's driver; the error is a message for status and logs.
async fn observe(ctx: &Context, topology: &Topology) -> Result<ObservedIndex, String> {
    let driver = ctx
        .drivers
        .for_topology(topology)
        .await
        .map_err(|e| e.to_string())?;
    let observed = driver.observe().await.map_err(|e| e.to_string())?;
    ObservedIndex::new(observed).map_err(|e| format!("the driver's observation: {e}"))
}

fn validate(
    namespace: &Namespace,
    observed: &ObservedIndex,
) -> Result<Desired, Vec<declared::SpecError>> {
    let topologies: Vec<&Topology> = namespace.topologies.iter().map(|t| &**t).collect();
    let sites: Vec<&Site> = namespace.sites.iter().map(|t| &**t).collect();
    let pairs: Vec<&PoolPair> = namespace.pairs.iter().map(|t| &**t).collect();
    let cms: Vec<&CentralManagementStore> = namespace.cms.iter().map(|t| &**t).collect();
    declared::desired_state(
        Declared {
            topologies: &topologies,
            sites: &sites,
            pairs: &pairs,
            cms: &cms,
        },
        Some(observed),
    )
}

/// Publishes the reconcile's Events, naming the pair a step moves where there is one.
async fn announce(
    ctx: &Context,
    topology: &Topology,
    desired: Option<&Desired>,
    events: &[journal::JournalEvent],
) {
    let regarding = &topology.object_ref(&());
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for event in events {
        let related = desired.and_then(|d| {
            let action = match event {
                journal::JournalEvent::StepStarted { action, .. }
                | journal::JournalEvent::StepSucceeded { action, .. }
                | journal::JournalEvent::StepFailed { action, .. } => action,
                _ => return None,
            };
            let pair = status::pair_of(d, action)?;
            let ns = topology.namespace()?;
            ctx.stores
                .pairs
                .get(&ObjectRef::new(&pair.name).within(&ns))
                .map(|p| p.object_ref(&()))
        });
        pending.push(Box::pin(publish(
            &ctx.recorder,
            regarding,
            related,
            notice(event),
        )));
    }
    all(pending).await;
}

/// How many status writes or Events go out at once: a site failover touches hundreds of pairs,
/// and one after another they would hold up the next reconcile.
const CONCURRENT_WRITES: usize = 16;

async fn write_children(ctx: &Context, namespace: &Namespace, statuses: &Statuses) {
    let mut writes: Vec<Pending<'_>> = Vec::new();
    for o in &namespace.pairs {
        if let Some(s) = statuses.pairs.get(&o.name_any()) {
            writes.push(Box::pin(ctx.write_child(&**o, s)));
        }
    }
    for o in &namespace.sites {
        if let Some(s) = statuses.sites.get(&o.name_any()) {
            writes.push(Box::pin(ctx.write_child(&**o, s)));
        }
    }
    for o in &namespace.cms {
        if let Some(s) = statuses.cms.get(&o.name_any()) {
            writes.push(Box::pin(ctx.write_child(&**o, s)));
        }
    }
    all(writes).await;
}

/// A write or an Event on its way.
type Pending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Runs them, [`CONCURRENT_WRITES`] at a time.
async fn all(pending: Vec<Pending<'_>>) {
    use futures::stream::{self, StreamExt};
    stream::iter(pending)
        .buffer_unordered(CONCURRENT_WRITES)
        .for_each(|()| async {})
        .await;
}

/// The objects of one namespace, borrowed for the status computation.
struct View<'a> {
    topology: &'a Topology,
    sites: Vec<&'a Site>,
    pairs: Vec<&'a PoolPair>,
    cms: Vec<&'a CentralManagementStore>,
}

impl View<'_> {
    fn as_objects(&self) -> Objects<'_> {
        Objects {
            topology: self.topology,
            sites: &self.sites,
            pairs: &self.pairs,
            cms: &self.cms,
        }
    }
}

impl Namespace {
    fn view<'a>(&'a self, topology: &'a Topology) -> View<'a> {
        View {
            topology,
            sites: self.sites.iter().map(|s| &**s).collect(),
            pairs: self.pairs.iter().map(|s| &**s).collect(),
            cms: self.cms.iter().map(|s| &**s).collect(),
        }
    }
}

impl Context {
    fn namespace(&self, ns: &str) -> Namespace {
        fn of<K: Resource + Clone>(
            store: &kube::runtime::reflector::Store<K>,
            ns: &str,
        ) -> Vec<Arc<K>>
        where
            K::DynamicType: std::hash::Hash + Eq + Clone,
        {
            let mut objects: Vec<Arc<K>> = store
                .state()
                .into_iter()
                .filter(|o| o.meta().namespace.as_deref() == Some(ns))
                .collect();
            objects.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
            objects
        }
        Namespace {
            sites: of(&self.stores.sites, ns),
            pairs: of(&self.stores.pairs, ns),
            cms: of(&self.stores.cms, ns),
            topologies: of(&self.stores.topologies, ns),
        }
    }

    /// The newest copy of a Topology: the one this process just wrote while the cache has not
    /// caught up with that write yet, else the cache's.
    fn latest(&self, cached: &Arc<Topology>) -> Arc<Topology> {
        let key = ObjectRef::from_obj(&**cached);
        let written = self.written_topologies();
        match written.get(&key) {
            Some((based_on, mine)) if cached.resource_version().as_ref() == Some(based_on) => {
                Arc::clone(mine)
            }
            _ => Arc::clone(cached),
        }
    }

    /// Writes the Topology's status with a compare-and-swap on its resourceVersion, when it
    /// says something new. `observedAt` alone changing is not news.
    async fn write_topology(
        &self,
        topology: &Topology,
        mut next: TopologyStatus,
        stored: &TopologyStatus,
    ) -> Result<(), Error> {
        next.observed_at = stored.observed_at.clone();
        if next == *stored {
            return Ok(());
        }
        if tracing::enabled!(tracing::Level::TRACE) {
            let a = serde_json::to_value(stored).unwrap_or_default();
            let b = serde_json::to_value(&next).unwrap_or_default();
            for (k, v) in b.as_object().into_iter().flatten() {
                if a.get(k) != Some(v) {
                    tracing::trace!(field = %k, before = %a.get(k).cloned().unwrap_or_default(), after = %v, "status field changed");
                }
            }
        }
        next.observed_at = Some(Timestamp::now().to_string());
        let mut object = topology.clone();
        object.status = Some(next);
        object.metadata.managed_fields = None;
        let name = topology.name_any();
        let ns = topology.namespace().unwrap_or_default();
        let api: Api<Topology> = Api::namespaced(self.client.clone(), &ns);
        match api
            .replace_status(
                &name,
                &PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PostParams::default()
                },
                &object,
            )
            .await
        {
            Ok(written) => {
                tracing::debug!(from = ?topology.resource_version(), to = ?written.resource_version(),
                    owed = ?written.status.as_ref().map(|s| &s.ledger.conference_content_owed),
                    plan = ?written.status.as_ref().and_then(|s| s.plan.as_ref()).map(|p| p.steps.iter().map(|s| format!("{}:{:?}", s.id, s.state)).collect::<Vec<_>>()),
                    "wrote the Topology");
                let based_on = topology.resource_version().unwrap_or_default();
                self.written_topologies()
                    .insert(ObjectRef::from_obj(topology), (based_on, Arc::new(written)));
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                tracing::debug!(from = ?topology.resource_version(), "conflict writing the Topology");
                Err(Error::Conflict)
            }
            Err(e) => Err(Error::Write(e)),
        }
    }

    /// Applies a child's status (server-side apply, field manager `sfb-dr`) when it changed.
    async fn write_child<K>(&self, object: &K, status: &K::Status)
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + HasStatus
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug,
        K::Status: Serialize + PartialEq,
    {
        // Only a change in what the status says is worth a write: a sync age that moved on
        // alone is not (it is refreshed with the next real change; the metric is live).
        let settled_status = K::settled(status);
        if object
            .status()
            .is_some_and(|s| K::settled(s) == settled_status)
        {
            return;
        }
        let wanted = match serde_json::to_value(status) {
            Ok(v) => v,
            Err(_) => return,
        };
        let key = format!(
            "{}/{}/{}",
            K::kind(&()),
            object.meta().namespace.as_deref().unwrap_or_default(),
            object.meta().name.as_deref().unwrap_or_default()
        );
        let rv = object.meta().resource_version.clone().unwrap_or_default();
        let settled = serde_json::to_value(&settled_status).ok();
        if let Some((based_on, last)) = self.written_children().get(&key) {
            if *based_on == rv && Some(last) == settled.as_ref() {
                // Already written; the cache has not caught up with it yet.
                return;
            }
        }
        let ns = object.meta().namespace.clone().unwrap_or_default();
        let name = object.meta().name.clone().unwrap_or_default();
        let api: Api<K> = Api::namespaced(self.client.clone(), &ns);
        let body = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": {"name": name},
            "status": wanted,
        });
        match api
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
        {
            Ok(_) => {
                if let Some(settled) = settled {
                    self.written_children().insert(key, (rv, settled));
                }
            }
            Err(error) => tracing::warn!(%error, object = %key, "could not write status"),
        }
    }

    async fn launch(
        &self,
        key: &ObjectRef<Topology>,
        topology: &Topology,
        launches: Vec<journal::Launch>,
    ) {
        if launches.is_empty() {
            return;
        }
        let driver = match self.drivers.for_topology(topology).await {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(%error, "no driver: the steps stay Running and are settled later");
                return;
            }
        };
        for l in launches {
            self.executor.launch(key.clone(), Arc::clone(&driver), l);
        }
    }
}

/// The kinds whose status the operator writes.
pub trait HasStatus: Resource {
    type Status: Clone;
    fn status(&self) -> Option<&Self::Status>;
    /// The status without what changes at every look and is not worth a write alone.
    fn settled(status: &Self::Status) -> Self::Status {
        status.clone()
    }
}

impl HasStatus for PoolPair {
    type Status = crate::api::PoolPairStatus;
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn settled(status: &Self::Status) -> Self::Status {
        let mut s = status.clone();
        for b in &mut s.backup {
            b.last_sync_age_seconds = None;
        }
        s
    }
}

impl HasStatus for Site {
    type Status = crate::api::SiteStatus;
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
}

impl HasStatus for CentralManagementStore {
    type Status = crate::api::CmsStatus;
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
}

impl Gate {
    /// The reason a gate closed, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Open => "Open",
            Gate::Paused => "Paused",
            Gate::AwaitingApproval => "AwaitingApproval",
        }
    }
}
