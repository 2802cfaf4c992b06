//! The simulator is an independent oracle: a deliberately wrong planner, with one rule removed at
//! a time, produces plans the simulator refuses. Each wrong planner is either the real planner's
//! plan with a rule undone (a dependency cut and the step run early, a mode swapped, a step
//! dropped, a target changed, a step added) or the real planner blind to one fact (Back End
//! health, a pool being down, a Backup Service in ErrorState). Random deployments come from the
//! same generator as the planner's property tests; every rule must be exercised.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::random::{truth, world};
use common::World;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sfb_dr::model::{
    Action, ActionKind, BackupModule, BlockReason, ExportState, Health, ImportState, Mode, Plan,
    Step,
};
use sfb_dr::planner;
use sfb_dr::simulator::Deployment;

/// A wrong plan, how to run it, and the refusal it must meet.
struct Mutant {
    plan: Plan,
    /// Run this step as soon as it is ready.
    first: Option<String>,
    /// Never run these (nor what waits for them).
    held: BTreeSet<String>,
    /// Part of the refusal message; empty: any refusal.
    expect: &'static str,
}

impl Mutant {
    fn new(plan: Plan, expect: &'static str) -> Self {
        Mutant {
            plan,
            first: None,
            held: BTreeSet::new(),
            expect,
        }
    }
}

fn find(plan: &Plan, pred: impl Fn(&Action) -> bool) -> Option<&Step> {
    plan.steps.iter().find(|s| pred(&s.action))
}

