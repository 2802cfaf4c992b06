//! The planner: a pure function from desired state, observation and ledger to an ordered plan.
//!
//! `plan` decides each pair on its own (`pool_pair`), then the CMS (`cms`), then the Edges around
//! the moves (`edges`), and emits the steps in three phases that are already in dependency order:
//! failbacks with what follows them, the CMS move, then Edge repoints and failovers.

mod cms;
mod edges;
mod pool_pair;

use sha2::{Digest, Sha256};

use crate::model::{
    Action, BackupModule, BlockReason, Blocked, Desired, Health, Ledger, Mode, ObservedIndex, Plan,
    Step,
};

use cms::CmsDecision;
use pool_pair::{PairDecision, PairView};

/// Plans the steps that move the observed deployment to the desired state.
pub fn plan(desired: &Desired, observed: &ObservedIndex, ledger: &Ledger) -> Plan {
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

    // A master on a pool that is down is no master: the CMS is unavailable (SFB-DR-FACTS).
    let reported = observed.topology.cms.active_master.as_deref();
    let master = reported.filter(|m| observed.pool(m).is_some_and(|p| p.health != Health::Down));
    let needs_cms = |view: &PairView<'_>, decision: &PairDecision| -> Option<String> {
        let mv = decision.as_ref().ok()?.failover?;
        let pool = view.fqdn(mv.pool);
        (master.is_none() || master == Some(pool)).then(|| pool.to_owned())
    };
    let needed_by_failover = pairs
        .iter()
        .any(|(view, d)| view.as_ref().is_some_and(|v| needs_cms(v, d).is_some()));
    let cms_pair = desired.cms.as_ref().and_then(|c| {
        pairs
            .iter()
            .position(|(v, _)| v.as_ref().is_some_and(|v| v.spec.name == c.pair))
    });
    let cms = cms::decide(
        desired,
        observed,
        cms::Master {
            available: master,
            reported,
        },
        cms_pair.and_then(|i| pairs[i].0.as_ref().map(|v| (v, &pairs[i].1))),
        needed_by_failover,
    );

    // Rule 2: a failover that needs the CMS moved waits for the move, or is blocked with it.
    for (view, decision) in &mut pairs {
        let Some(view) = view else { continue };
        let Some(pool) = needs_cms(view, decision) else {
            continue;
        };
        let blocked = match &cms {
            CmsDecision::Move { .. } => continue,
            CmsDecision::NotManaged => (
                BlockReason::CmsNotManaged,
                format!(
                    "failing over {pool} needs the CMS moved first, and no CentralManagementStore is \
                     declared; declare one so the operator may move it"
                ),
            ),
            CmsDecision::Blocked(reason, message) => (
                *reason,
                format!("failing over {pool} needs the CMS moved first: {message}"),
            ),
            CmsDecision::Stays => (
                BlockReason::ObservationDisagrees,
                format!("failing over {pool} needs the CMS moved, but the CMS already is where it should be"),
            ),
        };
        *decision = Err(blocked);
    }

    let mut out = Emitter {
        steps: Vec::with_capacity(2 * desired.pairs.len() + 1),
    };
    let mut blocked = Vec::new();
    for (spec, (_, decision)) in desired.pairs.iter().zip(&pairs) {
        if let Err((reason, message)) = decision {
            blocked.push(Blocked {
                pair: spec.name.clone(),
                reason: *reason,
                message: message.clone(),
            });
        }
    }
    if let (CmsDecision::Blocked(reason, message), Some(c)) = (&cms, &desired.cms) {
        let pair_blocked = cms_pair.is_some_and(|i| pairs[i].1.is_err());
        if !pair_blocked {
            blocked.push(Blocked {
                pair: c.pair.clone(),
                reason: *reason,
                message: format!("CentralManagementStore {}: {message}", c.name),
            });
        }
    }

    // Phase A: failbacks, the conference-content sync after each, and Edges that follow them.
    // Per pair: its failback step and the last step the failover must wait for.
    let mut emitted = vec![(None, None); pairs.len()];
    // Edges that must move before a failover, in pair order: (pair, edge move).
    let mut edges_before_failover = Vec::new();
    for (k, (view, decision)) in pairs.iter().enumerate() {
        let (Some(view), Ok(moves)) = (view, decision) else {
            continue;
        };
        if let Some(fb) = moves.failback {
            let pool = view.fqdn(fb.pool).to_owned();
            let step = out.push(
                Action::FailBackPool {
                    pool,
                    mode: fb.mode,
                },
                vec![],
            );
            emitted[k] = (Some(step), Some(step));
            // Rule 5: after a failback, copy conference content home from the backup pool.
            if fb.mode == Mode::Graceful {
                let backup = view.fqdn(1 - fb.pool).to_owned();
                emitted[k].1 = Some(out.push(
                    Action::SyncBackup {
                        pool: backup,
                        module: BackupModule::DataConf,
                    },
                    vec![step],
                ));
            }
        }
        for e in edges::moves(view, moves, observed) {
            if e.before_failover {
                edges_before_failover.push((k, e));
            } else {
                let deps = emitted[k]
                    .0
                    .filter(|_| e.after_failback)
                    .into_iter()
                    .collect();
                out.push(edge_action(view, &e), deps);
            }
        }
    }

    // Phase B: the CMS move, after the failbacks of its own pair (rule 2).
    let cms_step = match cms {
        CmsDecision::Move {
            to,
            mode,
            backup_sql,
        } => {
            let deps = cms_pair.and_then(|i| emitted[i].0).into_iter().collect();
            Some(out.push(
                Action::FailOverCms {
                    to,
                    mode,
                    backup_sql,
                },
                deps,
            ))
        }
        _ => None,
    };

    // Phase C: Edge repoints, then the failovers that wait for them, the CMS and the failback.
    let mut edges_before_failover = edges_before_failover.iter().peekable();
    for (k, (view, decision)) in pairs.iter().enumerate() {
        let (Some(view), Ok(moves)) = (view, decision) else {
            continue;
        };
        let Some(fo) = moves.failover else { continue };
        let (failback, tail) = emitted[k];
        let mut deps: Vec<usize> = tail.into_iter().collect();
        while let Some((_, e)) = edges_before_failover.next_if(|(pair, _)| *pair == k) {
            deps.push(out.push(edge_action(view, e), failback.into_iter().collect()));
        }
        if needs_cms(view, decision).is_some() {
            deps.extend(cms_step);
        }
        let pool = view.fqdn(fo.pool).to_owned();
        out.push(
            Action::FailOverPool {
                pool,
                mode: fo.mode,
            },
            deps,
        );
    }
    out.finish(blocked)
}

