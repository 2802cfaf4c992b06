//! Step tasks: each driver call runs in a task of its own, so a failover that takes twenty
//! minutes never blocks the reconcile loop. A task that ends records its outcome here and wakes
//! the controller for its Topology, whose next reconcile folds the outcome into the journal.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use super::journal::{Launch, StepOutcome};
use super::leader::Leadership;
use super::metrics::Metrics;
use crate::api::Topology;
use crate::driver::{Driver, DriverError, OperationKey};

#[derive(Default)]
struct Runtime {
    in_flight: HashMap<OperationKey, Option<tokio::task::AbortHandle>>,
    finished: Vec<StepOutcome>,
}

/// The step tasks of every Topology this process serves.
pub struct Executor {
    runtimes: Mutex<HashMap<ObjectRef<Topology>, Runtime>>,
    wake: mpsc::UnboundedSender<ObjectRef<Topology>>,
    leadership: Leadership,
    metrics: Arc<Metrics>,
}

impl Executor {
    /// An executor that wakes the controller through `wake`, and calls the driver only while
    /// `leadership` says this process leads.
    pub fn new(
        wake: mpsc::UnboundedSender<ObjectRef<Topology>>,
        leadership: Leadership,
        metrics: Arc<Metrics>,
    ) -> Self {
        Executor {
            runtimes: Mutex::new(HashMap::new()),
            wake,
            leadership,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectRef<Topology>, Runtime>> {
        // Plain bookkeeping: a panic elsewhere while holding the lock cannot leave it half-written.
        self.runtimes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The outcomes that arrived for `topology` since the last call.
    pub fn take_finished(&self, topology: &ObjectRef<Topology>) -> Vec<StepOutcome> {
        self.lock()
            .get_mut(topology)
            .map(|r| std::mem::take(&mut r.finished))
            .unwrap_or_default()
    }

    /// Returns outcomes that could not be recorded (the journal write failed), for next time.
    pub fn put_back(&self, topology: &ObjectRef<Topology>, mut outcomes: Vec<StepOutcome>) {
        if outcomes.is_empty() {
            return;
        }
        let mut runtimes = self.lock();
        let runtime = runtimes.entry(topology.clone()).or_default();
        outcomes.append(&mut runtime.finished);
        runtime.finished = outcomes;
    }

    /// The operation keys whose driver call runs in this process for `topology`, or ended with
    /// an outcome not yet taken: neither needs asking again.
    pub fn in_flight(&self, topology: &ObjectRef<Topology>) -> HashSet<OperationKey> {
        let runtimes = self.lock();
        let Some(r) = runtimes.get(topology) else {
            return HashSet::new();
        };
        let queued = r.finished.iter().map(|o| o.key.clone());
        r.in_flight.keys().cloned().chain(queued).collect()
    }

    /// Every operation key in flight, for the shutdown log.
    pub fn all_in_flight(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .lock()
            .values()
            .flat_map(|r| r.in_flight.keys().map(ToString::to_string))
            .collect();
        keys.sort();
        keys
    }

    /// Starts the driver call of one step. The journal already says `Running`.
    pub fn launch(
        self: &Arc<Self>,
        topology: ObjectRef<Topology>,
        driver: Arc<dyn Driver>,
        launch: Launch,
    ) {
        {
            let mut runtimes = self.lock();
            let runtime = runtimes.entry(topology.clone()).or_default();
            if runtime.in_flight.contains_key(&launch.key) {
                return;
            }
            runtime.in_flight.insert(launch.key.clone(), None);
        }
        let executor = Arc::clone(self);
        let key = launch.key.clone();
        let task_topology = topology.clone();
        let task = tokio::spawn(async move {
            let topology = task_topology;
            let started = std::time::Instant::now();
            let kind = launch.action.kind();
            let result = executor.call(driver.as_ref(), &launch).await;
            executor
                .metrics
                .step_finished(kind, &result, started.elapsed());
            let outcome = StepOutcome {
                key: launch.key.clone(),
                step: launch.step,
                attempt: launch.attempt,
                settling: launch.settling,
                result,
                finished_at: Timestamp::now(),
            };
            {
                let mut runtimes = executor.lock();
                let runtime = runtimes.entry(topology.clone()).or_default();
                runtime.in_flight.remove(&launch.key);
                runtime.finished.push(outcome);
            }
            // The controller may be gone (shutting down): then the journal keeps `Running` and
            // the next leader settles the step under the same key.
            let _ = executor.wake.send(topology);
        });
        if let Some(slot) = self
            .lock()
            .get_mut(&topology)
            .and_then(|r| r.in_flight.get_mut(&key))
        {
            *slot = Some(task.abort_handle());
        }
    }

    /// One driver call, or, to settle a step, as many calls under its key as it takes to learn
    /// the outcome: while the server cannot be reached or the first call still runs, it waits
    /// (1 s, doubling to 30 s) and asks again, never moving on to a new key. Losing the lease
    /// stops new calls at once.
    async fn call(&self, driver: &dyn Driver, launch: &Launch) -> Result<(), DriverError> {
        let mut wait = std::time::Duration::from_secs(1);
        loop {
            if !self.leadership.leads() {
                return Err(DriverError::Unreachable(
                    "this replica no longer holds the lease; nothing was sent".into(),
                ));
            }
            tracing::info!(key = %launch.key, step = %launch.action, settling = launch.settling, "calling the driver");
            let result = driver.execute(&launch.key, &launch.action).await;
            let again = launch.settling
                && matches!(
                    result,
                    Err(DriverError::Unreachable(_) | DriverError::Timeout { .. })
                );
            if !again {
                return result;
            }
            if let Err(error) = &result {
                tracing::warn!(key = %launch.key, %error, "the outcome is not known yet; asking again");
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(30));
        }
    }

    /// Abandons every driver call in flight, as a crash would.
    pub fn abort_all(&self) {
        for runtime in self.lock().values_mut() {
            for handle in runtime.in_flight.values().flatten() {
                handle.abort();
            }
            runtime.in_flight.clear();
        }
    }
}
