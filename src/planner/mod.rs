//! The planner: a pure function from desired state, observation and ledger to an ordered plan.
//!
//! `plan` decides each pair on its own (`pool_pair`), then the CMS (`cms`), then the Edges around
//! the moves (`edges`), and emits the steps in phases that are already in dependency order: the
//! recovery of a lost CMS master (which everything else waits for, since every cmdlet needs a
//! working CMS), failbacks with what follows them, a graceful CMS move (alone: after everything
//! before it and before everything after it, since nothing that needs the CMS may run while it
//! moves), then Edge repoints and the failovers that wait for them, and last the federation routes
//! leaving a lost Edge pool (`federation`; a route returning to a site whose pools fail back moves
//! before those failbacks instead, in the first phase).

mod back_end;
mod cms;
mod edges;
mod federation;
mod persistent_chat;
mod plan_id;
mod pool_pair;

use crate::model::{
    Action, BackupModule, BlockReason, Blocked, Desired, Ledger, Mode, ObservedIndex, Plan, Step,
};

use cms::{CmsDecision, Master};
use pool_pair::{PairDecision, PairView};

/// Plans the steps that move the observed deployment to the desired state.
pub fn plan(desired: &Desired, observed: &ObservedIndex, ledger: &Ledger) -> Plan {
    // Back End repairs first; everything else is planned on the deployment they leave.
    let repairs = back_end::repairs(desired, observed);
    let repaired;
    let observed = if repairs.is_empty() {
        observed
    } else {
        repaired = back_end::repaired(observed, &repairs);
        &repaired
    };
    let mut pairs: Vec<(Option<PairView<'_>>, PairDecision)> = desired
        .pairs
        .iter()
        .map(|spec| match PairView::new(spec, observed) {
            Ok(view) => {
                let decision = pool_pair::decide(&view, desired, observed, ledger);
                (Some(view), decision)
            }
            Err(blocked) => (None, Err(blocked)),
        })
        .collect();

    let master = Master::observe(observed);
    let cms_pair = desired.cms.as_ref().and_then(|c| {
        pairs
            .iter()
            .position(|(v, _)| v.as_ref().is_some_and(|v| v.spec.name == c.pair))
    });
    // Only a lost master asks whether anything else is to be done: it is recovered (with
    // `-Force`, which may lose CMS changes) for a failover or a failback, never for an Edge
    // repoint or a conference-content copy alone, which can wait until the master is back.
    let other_steps = master.available().is_none()
        && pairs.iter().any(|(_, d)| {
            d.as_ref()
                .is_ok_and(|m| m.failover.is_some() || m.failback.is_some())
        });
    let cms = cms::decide(
        desired,
        observed,
        master,
        cms_pair.and_then(|i| pairs[i].0.as_ref()),
        other_steps,
    );
    block_what_waits_for_the_cms(&mut pairs, master, &cms);
    let recovery = master.available().is_none() && matches!(cms, CmsDecision::Move { .. });
    // With a lost master that cannot be recovered, nothing that needs the CMS can run.
    let cms_stuck = master.available().is_none() && !recovery;
    let edge_moves = if cms_stuck {
        Vec::new()
    } else {
        edges::moves(&pairs, desired, observed)
    };
    let (mut routes, mut route_blocked) = federation::moves(desired, observed, ledger);
    if cms_stuck {
        routes = federation::hold_without_cms(routes, &mut route_blocked);
    }
    let (mut chat, chat_blocked) = persistent_chat::moves(desired, observed, ledger);
    route_blocked.extend(chat_blocked);
    if cms_stuck {
        chat = persistent_chat::hold_without_cms(chat, &mut route_blocked);
    }

    let mut out = Emitter {
        steps: Vec::with_capacity(2 * desired.pairs.len() + repairs.len() + 1),
        root: Vec::new(),
        repairs: Vec::new(),
        observed,
    };
    let mut blocked = blocked(desired, &pairs, &cms, cms_pair);
    blocked.extend(route_blocked);
    let mut cms = match cms {
        CmsDecision::Move {
            to,
            mode,
            backup_sql,
        } => Some(Action::FailOverCms {
            to,
            mode,
            backup_sql,
        }),
        CmsDecision::NotManaged | CmsDecision::Stays | CmsDecision::Blocked(..) => None,
    };

    // Phase 0: the database failovers, side by side (each reads the topology from the local
    // replica, so none waits for the CMS). The one of the pool holding the CMS brings its master
    // back, so every step waits for it; the others hold up only the steps on their pool and its
    // partner (`Emitter::push`). Then the recovery of a lost master, after every repair (nothing
    // runs beside a CMS move), which every step waits for.
    let mut restoring = Vec::new();
    for r in &repairs {
        let step = out.push(r.action(), vec![]);
        if r.restores_master {
            restoring.push(step);
        } else {
            out.repairs.push((r.pool.clone(), step));
        }
    }
    out.root = restoring;
    if recovery {
        if let Some(action) = cms.take() {
            // Nothing runs beside a CMS move, the recovery included: it waits for every repair.
            let before = out.last_steps();
            out.root = vec![out.push(action, before)];
        }
    }

    // Phase A: a federation route returning to a site whose pools fail back (Microsoft's
    // failback moves the route before the pool), failbacks, the conference-content copies, and
    // Edges that only follow failbacks.
    let failback_site = |k: usize| -> Option<&str> {
        let (Some(view), Ok(moves)) = &pairs[k] else {
            return None;
        };
        Some(view.pools[moves.failback?.pool].site.as_str())
    };
    let failback_sites: Vec<&str> = (0..pairs.len()).filter_map(failback_site).collect();
    let (returning, leaving): (Vec<_>, Vec<_>) = routes
        .iter()
        .partition(|r| failback_sites.contains(&r.to_site.as_str()));
    let route_home = federation::emit(&mut out, &returning, &[], true);
    // Per pair: its failback step and the last step its failover must wait for.
    let mut emitted = vec![(None, None); pairs.len()];
    for (k, (view, decision)) in pairs.iter().enumerate() {
        let (Some(view), Ok(moves)) = (view, decision) else {
            continue;
        };
        if let Some(fb) = moves.failback {
            let pool = view.fqdn(fb.pool).to_owned();
            let site = failback_site(k);
            let step = out.push(
                Action::FailBackPool {
                    pool,
                    mode: fb.mode,
                },
                route_home
                    .iter()
                    .filter(|(s, _)| Some(s.as_str()) == site)
                    .map(|(_, step)| *step)
                    .collect(),
            );
            emitted[k] = (Some(step), Some(step));
            // After a failback, copy conference content home from the backup pool; after a
            // disaster-mode failback that pool is down and the copy is owed in the ledger.
            if fb.mode == Mode::Graceful {
                emitted[k].1 = Some(out.push(sync_from(view.fqdn(1 - fb.pool)), vec![step]));
            }
        }
        if let Some(from) = moves.owed_sync {
            emitted[k].1 = Some(out.push(sync_from(view.fqdn(from)), vec![]));
        }
    }
    let mut before_failover = vec![Vec::new(); pairs.len()];
    // The Edge repoints, which a Topology Builder publish must not overwrite.
    let mut repoints = Vec::new();
    for e in &edge_moves {
        let after = e.after_failback.and_then(|m| emitted[m].0);
        match e.before_failover {
            Some(k) => before_failover[k].push((e, after)),
            None => repoints.push(out.push(repoint(e), after.into_iter().collect())),
        }
    }

    // Phase B: a graceful CMS move, after the failback of its own pair (a return to the
    // preferred pool goes where the users came home). While the CMS moves nothing else that
    // reads or writes it may run, and every step here does (failovers, failbacks, Edge
    // repoints, Backup Service syncs): the move waits for every step before it, and every step
    // after it waits for the move.
    let cms_step = cms.map(|action| {
        let before = out.last_steps();
        out.push(action, before)
    });

    // Phase C: Edge repoints, then the failovers that wait for them, the CMS and the failback.
    for (k, (view, decision)) in pairs.iter().enumerate() {
        let (Some(view), Ok(moves)) = (view, decision) else {
            continue;
        };
        let Some(fo) = moves.failover else { continue };
        let mut deps: Vec<usize> = emitted[k].1.into_iter().chain(cms_step).collect();
        for (e, after) in &before_failover[k] {
            let waits = after.iter().copied().chain(cms_step).collect();
            let step = out.push(repoint(e), waits);
            repoints.push(step);
            deps.push(step);
        }
        let pool = view.fqdn(fo.pool);
        out.push(
            Action::FailOverPool {
                pool: pool.to_owned(),
                mode: fo.mode,
            },
            deps,
        );
    }
    // Phase D: the routes leaving a lost Edge pool, after the CMS has moved and the Edge
    // repoints, beside the failovers.
    let after: Vec<usize> = cms_step.into_iter().chain(repoints).collect();
    federation::emit(&mut out, &leaving, &after, false);
    // Phase E: the Persistent Chat pools, each a chain of its own, after the CMS has moved.
    for chain in chat {
        let mut deps: Vec<usize> = cms_step.into_iter().collect();
        for action in chain.steps {
            deps = vec![out.push(action, deps)];
        }
    }
    out.finish(blocked)
}

/// A lost master blocks everything when it cannot be recovered; an available one blocks only the
/// failover of its own pool when it cannot be moved off it.
fn block_what_waits_for_the_cms(
    pairs: &mut [(Option<PairView<'_>>, PairDecision)],
    master: Master<'_>,
    cms: &CmsDecision,
) {
    let why = match cms {
        CmsDecision::Move { .. } => return,
        CmsDecision::NotManaged => (
            BlockReason::CmsNotManaged,
            "no CentralManagementStore is declared; declare one so the operator may move it"
                .to_owned(),
        ),
        CmsDecision::Blocked(reason, message) => (*reason, message.clone()),
        CmsDecision::Stays => (
            BlockReason::ObservationDisagrees,
            "the CMS already is where it should be".to_owned(),
        ),
    };
    for (view, decision) in pairs.iter_mut() {
        let (Some(view), Ok(moves)) = (view.as_ref(), decision.as_ref()) else {
            continue;
        };
        let message = match master {
            Master::Lost { .. } | Master::Inconsistent { .. } if moves.any() => format!(
                "every step needs a working CMS, which has no active master and cannot be \
                 recovered: {}",
                why.1
            ),
            Master::Available(m) if moves.failover.is_some_and(|f| view.fqdn(f.pool) == m) => {
                format!(
                    "failing over {m} needs the CMS master moved off it first: {}",
                    why.1
                )
            }
            Master::Lost { .. } | Master::Inconsistent { .. } | Master::Available(_) => continue,
        };
        *decision = Err((why.0, message));
    }
}

/// Every blocked pair, and the CMS under its pair's name when it cannot do what it should.
fn blocked(
    desired: &Desired,
    pairs: &[(Option<PairView<'_>>, PairDecision)],
    cms: &CmsDecision,
    cms_pair: Option<usize>,
) -> Vec<Blocked> {
    let mut blocked: Vec<Blocked> = desired
        .pairs
        .iter()
        .zip(pairs)
        .filter_map(|(spec, (_, decision))| {
            let (reason, message) = decision.as_ref().err()?;
            Some(Blocked {
                pair: spec.name.clone(),
                reason: *reason,
                message: message.clone(),
            })
        })
        .collect();
    if let (CmsDecision::Blocked(reason, message), Some(c)) = (cms, &desired.cms) {
        let said = cms_pair.is_some_and(|i| matches!(&pairs[i].1, Err((r, _)) if r == reason));
        if !said {
            blocked.push(Blocked {
                pair: c.pair.clone(),
                reason: *reason,
                message: format!("CentralManagementStore {}: {message}", c.name),
            });
        }
    }
    blocked
}

fn sync_from(pool: &str) -> Action {
    Action::SyncBackup {
        pool: pool.to_owned(),
        module: BackupModule::DataConf,
    }
}

fn repoint(e: &edges::EdgeMove) -> Action {
    Action::RepointEdge {
        edge: e.edge.clone(),
        to: e.to.clone(),
    }
}

/// Collects steps in dependency order and numbers them `s1`, `s2`, ...
struct Emitter<'a> {
    steps: Vec<Step>,
    /// The steps every later step waits for (the CMS pool's database failover, the recovery of a
    /// lost master).
    root: Vec<usize>,
    /// The other database failovers, by pool: the steps on that pool or its partner wait for them.
    repairs: Vec<(String, usize)>,
    /// The deployment the steps are planned on, for the pools each step works on.
    observed: &'a ObservedIndex,
}

impl Emitter<'_> {
    fn push(&mut self, action: Action, mut deps: Vec<usize>) -> usize {
        if deps.is_empty() {
            deps.extend(&self.root);
        }
        // A step waits for the repair of every pool it works on.
        if !self.repairs.is_empty() {
            for pool in back_end::pools_of(&action, self.observed) {
                deps.extend(
                    self.repairs
                        .iter()
                        .filter(|(r, _)| r == pool)
                        .map(|(_, i)| *i),
                );
            }
        }
        deps.sort_unstable();
        deps.dedup();
        let index = self.steps.len();
        self.steps.push(Step {
            id: step_id(index),
            action,
            depends_on: deps.into_iter().map(step_id).collect(),
        });
        index
    }

    /// The steps so far that no other step waits for: waiting for them is waiting for all.
    fn last_steps(&self) -> Vec<usize> {
        let waited_for: std::collections::HashSet<&str> = self
            .steps
            .iter()
            .flat_map(|s| s.depends_on.iter().map(String::as_str))
            .collect();
        (0..self.steps.len())
            .filter(|&i| !waited_for.contains(self.steps[i].id.as_str()))
            .collect()
    }

    fn finish(self, mut blocked: Vec<Blocked>) -> Plan {
        blocked.sort_by(|a, b| (&a.pair, a.reason).cmp(&(&b.pair, b.reason)));
        let id = plan_id::plan_id(&self.steps, &blocked);
        Plan {
            id,
            steps: self.steps,
            blocked,
        }
    }
}

fn step_id(index: usize) -> String {
    format!("s{}", index + 1)
}
