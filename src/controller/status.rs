//! The status every kind should show, computed in memory from one reconcile's findings. The
//! shell compares it with what is stored and writes only what changed.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;

use super::conditions::{render, Wanted};
use super::journal::{step_action, Gate};
use crate::api::{
    CentralManagementStore, CmsStatus, ConditionType, PlanStatus, PoolPair, PoolPairStatus,
    PoolStatus, Reason, Site, SiteEdgeStatus, SitePoolStatus, SiteStatus, StepState, Topology,
};
use crate::declared::SpecError;
use crate::model::{
    fqdn_key, site_key, Action, BackupDirection, BlockReason, Desired, ExportState, Ledger,
    ObservedIndex, PairSpec, Plan,
};

/// The resources of one namespace, as read from the caches.
#[derive(Clone, Copy, Debug)]
pub struct Objects<'a> {
    pub topology: &'a Topology,
    pub sites: &'a [&'a Site],
    pub pairs: &'a [&'a PoolPair],
    pub cms: &'a [&'a CentralManagementStore],
}

/// What one reconcile found out.
#[derive(Clone, Copy, Debug)]
pub enum Findings<'a> {
    /// The driver could not observe the deployment.
    ObserveFailed { message: &'a str },
    /// The resources contradict each other (or the observation): nothing runs.
    Invalid { errors: &'a [SpecError] },
    /// A plan was made and the journal advanced.
    Planned(Planned<'a>),
}

/// The inputs of a status once a plan was made.
#[derive(Clone, Copy, Debug)]
pub struct Planned<'a> {
    pub desired: &'a Desired,
    pub observed: &'a ObservedIndex,
    pub fresh: &'a Plan,
    pub journal: &'a PlanStatus,
    pub ledger: &'a Ledger,
    pub gate: Gate,
    /// The journalled plan waits for its running steps before a fresh one replaces it.
    pub superseded: bool,
    pub max_attempts: u32,
    pub rpo_seconds: u64,
    /// `spec.objectives.rtoSeconds`, judged against the plans in `history`.
    pub rto_seconds: u64,
    /// The finished plans, oldest first, this pass's included.
    pub history: &'a [crate::api::PlanRecord],
    /// The value of `sfbdr.io/approve-plan`, if any.
    pub approved: Option<&'a str>,
}

/// The statuses to write, by object name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Statuses {
    /// The Topology's conditions and progress (the journal, ledger and history are added by
    /// the caller, which owns them).
    pub topology: crate::api::TopologyStatus,
    pub pairs: BTreeMap<String, PoolPairStatus>,
    pub sites: BTreeMap<String, SiteStatus>,
    pub cms: BTreeMap<String, CmsStatus>,
}

/// The verdict on one object before it becomes conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    ready: Option<String>,
    /// Why not ready, when not.
    waiting: (String, String),
    reconciling: Option<(String, String)>,
    stalled: Option<(String, String)>,
}

impl Verdict {
    fn ready(message: &str) -> Self {
        Verdict {
            ready: Some(message.to_owned()),
            waiting: (String::new(), String::new()),
            reconciling: None,
            stalled: None,
        }
    }

    fn waiting(reason: impl ToString, message: impl Into<String>) -> Self {
        Verdict {
            ready: None,
            waiting: (reason.to_string(), message.into()),
            reconciling: None,
            stalled: None,
        }
    }

    fn stalled(reason: impl ToString, message: impl Into<String>) -> Self {
        let (reason, message) = (reason.to_string(), message.into());
        Verdict {
            ready: None,
            waiting: (reason.clone(), message.clone()),
            reconciling: None,
            stalled: Some((reason, message)),
        }
    }

    fn conditions(&self) -> Vec<Wanted> {
        let ready = match &self.ready {
            Some(m) => Wanted::yes(ConditionType::Ready, "Converged", m.clone()),
            None => Wanted::no(
                ConditionType::Ready,
                &self.waiting.0,
                self.waiting.1.clone(),
            ),
        };
        let reconciling = match &self.reconciling {
            Some((r, m)) => Wanted::yes(ConditionType::Reconciling, r, m.clone()),
            None => Wanted::no(ConditionType::Reconciling, "Idle", ""),
        };
        let stalled = match &self.stalled {
            Some((r, m)) => Wanted::yes(ConditionType::Stalled, r, m.clone()),
            None => Wanted::no(ConditionType::Stalled, "Progressing", ""),
        };
        vec![ready, reconciling, stalled]
    }
}

