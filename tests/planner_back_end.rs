//! Planning rule 10, Back End high availability: a mirrored Back End whose principal is down
//! fails its databases over to the server that is up, instead of the pool failing over, and the
//! rest of the plan counts on it.

mod common;

use common::{actions, failover, step, waits_for, World, P1, P3};
use sfb_dr::model::{
    Action, DatabaseType, Health, MirrorRole, Mode, ObservedIndex, ObservedTopology,
};

fn database_failover(pool: &str, to: MirrorRole, databases: &[DatabaseType]) -> Action {
    Action::FailOverDatabase {
        pool: pool.into(),
        new_principal: to,
        databases: databases.to_vec(),
    }
}

/// pool1's Back End mirrored, its primary (the principal) down and its mirror up.
fn principal_down(w: World, pool: &str) -> World {
    w.mirror(pool, MirrorRole::Primary, Health::Down, Health::Up)
}

#[test]
fn a_principal_down_with_the_mirror_up_fails_the_databases_over_not_the_pool() {
    let w = principal_down(World::two_pairs().cms_database(P1), P3);
    let plan = w.plan();
    assert_eq!(
        actions(&plan),
        vec![database_failover(
            P3,
            MirrorRole::Mirror,
            &[DatabaseType::User]
        )],
        "{plan:#?}"
    );
    assert!(plan.blocked.is_empty(), "{plan:#?}");
}

#[test]
fn a_mirror_that_is_the_principal_fails_back_over_to_the_primary_when_it_goes_down() {
    let w = World::two_pairs().cms_database(P1).mirror(
        P3,
        MirrorRole::Mirror,
        Health::Up,
        Health::Down,
    );
    assert_eq!(
        actions(&w.plan()),
        vec![database_failover(
            P3,
            MirrorRole::Primary,
            &[DatabaseType::User]
        )]
    );
}

#[test]
fn nothing_is_done_to_a_mirror_whose_other_server_is_down_or_unknown_or_whose_principal_is_up() {
    for (primary, mirror) in [
        (Health::Down, Health::Down),
        (Health::Down, Health::Unknown),
        (Health::Up, Health::Down),
        (Health::Up, Health::Up),
    ] {
        let w =
            World::two_pairs()
                .cms_database(P1)
                .mirror(P3, MirrorRole::Primary, primary, mirror);
        let plan = w.plan();
        assert!(
            !plan
                .steps
                .iter()
                .any(|s| matches!(s.action, Action::FailOverDatabase { .. })),
            "primary {primary:?}, mirror {mirror:?}: {plan:#?}"
        );
    }
}

#[test]
fn a_pool_whose_front_ends_are_down_gets_no_database_failover_but_a_disaster_failover() {
    let w = principal_down(World::two_pairs().cms_database(P1), P3)
        .health(P3, Health::Down)
        .active_sites(P3, &["dublin"])
        .allow_data_loss();
    assert_eq!(
        actions(&w.plan()),
        vec![failover(P3, Mode::Disaster)],
        "moving the databases of a pool without Front Ends gives its users nothing"
    );
}

#[test]
fn both_sql_servers_down_is_a_disaster_failover() {
    let w = World::two_pairs()
        .cms_database(P1)
        .mirror(P3, MirrorRole::Primary, Health::Down, Health::Down)
        .active_sites(P3, &["dublin"])
        .allow_data_loss();
    assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Disaster)]);
}

#[test]
fn a_pool_leaving_service_with_its_principal_down_fails_over_gracefully_after_its_databases() {
    let w = principal_down(World::two_pairs().cms_database(P1), P3).active_sites(P3, &["dublin"]);
    let plan = w.plan();
    let db = step(
        &plan,
        &database_failover(P3, MirrorRole::Mirror, &[DatabaseType::User]),
    );
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    assert!(waits_for(&plan, fo, db), "{plan:#?}");
    assert_eq!(plan.steps.len(), 2, "{plan:#?}");
}

#[test]
fn a_partner_whose_principal_is_down_is_repaired_before_it_receives_users() {
    let w = principal_down(World::two_pairs().cms_database(P1), "pool4.contoso.com")
        .active_sites(P3, &["dublin"]);
    let plan = w.plan();
    let db = step(
        &plan,
        &database_failover(
            "pool4.contoso.com",
            MirrorRole::Mirror,
            &[DatabaseType::User],
        ),
    );
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    assert!(waits_for(&plan, fo, db), "{plan:#?}");
}

#[test]
fn the_cms_pool_fails_its_cms_database_over_and_the_cms_is_never_forced() {
    // The CMS database is on pool1, whose primary SQL Server is down: SfB reports no master.
    let w = principal_down(World::two_pairs().cms_database(P1), P1).cms_master(None);
    let plan = w.plan();
    assert_eq!(
        actions(&plan),
        vec![database_failover(
            P1,
            MirrorRole::Mirror,
            &[DatabaseType::CentralMgmt, DatabaseType::User]
        )],
        "{plan:#?}"
    );

    // Now redmond goes away as well: the databases move first, then the CMS moves gracefully
    // and pool1 fails over gracefully.
    let plan = w.site_active("redmond", false).plan();
    let db = step(
        &plan,
        &database_failover(
            P1,
            MirrorRole::Mirror,
            &[DatabaseType::CentralMgmt, DatabaseType::User],
        ),
    );
    assert!(db.depends_on.is_empty(), "{plan:#?}");
    for s in &plan.steps {
        if let Action::FailOverCms { mode, .. } = &s.action {
            assert_eq!(*mode, Mode::Graceful, "{plan:#?}");
        }
        if s.id != db.id {
            assert!(waits_for(&plan, s, db), "{} does not wait: {plan:#?}", s.id);
        }
    }
    step(&plan, &failover(P1, Mode::Graceful));
}

