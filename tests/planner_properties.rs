//! Property tests over random deployments (DESIGN section 10, layer 1): (a) no plan breaks a rule;
//! (b) executing a plan in any dependency order on the simulator is never refused and reaches the
//! desired state, or the pair is reported blocked; (c) planning again on the reached state gives
//! an empty plan; (d) the plan id is stable for equal inputs and differs when the plan differs.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{waits_for, World};
use proptest::prelude::*;
use sfb_dr::model::{Action, BackupModule, Mode, Plan, Step};
use sfb_dr::model::{CmsFailback, Health, ObservedIndex};
use sfb_dr::planner;
use sfb_dr::simulator::Deployment;

const SITES: [&str; 3] = ["redmond", "dublin", "paris"];

#[derive(Clone, Debug)]
struct PairGen {
    sites: (usize, usize),
    health: (Health, Health),
    /// 0: both home, 1: pool A failed over, 2: pool B failed over.
    serving: u8,
    active_sites: Option<u8>,
    backup_error: (bool, bool),
    /// The driver cannot tell who serves this pair's users; the ledger records it instead.
    unobserved: bool,
}

#[derive(Clone, Debug)]
struct CmsGen {
    pair: usize,
    preferred: usize,
    /// None: unavailable; Some(i): pool i of the pair.
    master: Option<usize>,
    declared: bool,
    automatic: bool,
    replicas_up_to_date: bool,
    backup_sql: (bool, bool),
}

#[derive(Clone, Debug)]
struct EdgeGen {
    site: usize,
    next_hop: usize,
    health: Health,
}

fn health() -> impl Strategy<Value = Health> {
    prop_oneof![6 => Just(Health::Up), 3 => Just(Health::Down), 1 => Just(Health::Unknown)]
}

fn pair_gen() -> impl Strategy<Value = PairGen> {
    (
        (0usize..3, 1usize..3),
        (health(), health()),
        prop_oneof![6 => Just(0u8), 2 => Just(1u8), 2 => Just(2u8)],
        prop_oneof![4 => Just(None), 1 => (1u8..4).prop_map(Some)],
        (prop::bool::weighted(0.1), prop::bool::weighted(0.1)),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |((a, d), health, serving, active_sites, backup_error, unobserved)| PairGen {
                sites: (a, (a + d) % 3),
                health,
                serving,
                active_sites,
                backup_error,
                unobserved,
            },
        )
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(pair_gen(), 1..=20),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        any::<bool>(),
        (
            any::<prop::sample::Index>(),
            0usize..2,
            prop_oneof![1 => Just(None), 4 => (0usize..2).prop_map(Some)],
            prop::bool::weighted(0.85),
            any::<bool>(),
            prop::bool::weighted(0.85),
            (prop::bool::weighted(0.8), prop::bool::weighted(0.8)),
        ),
        prop::collection::vec((0usize..3, any::<prop::sample::Index>(), health()), 0..=4),
    )
        .prop_map(|(pairs, active, allow_loss, cms, edges)| {
            let cms = CmsGen {
                pair: cms.0.index(pairs.len()),
                preferred: cms.1,
                master: cms.2,
                declared: cms.3,
                automatic: cms.4,
                replicas_up_to_date: cms.5,
                backup_sql: cms.6,
            };
            let edges: Vec<EdgeGen> = edges
                .into_iter()
                .map(|(site, hop, health)| EdgeGen {
                    site,
                    next_hop: hop.index(pairs.len() * 2),
                    health,
                })
                .collect();
            build(
                &pairs,
                [active.0, active.1, active.2],
                allow_loss,
                &cms,
                &edges,
            )
        })
}

fn pool(i: usize, j: usize) -> String {
    format!("p{i}{}.contoso.com", ["a", "b"][j])
}