/// Computes the status of every object of the namespace.
pub fn compute(objects: Objects<'_>, findings: Findings<'_>, now: Timestamp) -> Statuses {
    let mut out = Statuses::default();
    let topology = objects.topology;
    let previous = topology
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let mut wanted;
    match findings {
        Findings::ObserveFailed { message } => {
            let mut v = Verdict::waiting("ObserveFailed", message);
            v.reconciling = Some((
                "ObserveFailed".into(),
                format!("observing the deployment failed; retrying: {message}"),
            ));
            wanted = v.conditions();
            // What the children said stays: it is the last thing known.
            out.topology.conditions = render(previous, wanted, topology.metadata.generation, now);
            return out;
        }
        Findings::Invalid { errors } => {
            let v = Verdict::stalled(Reason::InvalidSpec, spec_message(errors));
            wanted = v.conditions();
            invalid_children(objects, errors, now, &mut out);
        }
        Findings::Planned(p) => {
            let v = topology_verdict(&p);
            wanted = v.conditions();
            let paused = topology.spec.paused;
            wanted.push(if paused {
                Wanted::yes(
                    ConditionType::Paused,
                    "Paused",
                    "spec.paused is true: no step starts",
                )
            } else {
                Wanted::no(ConditionType::Paused, "Running", "")
            });
            let awaiting = p.gate == Gate::AwaitingApproval && remaining(p.journal) > 0;
            wanted.push(if awaiting {
                let stale = match p.approved {
                    Some(other) if other == p.journal.id => format!(
                        "sfbdr.io/approve-plan={other} approved an earlier run of this plan, not this one; "
                    ),
                    Some(other) => format!(
                        "sfbdr.io/approve-plan names {}, which is not the current plan; ",
                        super::conditions::bound(other, 64)
                    ),
                    None => String::new(),
                };
                Wanted::yes(
                    ConditionType::AwaitingApproval,
                    "AwaitingApproval",
                    format!(
                        "{stale}approve with: kubectl annotate topology {} sfbdr.io/approve-plan={} --overwrite",
                        topology.name_any(),
                        super::journal::approval_value(p.journal)
                    ),
                )
            } else {
                Wanted::no(ConditionType::AwaitingApproval, "NothingToApprove", "")
            });
            wanted.extend(backup_conditions(
                &p.observed.topology.backup,
                p.rpo_seconds,
            ));
            wanted.push(rto_condition(p.history, p.rto_seconds));
            let steps = p.journal.steps.len();
            out.topology.progress = Some(format!("{}/{steps}", steps - remaining(p.journal)));
            planned_children(objects, &p, now, &mut out);
        }
    }
    out.topology.observed_generation = topology.metadata.generation;
    out.topology.conditions = render(previous, wanted, topology.metadata.generation, now);
    out
}

fn remaining(plan: &PlanStatus) -> usize {
    plan.steps
        .iter()
        .filter(|s| s.state != StepState::Succeeded)
        .count()
}

