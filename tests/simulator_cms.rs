//! The simulator's Central Management Store, judged as Microsoft documents it: one failover at a
//! time, into the backup pool of the pool that holds the CMS, graceful only with the master up
//! and every replication able to finish, `-Force` with the backup SQL Server otherwise; nothing
//! else runs while the CMS has no master.

mod common;

use std::sync::Arc;

use common::simulated::{cms_to, refusal, simulated};
use common::{failback, failover, World, P1, P2, P3, P4};
use sfb_dr::model::{Action, BackupModule, Health, Mode};
use sfb_dr::simulator::{Config, Fault, Outcome, Simulator};

#[test]
fn failover_of_the_cms_pool_refused_before_the_cms_moves() {
    let mut d = simulated(&World::two_pairs());
    let m = refusal(&mut d, &failover(P1, Mode::Graceful));
    assert!(m.contains("Central Management Store master"), "{m}");
    d.run(&cms_to(P2, Mode::Graceful, false))
        .expect("CMS moves");
    d.run(&failover(P1, Mode::Graceful))
        .expect("then the pool fails over");
}

#[test]
fn failover_refused_while_the_cms_is_unavailable() {
    let mut d = simulated(&World::two_pairs().health(P1, Health::Down));
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(m.contains("Central Management Store is unavailable"), "{m}");
}

#[test]
fn disaster_mode_cms_failover_without_backup_sql_refused() {
    let mut d = simulated(&World::two_pairs().health(P1, Health::Down));
    let m = refusal(&mut d, &cms_to(P2, Mode::Disaster, false));
    assert!(m.contains("-BackupSqlServerFqdn"), "{m}");
    let m = refusal(&mut d, &cms_to(P2, Mode::Graceful, false));
    assert!(m.contains("cannot be reached"), "{m}");
    d.run(&cms_to(P2, Mode::Disaster, true))
        .expect("with backup SQL details");
    d.run(&failover(P1, Mode::Disaster)).expect("then the pool");
}

#[test]
fn a_forced_cms_failover_is_refused_while_the_master_is_up() {
    let mut d = simulated(&World::two_pairs());
    let m = refusal(&mut d, &cms_to(P2, Mode::Disaster, true));
    assert!(m.contains("-Force is for disaster recovery only"), "{m}");
    d.run(&cms_to(P2, Mode::Graceful, false))
        .expect("without -Force it moves");
}

#[tokio::test(start_paused = true)]
async fn a_second_cms_failover_is_refused_while_one_runs() {
    let sim = Arc::new(Simulator::new(
        simulated(&World::two_pairs()),
        Config::default(),
    ));
    let first = tokio::spawn({
        let sim = sim.clone();
        async move { sim.execute(cms_to(P2, Mode::Graceful, false)).await }
    });
    // Let the first command start and mark the CMS busy.
    while sim.observe().expect("observable").cms.replicas_up_to_date {
        tokio::task::yield_now().await;
    }
    let second = sim.execute(cms_to(P1, Mode::Graceful, false)).await;
    assert_eq!(second.outcome, Outcome::Refused, "{second:?}");
    assert_eq!(first.await.expect("joined").outcome, Outcome::Succeeded);
}

#[test]
fn cms_failover_goes_only_to_the_partner_of_the_master() {
    let mut d = simulated(&World::two_pairs());
    let m = refusal(&mut d, &cms_to(P4, Mode::Graceful, false));
    assert!(m.contains("not the backup pool"), "{m}");
}

#[test]
fn replicas_not_up_to_date_do_not_refuse_a_cms_failover() {
    // Replicas are verified after a move; the graceful cmdlet itself waits for replication.
    let mut d = simulated(&World::two_pairs().replicas_up_to_date(false));
    d.run(&cms_to(P2, Mode::Graceful, false))
        .expect("not a reason to refuse");
}

#[test]
fn a_graceful_cms_failover_over_a_direction_in_error_state_does_not_succeed() {
    let mut d = simulated(&World::two_pairs().backup_error(P1));
    let m = refusal(&mut d, &cms_to(P2, Mode::Graceful, false));
    assert!(m.contains("ErrorState"), "{m}");
}