fn build(
    pairs: &[PairGen],
    active: [bool; 3],
    allow_loss: bool,
    cms: &CmsGen,
    edges: &[EdgeGen],
) -> World {
    let mut w = World::new();
    w.observed.sites = SITES.iter().map(|s| s.to_string()).collect();
    for (i, p) in pairs.iter().enumerate() {
        let (a, b) = (pool(i, 0), pool(i, 1));
        w = w
            .pair(&a, SITES[p.sites.0], &b, SITES[p.sites.1])
            .health(&a, p.health.0)
            .health(&b, p.health.1);
        match p.serving {
            1 => w = w.served_by(&a, &b),
            2 => w = w.served_by(&b, &a),
            _ => {}
        }
        if let Some(mask) = p.active_sites {
            let mut sites = vec![];
            if mask & 1 != 0 {
                sites.push(SITES[p.sites.0]);
            }
            if mask & 2 != 0 {
                sites.push(SITES[p.sites.1]);
            }
            w = w.active_sites(&a, &sites);
        }
        if p.unobserved {
            for (home, partner) in [(&a, &b), (&b, &a)] {
                let failed_over = (p.serving == 1 && home == &a) || (p.serving == 2 && home == &b);
                w = w
                    .ledger(home, if failed_over { partner } else { home })
                    .serving_unobserved(home);
            }
        }
        if p.backup_error.0 {
            w = w.backup_error(&a);
        }
        if p.backup_error.1 {
            w = w.backup_error(&b);
        }
    }
    for (s, a) in SITES.iter().zip(active) {
        w = w.site_active(s, a);
    }
    if allow_loss {
        w = w.allow_data_loss();
    }
    let master = cms.master.map(|j| pool(cms.pair, j));
    if cms.declared {
        w = w
            .cms(&pool(cms.pair, cms.preferred), master.as_deref())
            .cms_failback(if cms.automatic {
                CmsFailback::Automatic
            } else {
                CmsFailback::Manual
            });
        for (j, keep) in [cms.backup_sql.0, cms.backup_sql.1].into_iter().enumerate() {
            if !keep {
                w = w.no_backup_sql_for(&pool(cms.pair, j));
            }
        }
    } else {
        w = w.cms_master(master.as_deref());
    }
    w = w.replicas_up_to_date(cms.replicas_up_to_date);
    for (k, e) in edges.iter().enumerate() {
        let name = format!("edge{k}.contoso.com");
        w = w
            .edge(&name, SITES[e.site], &pool(e.next_hop / 2, e.next_hop % 2))
            .edge_health(&name, e.health);
    }
    w
}

/// (a): the plan, read as a graph, keeps every rule of DESIGN section 5.
fn check_rules(w: &World, plan: &Plan) -> Result<(), TestCaseError> {
    let index = w.index();
    let partner = |p: &str| {
        index
            .pool(p)
            .and_then(|x| x.backup_pool.clone())
            .unwrap_or_default()
    };
    let health = |p: &str| index.pool(p).map(|x| x.health).unwrap_or(Health::Unknown);
    let position: HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let master = index
        .topology
        .cms
        .active_master
        .clone()
        .filter(|m| health(m) != Health::Down);
    let find = |pred: &dyn Fn(&Action) -> bool| -> Option<&Step> {
        plan.steps.iter().find(|s| pred(&s.action))
    };
    let mut moved_pools = BTreeSet::new();
    for (i, s) in plan.steps.iter().enumerate() {
        for d in &s.depends_on {
            prop_assert!(
                position.get(d.as_str()).is_some_and(|&j| j < i),
                "{} depends on a later or unknown step {d}",
                s.id
            );
        }
        match &s.action {
            Action::FailOverPool { pool, mode } => {
                let q = partner(pool);
                prop_assert!(moved_pools.insert(pool.clone()), "{pool} moved twice");
                prop_assert_eq!(
                    *mode == Mode::Disaster,
                    health(pool) == Health::Down,
                    "rule 4 for {}",
                    pool
                );
                prop_assert_ne!(health(pool), Health::Unknown);
                prop_assert_eq!(
                    health(&q),
                    Health::Up,
                    "rule 6: failover of {} into {}",
                    pool,
                    q
                );
                // Rule 1: the partner's users are home first.
                let partner_home = serving(w, &q) == q;
                if !partner_home {
                    let fb =
                        find(&|a| matches!(a, Action::FailBackPool { pool: p, .. } if *p == q));
                    prop_assert!(
                        fb.is_some_and(|fb| waits_for(plan, s, fb)),
                        "rule 1: {pool} fails over before {q} fails back"
                    );
                }
                // Rule 2.
                if master.is_none() || master.as_deref() == Some(pool.as_str()) {
                    let cms = find(&|a| matches!(a, Action::FailOverCms { .. }));
                    prop_assert!(
                        cms.is_some_and(|c| waits_for(plan, s, c)),
                        "rule 2: {pool} fails over before the CMS moves"
                    );
                }
                // Rule 3.
                for e in index
                    .topology
                    .edges
                    .iter()
                    .filter(|e| e.next_hop == *pool && e.health != Health::Down)
                {
                    let r =
                        find(&|a| matches!(a, Action::RepointEdge { edge, .. } if *edge == e.fqdn));
                    prop_assert!(
                        r.is_some_and(|r| waits_for(plan, s, r)),
                        "rule 3: {} still points at {pool}",
                        e.fqdn
                    );
                }
                if *mode == Mode::Graceful {
                    prop_assert!(
                        !index.backup(pool, &q).is_some_and(|b| b.is_error()),
                        "rule 5: graceful over ErrorState"
                    );
                }
            }
            Action::FailBackPool { pool, mode } => {
                let q = partner(pool);
                prop_assert!(moved_pools.insert(pool.clone()), "{pool} moved twice");
                prop_assert_eq!(
                    health(pool),
                    Health::Up,
                    "rule 4: failback of {} needs it up",
                    pool
                );
                match mode {
                    Mode::Graceful => {
                        prop_assert_eq!(health(&q), Health::Up);
                        prop_assert!(!index.backup(&q, pool).is_some_and(|b| b.is_error()));
                        let sync = find(
                            &|a| matches!(a, Action::SyncBackup { pool: p, module: BackupModule::DataConf } if *p == q),
                        );
                        prop_assert!(
                            sync.is_some_and(|y| waits_for(plan, y, s)),
                            "rule 5: no sync after failback of {pool}"
                        );
                    }
                    Mode::Disaster => {
                        prop_assert_eq!(health(&q), Health::Down);
                        prop_assert!(
                            w.desired.allow_data_loss,
                            "rule 4: disaster failback without consent"
                        );
                    }
                }
            }
            Action::FailOverCms {
                to,
                mode,
                backup_sql,
            } => {
                prop_assert_eq!(health(to), Health::Up);
                prop_assert_eq!(backup_sql.is_some(), *mode == Mode::Disaster);
                if let Some(b) = backup_sql {
                    prop_assert_eq!(&b.pool, to);
                }
            }
            Action::RepointEdge { to, .. } => prop_assert_eq!(health(to), Health::Up),
            Action::SyncBackup { .. } => {}
        }
    }
    Ok(())
}