/// Whether `id` is, or waits directly or through others for, one of `held`.
fn reaches(plan: &Plan, id: &str, held: &BTreeSet<String>) -> bool {
    let mut todo = vec![id.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(s) = todo.pop() {
        if held.contains(&s) {
            return true;
        }
        if seen.insert(s.clone()) {
            if let Some(step) = plan.step(&s) {
                todo.extend(step.depends_on.iter().cloned());
            }
        }
    }
    false
}

/// The planner without the rule that made `target` wait for `held`: `target` and everything it
/// waits for no longer wait for `held` (every other ordering kept: a dependency through `held` is
/// replaced by what it waited for itself), and `target` runs while `held` has not.
fn cut(plan: &Plan, target: &str, held: &[&str], expect: &'static str) -> Mutant {
    let held: BTreeSet<String> = held.iter().map(|s| s.to_string()).collect();
    fn without(plan: &Plan, d: &str, held: &BTreeSet<String>, out: &mut BTreeSet<String>) {
        if !reaches(plan, d, held) {
            out.insert(d.to_owned());
        } else if let Some(step) = plan.step(d) {
            for e in &step.depends_on {
                without(plan, e, held, out);
            }
        }
    }
    let mut ancestors = BTreeSet::new();
    let mut todo = vec![target.to_owned()];
    while let Some(s) = todo.pop() {
        if ancestors.insert(s.clone()) {
            if let Some(step) = plan.step(&s) {
                todo.extend(step.depends_on.iter().cloned());
            }
        }
    }
    let mut out = plan.clone();
    for step in out.steps.iter_mut().filter(|s| ancestors.contains(&s.id)) {
        let mut deps = BTreeSet::new();
        for d in &step.depends_on {
            without(plan, d, &held, &mut deps);
        }
        step.depends_on = deps.into_iter().collect();
    }
    Mutant {
        plan: out,
        first: Some(target.to_owned()),
        held,
        expect,
    }
}

/// The real planner on what a blind driver would report.
fn blind(w: &World, hide: impl Fn(&mut World)) -> Plan {
    let mut seen = w.clone();
    hide(&mut seen);
    planner::plan(&w.desired, &seen.index(), &w.ledger)
}

/// Steps other than Edge repoints (SfB does not refuse an Edge pointed at a pool that is down)
/// and database failovers (nor a mirror failover on a pool whose Front Ends are down).
fn pool_actions(plan: &Plan) -> BTreeSet<String> {
    plan.steps
        .iter()
        .filter(|s| {
            !matches!(
                s.action,
                Action::RepointEdge { .. } | Action::FailOverDatabase { .. }
            )
        })
        .map(|s| format!("{:?}", s.action))
        .collect()
}

/// A blind plan that does something the right plan does not, or acts without the recovery of a
/// lost master the right plan starts with.
fn differs(right: &Plan, wrong: Plan, expect: &'static str) -> Option<Mutant> {
    let recovery = |p: &Plan| {
        find(p, |a| {
            matches!(
                a,
                Action::FailOverCms {
                    mode: Mode::Disaster,
                    ..
                }
            )
        })
        .is_some()
    };
    let more = !pool_actions(&wrong).is_subset(&pool_actions(right));
    // Database failovers need no CMS: a plan of them alone is right without a recovery.
    let needs_cms = wrong
        .steps
        .iter()
        .any(|s| !matches!(s.action, Action::FailOverDatabase { .. }));
    let unrecovered = recovery(right) && !recovery(&wrong) && needs_cms;
    (more || unrecovered).then(|| Mutant::new(wrong, expect))
}

/// The backup pool of `pool`, as Topology Builder pairs them.
fn partner(w: &World, pool: &str) -> Option<String> {
    w.observed
        .pools
        .iter()
        .find(|p| p.fqdn == pool)
        .and_then(|p| p.backup_pool.clone())
}

/// The plan with its first disaster-mode pool move of this kind made graceful.
fn made_graceful(p: &Plan, kind: ActionKind) -> Option<Mutant> {
    let mut out = p.clone();
    let mode = out
        .steps
        .iter_mut()
        .filter(|s| s.action.kind() == kind)
        .find_map(|s| match &mut s.action {
            Action::FailOverPool { mode, .. } | Action::FailBackPool { mode, .. }
                if *mode == Mode::Disaster =>
            {
                Some(mode)
            }
            _ => None,
        })?;
    *mode = Mode::Graceful;
    Some(Mutant::new(out, "-DisasterMode"))
}

type Mutation = fn(&World, &Plan) -> Option<Mutant>;

const MUTATIONS: [(&str, Mutation); 13] = [
    ("force the CMS over while its master is up", |w, p| {
        let mut out = p.clone();
        let s = out.steps.iter_mut().find(|s| {
            matches!(
                s.action,
                Action::FailOverCms {
                    mode: Mode::Graceful,
                    ..
                }
            )
        })?;
        if let Action::FailOverCms {
            to,
            mode,
            backup_sql,
        } = &mut s.action
        {
            let sql = w.desired.cms.as_ref()?.backup_sql_for(to)?;
            *mode = Mode::Disaster;
            *backup_sql = Some(Box::new(sql.clone()));
        }
        Some(Mutant::new(out, "-Force is for disaster recovery only"))
    }),
    ("failover before the partner's failback", |w, p| {
        p.steps.iter().find_map(|fo| {
            let Action::FailOverPool { pool, .. } = &fo.action else {
                return None;
            };
            let q = partner(w, pool)?;
            let fb = find(
                p,
                |a| matches!(a, Action::FailBackPool { pool, .. } if *pool == q),
            )?;
            Some(cut(p, &fo.id, &[&fb.id], "Invoke-CsPoolFailBack -PoolFqdn"))
        })
    }),
    ("skip the CMS move off the pool that fails over", |w, p| {
        let master = w.observed.cms.active_master.as_deref()?;
        let cms = find(p, |a| {
            matches!(
                a,
                Action::FailOverCms {
                    mode: Mode::Graceful,
                    ..
                }
            )
        })?;
        let fo = find(
            p,
            |a| matches!(a, Action::FailOverPool { pool, .. } if pool == master),
        )?;
        Some(cut(
            p,
            &fo.id,
            &[&cms.id],
            "hosts the active Central Management Store master",
        ))
    }),
    ("run a step before the recovery of a lost master", |_, p| {
        let cms = find(p, |a| {
            matches!(
                a,
                Action::FailOverCms {
                    mode: Mode::Disaster,
                    ..
                }
            )
        })?;
        // Database failovers read the local replica: they need no CMS.
        let other = p
            .steps
            .iter()
            .find(|s| s.id != cms.id && !matches!(s.action, Action::FailOverDatabase { .. }))?;
        Some(cut(
            p,
            &other.id,
            &[&cms.id],
            "Central Management Store is unavailable",
        ))
    }),
    ("graceful failover instead of disaster", |_, p| {
        made_graceful(p, ActionKind::FailOverPool)
    }),
    ("graceful failback instead of disaster", |_, p| {
        made_graceful(p, ActionKind::FailBackPool)
    }),
    ("drop an Edge repoint before a failover", |w, p| {
        p.steps.iter().find_map(|fo| {
            let Action::FailOverPool { pool, .. } = &fo.action else {
                return None;
            };
            let named = |edge: &str| {
                w.observed
                    .edges
                    .iter()
                    .any(|e| e.fqdn == edge && e.next_hop == *pool)
            };
            let r = find(
                p,
                |a| matches!(a, Action::RepointEdge { edge, .. } if named(edge)),
            )?;
            Some(cut(p, &fo.id, &[&r.id], "next hop for the Edge server"))
        })
    }),
    ("skip dead Edge pools", |w, p| {
        let dead: BTreeSet<&str> = w
            .observed
            .edges
            .iter()
            .filter(|e| e.health == Health::Down)
            .map(|e| e.fqdn.as_str())
            .collect();
        let r = find(
            p,
            |a| matches!(a, Action::RepointEdge { edge, .. } if dead.contains(edge.as_str())),
        )?;
        let fo = p.steps.iter().find(|s| {
            // The failover the repoint is for waits on it directly (others may wait through a
            // CMS move, which orders everything around it).
            matches!(s.action, Action::FailOverPool { .. }) && s.depends_on.contains(&r.id)
        })?;
        Some(cut(p, &fo.id, &[&r.id], "next hop for the Edge server"))
    }),
    ("recover the CMS into the pool that lost it", |w, p| {
        let mut out = p.clone();
        let s = out.steps.iter_mut().find(|s| {
            matches!(
                s.action,
                Action::FailOverCms {
                    mode: Mode::Disaster,
                    ..
                }
            )
        })?;
        if let Action::FailOverCms { to, backup_sql, .. } = &mut s.action {
            let lost = partner(w, to)?;
            *to = lost.clone();
            if let Some(b) = backup_sql {
                b.pool = lost;
            }
        }
        Some(Mutant::new(out, "hosts the lost Central Management Store"))
    }),
    ("sync into a backup pool that is down", |w, p| {
        let fb = find(p, |a| {
            matches!(
                a,
                Action::FailBackPool {
                    mode: Mode::Disaster,
                    ..
                }
            )
        })?;
        let Action::FailBackPool { pool, .. } = &fb.action else {
            return None;
        };
        let mut out = p.clone();
        out.steps.push(Step {
            id: "sync".into(),
            action: Action::SyncBackup {
                pool: partner(w, pool)?,
                module: BackupModule::DataConf,
            },
            depends_on: vec![fb.id.clone()],
        });
        Some(Mutant::new(out, "Cannot reach the Backup Service"))
    }),
    ("blind to Backup Service ErrorState", |w, p| {
        if !p
            .blocked
            .iter()
            .any(|b| b.reason == BlockReason::BackupUnhealthy)
        {
            return None;
        }
        let wrong = blind(w, |seen| {
            for b in &mut seen.observed.backup {
                b.export_state = ExportState::SteadyState;
                b.import_state = ImportState::NormalState;
            }
        });
        differs(p, wrong, "ErrorState")
    }),
    ("blind to Back End health", |w, p| {
        let wrong = blind(w, |seen| {
            for pool in &mut seen.observed.pools {
                if pool.back_end == Some(Health::Down) {
                    pool.back_end = None;
                }
            }
        });
        differs(p, wrong, "")
    }),
    ("blind to pools that are down", |w, p| {
        let wrong = blind(w, |seen| {
            for pool in &mut seen.observed.pools {
                if pool.health == Health::Down {
                    pool.health = Health::Up;
                }
            }
        });
        differs(p, wrong, "")
    }),
];

/// Runs the mutant on the real deployment: `Some(message)` for the first refusal, `None` when
/// everything it may run ran.
fn first_refusal(w: &World, m: &Mutant) -> Option<String> {
    let mut sim = Deployment::new(truth(w)).expect("the truth is consistent");
    let mut done: BTreeSet<&str> = BTreeSet::new();
    loop {
        let ready: Vec<&Step> = m
            .plan
            .steps
            .iter()
            .filter(|s| {
                !done.contains(s.id.as_str())
                    && !reaches(&m.plan, &s.id, &m.held)
                    && s.depends_on.iter().all(|d| done.contains(d.as_str()))
            })
            .collect();
        let next = ready
            .iter()
            .find(|s| Some(&s.id) == m.first.as_ref())
            .or(ready.first())?;
        if let Err(refusal) = sim.run(&next.action) {
            return Some(refusal);
        }
        done.insert(&next.id);
    }
}

#[test]
fn the_simulator_refuses_every_plan_of_a_planner_missing_a_rule() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut applied: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..1500 {
        let w = world().new_tree(&mut runner).expect("a world").current();
        let right = w.plan();
        for (rule, mutate) in MUTATIONS {
            let Some(mutant) = mutate(&w, &right) else {
                continue;
            };
            *applied.entry(rule).or_default() += 1;
            match first_refusal(&w, &mutant) {
                Some(message) => assert!(
                    message.contains(mutant.expect),
                    "{rule}: refused for another reason: {message}\n{:#?}",
                    mutant.plan
                ),
                None => panic!(
                    "{rule}: the simulator let a wrong plan through\n{:#?}\nworld {w:#?}",
                    mutant.plan
                ),
            }
        }
    }
    println!("wrong plans refused, per rule removed: {applied:#?}");
    for (rule, _) in MUTATIONS {
        let n = applied.get(rule).copied().unwrap_or(0);
        assert!(n >= 5, "{rule} was exercised {n} times: {applied:#?}");
    }
}