fn edge_action(view: &PairView<'_>, e: &edges::EdgeMove) -> Action {
    Action::RepointEdge {
        edge: e.edge.clone(),
        to: view.fqdn(e.to).to_owned(),
    }
}

/// Collects steps in dependency order and numbers them `s1`, `s2`, ...
struct Emitter {
    steps: Vec<Step>,
}

impl Emitter {
    fn push(&mut self, action: Action, mut deps: Vec<usize>) -> usize {
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

    fn finish(self, mut blocked: Vec<Blocked>) -> Plan {
        blocked.sort_by(|a, b| (&a.pair, a.reason).cmp(&(&b.pair, b.reason)));
        let id = plan_id(&self.steps, &blocked);
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

/// Rule 8: a stable hash of what the plan will do and what it leaves blocked (not of messages,
/// which carry ages), so an approval names exactly one plan and survives unrelated changes.
fn plan_id(steps: &[Step], blocked: &[Blocked]) -> String {
    let mut hasher = Sha256::new();
    let mut field = |s: &str| {
        hasher.update(s.as_bytes());
        hasher.update([0]);
    };
    for step in steps {
        field(&step.id);
        match &step.action {
            Action::RepointEdge { edge, to } => ["RepointEdge", edge, to, ""].map(&mut field),
            Action::FailOverCms {
                to,
                mode,
                backup_sql,
            } => {
                let sql = backup_sql.as_ref().map(|b| {
                    let mirror = (
                        b.mirror_sql_server_fqdn.as_deref(),
                        b.mirror_sql_instance_name.as_deref(),
                    );
                    format!("{} {} {:?}", b.sql_server_fqdn, b.sql_instance_name, mirror)
                });
                [
                    "FailOverCms",
                    to,
                    mode_name(*mode),
                    sql.as_deref().unwrap_or("-"),
                ]
                .map(&mut field)
            }
            Action::FailOverPool { pool, mode } => {
                ["FailOverPool", pool, mode_name(*mode), ""].map(&mut field)
            }
            Action::FailBackPool { pool, mode } => {
                ["FailBackPool", pool, mode_name(*mode), ""].map(&mut field)
            }
            Action::SyncBackup { pool, module } => {
                ["SyncBackup", pool, module.name(), ""].map(&mut field)
            }
        };
        for d in &step.depends_on {
            field(d);
        }
        field("\n");
    }
    for b in blocked {
        field(&b.pair);
        field(&b.reason.to_string());
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Graceful => "Graceful",
        Mode::Disaster => "Disaster",
    }
}
