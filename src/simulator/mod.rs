//! A faithful, stateful model of an SfB deployment: it refuses what the real product refuses,
//! takes time as the real procedures do (scaled), accounts for lost data, injects faults, and
//! keeps an ordered audit log. Deterministic for a given seed and sequence of commands.

mod chat;
mod deployment;
mod fault;
mod guards;
pub mod server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use deployment::Deployment;
pub use fault::{Fault, FaultError};

use crate::model::{fqdn_key, ObservedTopology};
use crate::model::{Action, Mode};

/// How a command ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// The real product would refuse it; nothing changed.
    Refused,
    /// It ran and failed (an injected fault); nothing changed.
    Failed,
}

/// The answer to one command.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CommandResult {
    pub outcome: Outcome,
    pub message: String,
    /// Changes this command lost.
    pub data_loss: u64,
}

/// One line of the audit log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    /// When the command ended (RFC 3339).
    pub at: String,
    /// When the command was received (RFC 3339).
    #[serde(default, rename = "startedAt", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub command: Action,
    pub outcome: Outcome,
    pub message: String,
    /// The operation key the command ran under, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The record of one keyed command (`GET /operations/<key>`): what it was and, once it has
/// finished, its result. A key runs its command once; asking again returns this record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OperationRecord {
    pub key: String,
    pub command: Action,
    /// `None` while the command runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CommandResult>,
}

/// A key that was first used for another command: nothing was run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("operation key {key} was first used for \"{first}\"; a key names one command")]
pub struct KeyReused {
    pub key: String,
    pub first: Action,
}

struct Operation {
    command: Action,
    done: tokio::sync::watch::Sender<Option<CommandResult>>,
}

/// Simulator settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Every simulated latency is divided by this (1 = real time).
    pub time_scale: f64,
    /// Seeds the latency jitter.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            time_scale: 1.0,
            seed: 0,
        }
    }
}

