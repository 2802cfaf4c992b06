//! The simulator refuses what the real product refuses, one test each, judged on its own state
//! (ARCHITECTURE.md, "Where each SfB rule lives", names the Microsoft page behind each), and
//! accounts for lost data without overflowing. CMS refusals are in `simulator_cms.rs`, faults and
//! latency in `simulator_faults.rs`.

mod common;

use common::simulated::{cms_to, refusal, served_by, simulated};
use common::{failback, failover, World, P1, P3, P4};
use sfb_dr::model::{Action, BackupModule, Health, Mode};
use sfb_dr::simulator::Fault;

#[test]
fn failover_and_failback_name_the_home_pool() {
    let mut d = simulated(&World::two_pairs());
    d.run(&failover(P3, Mode::Graceful)).expect("allowed");
    assert_eq!(served_by(&d, P3), P4);
    assert_eq!(
        served_by(&d, P4),
        P4,
        "the backup pool's own users stay home"
    );
    d.run(&failback(P3, Mode::Graceful)).expect("allowed");
    assert_eq!(served_by(&d, P3), P3);
}

#[test]
fn failover_refused_while_the_partner_is_failed_over() {
    let mut d = simulated(&World::two_pairs().served_by(P4, P3));
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(
        m.contains("Invoke-CsPoolFailBack -PoolFqdn pool4.contoso.com first"),
        "{m}"
    );
}

#[test]
fn failover_refused_while_any_edge_names_the_pool_live_or_dead() {
    // The refusal is about the topology: a dead Edge pool still names the pool as next hop.
    let w = World::two_pairs().edge("edge1.contoso.com", "redmond", P3);
    for w in [w.clone(), w.edge_health("edge1.contoso.com", Health::Down)] {
        let mut d = simulated(&w);
        let m = refusal(&mut d, &failover(P3, Mode::Graceful));
        assert!(
            m.contains("edge1.contoso.com") && m.contains("next hop"),
            "{m}"
        );
        d.run(&Action::RepointEdge {
            edge: "edge1.contoso.com".into(),
            to: P4.into(),
        })
        .expect("Set-CsEdgeServer needs only the CMS");
        d.run(&failover(P3, Mode::Graceful))
            .expect("then the failover");
    }
}

#[test]
fn failover_into_a_pool_that_is_down_refused() {
    let mut d = simulated(&World::two_pairs().health(P4, Health::Down));
    let m = refusal(&mut d, &failover(P3, Mode::Disaster));
    assert!(m.contains("not reachable"), "{m}");
}

#[test]
fn graceful_failover_of_a_pool_that_is_down_refused() {
    let mut d = simulated(&World::two_pairs().health(P3, Health::Down));
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(m.contains("-DisasterMode"), "{m}");
    d.run(&failover(P3, Mode::Disaster))
        .expect("disaster mode is for exactly this");
}

#[test]
fn failback_of_a_pool_that_is_down_refused() {
    let mut d = simulated(
        &World::two_pairs()
            .served_by(P3, P4)
            .health(P3, Health::Down),
    );
    let m = refusal(&mut d, &failback(P3, Mode::Graceful));
    assert!(m.contains("not reachable"), "{m}");
    let m = refusal(&mut d, &failback(P3, Mode::Disaster));
    assert!(m.contains("not reachable"), "{m}");
}

#[test]
fn graceful_failback_without_the_backup_pool_refused() {
    let mut d = simulated(
        &World::two_pairs()
            .served_by(P3, P4)
            .health(P4, Health::Down),
    );
    let m = refusal(&mut d, &failback(P3, Mode::Graceful));
    assert!(m.contains("-DisasterMode"), "{m}");
    d.run(&failback(P3, Mode::Disaster))
        .expect("disaster-mode failback");
}

#[test]
fn failback_of_a_pool_that_is_not_failed_over_refused() {
    let mut d = simulated(&World::two_pairs());
    let m = refusal(&mut d, &failback(P3, Mode::Graceful));
    assert!(m.contains("not failed over"), "{m}");
}

#[test]
fn unknown_pools_and_edges_refused() {
    let mut d = simulated(&World::two_pairs());
    for action in [
        failover("nope.contoso.com", Mode::Graceful),
        failback("nope.contoso.com", Mode::Graceful),
        cms_to("nope.contoso.com", Mode::Graceful, false),
        Action::SyncBackup {
            pool: "nope.contoso.com".into(),
            module: BackupModule::DataConf,
        },
        Action::RepointEdge {
            edge: "edge9.contoso.com".into(),
            to: P1.into(),
        },
    ] {
        let m = refusal(&mut d, &action);
        assert!(m.contains("Cannot find"), "{m}");
    }
}

