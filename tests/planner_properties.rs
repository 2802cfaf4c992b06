//! Property tests over random deployments (see `common::random` for what they cover): (a) no plan
//! breaks a rule, read here as a graph with this file's own reading of the rules; (b) executing a
//! plan in any dependency order on the simulator, keeping the ledger as the operator would, is
//! never refused and reaches the desired state, or the pair is reported blocked; (c) planning
//! again on the reached state gives nothing to do (after a CMS recovery, at most the CMS's return
//! to its preferred pool); (d) the plan id is stable for equal inputs and differs when the plan
//! differs.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::random::{serving, truth, world};
use common::{waits_for, World};
use proptest::prelude::*;
use sfb_dr::model::{
    Action, BackupModule, BlockReason, Health, Ledger, Mode, ObservedIndex, ObservedPool, Plan,
    Step,
};
use sfb_dr::planner;
use sfb_dr::simulator::Deployment;

/// Front Ends first (down or unknown is that), then the Back End (an unobserved one counts as up).
fn usable(p: &ObservedPool) -> Health {
    match p.health {
        Health::Up => p.back_end.unwrap_or(Health::Up),
        other => other,
    }
}

/// The deployment once every database failover rule 10 calls for has succeeded, read here on
/// its own: a pool whose Front Ends are up, whose mirrored Back End's principal is down and whose
/// other SQL Server is up has its Back End up, and the CMS whose database was there its master.
fn repaired(w: &World) -> (ObservedIndex, Vec<String>) {
    let mut t = w.observed.clone();
    let mut pools = Vec::new();
    for p in &mut t.pools {
        let Some(m) = &mut p.back_end_mirror else {
            continue;
        };
        let other = m.principal.other();
        let declared = w
            .desired
            .pairs
            .iter()
            .any(|pair| pair.position(&p.fqdn).is_some());
        if declared
            && p.health == Health::Up
            && m.health(m.principal) == Health::Down
            && m.health(other) == Health::Up
        {
            m.principal = other;
            p.back_end = Some(Health::Up);
            pools.push(p.fqdn.clone());
            if t.cms.active_master.as_deref().or(t.cms.pool.as_deref()) == Some(p.fqdn.as_str()) {
                t.cms.active_master = Some(p.fqdn.clone());
            }
        }
    }
    (
        ObservedIndex::new(t).expect("a repaired world is consistent"),
        pools,
    )
}

/// Rule 10 read as a graph: exactly one database failover per pool that calls for one, to the
/// server that is up, with the CMS database on the pool holding it; they wait for nothing, and
/// the steps on its pool (and the CMS pool's repair, every step) wait for it.
fn check_database_failovers(
    w: &World,
    plan: &Plan,
    repaired: &[String],
) -> Result<(), TestCaseError> {
    let failovers: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::FailOverDatabase { .. }))
        .collect();
    let mut seen = BTreeSet::new();
    for s in &failovers {
        let Action::FailOverDatabase {
            pool,
            new_principal,
            databases,
        } = &s.action
        else {
            continue;
        };
        prop_assert!(
            repaired.contains(pool),
            "{pool} fails its databases over without need"
        );
        prop_assert_eq!(
            databases.last(),
            Some(&sfb_dr::model::DatabaseType::User),
            "the CMS database moves before the user database"
        );
        prop_assert!(
            seen.insert(pool.clone()),
            "{pool}'s databases fail over twice"
        );
        let m = w
            .observed
            .pools
            .iter()
            .find(|p| p.fqdn == *pool)
            .and_then(|p| p.back_end_mirror)
            .expect("mirrored");
        prop_assert_eq!(*new_principal, m.principal.other());
        let cms = &w.observed.cms;
        let cms_pool = cms.active_master.as_deref().or(cms.pool.as_deref());
        let cms_backup = cms_pool
            .and_then(|c| w.observed.pools.iter().find(|p| p.fqdn == c))
            .and_then(|p| p.backup_pool.as_deref());
        let holds_cms = [cms_pool, cms_backup].contains(&Some(pool.as_str()));
        prop_assert_eq!(
            databases.contains(&sfb_dr::model::DatabaseType::CentralMgmt),
            holds_cms
        );
        prop_assert!(
            s.depends_on.is_empty(),
            "{pool}'s databases wait for {:?}",
            s.depends_on
        );
    }
    prop_assert_eq!(
        seen.len(),
        repaired.len(),
        "a pool that needs its databases moved is left"
    );
    // Every step waits for the repair of the pool holding the CMS, and a step on a pool (or its
    // partner, or the CMS failover into it) for that pool's repair.
    let cms = &w.observed.cms;
    let cms_pool = cms.active_master.as_deref().or(cms.pool.as_deref());
    let partner = |p: &str| {
        w.observed
            .pools
            .iter()
            .find(|x| x.fqdn == p)
            .and_then(|x| x.backup_pool.clone())
    };
    for s in &plan.steps {
        let touched: Vec<String> = match &s.action {
            Action::FailOverPool { pool, .. }
            | Action::FailBackPool { pool, .. }
            | Action::SyncBackup { pool, .. } => {
                std::iter::once(pool.clone()).chain(partner(pool)).collect()
            }
            Action::FailOverCms { to, .. } | Action::RepointEdge { to, .. } => vec![to.clone()],
            // Federation routes and Persistent Chat touch no Front End pool.
            Action::FailOverDatabase { .. }
            | Action::MoveSipFederationRoute { .. }
            | Action::StopEdgeServices { .. }
            | Action::StartEdgeServices { .. }
            | Action::SetXmppFederationRoute { .. }
            | Action::PublishXmppFederationRoute { .. }
            | Action::RecoverPersistentChatDatabase { .. }
            | Action::SetPersistentChatState { .. }
            | Action::SetPersistentChatActiveServers { .. }
            | Action::RestorePersistentChatDatabase { .. } => continue,
        };
        for f in &failovers {
            let Action::FailOverDatabase { pool, .. } = &f.action else {
                continue;
            };
            if cms_pool == Some(pool.as_str()) || touched.contains(pool) {
                prop_assert!(
                    waits_for(plan, s, f),
                    "{} runs before the database failover {}",
                    s.id,
                    f.id
                );
            }
        }
    }
    Ok(())
}