#[test]
fn database_failovers_need_no_cms_and_run_before_its_recovery() {
    // The CMS pool's Front Ends are down: its master is lost and recovered into pool2, in
    // disaster mode; pool3's databases move first, reading the local replica.
    let w = principal_down(World::two_pairs().cms_database(P1), P3)
        .cms_master(None)
        .health(P1, Health::Down)
        .site_active("redmond", false);
    let plan = w.plan();
    let db = step(
        &plan,
        &database_failover(P3, MirrorRole::Mirror, &[DatabaseType::User]),
    );
    assert!(db.depends_on.is_empty(), "{plan:#?}");
    let recovery = plan
        .steps
        .iter()
        .find(|s| {
            matches!(
                s.action,
                Action::FailOverCms {
                    mode: Mode::Disaster,
                    ..
                }
            )
        })
        .expect("a recovery");
    for s in plan
        .steps
        .iter()
        .filter(|s| s.id != db.id && s.id != recovery.id)
    {
        assert!(waits_for(&plan, s, recovery), "{plan:#?}");
    }
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    assert!(waits_for(&plan, fo, db), "{plan:#?}");
    assert!(
        waits_for(&plan, recovery, db),
        "nothing runs beside a CMS move, the recovery included: {plan:#?}"
    );
}

#[test]
fn database_failovers_of_pools_outside_the_cms_pair_run_side_by_side() {
    let w = principal_down(
        principal_down(World::two_pairs().cms_database(P1), "pool4.contoso.com"),
        P3,
    );
    let plan = w.plan();
    assert_eq!(plan.steps.len(), 2, "{plan:#?}");
    assert!(
        plan.steps.iter().all(|s| s.depends_on.is_empty()),
        "{plan:#?}"
    );
}

#[test]
fn a_repair_holds_up_only_the_steps_on_its_pool_and_partner() {
    // pool3's Back End is repaired while pool2's users come home from pool1: the failback does
    // not wait for it, so a repair that keeps failing stalls only its own pair. (A CMS move, which
    // nothing may run beside, would wait for every step before it, repairs included.)
    let w =
        principal_down(World::two_pairs().cms_database(P1), P3).served_by("pool2.contoso.com", P1);
    let plan = w.plan();
    let db = step(
        &plan,
        &database_failover(P3, MirrorRole::Mirror, &[DatabaseType::User]),
    );
    let fb = step(
        &plan,
        &common::failback("pool2.contoso.com", Mode::Graceful),
    );
    assert!(!waits_for(&plan, fb, db), "{plan:#?}");
    assert!(fb.depends_on.is_empty(), "{plan:#?}");
}

#[test]
fn undeclared_pools_are_left_alone() {
    // pool9/pool10 are in the deployment but no PoolPair declares them.
    let mut w = World::two_pairs().cms_database(P1);
    let undeclared = World::new().pair(
        "pool9.contoso.com",
        "redmond",
        "pool10.contoso.com",
        "dublin",
    );
    w.observed.pools.extend(undeclared.observed.pools);
    let w = principal_down(w, "pool9.contoso.com");
    assert!(w.plan().steps.is_empty(), "{:#?}", w.plan());
}

#[test]
fn the_plan_says_why_the_databases_move_and_not_the_users() {
    let plan = principal_down(World::two_pairs().cms_database(P1), P3).plan();
    let text = plan.steps[0].action.to_string();
    assert!(
        text.contains("primary is down") && text.contains("not the users"),
        "{text}"
    );
}

#[test]
fn a_back_end_that_contradicts_its_principal_is_refused() {
    let mut t: ObservedTopology = World::two_pairs().observed;
    let w = principal_down(World::two_pairs(), P1);
    t.pools = w.observed.pools.clone();
    t.pools[0].back_end = Some(Health::Up);
    let err = ObservedIndex::new(t).unwrap_err();
    assert_eq!(err.field, "pools[0].backEnd", "{err}");
    assert!(err.message.contains("principal (primary) is Down"), "{err}");
}

#[test]
fn a_mirror_without_back_end_health_reads_the_principals() {
    let mut w = principal_down(World::two_pairs(), P1);
    w.observed.pools[0].back_end = None;
    let index = w.index();
    assert_eq!(index.pool(P1).unwrap().back_end, Some(Health::Down));
}

#[test]
fn the_cms_backup_pool_fails_its_cms_database_over_too() {
    // pool2 holds the copy a CMS failover goes to; its CentralMgmt database moves with its user
    // database, so the CMS can be moved (or recovered) there.
    let w = principal_down(World::two_pairs().cms_database(P1), "pool2.contoso.com");
    assert_eq!(
        actions(&w.plan()),
        vec![database_failover(
            "pool2.contoso.com",
            MirrorRole::Mirror,
            &[DatabaseType::CentralMgmt, DatabaseType::User]
        )]
    );
}