#[test]
fn cms_master_lost_blanks_the_master_while_its_pool_stays_up() {
    let mut d = simulated(&World::two_pairs());
    d.inject(&Fault::CmsMasterLost).expect("the CMS is known");
    let t = d.observe();
    assert_eq!(t.cms.active_master, None);
    assert_eq!(t.cms.pool.as_deref(), Some(P1), "where the database lives");
    assert!(
        !t.cms.replicas_up_to_date,
        "no replica is up to date without a master"
    );
    let p1 = t.pools.iter().find(|p| p.fqdn == P1).expect("pool1");
    assert_eq!((p1.health, p1.back_end), (Health::Up, Some(Health::Up)));
    // Heal settles replicas; it does not bring a lost master back.
    d.inject(&Fault::Heal).expect("heal");
    assert_eq!(d.observe().cms.active_master, None);
    assert!(!d.observe().cms.replicas_up_to_date);
}

#[test]
fn a_blank_master_in_the_start_file_on_a_live_pool_is_a_lost_master() {
    let d = simulated(&World::two_pairs().cms_master(None).cms_database(P1));
    assert_eq!(d.observe().cms.active_master, None);
    assert_eq!(d.observe().cms.pool.as_deref(), Some(P1));
}

#[test]
fn every_step_but_the_cms_recovery_is_refused_while_the_cms_has_no_master() {
    let mut d = simulated(&World::two_pairs().served_by(P4, P3).edge(
        "edge1.contoso.com",
        "redmond",
        P3,
    ));
    d.inject(&Fault::CmsMasterLost).expect("the CMS is known");
    for action in [
        failover(P3, Mode::Graceful),
        failback(P4, Mode::Graceful),
        Action::SyncBackup {
            pool: P3.into(),
            module: BackupModule::DataConf,
        },
        Action::RepointEdge {
            edge: "edge1.contoso.com".into(),
            to: P4.into(),
        },
    ] {
        let m = refusal(&mut d, &action);
        assert!(m.contains("Central Management Store is unavailable"), "{m}");
    }
    d.run(&cms_to(P2, Mode::Disaster, true))
        .expect("the recovery itself");
    d.run(&failback(P4, Mode::Graceful))
        .expect("then the rest works again");
}

#[test]
fn a_cms_recovery_goes_only_to_the_backup_pool_of_the_pool_holding_the_cms() {
    let mut d = simulated(&World::two_pairs());
    d.inject(&Fault::CmsMasterLost).expect("the CMS is known");
    let m = refusal(&mut d, &cms_to(P1, Mode::Disaster, true));
    assert!(m.contains("backup pool"), "{m}");
    let m = refusal(&mut d, &cms_to(P4, Mode::Disaster, true));
    assert!(m.contains("not the backup pool"), "{m}");
    d.run(&cms_to(P2, Mode::Disaster, true)).expect("pool2");
    assert_eq!(d.observe().cms.active_master.as_deref(), Some(P2));
}

#[test]
fn a_cms_recovery_into_a_pool_whose_back_end_is_down_refused() {
    let mut d = simulated(&World::two_pairs());
    d.inject(&Fault::CmsMasterLost).expect("the CMS is known");
    d.inject(&Fault::BackEndDown { pool: P2.into() })
        .expect("known pool");
    let m = refusal(&mut d, &cms_to(P2, Mode::Disaster, true));
    assert!(m.contains("Back End"), "{m}");
}

#[test]
fn a_cms_whose_back_end_is_down_has_no_master() {
    let mut d = simulated(&World::two_pairs());
    d.inject(&Fault::BackEndDown { pool: P1.into() })
        .expect("known pool");
    assert_eq!(d.observe().cms.active_master, None);
    d.inject(&Fault::BackEndUp { pool: P1.into() })
        .expect("known pool");
    assert_eq!(d.observe().cms.active_master.as_deref(), Some(P1));
}

#[test]
fn a_simulator_that_does_not_know_where_the_cms_is_refuses_to_recover_it() {
    let mut d = simulated(&World::two_pairs().cms_master(None));
    let m = refusal(&mut d, &cms_to(P2, Mode::Disaster, true));
    assert!(m.contains("Cannot find the pool that hosts"), "{m}");
    assert!(d.inject(&Fault::CmsMasterLost).is_err());
}