/// Who really serves `home`'s users: the observation, else the ledger, else home.
fn serving(w: &World, home: &str) -> String {
    let observed = w
        .observed
        .pools
        .iter()
        .find(|p| p.fqdn == home)
        .and_then(|p| p.served_by.clone());
    observed
        .or_else(|| w.ledger.served_by.get(home).cloned())
        .unwrap_or_else(|| home.to_owned())
}

/// The deployment as it really is, including what the driver could not observe.
fn truth(w: &World) -> sfb_dr::model::ObservedTopology {
    let mut t = w.observed.clone();
    for p in &mut t.pools {
        p.served_by = Some(serving(w, &p.fqdn));
    }
    t
}

/// Runs the plan on the simulator, picking among ready steps with `choices`.
fn execute(
    w: &World,
    plan: &Plan,
    choices: &[prop::sample::Index],
) -> Result<Deployment, TestCaseError> {
    let mut sim = Deployment::new(truth(w)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut k = 0;
    while done.len() < plan.steps.len() {
        let ready: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| {
                !done.contains(s.id.as_str())
                    && s.depends_on.iter().all(|d| done.contains(d.as_str()))
            })
            .collect();
        prop_assert!(!ready.is_empty(), "the plan's dependencies have a cycle");
        let s = ready[choices.get(k).map_or(0, |c| c.index(ready.len()))];
        k += 1;
        if let Err(refusal) = sim.run(&s.action) {
            return Err(TestCaseError::fail(format!(
                "{} refused: {refusal}\n{plan:#?}",
                s.id
            )));
        }
        done.insert(&s.id);
    }
    Ok(sim)
}

fn replan(w: &World, reached: &Deployment) -> Plan {
    let observed =
        ObservedIndex::new(reached.observe()).expect("the simulator observes consistently");
    planner::plan(&w.desired, &observed, &Default::default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn plans_keep_every_rule_and_reach_the_desired_state(
        w in world(),
        choices in prop::collection::vec(any::<prop::sample::Index>(), 0..64),
    ) {
        let plan = w.plan();
        check_rules(&w, &plan)?;
        let reached = execute(&w, &plan, &choices)?;
        // (b) every pair not reported blocked is served as desired.
        let blocked: BTreeSet<&str> = plan.blocked.iter().map(|b| b.pair.as_str()).collect();
        let observed = reached.observe();
        for pair in w.desired.pairs.iter().filter(|p| !blocked.contains(p.name.as_str())) {
            for i in 0..2 {
                let want = if w.desired.pool_site_active(pair, i) { i } else { 1 - i };
                let served = observed.pools.iter().find(|p| p.fqdn == pair.pools[i].fqdn).and_then(|p| p.served_by.clone());
                prop_assert_eq!(served.as_deref(), Some(pair.pools[want].fqdn.as_str()), "pair {} not at its desired state", pair.name);
            }
        }
        // (c) nothing left to do.
        let again = replan(&w, &reached);
        prop_assert!(again.steps.is_empty(), "planning again gives {:#?}\nfirst plan {:#?}", again.steps, plan);
    }

    #[test]
    fn plan_id_is_stable_and_tracks_the_plan(a in world(), b in world()) {
        let (pa, pb) = (a.plan(), b.plan());
        prop_assert_eq!(&pa.id, &a.clone().plan().id);
        let shape = |p: &Plan| (p.steps.clone(), p.blocked.iter().map(|b| (b.pair.clone(), b.reason)).collect::<Vec<_>>());
        prop_assert_eq!(shape(&pa) == shape(&pb), pa.id == pb.id);
    }
}