#[test]
fn graceful_paths_lose_nothing_and_disaster_mode_loses_what_was_not_replicated() {
    let mut d = simulated(&World::two_pairs());
    d.run(&failover(P3, Mode::Graceful)).expect("graceful");
    d.run(&failback(P3, Mode::Graceful)).expect("graceful");
    assert_eq!(d.observe().data_loss, Some(0));
    // 1000 users, 30 s since the last sync, one change per user a minute: 500 changes.
    let mut d = simulated(&World::two_pairs());
    d.inject(&Fault::PoolDown { pool: P3.into() })
        .expect("known pool");
    let lost = d.run(&failover(P3, Mode::Disaster)).expect("disaster");
    assert_eq!(lost, 500);
    assert_eq!(d.observe().data_loss, Some(500));
}

#[test]
fn a_graceful_failover_over_a_direction_in_error_state_does_not_succeed() {
    // The graceful cmdlet waits for the Backup Service to reach its final state from the pool
    // the users leave; ErrorState never does.
    let mut d = simulated(&World::two_pairs().backup_error(P3));
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(m.contains("ErrorState"), "{m}");
    // Disaster mode does not wait; the other direction does not matter to this move.
    d.inject(&Fault::PoolDown { pool: P3.into() })
        .expect("known pool");
    d.run(&failover(P3, Mode::Disaster)).expect("disaster mode");
    let mut d = simulated(&World::two_pairs().backup_error(P4));
    d.run(&failover(P3, Mode::Graceful))
        .expect("pool4 -> pool3 is not the direction pool3's users leave by");
}

#[test]
fn a_graceful_failback_over_a_direction_in_error_state_does_not_succeed() {
    let mut d = simulated(&World::two_pairs().served_by(P3, P4).backup_error(P4));
    let m = refusal(&mut d, &failback(P3, Mode::Graceful));
    assert!(m.contains("ErrorState"), "{m}");
}

#[test]
fn a_pool_whose_back_end_is_down_fails_over_only_in_disaster_mode() {
    let mut d = simulated(&World::two_pairs());
    d.inject(&Fault::BackEndDown { pool: P3.into() })
        .expect("known pool");
    let observed = d.observe();
    let p3 = observed.pools.iter().find(|p| p.fqdn == P3).expect("pool3");
    assert_eq!((p3.health, p3.back_end), (Health::Up, Some(Health::Down)));
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(m.contains("Back End") && m.contains("-DisasterMode"), "{m}");
    d.run(&failover(P3, Mode::Disaster)).expect("disaster mode");
    // Failback needs the home Back End up again.
    let m = refusal(&mut d, &failback(P3, Mode::Graceful));
    assert!(m.contains("Back End"), "{m}");
    d.inject(&Fault::BackEndUp { pool: P3.into() })
        .expect("known pool");
    d.run(&failback(P3, Mode::Graceful)).expect("home again");
}

#[test]
fn failover_into_a_pool_whose_back_end_is_down_refused() {
    let mut d = simulated(&World::two_pairs());
    d.inject(&Fault::BackEndDown { pool: P4.into() })
        .expect("known pool");
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(
        m.contains("pool4.contoso.com") && m.contains("Back End"),
        "{m}"
    );
}

#[test]
fn sync_into_a_pool_that_is_down_refused() {
    // Invoke-CsBackupServiceSync -PoolFqdn pool4 copies pool4's backup into pool3.
    let sync = Action::SyncBackup {
        pool: P4.into(),
        module: BackupModule::DataConf,
    };
    for fault in [
        Fault::PoolDown { pool: P3.into() },
        Fault::BackEndDown { pool: P3.into() },
    ] {
        let mut d = simulated(&World::two_pairs());
        d.inject(&fault).expect("known pool");
        let m = refusal(&mut d, &sync);
        assert!(m.contains("pool3.contoso.com"), "{m}");
    }
    let mut d = simulated(&World::two_pairs().health(P4, Health::Down));
    let m = refusal(&mut d, &sync);
    assert!(m.contains("Cannot reach the Backup Service"), "{m}");
    simulated(&World::two_pairs()).run(&sync).expect("both up");
}

#[test]
fn users_and_sync_ages_near_the_largest_number_do_not_overflow() {
    let mut w = World::two_pairs();
    for p in &mut w.observed.pools {
        p.users = u64::MAX;
    }
    for b in &mut w.observed.backup {
        b.last_sync_age_seconds = Some(u64::MAX - 1);
    }
    w.observed.data_loss = Some(u64::MAX - 10);
    let mut d = simulated(&w);
    d.inject(&Fault::PoolDown { pool: P3.into() })
        .expect("known pool");
    let lost = d.run(&failover(P3, Mode::Disaster)).expect("disaster");
    assert_eq!(lost, u64::MAX.div_ceil(60), "saturates, then per minute");
    assert_eq!(d.observe().data_loss, Some(u64::MAX));
    d.inject(&Fault::PoolUp { pool: P3.into() })
        .expect("known pool");
    d.inject(&Fault::PoolDown { pool: P4.into() })
        .expect("known pool");
    d.run(&failback(P3, Mode::Disaster))
        .expect("disaster failback");
    assert_eq!(d.observe().data_loss, Some(u64::MAX));
}
