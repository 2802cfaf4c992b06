//! The simulator's mirrored Back Ends: what `Invoke-CsDatabaseFailover` refuses, what it
//! changes (database by database), and the faults that take one SQL Server down.

mod common;

use common::simulated::{cms_to, refusal, simulated};
use common::{failover, World, P1, P2, P3};
use sfb_dr::model::{Action, DatabaseType, Health, MirrorRole, Mode};
use sfb_dr::simulator::{Deployment, Fault};

fn database_failover(pool: &str, to: MirrorRole, databases: &[DatabaseType]) -> Action {
    Action::FailOverDatabase {
        pool: pool.into(),
        new_principal: to,
        databases: databases.to_vec(),
    }
}

fn mirrored() -> World {
    World::two_pairs()
        .cms_database(P1)
        .mirror(P1, MirrorRole::Primary, Health::Up, Health::Up)
        .mirror(P3, MirrorRole::Primary, Health::Up, Health::Up)
}

fn pool(d: &Deployment, fqdn: &str) -> sfb_dr::model::ObservedPool {
    d.observe()
        .pools
        .into_iter()
        .find(|p| p.fqdn == fqdn)
        .expect("known pool")
}

#[test]
fn a_pool_without_a_mirror_refuses_a_database_failover() {
    let mut d = simulated(&World::two_pairs().cms_database(P1));
    let m = refusal(
        &mut d,
        &database_failover(P3, MirrorRole::Mirror, &[DatabaseType::User]),
    );
    assert!(m.contains("no mirror database"), "{m}");
}

#[test]
fn a_database_failover_into_a_server_that_is_down_is_refused() {
    let mut d = simulated(&mirrored());
    d.inject(&Fault::DatabaseServerDown {
        pool: P3.into(),
        server: MirrorRole::Mirror,
    })
    .unwrap();
    let m = refusal(
        &mut d,
        &database_failover(P3, MirrorRole::Mirror, &[DatabaseType::User]),
    );
    assert!(m.contains("not reachable"), "{m}");
}

#[test]
fn a_database_already_on_the_new_principal_is_refused() {
    let mut d = simulated(&mirrored());
    let m = refusal(
        &mut d,
        &database_failover(P3, MirrorRole::Primary, &[DatabaseType::User]),
    );
    assert!(m.contains("already has the primary"), "{m}");
}

#[test]
fn the_cms_database_fails_over_only_on_the_pools_of_the_cms_pair() {
    let mut d = simulated(&mirrored());
    let m = refusal(
        &mut d,
        &database_failover(
            P3,
            MirrorRole::Mirror,
            &[DatabaseType::CentralMgmt, DatabaseType::User],
        ),
    );
    assert!(m.contains("holds no Central Management database"), "{m}");
}

#[test]
fn the_principal_going_down_takes_the_back_end_down_until_the_databases_move() {
    let mut d = simulated(&mirrored());
    d.inject(&Fault::BackEndDown { pool: P3.into() }).unwrap();
    let p = pool(&d, P3);
    assert_eq!(p.back_end, Some(Health::Down));
    let m = p.back_end_mirror.unwrap();
    assert_eq!(
        (m.principal, m.primary, m.mirror),
        (MirrorRole::Primary, Health::Down, Health::Up)
    );
    let m = refusal(&mut d, &failover("pool4.contoso.com", Mode::Graceful));
    assert!(m.contains("Back End"), "{m}");

    d.run(&database_failover(
        P3,
        MirrorRole::Mirror,
        &[DatabaseType::User],
    ))
    .expect("the mirror is up");
    let p = pool(&d, P3);
    assert_eq!(p.back_end, Some(Health::Up));
    assert_eq!(p.back_end_mirror.unwrap().principal, MirrorRole::Mirror);
    d.run(&failover("pool4.contoso.com", Mode::Graceful))
        .expect("pool3 can receive users again");
    assert_eq!(
        d.observe().data_loss,
        Some(0),
        "synchronous mirroring loses nothing"
    );
}

#[test]
fn a_database_failover_needs_no_cms_master() {
    let mut d = simulated(&mirrored());
    d.inject(&Fault::DatabaseServerDown {
        pool: P1.into(),
        server: MirrorRole::Primary,
    })
    .unwrap();
    assert_eq!(d.observe().cms.active_master, None);
    d.inject(&Fault::BackEndDown { pool: P3.into() }).unwrap();
    d.run(&database_failover(
        P3,
        MirrorRole::Mirror,
        &[DatabaseType::User],
    ))
    .expect("it reads the local replica");
    let m = refusal(&mut d, &failover("pool4.contoso.com", Mode::Graceful));
    assert!(m.contains("Central Management Store is unavailable"), "{m}");
}

#[test]
fn a_user_database_failover_alone_leaves_the_cms_lost() {
    let mut d = simulated(&mirrored());
    d.inject(&Fault::DatabaseServerDown {
        pool: P1.into(),
        server: MirrorRole::Primary,
    })
    .unwrap();
    d.run(&database_failover(
        P1,
        MirrorRole::Mirror,
        &[DatabaseType::User],
    ))
    .expect("allowed");
    assert_eq!(
        d.observe().cms.active_master,
        None,
        "the CMS database is still on the primary, which is down"
    );
    d.run(&database_failover(
        P1,
        MirrorRole::Mirror,
        &[DatabaseType::CentralMgmt],
    ))
    .expect("the CMS database moves too");
    assert_eq!(d.observe().cms.active_master.as_deref(), Some(P1));
    d.run(&cms_to(P2, Mode::Graceful, false))
        .expect("the master is back: a graceful move, no -Force");
}

#[test]
fn a_site_going_dark_takes_both_sql_servers() {
    let mut d = simulated(&mirrored());
    d.inject(&Fault::SiteDown {
        site: "redmond".into(),
    })
    .unwrap();
    let m = pool(&d, P3).back_end_mirror.unwrap();
    assert_eq!((m.primary, m.mirror), (Health::Down, Health::Down));
}

#[test]
fn a_server_fault_on_a_pool_without_a_mirror_is_an_error() {
    let mut d = simulated(&World::two_pairs());
    let e = d
        .inject(&Fault::DatabaseServerDown {
            pool: P3.into(),
            server: MirrorRole::Mirror,
        })
        .unwrap_err();
    assert!(e.to_string().contains("no mirrored Back End"), "{e}");
}
