//! The write-ahead journal: the current plan in `Topology.status.plan`, step by step, and the pure
//! transitions the executor makes on it.
//!
//! Two functions, no I/O: [`record`] folds finished driver calls into the journal (checking each
//! success against a fresh observation and updating the ledger), and [`advance`] decides whether
//! the journalled plan goes on or gives way to a fresh one, and which steps start now. The shell
//! writes the result with a compare-and-swap before it calls the driver, so a step is `Running`
//! in the journal before anything can happen to the deployment.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;

use crate::api::{BlockedStatus, PlanOutcome, PlanRecord, PlanStatus, StepState, StepStatus};
use crate::driver::{DriverError, OperationKey};
use crate::model::{Action, ActionKind, Ledger, Mode, ObservedIndex, Plan, Step};

/// How many finished plans `status.history` keeps.
pub const HISTORY_LEN: usize = 10;
/// The first retry waits this long; each further attempt doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between two attempts of a step.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What may run now, as the Topology's spec and annotations say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Steps may start.
    Open,
    /// `spec.paused`: nothing new starts.
    Paused,
    /// `approval: Manual` and the annotation does not name the current plan.
    AwaitingApproval,
}

/// What the Topology's spec and annotations allow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `spec.paused`.
    pub paused: bool,
    /// `approval: Manual`.
    pub manual: bool,
    /// The value of `sfbdr.io/approve-plan`.
    pub approved: Option<String>,
    /// The value of `sfbdr.io/retry`.
    pub retry: Option<String>,
    /// The confirmation keys `sfbdr.io/confirm-steps` lists (comma- or space-separated).
    pub confirmed: Vec<String>,
}

impl Policy {
    /// The gate for the journalled `plan`.
    pub fn gate(&self, plan: &PlanStatus) -> Gate {
        if self.paused {
            Gate::Paused
        } else if self.manual && !approves(self.approved.as_deref(), plan) {
            Gate::AwaitingApproval
        } else {
            Gate::Open
        }
    }
}

/// Whether an `sfbdr.io/approve-plan` value approves this publication of `plan`. An approval
/// binds to one publication: the plan id approves it unless the annotation already named that
/// id when it was published (then it was left by an earlier run of the same plan, and a
/// repeated failback must not start unreviewed); the publication's key prefix always does.
pub fn approves(value: Option<&str>, plan: &PlanStatus) -> bool {
    match value {
        Some(v) if plan.key_prefix.as_deref() == Some(v) => true,
        Some(v) => v == plan.id && !plan.approval_left_over,
        None => false,
    }
}

/// The `sfbdr.io/approve-plan` value that approves this publication of `plan`: its id, or its
/// key prefix when the id was left over from an earlier publication.
pub fn approval_value(plan: &PlanStatus) -> &str {
    if plan.approval_left_over {
        key_prefix(plan)
    } else {
        &plan.id
    }
}

/// The Topology's limits on execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `spec.maxParallelSteps`.
    pub max_parallel: usize,
    /// `spec.maxAttempts`.
    pub max_attempts: u32,
}

/// A driver call that ended, as the step task reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutcome {
    /// The operation key the call ran under.
    pub key: OperationKey,
    pub step: String,
    pub attempt: u32,
    /// Whether the call only asked, under the same key, for the outcome of an earlier call.
    pub settling: bool,
    pub result: Result<(), DriverError>,
    pub finished_at: Timestamp,
}

/// A driver call to make now, under its operation key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub step: String,
    pub attempt: u32,
    pub key: OperationKey,
    pub action: Action,
    /// True when the step is already `Running` and the call only learns its outcome.
    pub settling: bool,
}

/// Something worth an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalEvent {
    PlanPublished {
        plan: String,
        steps: usize,
        blocked: usize,
    },
    AwaitingApproval {
        plan: String,
        /// The `sfbdr.io/approve-plan` value that approves it.
        approve_with: String,
    },
    StepStarted {
        plan: String,
        step: String,
        action: Action,
        attempt: u32,
        /// For a disaster-mode move, the observed replication lag it gives up (None: unknown).
        data_loss_window_seconds: Option<u64>,
    },
    StepSucceeded {
        plan: String,
        step: String,
        action: Action,
    },
    /// A person's step is ready: it waits for `sfbdr.io/confirm-steps` to name `confirm_with`.
    AwaitingConfirmation {
        plan: String,
        step: String,
        action: Action,
        confirm_with: String,
    },
    /// `retry` is false once the step has failed `maxAttempts` times: its pair is stalled.
    StepFailed {
        plan: String,
        step: String,
        action: Action,
        attempt: u32,
        message: String,
        retry: bool,
    },
    PlanFinished {
        plan: String,
        outcome: PlanOutcome,
    },
}

/// The journal after [`record`].
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub plan: Option<PlanStatus>,
    pub ledger: Ledger,
    pub events: Vec<JournalEvent>,
}