/// Real-time latency of an action before scaling, in the spirit of Microsoft's RTO figures
/// (pool failover 15-20 minutes, CMS failover 5 minutes).
pub fn base_latency(action: &Action) -> Duration {
    let seconds = match action {
        Action::FailOverPool {
            mode: Mode::Graceful,
            ..
        } => 900,
        Action::FailOverPool {
            mode: Mode::Disaster,
            ..
        } => 600,
        Action::FailBackPool { .. } => 1200,
        Action::FailOverCms { .. } => 300,
        Action::SyncBackup { .. } => 120,
        Action::RepointEdge { .. } => 60,
        // Microsoft's engineering target for a Back End failover is 5 minutes; run by hand, the
        // cmdlet itself takes a fraction of that.
        Action::FailOverDatabase { .. } => 120,
        // A topology change, as an Edge repoint is.
        Action::SetXmppFederationRoute { .. } => 60,
        // Configuration writes, as a topology change is.
        Action::SetPersistentChatState { .. } | Action::SetPersistentChatActiveServers { .. } => 30,
        // A person's steps are refused at once.
        Action::MoveSipFederationRoute { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::RestorePersistentChatDatabase { .. } => 0,
    };
    Duration::from_secs(seconds)
}

struct State {
    deployment: Deployment,
    audit: Vec<AuditEntry>,
    rng: StdRng,
    operations: HashMap<String, Operation>,
}

/// The simulator: a deployment behind a lock, executing commands with their latencies.
pub struct Simulator {
    state: Mutex<State>,
    config: Config,
    /// Every command takes exactly this long instead (benchmarks).
    fixed_latency: Option<Duration>,
}

impl Simulator {
    /// A simulator for this deployment.
    pub fn new(deployment: Deployment, config: Config) -> Self {
        Simulator {
            state: Mutex::new(State {
                deployment,
                audit: Vec::new(),
                rng: StdRng::seed_from_u64(config.seed),
                operations: HashMap::new(),
            }),
            config,
            fixed_latency: None,
        }
    }

    /// Every command takes exactly `latency`, without jitter or scaling: what a benchmark of the
    /// operator's own overhead needs.
    pub fn with_fixed_latency(mut self, latency: Duration) -> Self {
        self.fixed_latency = Some(latency);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the plain data half-written in a way
        // that matters more than stopping the simulator would.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The observed topology, or an error while observation is partitioned.
    pub fn observe(&self) -> Result<ObservedTopology, String> {
        let s = self.lock();
        if s.deployment.partitioned() {
            return Err("the management server cannot be reached (ObservePartition)".into());
        }
        Ok(s.deployment.observe())
    }

    /// The audit log, in order.
    pub fn audit(&self) -> Vec<AuditEntry> {
        self.lock().audit.clone()
    }

    /// Injects a fault.
    pub fn inject(&self, fault: &Fault) -> Result<(), FaultError> {
        self.lock().deployment.inject(fault)
    }

    /// The record of the command run under `key`, if any.
    pub fn operation(&self, key: &str) -> Option<OperationRecord> {
        let s = self.lock();
        let op = s.operations.get(key)?;
        let result = op.done.borrow().clone();
        Some(OperationRecord {
            key: key.to_owned(),
            command: op.command.clone(),
            result,
        })
    }

    /// Runs a command under an operation key, at most once per key: a key already seen returns
    /// the first run's result (waiting while it runs) and acts no more. The command runs in a
    /// task of its own, so a caller that stops waiting does not stop it half-way.
    pub async fn execute_keyed(
        self: &Arc<Self>,
        key: String,
        action: Action,
    ) -> Result<CommandResult, KeyReused> {
        let mut done = {
            let mut s = self.lock();
            match s.operations.get(&key) {
                Some(op) if op.command != action => {
                    return Err(KeyReused {
                        key,
                        first: op.command.clone(),
                    })
                }
                Some(op) => op.done.subscribe(),
                None => {
                    let (tx, rx) = tokio::sync::watch::channel(None);
                    s.operations.insert(
                        key.clone(),
                        Operation {
                            command: action.clone(),
                            done: tx,
                        },
                    );
                    let sim = Arc::clone(self);
                    tokio::spawn(async move {
                        let result = sim.run(action, Some(key.clone())).await;
                        if let Some(op) = sim.lock().operations.get(&key) {
                            op.done.send_replace(Some(result));
                        }
                    });
                    rx
                }
            }
        };
        let result = done.wait_for(Option::is_some).await.map(|r| r.clone());
        // The sender lives in the record, which is never removed: the wait cannot fail.
        Ok(result.ok().flatten().unwrap_or_else(|| CommandResult {
            outcome: Outcome::Failed,
            message: "the simulator lost the operation record".into(),
            data_loss: 0,
        }))
    }

    /// Runs a command without a key: refused at once when the real product would refuse it,
    /// otherwise answered when its (scaled) latency has passed.
    pub async fn execute(&self, action: Action) -> CommandResult {
        self.run(action, None).await
    }

    async fn run(&self, action: Action, key: Option<String>) -> CommandResult {
        let kind = action.kind();
        let started = Some(jiff::Timestamp::now().to_string());
        let (delay, fail) = {
            let mut s = self.lock();
            if let Err(message) = guards::check(&s.deployment, &action) {
                return record(&mut s, action, key, started, Outcome::Refused, message, 0);
            }
            let base = base_latency(&action).as_secs_f64();
            let jitter = s.rng.random_range(0.9..=1.1);
            let extra = s.deployment.slow_next.remove(&kind).unwrap_or(0);
            let fail = match s.deployment.fail_next.get_mut(&kind) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            };
            mark_busy(&mut s.deployment, &action, true);
            let scaled = base * jitter / self.config.time_scale.max(f64::MIN_POSITIVE);
            // A NaN from a hostile time scale becomes a day, not a panic.
            let scaled = if scaled.is_nan() { 86_400.0 } else { scaled };
            let delay = self
                .fixed_latency
                .unwrap_or_else(|| Duration::from_secs_f64(scaled.clamp(0.0, 86_400.0)))
                .saturating_add(Duration::from_millis(extra));
            (delay, fail)
        };
        tokio::time::sleep(delay).await;
        let mut s = self.lock();
        mark_busy(&mut s.deployment, &action, false);
        if fail {
            let message = format!("{kind:?} failed (injected fault); nothing changed");
            return record(&mut s, action, key, started, Outcome::Failed, message, 0);
        }
        let lost = s.deployment.apply(&action);
        let message = if lost > 0 {
            format!("{action}: done; {lost} changes not yet replicated were lost")
        } else {
            format!("{action}: done")
        };
        record(
            &mut s,
            action,
            key,
            started,
            Outcome::Succeeded,
            message,
            lost,
        )
    }
}

/// Marks the pools (both of the pair) or the CMS an action is working on.
fn mark_busy(d: &mut Deployment, action: &Action, busy: bool) {
    let pool = match action {
        Action::FailOverPool { pool, .. }
        | Action::FailBackPool { pool, .. }
        | Action::SyncBackup { pool, .. } => fqdn_key(pool),
        Action::FailOverCms { .. } => {
            d.cms_busy = busy;
            return;
        }
        Action::RepointEdge { .. }
        | Action::SetXmppFederationRoute { .. }
        | Action::MoveSipFederationRoute { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::SetPersistentChatState { .. }
        | Action::SetPersistentChatActiveServers { .. }
        | Action::RestorePersistentChatDatabase { .. } => return,
        // The pool's own databases; its partner is not involved.
        Action::FailOverDatabase {
            pool, databases, ..
        } => {
            let pool = fqdn_key(pool);
            if databases.contains(&crate::model::DatabaseType::CentralMgmt)
                && d.cms_home.as_deref() == Some(pool.as_str())
            {
                d.cms_busy = busy;
            }
            if busy {
                d.busy.insert(pool);
            } else {
                d.busy.remove(&pool);
            }
            return;
        }
    };
    let partner = d.pools.get(&pool).and_then(|p| p.backup_pool.clone());
    for p in std::iter::once(pool).chain(partner) {
        if busy {
            d.busy.insert(p);
        } else {
            d.busy.remove(&p);
        }
    }
}

#[allow(clippy::too_many_arguments)] // One audit line's fields.
fn record(
    s: &mut State,
    command: Action,
    key: Option<String>,
    started_at: Option<String>,
    outcome: Outcome,
    message: String,
    data_loss: u64,
) -> CommandResult {
    let seq = u64::try_from(s.audit.len())
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    s.audit.push(AuditEntry {
        seq,
        at: jiff::Timestamp::now().to_string(),
        started_at,
        command,
        outcome,
        message: message.clone(),
        key,
    });
    CommandResult {
        outcome,
        message,
        data_loss,
    }
}

impl Deployment {
    /// Runs an action at once, without latency or faults: the synchronous form the planner's
    /// property tests execute plans with. `Err` is the refusal.
    pub fn run(&mut self, action: &Action) -> Result<u64, String> {
        guards::check(self, action)?;
        Ok(self.apply(action))
    }
}