/// (a): the plan, read as a graph, keeps every rule.
fn check_rules(w: &World, plan: &Plan) -> Result<(), TestCaseError> {
    let (index, repaired_pools) = repaired(w);
    check_database_failovers(w, plan, &repaired_pools)?;
    let partner = |p: &str| {
        index
            .pool(p)
            .and_then(|x| x.backup_pool.clone())
            .unwrap_or_default()
    };
    let health = |p: &str| index.pool(p).map(usable).unwrap_or(Health::Unknown);
    let unsupported = |p: &str| {
        index
            .pool_index(p)
            .and_then(|i| index.unsupported_pairing(i))
            .is_some()
    };
    let position: HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let cms = &index.topology.cms;
    let master = cms.active_master.clone().filter(|m| {
        index
            .pool(m)
            .is_some_and(|p| p.health != Health::Down && p.back_end != Some(Health::Down))
    });
    let location = cms.active_master.clone().or_else(|| cms.pool.clone());
    let find = |pred: &dyn Fn(&Action) -> bool| -> Option<&Step> {
        plan.steps.iter().find(|s| pred(&s.action))
    };
    let cms_step = find(&|a| matches!(a, Action::FailOverCms { .. }));

    // A lost master: nothing at all without knowing where it was; else its recovery first
    // (after the database failovers of the pools it does not need).
    let moves: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| !matches!(s.action, Action::FailOverDatabase { .. }))
        .collect();
    if master.is_none() && !moves.is_empty() {
        prop_assert!(location.is_some(), "steps with the CMS location unknown");
        let first = moves[0];
        prop_assert!(
            matches!(&first.action, Action::FailOverCms { to, mode: Mode::Disaster, .. }
                if Some(partner(to)) == location),
            "a lost master is recovered first, into the partner of its pool: {first:?}"
        );
        for s in moves.iter().filter(|s| s.id != first.id) {
            prop_assert!(
                waits_for(plan, s, first),
                "{} runs before the recovery",
                s.id
            );
        }
    }
    // A blank master while the pool holding the CMS database is up with its Back End is an
    // inconsistency to repair: nothing is forced over a live store, and nothing that needs the
    // CMS runs (database failovers read the local replica).
    let live_store = cms.active_master.is_none()
        && cms
            .pool
            .as_deref()
            .and_then(|p| index.pool(p))
            .is_some_and(|p| p.health == Health::Up && p.back_end != Some(Health::Down));
    if live_store {
        prop_assert!(
            moves.is_empty(),
            "steps over a live store: {:?}",
            plan.steps
        );
    }
    // Pairs Microsoft does not support are reported and left alone.
    for pair in &w.desired.pairs {
        if unsupported(&pair.pools[0].fqdn) {
            prop_assert!(
                plan.blocked
                    .iter()
                    .any(|b| b.pair == pair.name && b.reason == BlockReason::PairUnsupported),
                "{} is unsupported and not reported",
                pair.name
            );
        }
    }

    // Nothing runs beside a CMS move: every other step is before it or after it.
    let ancestors = |id: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![id.to_owned()];
        while let Some(next) = todo.pop() {
            if let Some(s) = plan.steps.iter().find(|s| s.id == next) {
                for d in &s.depends_on {
                    if seen.insert(d.clone()) {
                        todo.push(d.clone());
                    }
                }
            }
        }
        seen
    };
    for cms in plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::FailOverCms { .. }))
    {
        let before = ancestors(&cms.id);
        for s in plan.steps.iter().filter(|s| s.id != cms.id) {
            prop_assert!(
                before.contains(&s.id) || ancestors(&s.id).contains(&cms.id),
                "{} may run beside the CMS move {}",
                s.id,
                cms.id
            );
        }
    }

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
                prop_assert!(!unsupported(pool), "{pool} is in an unsupported pairing");
                prop_assert!(moved_pools.insert(pool.clone()), "{pool} moved twice");
                prop_assert_ne!(health(pool), Health::Unknown);
                prop_assert!(
                    *mode == Mode::Graceful || w.desired.allow_data_loss,
                    "disaster failover of {pool} without consent"
                );
                prop_assert_eq!(
                    *mode == Mode::Disaster,
                    health(pool) == Health::Down,
                    "disaster mode exactly when {} or its Back End is down",
                    pool
                );
                prop_assert_eq!(health(&q), Health::Up, "failover of {} into {}", pool, q);
                // The partner's users are home first (the swap rule).
                if serving(w, &q) != q {
                    let fb =
                        find(&|a| matches!(a, Action::FailBackPool { pool: p, .. } if *p == q));
                    prop_assert!(
                        fb.is_some_and(|fb| waits_for(plan, s, fb)),
                        "{pool} fails over before {q} fails back"
                    );
                }
                if master.as_deref() == Some(pool.as_str()) {
                    prop_assert!(
                        cms_step.is_some_and(|c| waits_for(plan, s, c)),
                        "{pool} fails over before the CMS moves off it"
                    );
                }
                // Every Edge pool naming it, live or dead, is repointed first.
                for e in index.topology.edges.iter().filter(|e| e.next_hop == *pool) {
                    let r =
                        find(&|a| matches!(a, Action::RepointEdge { edge, .. } if *edge == e.fqdn));
                    prop_assert!(
                        r.is_some_and(|r| waits_for(plan, s, r)),
                        "{} still names {pool}",
                        e.fqdn
                    );
                }
                if *mode == Mode::Graceful {
                    prop_assert!(
                        !index.backup(pool, &q).is_some_and(|b| b.is_error()),
                        "graceful failover over ErrorState"
                    );
                }
            }
            Action::FailBackPool { pool, mode } => {
                let q = partner(pool);
                prop_assert!(!unsupported(pool), "{pool} is in an unsupported pairing");
                prop_assert!(moved_pools.insert(pool.clone()), "{pool} moved twice");
                prop_assert_eq!(health(pool), Health::Up, "failback of {} needs it up", pool);
                match mode {
                    Mode::Graceful => {
                        prop_assert_eq!(health(&q), Health::Up);
                        prop_assert!(!index.backup(&q, pool).is_some_and(|b| b.is_error()));
                        let sync = find(
                            &|a| matches!(a, Action::SyncBackup { pool: p, module: BackupModule::DataConf } if *p == q),
                        );
                        prop_assert!(
                            sync.is_some_and(|y| waits_for(plan, y, s)),
                            "no conference-content copy after the failback of {pool}"
                        );
                    }
                    Mode::Disaster => {
                        prop_assert_eq!(health(&q), Health::Down);
                        prop_assert!(
                            w.desired.allow_data_loss,
                            "disaster failback without consent"
                        );
                    }
                }
            }
            Action::SyncBackup { pool: q, .. } => {
                let home = partner(q);
                prop_assert!(!unsupported(q), "{q} is in an unsupported pairing");
                prop_assert_eq!(health(q), Health::Up, "sync from {}", q);
                prop_assert_eq!(health(&home), Health::Up, "sync into {}", home);
                let after_failback = find(
                    &|a| matches!(a, Action::FailBackPool { pool, mode: Mode::Graceful } if *pool == home),
                )
                .is_some_and(|fb| waits_for(plan, s, fb));
                let owed = w.ledger.conference_content_owed.get(&home) == Some(q);
                prop_assert!(after_failback || owed, "a sync from {q} nobody asked for");
            }
            Action::FailOverCms {
                to,
                mode,
                backup_sql,
            } => {
                prop_assert_eq!(health(to), Health::Up);
                prop_assert!(
                    !unsupported(to),
                    "the CMS moves within an unsupported pairing"
                );
                prop_assert_eq!(backup_sql.is_some(), *mode == Mode::Disaster);
                if let Some(b) = backup_sql {
                    prop_assert_eq!(&b.pool, to);
                }
                match (mode, &master) {
                    (Mode::Graceful, Some(m)) => {
                        prop_assert_eq!(&partner(m), to);
                        prop_assert!(
                            !index.backup(m, to).is_some_and(|b| b.is_error()),
                            "graceful CMS move over ErrorState"
                        );
                    }
                    (Mode::Disaster, None) => {}
                    (mode, master) => {
                        prop_assert!(false, "a {mode:?} CMS move with the master {master:?}")
                    }
                }
            }
            // Checked whole by `check_database_failovers`.
            Action::FailOverDatabase { .. }
            | Action::MoveSipFederationRoute { .. }
            | Action::StopEdgeServices { .. }
            | Action::StartEdgeServices { .. }
            | Action::SetXmppFederationRoute { .. }
            | Action::PublishXmppFederationRoute { .. }
            | Action::RecoverPersistentChatDatabase { .. }
            | Action::SetPersistentChatState { .. }
            | Action::SetPersistentChatActiveServers { .. }
            | Action::RestorePersistentChatDatabase { .. } => {}
            Action::RepointEdge { edge, to } => {
                prop_assert_eq!(health(to), Health::Up);
                let hop = index
                    .topology
                    .edges
                    .iter()
                    .find(|e| e.fqdn == *edge)
                    .map(|e| e.next_hop.clone())
                    .unwrap_or_default();
                let off_a_failover = plan.steps.iter().any(|f| {
                    matches!(&f.action, Action::FailOverPool { pool, .. } if *pool == hop)
                        && waits_for(plan, f, s)
                });
                let declared = w.desired.edge_next_hops.get(edge) == Some(to);
                prop_assert!(
                    off_a_failover || declared,
                    "{edge} moved although neither its next hop fails over nor its site declares {to}"
                );
            }
        }
    }
    Ok(())
}