/// Folds finished driver calls into the journal. A success counts only when the observation
/// agrees with it; an outcome that may hide an action is asked for again under the same key.
pub fn record(
    plan: Option<PlanStatus>,
    ledger: Ledger,
    outcomes: Vec<StepOutcome>,
    observed: &ObservedIndex,
    limits: Limits,
) -> Recorded {
    let mut out = Recorded {
        plan,
        ledger,
        events: Vec::new(),
    };
    let Some(plan) = out.plan.as_mut() else {
        return out;
    };
    for outcome in outcomes {
        let prefix = key_prefix(plan).to_owned();
        let Some(step) = plan.steps.iter_mut().find(|s| {
            s.id == outcome.step
                && s.state == StepState::Running
                && OperationKey::for_step(&prefix, &s.id, s.attempt).as_ref() == Ok(&outcome.key)
        }) else {
            // An answer for a publication or attempt the journal has moved past.
            tracing::debug!(key = %outcome.key, journal = %plan.id, "an outcome the journal has moved past");
            continue;
        };
        let Ok(action) = step_action(step) else {
            continue;
        };
        let verdict = judge(outcome.result, outcome.settling, &action, observed);
        let finished = Some(outcome.finished_at.to_string());
        match verdict {
            Verdict::Succeeded(note) => {
                let done = Done {
                    message: note,
                    finished_at: finished,
                };
                succeed(
                    step,
                    &plan.id,
                    action,
                    done,
                    (&mut out.ledger, &mut out.events),
                    observed,
                );
            }
            Verdict::AskAgain(message) => {
                // Still `Running`: [`orphans`] asks again under the same key.
                step.message = Some(message);
            }
            Verdict::Failed { message, counts } => {
                step.state = StepState::Failed;
                if counts {
                    step.failures = step.failures.saturating_add(1);
                }
                if message.ends_with(UNLEARNED) {
                    // Not run again on its own: only a person who has looked may ask.
                    step.failures = step.failures.max(limits.max_attempts);
                }
                step.message = Some(message.clone());
                step.finished_at = finished;
                out.events.push(JournalEvent::StepFailed {
                    plan: plan.id.clone(),
                    step: step.id.clone(),
                    action,
                    attempt: step.attempt,
                    message,
                    retry: step.failures < limits.max_attempts,
                });
            }
        }
    }
    out
}

/// Settles the person's steps that `confirmed` names: each is done once the fresh observation
/// does not contradict it (a SIP federation route must show on its new Edge pool when the
/// driver reports the route), and the ledger records it as a driver step's success would.
pub fn confirm(
    recorded: &mut Recorded,
    confirmed: &[String],
    observed: &ObservedIndex,
    now: Timestamp,
) {
    let Some(plan) = recorded.plan.as_mut() else {
        return;
    };
    for step in &mut plan.steps {
        if step.state != StepState::AwaitingConfirmation {
            continue;
        }
        let Some(key) = step.confirm_with.as_deref() else {
            continue;
        };
        if !confirmed.iter().any(|c| c == key) {
            continue;
        }
        let Ok(action) = step_action(step) else {
            continue;
        };
        if let Err(disagreement) = verify(&action, observed) {
            step.message = Some(format!(
                "confirmed, but the observation disagrees: {disagreement}; finish the change and \
                 the next observation completes the step"
            ));
            continue;
        }
        let done = Done {
            message: Some(format!("confirmed by {CONFIRM_ANNOTATION}")),
            finished_at: Some(now.to_string()),
        };
        let sink = (&mut recorded.ledger, &mut recorded.events);
        succeed(step, &plan.id, action, done, sink, observed);
    }
}

/// How a step ended well: its note and when.
struct Done {
    message: Option<String>,
    finished_at: Option<String>,
}

/// Marks a step succeeded, as a driver's answer or a person's confirmation settles it: the
/// ledger records what it changed and a `StepSucceeded` event says so.
fn succeed(
    step: &mut StepStatus,
    plan_id: &str,
    action: Action,
    done: Done,
    (ledger, events): (&mut Ledger, &mut Vec<JournalEvent>),
    observed: &ObservedIndex,
) {
    step.state = StepState::Succeeded;
    step.message = done.message;
    step.finished_at = done.finished_at;
    ledger.record_step(&action, observed);
    events.push(JournalEvent::StepSucceeded {
        plan: plan_id.to_owned(),
        step: step.id.clone(),
        action,
    });
}

/// The annotation that confirms a person's steps.
pub const CONFIRM_ANNOTATION: &str = "sfbdr.io/confirm-steps";

/// The value `sfbdr.io/confirm-steps` names to confirm step `step` of the publication whose keys
/// start with `prefix`, once it became ready at `ready`: bound to one publication and one
/// moment, so neither a confirmation left from an earlier run of the same plan nor one written
/// before the step was ready confirms anything. The step keeps it in `confirmWith`.
pub fn confirmation_key(prefix: &str, step: &str, ready: Timestamp) -> String {
    format!("{prefix}-{step}-{}", ready.as_millisecond())
}