fn spec_message(errors: &[SpecError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn topology_verdict(p: &Planned<'_>) -> Verdict {
    let left = remaining(p.journal);
    let exhausted: Vec<String> = p
        .journal
        .steps
        .iter()
        .filter(|s| s.state == StepState::Failed && s.failures >= p.max_attempts)
        .map(|s| {
            format!(
                "step {} failed {} times: {}",
                s.id,
                s.failures,
                s.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    let mut v = if !exhausted.is_empty() {
        Verdict::stalled(
            "StepFailed",
            format!(
                "{}; fix the cause, then annotate sfbdr.io/retry={} (kubectl sfbdr retry) or change the spec",
                exhausted.join("; "),
                super::journal::next_retry(p.journal)
            ),
        )
    } else if let Some(first) = p.fresh.blocked.first() {
        // A person's step that waits is said too: it may be all that can move now.
        let blocked = p.fresh.blocked.iter().map(ToString::to_string);
        Verdict::stalled(
            first.reason,
            blocked
                .chain(awaiting_person(p.journal))
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else if p.desired.pairs.is_empty() {
        Verdict::waiting(
            "NoPoolPairs",
            "no PoolPair in this namespace: there is nothing to move yet",
        )
    } else if left == 0 && p.fresh.steps.is_empty() {
        let dead: Vec<String> = p
            .desired
            .pairs
            .iter()
            .filter_map(|pair| dead_home(p, pair).map(|why| format!("pair {}: {why}", pair.name)))
            .collect();
        if dead.is_empty() {
            Verdict::ready("the deployment matches the declared state")
        } else {
            // As declared, yet users have no service: not Ready, and the message says why.
            Verdict::waiting("PoolDown", dead.join("; "))
        }
    } else {
        match p.gate {
            Gate::Paused => Verdict::waiting("Paused", "spec.paused is true"),
            Gate::AwaitingApproval => Verdict::waiting(
                "AwaitingApproval",
                format!("plan {} waits for approval", p.journal.id),
            ),
            Gate::Open if awaiting_person(p.journal).is_some() => Verdict::waiting(
                "AwaitingConfirmation",
                awaiting_person(p.journal).unwrap_or_default(),
            ),
            Gate::Open => Verdict::waiting(
                "Executing",
                format!(
                    "plan {}: {} of {} steps done",
                    p.journal.id,
                    p.journal.steps.len() - left,
                    p.journal.steps.len()
                ),
            ),
        }
    };
    if p.superseded {
        v.reconciling = Some((
            "Replanning".into(),
            "the declared or observed state changed: running steps finish and a person's steps under way are confirmed, then a new plan is made"
                .into(),
        ));
    } else if (left > 0 || !p.fresh.steps.is_empty()) && p.gate == Gate::Open {
        v.reconciling = Some((
            "Executing".into(),
            format!(
                "plan {}: {} of {} steps done",
                p.journal.id,
                p.journal.steps.len() - left,
                p.journal.steps.len()
            ),
        ));
    }
    v
}

/// What the person's steps that are ready wait for, each with how to confirm it.
fn awaiting_person(plan: &PlanStatus) -> Option<String> {
    let waiting: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.state == StepState::AwaitingConfirmation)
        .map(|s| match super::journal::step_action(s) {
            Ok(action) => super::journal::awaiting_person(
                &plan.id,
                &s.id,
                &action,
                s.confirm_with.as_deref().unwrap_or(""),
            ),
            Err(e) => e,
        })
        .collect();
    (!waiting.is_empty()).then(|| waiting.join("; "))
}

/// `RTOMet`: whether the last plan that moved users (a failover or failback) finished within
/// `spec.objectives.rtoSeconds`, from its first step's start to its end; Unknown before any has.
fn rto_condition(history: &[crate::api::PlanRecord], rto_seconds: u64) -> Wanted {
    use crate::api::PlanOutcome;
    let last = history
        .iter()
        .rev()
        .find(|r| r.outcome == PlanOutcome::Succeeded && r.steps > 0);
    match last {
        None => Wanted::unknown(
            ConditionType::RTOMet,
            "NoRecoveryYet",
            "no plan has moved users yet; the objective is judged on the first that does",
        ),
        Some(r) if r.duration_seconds <= rto_seconds => Wanted::yes(
            ConditionType::RTOMet,
            "WithinObjective",
            format!(
                "plan {} took {} s (objective {rto_seconds} s)",
                r.id, r.duration_seconds
            ),
        ),
        Some(r) => Wanted::no(
            ConditionType::RTOMet,
            "ObjectiveMissed",
            format!(
                "plan {} took {} s, over the objective of {rto_seconds} s",
                r.id, r.duration_seconds
            ),
        ),
    }
}

/// `BackupInSync` and `RPOMet` over some replication directions.
fn backup_conditions(directions: &[BackupDirection], rpo_seconds: u64) -> Vec<Wanted> {
    let lagging: Vec<String> = directions
        .iter()
        .filter(|d| d.is_error() || d.export_state == ExportState::NonSteadyState)
        .map(|d| {
            format!(
                "{} -> {}: export {:?}, import {:?}",
                d.from, d.to, d.export_state, d.import_state
            )
        })
        .collect();
    // A direction that never replicated protects nothing: its pool's users, conferences and
    // contacts exist only at home, and a failover would bring them up empty on the partner.
    let never: Vec<String> = directions
        .iter()
        .filter(|d| d.export_state == ExportState::NotInitialized && !d.is_error())
        .map(|d| format!("{} -> {}", d.from, d.to))
        .collect();
    let in_sync = if !never.is_empty() {
        let mut message = format!(
            "not protected: the Backup Service has never replicated {} (export NotInitialized); a failover now would find none of that data on the partner pool",
            never.join(", ")
        );
        if !lagging.is_empty() {
            message = format!("{message}; also lagging: {}", lagging.join("; "));
        }
        Wanted::no(ConditionType::BackupInSync, "NotProtected", message)
    } else if lagging.is_empty() {
        Wanted::yes(ConditionType::BackupInSync, "InSync", "")
    } else {
        Wanted::no(ConditionType::BackupInSync, "Lagging", lagging.join("; "))
    };
    let late: Vec<String> = directions
        .iter()
        .filter_map(|d| {
            let age = d.last_sync_age_seconds?;
            (age > rpo_seconds).then(|| {
                format!(
                    "{} -> {} last synced {age} s ago (objective {rpo_seconds} s)",
                    d.from, d.to
                )
            })
        })
        .collect();
    let unknown: Vec<String> = directions
        .iter()
        .filter(|d| d.last_sync_age_seconds.is_none())
        .map(|d| format!("{} -> {}", d.from, d.to))
        .collect();
    let rpo = if !late.is_empty() {
        Wanted::no(ConditionType::RPOMet, "ObjectiveMissed", late.join("; "))
    } else if !unknown.is_empty() {
        Wanted::unknown(
            ConditionType::RPOMet,
            "SyncAgeUnknown",
            format!(
                "the driver does not report when these last synced: {}",
                unknown.join(", ")
            ),
        )
    } else {
        Wanted::yes(ConditionType::RPOMet, "WithinObjective", "")
    };
    vec![in_sync, rpo]
}

fn previous_of(conditions: Option<&Vec<Condition>>) -> &[Condition] {
    conditions.map(Vec::as_slice).unwrap_or_default()
}

fn invalid_children(
    objects: Objects<'_>,
    errors: &[SpecError],
    now: Timestamp,
    out: &mut Statuses,
) {
    let verdict = |kind: &str, name: &str| {
        let mine: Vec<SpecError> = errors
            .iter()
            .filter(|e| e.kind == kind && e.name == name)
            .cloned()
            .collect();
        if mine.is_empty() {
            Verdict::waiting(
                Reason::InvalidSpec,
                "other objects of this deployment are invalid; nothing runs until they are fixed",
            )
        } else {
            Verdict::stalled(Reason::InvalidSpec, spec_message(&mine))
        }
    };
    for pair in objects.pairs {
        let name = pair.name_any();
        let v = verdict("PoolPair", &name);
        let previous = pair.status.as_ref().map(|s| &s.conditions);
        let mut status = pair.status.clone().unwrap_or_default();
        status.observed_generation = pair.metadata.generation;
        status.conditions = render(
            previous_of(previous),
            v.conditions(),
            pair.metadata.generation,
            now,
        );
        out.pairs.insert(name, status);
    }
    for site in objects.sites {
        let name = site.name_any();
        let v = verdict("Site", &name);
        let previous = site.status.as_ref().map(|s| &s.conditions);
        let mut status = site.status.clone().unwrap_or_default();
        status.observed_generation = site.metadata.generation;
        status.conditions = render(
            previous_of(previous),
            v.conditions(),
            site.metadata.generation,
            now,
        );
        out.sites.insert(name, status);
    }
    for cms in objects.cms {
        let name = cms.name_any();
        let v = verdict("CentralManagementStore", &name);
        let previous = cms.status.as_ref().map(|s| &s.conditions);
        let mut status = cms.status.clone().unwrap_or_default();
        status.observed_generation = cms.metadata.generation;
        status.conditions = render(
            previous_of(previous),
            v.conditions(),
            cms.metadata.generation,
            now,
        );
        out.cms.insert(name, status);
    }
}

/// The pair whose users an action moves (an Edge repoint belongs to the pair of its new next
/// hop); `None` for the CMS move.
pub fn pair_of<'a>(desired: &'a Desired, action: &Action) -> Option<&'a PairSpec> {
    let pool = match action {
        Action::FailOverPool { pool, .. }
        | Action::FailBackPool { pool, .. }
        | Action::SyncBackup { pool, .. }
        | Action::FailOverDatabase { pool, .. } => pool,
        Action::RepointEdge { to, .. } => to,
        Action::FailOverCms { .. }
        | Action::MoveSipFederationRoute { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::SetXmppFederationRoute { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::SetPersistentChatState { .. }
        | Action::SetPersistentChatActiveServers { .. }
        | Action::RestorePersistentChatDatabase { .. } => return None,
    };
    let pool = fqdn_key(pool);
    desired.pairs.iter().find(|p| p.position(&pool).is_some())
}

/// Per pair: (journalled steps not yet succeeded, exhausted steps, fresh steps) of its actions.
#[derive(Default)]
struct PairWork {
    remaining: usize,
    exhausted: Vec<String>,
    fresh: usize,
}

fn planned_children(objects: Objects<'_>, p: &Planned<'_>, now: Timestamp, out: &mut Statuses) {
    let mut work: BTreeMap<&str, PairWork> = BTreeMap::new();
    let mut cms_work = PairWork::default();
    for step in &p.journal.steps {
        let Ok(action) = step_action(step) else {
            continue;
        };
        let entry = match pair_of(p.desired, &action) {
            Some(pair) => work.entry(pair.name.as_str()).or_default(),
            None => &mut cms_work,
        };
        if step.state != StepState::Succeeded {
            entry.remaining += 1;
        }
        if step.state == StepState::Failed && step.failures >= p.max_attempts {
            entry.exhausted.push(format!(
                "step {} ({action}) failed {} times: {}",
                step.id,
                step.failures,
                step.message.as_deref().unwrap_or("")
            ));
        }
    }
    for step in &p.fresh.steps {
        match pair_of(p.desired, &step.action) {
            Some(pair) => work.entry(pair.name.as_str()).or_default().fresh += 1,
            None => cms_work.fresh += 1,
        }
    }
    let gate_verdict = |what: &str| match p.gate {
        Gate::Paused => Verdict::waiting("Paused", "the Topology is paused"),
        Gate::AwaitingApproval => Verdict::waiting(
            "AwaitingApproval",
            format!("{what} waits for plan {} to be approved", p.journal.id),
        ),
        Gate::Open => {
            let mut v = Verdict::waiting("Executing", format!("{what} is being moved"));
            v.reconciling = Some(("Executing".into(), format!("plan {}", p.journal.id)));
            v
        }
    };
    let mut pair_ready: BTreeMap<String, Verdict> = BTreeMap::new();
    for pair in objects.pairs {
        let name = pair.name_any();
        let Some(spec) = p.desired.pair(&name) else {
            continue;
        };
        let w = work.remove(name.as_str()).unwrap_or_default();
        let blocked = p.fresh.blocked.iter().find(|b| b.pair == name);
        let v = if !w.exhausted.is_empty() {
            Verdict::stalled("StepFailed", w.exhausted.join("; "))
        } else if let Some(b) = blocked.filter(|b| !cms_reason(b.reason)) {
            Verdict::stalled(b.reason, b.message.clone())
        } else if w.remaining == 0 && w.fresh == 0 {
            match dead_home(p, spec) {
                Some(why) => Verdict::waiting("PoolDown", why),
                None => Verdict::ready("served as declared"),
            }
        } else {
            gate_verdict("this pair")
        };
        let mut conditions = v.conditions();
        let directions: Vec<BackupDirection> = p
            .observed
            .topology
            .backup
            .iter()
            .filter(|d| spec.position(&d.from).is_some())
            .cloned()
            .collect();
        conditions.extend(backup_conditions(&directions, p.rpo_seconds));
        let previous = pair.status.as_ref().map(|s| &s.conditions);
        let status = PoolPairStatus {
            observed_generation: pair.metadata.generation,
            conditions: render(
                previous_of(previous),
                conditions,
                pair.metadata.generation,
                now,
            ),
            pools: (0..2).map(|i| pool_status(p, spec, i)).collect(),
            backup: directions,
        };
        pair_ready.insert(name.clone(), v);
        out.pairs.insert(name, status);
    }
    for site in objects.sites {
        let name = site.name_any();
        let key = site_key(&name);
        let pairs: Vec<(&String, &Verdict)> = p
            .desired
            .pairs
            .iter()
            .filter(|pair| pair.pools.iter().any(|pool| pool.site == key))
            .filter_map(|pair| pair_ready.get_key_value(&pair.name))
            .collect();
        let stalled: Vec<String> = pairs
            .iter()
            .filter_map(|(n, v)| v.stalled.as_ref().map(|(r, _)| format!("pair {n}: {r}")))
            .collect();
        let dead: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| v.ready.is_none() && v.waiting.0 == "PoolDown")
            .map(|(n, v)| format!("pair {n}: {}", v.waiting.1))
            .collect();
        let moving = pairs
            .iter()
            .any(|(_, v)| v.ready.is_none() && v.stalled.is_none() && v.waiting.0 != "PoolDown");
        // A site taken out of service whose pools are not all in a PoolPair leaves those
        // pools' users where they are: say so rather than Ready.
        let inactive = p.desired.sites.get(&key) == Some(&false);
        let unpaired: Vec<&str> = p
            .observed
            .topology
            .pools
            .iter()
            .filter(|pool| inactive && crate::model::site_key(&pool.site) == key)
            .filter(|pool| {
                !p.desired
                    .pairs
                    .iter()
                    .any(|pair| pair.position(&pool.fqdn).is_some())
            })
            .map(|pool| pool.fqdn.as_str())
            .collect();
        let v = if !stalled.is_empty() {
            Verdict::stalled("PairStalled", stalled.join("; "))
        } else if !unpaired.is_empty() && !moving {
            Verdict::waiting(
                "UnpairedPools",
                format!(
                    "the site is out of service, but {} in no PoolPair: sfb-dr cannot move {} users; declare a PoolPair for {} or move them by hand",
                    if unpaired.len() == 1 { format!("pool {} is", unpaired[0]) } else { format!("pools {} are", unpaired.join(", ")) },
                    if unpaired.len() == 1 { "its" } else { "their" },
                    if unpaired.len() == 1 { "it" } else { "each" },
                ),
            )
        } else if !dead.is_empty() && !moving {
            Verdict::waiting("PoolDown", dead.join("; "))
        } else if !moving {
            Verdict::ready("every pair with a pool in this site is served as declared")
        } else {
            // One message for the whole move: naming the pairs left would rewrite the status
            // each time one is done (kubectl get poolpairs shows them).
            gate_verdict("a pair with a pool in this site")
        };
        let previous = site.status.as_ref().map(|s| &s.conditions);
        let t = &p.observed.topology;
        out.sites.insert(
            name,
            SiteStatus {
                observed_generation: site.metadata.generation,
                conditions: render(
                    previous_of(previous),
                    v.conditions(),
                    site.metadata.generation,
                    now,
                ),
                pools: t
                    .pools
                    .iter()
                    .filter(|pool| pool.site == key)
                    .map(|pool| SitePoolStatus {
                        fqdn: pool.fqdn.clone(),
                        health: pool.health,
                    })
                    .collect(),
                edges: t
                    .edges
                    .iter()
                    .filter(|e| e.site == key)
                    .map(|e| SiteEdgeStatus {
                        fqdn: e.fqdn.clone(),
                        health: e.health,
                        next_hop: e.next_hop.clone(),
                    })
                    .collect(),
            },
        );
    }
    for cms in objects.cms {
        let name = cms.name_any();
        let observed = &p.observed.topology.cms;
        let blocked = p
            .fresh
            .blocked
            .iter()
            .find(|b| b.pair == cms.spec.pair && cms_reason(b.reason));
        let v = if !cms_work.exhausted.is_empty() {
            Verdict::stalled("StepFailed", cms_work.exhausted.join("; "))
        } else if let Some(b) = blocked {
            Verdict::stalled(b.reason, b.message.clone())
        } else if cms_work.remaining > 0 || cms_work.fresh > 0 {
            gate_verdict("the CMS")
        } else if observed.active_master.is_none() {
            Verdict::waiting("NoActiveMaster", "the CMS has no active master")
        } else if let Some((master, database)) = observed
            .active_master
            .as_deref()
            .zip(observed.pool.as_deref())
            .filter(|(m, d)| !m.eq_ignore_ascii_case(d))
        {
            // The master serves from the pool whose Back End holds the database; two different
            // pools mean the topology and the store disagree (a failover left half done).
            Verdict::waiting(
                "MasterDisagrees",
                format!(
                    "the CMS reports its active master on {master} while the topology places its database on {database}: a CMS failover left inconsistent; check Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus and the topology before any CMS move"
                ),
            )
        } else if !observed.replicas_up_to_date {
            Verdict::waiting("ReplicasNotUpToDate", "CMS replicas are catching up")
        } else {
            Verdict::ready("the CMS master is where it should be and every replica is up to date")
        };
        let previous = cms.status.as_ref().map(|s| &s.conditions);
        out.cms.insert(
            name,
            CmsStatus {
                observed_generation: cms.metadata.generation,
                conditions: render(
                    previous_of(previous),
                    v.conditions(),
                    cms.metadata.generation,
                    now,
                ),
                active_master: observed.active_master.clone(),
                pool: observed.pool.clone(),
                replicas_up_to_date: Some(observed.replicas_up_to_date),
            },
        );
    }
}

/// Reasons the planner gives for the CMS rather than for the users of its pair.
fn cms_reason(reason: BlockReason) -> bool {
    matches!(
        reason,
        BlockReason::CmsUnavailable
            | BlockReason::CmsUnsettled
            | BlockReason::CmsNotManaged
            | BlockReason::MissingBackupSql
    )
}

/// A pool of the pair that is down while it still serves its own users, as declared: nothing is
/// planned (its site is active), yet its users have no service. Says what change would move them.
fn dead_home(p: &Planned<'_>, spec: &PairSpec) -> Option<String> {
    (0..2).find_map(|i| {
        let fqdn = &spec.pools[i].fqdn;
        let pool = p.observed.pool(fqdn)?;
        let serves_itself = pool.served_by.as_deref().is_none_or(|s| s == fqdn.as_str());
        (pool.health == crate::model::Health::Down && serves_itself).then(|| {
            let site = &spec.pools[i].site;
            let partner = &spec.pools[1 - i].fqdn;
            format!(
                "pool {fqdn} is down and its users have no service, while site {site} is declared \
                 active: take the site out of service (kubectl sfbdr site {site} --active=false, \
                 or spec.active: false on the Site) or leave {site} out of this pair's \
                 activeSites, and its users fail over to {partner}"
            )
        })
    })
}

fn pool_status(p: &Planned<'_>, spec: &PairSpec, i: usize) -> PoolStatus {
    let fqdn = &spec.pools[i].fqdn;
    let observed = p.observed.pool(fqdn);
    let served_by = observed
        .and_then(|o| o.served_by.clone())
        .or_else(|| p.ledger.served_by.get(fqdn).cloned())
        .unwrap_or_else(|| fqdn.clone());
    PoolStatus {
        fqdn: fqdn.clone(),
        health: observed.map_or(crate::model::Health::Unknown, |o| o.health),
        back_end: observed.and_then(|o| o.back_end),
        served_by: Some(served_by),
        desired_served_by: p
            .desired
            .desired_server(spec, i)
            .map(|j| spec.pools[j].fqdn.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ImportState;

    fn direction(from: &str, export_state: ExportState) -> BackupDirection {
        BackupDirection {
            from: from.into(),
            to: "partner".into(),
            export_state,
            import_state: ImportState::NormalState,
            last_sync_age_seconds: None,
        }
    }

    #[test]
    fn a_direction_that_never_replicated_is_not_protected_rather_than_in_sync() {
        let wanted = backup_conditions(
            &[
                direction("pool1", ExportState::FinalState),
                direction("pool2", ExportState::NotInitialized),
            ],
            300,
        );
        let in_sync = &wanted[0];
        assert_eq!(in_sync.status, Some(false));
        assert_eq!(in_sync.reason, "NotProtected");
        assert!(
            in_sync.message.contains("pool2 -> partner"),
            "{}",
            in_sync.message
        );
        let fine = backup_conditions(&[direction("pool1", ExportState::SteadyState)], 300);
        assert_eq!(
            (fine[0].status, fine[0].reason.as_str()),
            (Some(true), "InSync")
        );
    }
}