/// Runs the plan on the simulator, picking among ready steps with `choices`, and keeps the
/// ledger as the operator does.
fn execute(
    sim: &mut Deployment,
    ledger: &mut Ledger,
    plan: &Plan,
    choices: &[prop::sample::Index],
) -> Result<(), TestCaseError> {
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
        let before = ObservedIndex::new(sim.observe())
            .map_err(|e| TestCaseError::fail(format!("the simulator contradicts itself: {e}")))?;
        if let Err(refusal) = sim.run(&s.action) {
            return Err(TestCaseError::fail(format!(
                "{} refused: {refusal}\n{plan:#?}",
                s.id
            )));
        }
        ledger.record_step(&s.action, &before);
        done.insert(&s.id);
    }
    Ok(())
}

/// Plans again on the reached state, seen by a driver as blind as the first observation: what it
/// could not observe then (who serves a pool, a Back End, where the CMS lives) it cannot now.
fn replan(w: &World, reached: &Deployment, ledger: &Ledger) -> Plan {
    let mut seen = reached.observe();
    for p in &mut seen.pools {
        if let Some(first) = w.observed.pools.iter().find(|o| o.fqdn == p.fqdn) {
            if first.served_by.is_none() {
                p.served_by = None;
            }
            if first.back_end.is_none() {
                p.back_end = None;
            }
            if first.back_end_mirror.is_none() {
                p.back_end_mirror = None;
            }
        }
    }
    if w.observed.cms.pool.is_none() {
        seen.cms.pool = None;
    }
    let observed = ObservedIndex::new(seen).expect("the simulator observes consistently");
    planner::plan(&w.desired, &observed, ledger)
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
        let mut sim = Deployment::new(truth(&w)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut ledger = w.ledger.clone();
        execute(&mut sim, &mut ledger, &plan, &choices)?;
        // (b) every pair not reported blocked is served as desired.
        let blocked: BTreeSet<&str> = plan.blocked.iter().map(|b| b.pair.as_str()).collect();
        let observed = sim.observe();
        for pair in w.desired.pairs.iter().filter(|p| !blocked.contains(p.name.as_str())) {
            for i in 0..2 {
                let want = if w.desired.pool_site_active(pair, i) { i } else { 1 - i };
                let served = observed.pools.iter().find(|p| p.fqdn == pair.pools[i].fqdn).and_then(|p| p.served_by.clone());
                prop_assert_eq!(served.as_deref(), Some(pair.pools[want].fqdn.as_str()), "pair {} not at its desired state", pair.name);
            }
        }
        // (c) nothing left to do; after a CMS recovery, at most the CMS's graceful return.
        let mut again = replan(&w, &sim, &ledger);
        let recovered = plan.steps.iter().any(|s| matches!(s.action, Action::FailOverCms { mode: Mode::Disaster, .. }));
        if recovered && again.steps.len() == 1 && matches!(again.steps[0].action, Action::FailOverCms { mode: Mode::Graceful, .. }) {
            execute(&mut sim, &mut ledger, &again, &[])?;
            again = replan(&w, &sim, &ledger);
        }
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