/// What a person's step that is ready asks, and how to confirm it: the step's message, its
/// Event and the Topology's condition all say this.
pub fn awaiting_person(plan: &str, step: &str, action: &Action, key: &str) -> String {
    format!(
        "step {step} waits for a person: {action}; when it is done: kubectl sfbdr confirm {step} \
         {plan} (the annotation {CONFIRM_ANNOTATION}={key})"
    )
}

/// The confirmation keys an `sfbdr.io/confirm-steps` value lists.
pub fn confirmations(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The end of the message of a step whose outcome could not be learned and whose effect the
/// deployment does not show: it may have run, and re-running a failover is not documented as
/// harmless, so it waits for a person rather than running again under a new key.
const UNLEARNED: &str = "; the outcome could not be learned and the deployment does not show \
                         it: check the deployment, then ask for another round (sfbdr.io/retry, \
                         `kubectl sfbdr retry`)";

/// What one driver answer means for its step.
enum Verdict {
    /// With a note when the success was learned from the observation, not from the driver.
    Succeeded(Option<String>),
    /// The outcome is unknown: ask again under the same key.
    AskAgain(String),
    /// `counts` says whether it counts against `maxAttempts` (nothing sent: it does not).
    Failed { message: String, counts: bool },
}

fn judge(
    result: Result<(), DriverError>,
    settling: bool,
    action: &Action,
    observed: &ObservedIndex,
) -> Verdict {
    let e = match result {
        Ok(()) => {
            return match verify(action, observed) {
                Ok(()) => Verdict::Succeeded(None),
                Err(disagreement) => Verdict::Failed {
                    message: format!(
                        "the driver reported success, but the observation disagrees: {disagreement}"
                    ),
                    counts: true,
                },
            }
        }
        Err(e) => e,
    };
    match e {
        // This call sent nothing; the earlier call under the same key may still have acted, so
        // its outcome is asked for again, never abandoned for a new key.
        DriverError::Unreachable(_) if settling => Verdict::AskAgain(format!(
            "{e}; the outcome of the earlier call is still to be learned under the same key"
        )),
        // Nothing was sent: try again later, without counting it against the step.
        DriverError::Unreachable(_) => Verdict::Failed {
            message: e.to_string(),
            counts: false,
        },
        DriverError::Refused(_) | DriverError::Failed(_) => Verdict::Failed {
            message: e.to_string(),
            counts: true,
        },
        // The call still runs (or the first call does): keep asking under the same key.
        DriverError::Timeout { .. } => Verdict::AskAgain(format!(
            "{e}; asking for the outcome again under the same operation key"
        )),
        DriverError::OutcomeUnknown(_) | DriverError::BadOutput(_) if !settling => {
            Verdict::AskAgain(format!(
                "{e}; asking for the outcome again under the same operation key"
            ))
        }
        // Asked again and still no answer (the process that ran it is gone): when the fresh
        // observation shows the step's effect, it happened (and the ledger must say so, or the
        // next plan would contradict the deployment); otherwise the observation decides whether
        // it is still to be done, under a new key.
        DriverError::OutcomeUnknown(_) | DriverError::BadOutput(_) if shows(action, observed) => {
            Verdict::Succeeded(Some(format!(
                "{e}; the fresh observation shows its effect, so it is recorded as done"
            )))
        }
        DriverError::OutcomeUnknown(_) | DriverError::BadOutput(_) => Verdict::Failed {
            message: format!("{e}{UNLEARNED}"),
            counts: true,
        },
    }
}

/// Whether a fresh observation positively shows the step's effect: who serves the pool, where
/// the CMS master is, where the Edge pool points. An effect the driver does not observe (who
/// serves a pool, for the PowerShell driver; any Backup Service sync) is never shown.
pub fn shows(action: &Action, observed: &ObservedIndex) -> bool {
    let pool = |fqdn: &str| observed.pool(&crate::model::fqdn_key(fqdn));
    match action {
        Action::FailOverPool { pool: home, .. } => pool(home).is_some_and(|p| {
            p.served_by.is_some() && p.backup_pool.is_some() && p.served_by == p.backup_pool
        }),
        Action::FailBackPool { pool: home, .. } => {
            pool(home).is_some_and(|p| p.served_by.as_deref() == Some(p.fqdn.as_str()))
        }
        Action::FailOverCms { .. } | Action::RepointEdge { .. } => verify(action, observed).is_ok(),
        Action::FailOverDatabase { pool: fqdn, .. } => {
            pool(fqdn).is_some_and(|p| p.back_end_mirror.is_some())
                && verify(action, observed).is_ok()
        }
        Action::SetXmppFederationRoute { .. } => {
            verify(action, observed).is_ok()
                && observed.route(crate::model::RouteKind::Xmpp).is_some()
        }
        Action::SetPersistentChatState { .. } | Action::SetPersistentChatActiveServers { .. } => {
            chat_effect(action, observed).is_some_and(|e| e.is_ok())
        }
        Action::SyncBackup { .. }
        | Action::MoveSipFederationRoute { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::RestorePersistentChatDatabase { .. } => false,
    }
}

/// Whether a fresh observation shows what a step that succeeded should have done. Effects the
/// driver cannot observe (who serves a pool, for some drivers; a Backup Service sync) pass.
pub fn verify(action: &Action, observed: &ObservedIndex) -> Result<(), String> {
    let pool = |fqdn: &str| {
        observed
            .pool(&crate::model::fqdn_key(fqdn))
            .ok_or_else(|| format!("pool {fqdn} is not in the observation"))
    };
    match action {
        Action::FailOverPool { pool: home, .. } => {
            let p = pool(home)?;
            match (&p.served_by, &p.backup_pool) {
                (Some(s), Some(b)) if s != b => Err(format!(
                    "{home}'s users are served by {s}, not by its backup pool {b}"
                )),
                _ => Ok(()),
            }
        }
        Action::FailBackPool { pool: home, .. } => {
            let p = pool(home)?;
            match &p.served_by {
                Some(s) if *s != p.fqdn => Err(format!("{home}'s users are still served by {s}")),
                _ => Ok(()),
            }
        }
        Action::FailOverCms { to, .. } => {
            let to = crate::model::fqdn_key(to);
            match &observed.topology.cms.active_master {
                Some(m) if *m == to => Ok(()),
                Some(m) => Err(format!("the CMS master is on {m}, not {to}")),
                None => Err(format!("the CMS has no active master, not {to}")),
            }
        }
        Action::RepointEdge { edge, to } => {
            let (edge, to) = (crate::model::fqdn_key(edge), crate::model::fqdn_key(to));
            match observed.topology.edges.iter().find(|e| e.fqdn == edge) {
                Some(e) if e.next_hop == to => Ok(()),
                Some(e) => Err(format!(
                    "Edge pool {edge} points at {}, not {to}",
                    e.next_hop
                )),
                None => Err(format!("Edge pool {edge} is not in the observation")),
            }
        }
        Action::FailOverDatabase {
            pool: fqdn,
            new_principal,
            ..
        } => match pool(fqdn)?.back_end_mirror {
            Some(m) if m.principal != *new_principal => Err(format!(
                "the principal of {fqdn}'s Back End is still its {} SQL Server",
                m.principal.word()
            )),
            _ => Ok(()),
        },
        Action::MoveSipFederationRoute { to, .. } => {
            route_on(observed, crate::model::RouteKind::Sip, to)
        }
        Action::SetXmppFederationRoute { edge, .. } => {
            route_on(observed, crate::model::RouteKind::Xmpp, edge)
        }
        Action::SetPersistentChatState { .. } | Action::SetPersistentChatActiveServers { .. } => {
            chat_effect(action, observed).unwrap_or(Ok(()))
        }
        Action::SyncBackup { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::RestorePersistentChatDatabase { .. } => Ok(()),
    }
}

/// What the observation says of a Persistent Chat cmdlet's effect: the pool's state, or its
/// active servers (as a set); `None` when the driver does not report it.
fn chat_effect(action: &Action, observed: &ObservedIndex) -> Option<Result<(), String>> {
    use crate::model::fqdn_key;
    match action {
        Action::SetPersistentChatState { pool, state } => {
            let seen = observed.chat_pool(&fqdn_key(pool))?.state?;
            Some(if seen == *state {
                Ok(())
            } else {
                Err(format!(
                    "Persistent Chat pool {pool} is {}, not {}",
                    seen.name(),
                    state.name()
                ))
            })
        }
        Action::SetPersistentChatActiveServers { pool, servers } => {
            let seen = observed
                .chat_pool(&fqdn_key(pool))?
                .active_servers
                .as_ref()?;
            let mut want: Vec<String> = servers.iter().map(|s| fqdn_key(s)).collect();
            let mut have = seen.clone();
            want.sort();
            have.sort();
            Some(if want == have {
                Ok(())
            } else {
                Err(format!(
                    "the active servers of Persistent Chat pool {pool} are [{}], not [{}]",
                    have.join(", "),
                    want.join(", ")
                ))
            })
        }
        _ => None,
    }
}

/// Whether the route of `kind` is on Edge pool `to`, or not reported.
fn route_on(
    observed: &ObservedIndex,
    kind: crate::model::RouteKind,
    to: &str,
) -> Result<(), String> {
    let to = crate::model::fqdn_key(to);
    match observed.route(kind) {
        None => Ok(()),
        Some(Some(e)) if e == to => Ok(()),
        Some(Some(e)) => Err(format!("the {} route is on {e}, not {to}", kind.word())),
        Some(None) => Err(format!("the {} route is not set, not {to}", kind.word())),
    }
}

/// Everything the executor decides in one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Advanced {
    /// The journal to write (before any launch).
    pub plan: PlanStatus,
    /// The plan closed by this pass, for the history.
    pub finished: Option<PlanRecord>,
    pub launch: Vec<Launch>,
    pub events: Vec<JournalEvent>,
    /// When the earliest waiting retry may start.
    pub wake_at: Option<Timestamp>,
    /// True when the journalled plan no longer fits the fresh one and waits for its running
    /// steps before it is replaced.
    pub superseded: bool,
    /// The gate the journalled plan met.
    pub gate: Gate,
}

/// What [`advance`] works from.
#[derive(Clone, Debug)]
pub struct Situation<'a> {
    pub fresh: &'a Plan,
    pub observed: &'a ObservedIndex,
    /// Operation keys whose driver call runs in this process now.
    pub in_flight: &'a HashSet<OperationKey>,
    /// The Topology's uid (hex digits only), part of every operation key.
    pub instance: &'a str,
    pub policy: Policy,
    pub limits: Limits,
    pub now: Timestamp,
}

/// Decides whether the journalled plan goes on or gives way to `fresh`, and which steps start.
///
/// The journalled plan goes on while what is left of it is what a fresh plan would do: every
/// fresh step is among its unfinished ones, and each of its steps that has not started (or
/// failed) is still wanted. Otherwise no new step of it starts; once none runs, it is closed
/// into the history and the fresh plan replaces it.
pub fn advance(current: Option<PlanStatus>, s: Situation<'_>) -> Advanced {
    let in_flight = s.in_flight;
    let mut events = Vec::new();
    let mut finished = None;
    let mut plan = match current {
        // The same plan (an empty one stays at rest), or what is left of it.
        Some(plan)
            if (plan.id == s.fresh.id && (unfinished(&plan) || plan.steps.is_empty()))
                || continues(&plan, s.fresh) =>
        {
            plan
        }
        // Running steps finish, and a person's step under way is confirmed, before it is replaced.
        Some(plan) if plan.steps.iter().any(|st| in_progress(st.state)) => {
            let gate = s.policy.gate(&plan);
            return Advanced {
                launch: orphans(&plan, in_flight),
                plan,
                finished: None,
                events,
                wake_at: None,
                superseded: true,
                gate,
            };
        }
        previous => {
            if let Some(previous) = previous.filter(|p| !p.steps.is_empty()) {
                let record = close(&previous, s.now);
                events.push(JournalEvent::PlanFinished {
                    plan: previous.id.clone(),
                    outcome: record.outcome,
                });
                finished = Some(record);
            }
            let plan = publish(s.fresh, s.now, s.instance, &s.policy);
            if !plan.steps.is_empty() || !plan.blocked.is_empty() {
                events.push(JournalEvent::PlanPublished {
                    plan: plan.id.clone(),
                    steps: plan.steps.len(),
                    blocked: plan.blocked.len(),
                });
                if s.policy.gate(&plan) == Gate::AwaitingApproval && !plan.steps.is_empty() {
                    events.push(JournalEvent::AwaitingApproval {
                        plan: plan.id.clone(),
                        approve_with: approval_value(&plan).to_owned(),
                    });
                }
            }
            plan
        }
    };
    plan.blocked = blocked(s.fresh);

    let gate = s.policy.gate(&plan);
    let asked = s
        .policy
        .retry
        .as_deref()
        .filter(|v| retry_names(&plan.id, v));
    if let Some(asked) = asked.filter(|v| plan.retried_with.as_deref() != Some(*v)) {
        for step in &mut plan.steps {
            if step.state == StepState::Failed && step.failures >= s.limits.max_attempts {
                // A person asked: another round of attempts, the first one at once.
                step.failures = 0;
                step.finished_at = None;
            }
        }
        plan.retried_with = Some(asked.to_owned());
    }

    let mut launch = orphans(&plan, in_flight);
    let mut wake_at: Option<Timestamp> = None;
    if gate == Gate::Open {
        let done: HashSet<String> = plan
            .steps
            .iter()
            .filter(|st| st.state == StepState::Succeeded)
            .map(|st| st.id.clone())
            .collect();
        let mut running = plan
            .steps
            .iter()
            .filter(|st| st.state == StepState::Running)
            .count();
        let plan_id = plan.id.clone();
        let prefix = key_prefix(&plan).to_owned();
        for step in &mut plan.steps {
            let ready = match step.state {
                StepState::Pending => true,
                StepState::Failed if step.failures < s.limits.max_attempts => {
                    let at = retry_at(step);
                    match at {
                        Some(at) if at > s.now => {
                            wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
                            false
                        }
                        _ => true,
                    }
                }
                _ => false,
            };
            if !ready || !step.depends_on.iter().all(|d| done.contains(d)) {
                continue;
            }
            let Ok(action) = step_action(step) else {
                continue;
            };
            if action.is_manual() {
                // A person does it; no driver is called, and it holds no parallel slot. The key
                // names the moment it became ready, so no confirmation written before counts.
                let confirm_with = confirmation_key(&prefix, &step.id, s.now);
                step.confirm_with = Some(confirm_with.clone());
                step.state = StepState::AwaitingConfirmation;
                step.started_at = Some(s.now.to_string());
                step.message = Some(awaiting_person(&plan_id, &step.id, &action, &confirm_with));
                events.push(JournalEvent::AwaitingConfirmation {
                    plan: plan_id.clone(),
                    step: step.id.clone(),
                    action,
                    confirm_with,
                });
                continue;
            }
            if running >= s.limits.max_parallel {
                continue;
            }
            let attempt = step.attempt.saturating_add(1);
            let Ok(key) = OperationKey::for_step(&prefix, &step.id, attempt) else {
                continue;
            };
            step.state = StepState::Running;
            step.attempt = attempt;
            step.started_at = Some(s.now.to_string());
            step.finished_at = None;
            step.data_loss_window_seconds = data_loss_window(&action, s.observed);
            events.push(JournalEvent::StepStarted {
                plan: plan_id.clone(),
                step: step.id.clone(),
                action: action.clone(),
                attempt,
                data_loss_window_seconds: step.data_loss_window_seconds,
            });
            launch.push(Launch {
                step: step.id.clone(),
                attempt,
                key,
                action,
                settling: false,
            });
            running += 1;
        }
    }
    Advanced {
        plan,
        finished,
        launch,
        events,
        wake_at,
        superseded: false,
        gate,
    }
}

/// Running steps with no driver call in this process (after a restart, or a change of leader):
/// ask for their outcome under the same key, which cannot act twice.
pub fn orphans(plan: &PlanStatus, in_flight: &HashSet<OperationKey>) -> Vec<Launch> {
    plan.steps
        .iter()
        .filter(|st| st.state == StepState::Running)
        .filter_map(|st| {
            let key = OperationKey::for_step(key_prefix(plan), &st.id, st.attempt).ok()?;
            if in_flight.contains(&key) {
                return None;
            }
            Some(Launch {
                step: st.id.clone(),
                attempt: st.attempt,
                key,
                action: step_action(st).ok()?,
                settling: true,
            })
        })
        .collect()
}

/// A step under way: a driver call (`Running`) or a person's work (`AwaitingConfirmation`). Its
/// plan is never replaced under it, whatever the fresh plan says: the work may be half done.
pub fn in_progress(state: StepState) -> bool {
    matches!(state, StepState::Running | StepState::AwaitingConfirmation)
}

/// Whether `plan` still has steps that have not succeeded.
pub fn unfinished(plan: &PlanStatus) -> bool {
    plan.steps.iter().any(|s| s.state != StepState::Succeeded)
}

/// The journalled plan goes on while the fresh plan asks for nothing it does not already hold
/// (unfinished steps, and a person's steps already done in it), and everything it has yet to
/// start (or retry) is still wanted.
fn continues(plan: &PlanStatus, fresh: &Plan) -> bool {
    if !unfinished(plan) {
        return false;
    }
    let mut remaining: HashMap<Action, usize> = HashMap::new();
    let mut waiting: Vec<Action> = Vec::new();
    for step in &plan.steps {
        let Ok(action) = step_action(step) else {
            return false;
        };
        // A person's step done in this plan still counts as held: its effect (Edge services
        // stopped or started, DNS records) is not observed, so a fresh plan asks for it again.
        if step.state == StepState::Succeeded && !action.is_manual() {
            continue;
        }
        if !in_progress(step.state) && step.state != StepState::Succeeded {
            waiting.push(action.clone());
        }
        *remaining.entry(action).or_default() += 1;
    }
    let mut wanted: HashMap<&Action, usize> = HashMap::new();
    for step in &fresh.steps {
        *wanted.entry(&step.action).or_default() += 1;
    }
    let fresh_within = wanted
        .iter()
        .all(|(a, n)| remaining.get(*a).is_some_and(|m| m >= n));
    fresh_within && waiting.iter().all(|a| wanted.contains_key(a))
}

/// The journal of a newly published plan. Its operation keys start with the plan id, the
/// Topology's uid and the moment of publication, so no two publications share a key. An
/// approval annotation that already names the plan's id is marked left over, and a retry
/// annotation that already names it counts as used: a round of attempts granted to an earlier
/// publication of the same plan grants this one nothing.
fn publish(fresh: &Plan, now: Timestamp, instance: &str, policy: &Policy) -> PlanStatus {
    PlanStatus {
        approval_left_over: policy.approved.as_deref() == Some(fresh.id.as_str()),
        id: fresh.id.clone(),
        published_at: Some(now.to_string()),
        steps: fresh.steps.iter().map(pending).collect(),
        blocked: blocked(fresh),
        retried_with: policy.retry.clone().filter(|v| retry_names(&fresh.id, v)),
        key_prefix: Some(format!("{}-{instance}-{}", fresh.id, now.as_millisecond())),
    }
}

/// What the operation keys of `plan` start with (the plan id, for a journal written before
/// keys named their publication).
pub fn key_prefix(plan: &PlanStatus) -> &str {
    plan.key_prefix.as_deref().unwrap_or(&plan.id)
}

/// Whether an `sfbdr.io/retry` value names plan `id`: the id, or the id followed by `-<n>`.
pub fn retry_names(id: &str, value: &str) -> bool {
    value == id
        || value
            .strip_prefix(id)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The `sfbdr.io/retry` value that gives `plan` its next round of attempts.
pub fn next_retry(plan: &PlanStatus) -> String {
    match plan.retried_with.as_deref() {
        None => plan.id.clone(),
        Some(v) if v == plan.id => format!("{}-2", plan.id),
        Some(v) => {
            let n = v
                .rsplit('-')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(1);
            format!("{}-{}", plan.id, n.saturating_add(1))
        }
    }
}

fn blocked(plan: &Plan) -> Vec<BlockedStatus> {
    plan.blocked
        .iter()
        .map(|b| BlockedStatus {
            pair: b.pair.clone(),
            reason: b.reason,
            message: b.message.clone(),
        })
        .collect()
}

/// A closed plan's record for the history.
fn close(plan: &PlanStatus, now: Timestamp) -> PlanRecord {
    let parse = |t: &Option<String>| t.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
    let started = plan
        .steps
        .iter()
        .filter_map(|s| parse(&s.started_at))
        .min()
        .or_else(|| parse(&plan.published_at))
        .unwrap_or(now);
    let finished = plan
        .steps
        .iter()
        .filter_map(|s| parse(&s.finished_at))
        .max()
        .filter(|_| !unfinished(plan))
        .unwrap_or(now)
        .max(started);
    let succeeded = plan
        .steps
        .iter()
        .filter(|s| s.state == StepState::Succeeded)
        .count();
    let outcome = if succeeded == plan.steps.len() {
        PlanOutcome::Succeeded
    } else if plan.steps.iter().any(|s| s.state == StepState::Failed) {
        PlanOutcome::Failed
    } else {
        PlanOutcome::Superseded
    };
    let disaster: Vec<&StepStatus> = plan
        .steps
        .iter()
        .filter(|s| s.mode == Some(Mode::Disaster) && s.state == StepState::Succeeded)
        .collect();
    PlanRecord {
        id: plan.id.clone(),
        outcome,
        started_at: started.to_string(),
        finished_at: finished.to_string(),
        duration_seconds: u64::try_from(finished.duration_since(started).as_secs()).unwrap_or(0),
        steps: u32::try_from(plan.steps.len()).unwrap_or(u32::MAX),
        steps_succeeded: u32::try_from(succeeded).unwrap_or(u32::MAX),
        disaster_mode_steps: u32::try_from(disaster.len()).unwrap_or(u32::MAX),
        data_loss_window_seconds: disaster
            .iter()
            .filter_map(|s| s.data_loss_window_seconds)
            .max(),
    }
}

/// Appends a record, keeping the newest [`HISTORY_LEN`].
pub fn push_history(history: &mut Vec<PlanRecord>, record: PlanRecord) {
    history.push(record);
    let excess = history.len().saturating_sub(HISTORY_LEN);
    history.drain(..excess);
}

/// When a failed step may be tried again: capped exponential backoff from when it failed.
fn retry_at(step: &StepStatus) -> Option<Timestamp> {
    let failed = step.finished_at.as_deref()?.parse::<Timestamp>().ok()?;
    let exponent = step.attempt.saturating_sub(1).min(16);
    let wait = FIRST_BACKOFF
        .saturating_mul(1u32 << exponent)
        .min(MAX_BACKOFF);
    let wait = jiff::SignedDuration::try_from(wait).ok()?;
    failed.checked_add(wait).ok()
}

/// For a disaster-mode move: the observed replication lag behind the data it gives up (from the
/// pool whose users move, or from the CMS master's pool), when the driver reports it.
fn data_loss_window(action: &Action, observed: &ObservedIndex) -> Option<u64> {
    let age = |from: &str| {
        let i = observed.pool_index(&crate::model::fqdn_key(from))?;
        observed.backup_from_index(i)?.last_sync_age_seconds
    };
    let partner = |home: &str| {
        observed
            .pool(&crate::model::fqdn_key(home))?
            .backup_pool
            .clone()
    };
    match action {
        Action::FailOverPool {
            pool,
            mode: Mode::Disaster,
        } => age(pool),
        Action::FailBackPool {
            pool,
            mode: Mode::Disaster,
        } => age(&partner(pool)?),
        Action::FailOverCms {
            mode: Mode::Disaster,
            to,
            ..
        } => {
            let from = observed.topology.cms.pool.clone().or_else(|| partner(to))?;
            age(&from)
        }
        _ => None,
    }
}

/// A step of a newly published plan, not yet started.
pub fn pending(step: &Step) -> StepStatus {
    let mut status = StepStatus {
        id: step.id.clone(),
        action: step.action.kind(),
        pool: None,
        edge: None,
        to: None,
        module: None,
        mode: None,
        backup_sql: None,
        new_principal: None,
        databases: Vec::new(),
        from: None,
        site: None,
        pool_state: None,
        servers: None,
        confirm_with: None,
        depends_on: step.depends_on.clone(),
        state: StepState::Pending,
        attempt: 0,
        failures: 0,
        data_loss_window_seconds: None,
        message: None,
        started_at: None,
        finished_at: None,
    };
    match &step.action {
        Action::RepointEdge { edge, to } => {
            status.edge = Some(edge.clone());
            status.to = Some(to.clone());
        }
        Action::FailOverCms {
            to,
            mode,
            backup_sql,
        } => {
            status.to = Some(to.clone());
            status.mode = Some(*mode);
            status.backup_sql = backup_sql.as_deref().cloned();
        }
        Action::FailOverPool { pool, mode } | Action::FailBackPool { pool, mode } => {
            status.pool = Some(pool.clone());
            status.mode = Some(*mode);
        }
        Action::SyncBackup { pool, module } => {
            status.pool = Some(pool.clone());
            status.module = Some(*module);
        }
        Action::FailOverDatabase {
            pool,
            new_principal,
            databases,
        } => {
            status.pool = Some(pool.clone());
            status.new_principal = Some(*new_principal);
            status.databases = databases.clone();
        }
        Action::MoveSipFederationRoute { from, to } => {
            status.from = from.clone();
            status.to = Some(to.clone());
        }
        Action::StopEdgeServices { edge }
        | Action::StartEdgeServices { edge }
        | Action::PublishXmppFederationRoute { edge } => {
            status.edge = Some(edge.clone());
        }
        Action::SetXmppFederationRoute { site, edge } => {
            status.site = Some(site.clone());
            status.edge = Some(edge.clone());
        }
        Action::RecoverPersistentChatDatabase { pool }
        | Action::RestorePersistentChatDatabase { pool } => {
            status.pool = Some(pool.clone());
        }
        Action::SetPersistentChatState { pool, state } => {
            status.pool = Some(pool.clone());
            status.pool_state = Some(*state);
        }
        Action::SetPersistentChatActiveServers { pool, servers } => {
            status.pool = Some(pool.clone());
            status.servers = Some(servers.clone());
        }
    }
    status
}

/// The action a journalled step performs, rebuilt from its fields; an edited or truncated
/// journal names the missing field.
pub fn step_action(step: &StepStatus) -> Result<Action, String> {
    let need = |v: &Option<String>, field: &str| {
        v.clone()
            .ok_or_else(|| format!("step {}: {:?} needs {field}", step.id, step.action))
    };
    let mode = || {
        step.mode
            .ok_or_else(|| format!("step {}: {:?} needs mode", step.id, step.action))
    };
    Ok(match step.action {
        ActionKind::RepointEdge => Action::RepointEdge {
            edge: need(&step.edge, "edge")?,
            to: need(&step.to, "to")?,
        },
        ActionKind::FailOverCms => Action::FailOverCms {
            to: need(&step.to, "to")?,
            mode: mode()?,
            backup_sql: step.backup_sql.clone().map(Box::new),
        },
        ActionKind::FailOverPool => Action::FailOverPool {
            pool: need(&step.pool, "pool")?,
            mode: mode()?,
        },
        ActionKind::FailBackPool => Action::FailBackPool {
            pool: need(&step.pool, "pool")?,
            mode: mode()?,
        },
        ActionKind::SyncBackup => Action::SyncBackup {
            pool: need(&step.pool, "pool")?,
            module: step
                .module
                .ok_or_else(|| format!("step {}: SyncBackup needs module", step.id))?,
        },
        ActionKind::FailOverDatabase => {
            if step.databases.is_empty() {
                return Err(format!(
                    "step {}: FailOverDatabase needs databases",
                    step.id
                ));
            }
            Action::FailOverDatabase {
                pool: need(&step.pool, "pool")?,
                new_principal: step.new_principal.ok_or_else(|| {
                    format!("step {}: FailOverDatabase needs newPrincipal", step.id)
                })?,
                databases: step.databases.clone(),
            }
        }
        ActionKind::MoveSipFederationRoute => Action::MoveSipFederationRoute {
            from: step.from.clone(),
            to: need(&step.to, "to")?,
        },
        ActionKind::StopEdgeServices => Action::StopEdgeServices {
            edge: need(&step.edge, "edge")?,
        },
        ActionKind::StartEdgeServices => Action::StartEdgeServices {
            edge: need(&step.edge, "edge")?,
        },
        ActionKind::SetXmppFederationRoute => Action::SetXmppFederationRoute {
            site: need(&step.site, "site")?,
            edge: need(&step.edge, "edge")?,
        },
        ActionKind::PublishXmppFederationRoute => Action::PublishXmppFederationRoute {
            edge: need(&step.edge, "edge")?,
        },
        ActionKind::RecoverPersistentChatDatabase => Action::RecoverPersistentChatDatabase {
            pool: need(&step.pool, "pool")?,
        },
        ActionKind::RestorePersistentChatDatabase => Action::RestorePersistentChatDatabase {
            pool: need(&step.pool, "pool")?,
        },
        ActionKind::SetPersistentChatState => Action::SetPersistentChatState {
            pool: need(&step.pool, "pool")?,
            state: step.pool_state.ok_or_else(|| {
                format!("step {}: SetPersistentChatState needs poolState", step.id)
            })?,
        },
        ActionKind::SetPersistentChatActiveServers => Action::SetPersistentChatActiveServers {
            pool: need(&step.pool, "pool")?,
            servers: step.servers.clone().ok_or_else(|| {
                format!(
                    "step {}: SetPersistentChatActiveServers needs servers",
                    step.id
                )
            })?,
        },
    })
}
