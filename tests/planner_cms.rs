//! The Central Management Store rules, one named test each: where the CMS goes, how, when it
//! waits and when it blocks, and that nothing runs before the recovery of a lost master.

mod common;

use common::{
    actions, block_reasons, cms_step, failback, failover, repoint, step, waits_for, World, P1, P2,
    P3, P4,
};
use sfb_dr::model::{Action, BlockReason, CmsFailback, Health, Mode};

fn cms_to(to: &str, mode: Mode) -> (String, Mode) {
    (to.to_owned(), mode)
}

/// The CMS move's target and mode, and whether it carries backup SQL details.
fn cms_move(w: &World) -> Option<((String, Mode), Option<String>)> {
    let plan = w.plan();
    match &cms_step(&plan)?.action {
        Action::FailOverCms {
            to,
            mode,
            backup_sql,
        } => Some((
            cms_to(to, *mode),
            backup_sql.as_ref().map(|b| b.pool.clone()),
        )),
        _ => None,
    }
}

#[test]
fn cms_moves_before_its_pool_fails_over() {
    let plan = World::new()
        .pool1_pool2()
        .cms(P1, Some(P1))
        .site_active("redmond", false)
        .plan();
    let cms = cms_step(&plan).expect("a CMS move");
    assert_eq!(
        cms.action,
        Action::FailOverCms {
            to: P2.into(),
            mode: Mode::Graceful,
            backup_sql: None,
        }
    );
    let fo = step(&plan, &failover(P1, Mode::Graceful));
    assert!(waits_for(&plan, fo, cms));
}

#[test]
fn a_blank_master_is_recovered_into_the_backup_pool_of_the_pool_holding_the_cms() {
    // The master is blank and pool1's Back End, which holds the CMS database, is down: it is
    // lost, not moved. Microsoft's procedure recovers it into pool1's backup pool, pool2, never
    // back into pool1 because pool1 is the preferred pool.
    let base = World::two_pairs()
        .cms_master(None)
        .active_sites(P3, &["dublin"]);
    let w = base.clone().cms_database(P1).back_end(P1, Health::Down);
    assert_eq!(
        cms_move(&w),
        Some((cms_to(P2, Mode::Disaster), Some(P2.to_owned())))
    );
    // The other way round too: the CMS lived in pool2.
    let w = base.cms_database(P2).back_end(P2, Health::Down);
    assert_eq!(
        cms_move(&w),
        Some((cms_to(P1, Mode::Disaster), Some(P1.to_owned())))
    );
}

#[test]
fn an_unknown_cms_location_blocks_everything_that_needs_the_cms() {
    let w = World::two_pairs()
        .cms_master(None)
        .active_sites(P3, &["dublin"]);
    let plan = w.plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert_eq!(
        plan.blocked
            .iter()
            .map(|b| (b.pair.as_str(), b.reason))
            .collect::<Vec<_>>(),
        vec![
            ("pool1-pool2", BlockReason::CmsLocationUnknown),
            ("pool3-pool4", BlockReason::CmsLocationUnknown)
        ]
    );
    assert!(plan.blocked[0].message.contains("cms.pool"));
}

#[test]
fn a_master_reported_on_a_pool_that_is_down_is_recovered_from_there() {
    let plan = World::new()
        .pool1_pool2()
        .cms(P1, Some(P1))
        .health(P1, Health::Down)
        .site_active("redmond", false)
        .allow_data_loss()
        .plan();
    let Action::FailOverCms {
        to,
        mode,
        backup_sql,
    } = &plan.steps[0].action
    else {
        panic!("the CMS moves first: {plan:#?}")
    };
    assert_eq!((to.as_str(), *mode), (P2, Mode::Disaster));
    assert_eq!(
        backup_sql.as_ref().map(|b| b.sql_server_fqdn.as_str()),
        Some("sql.pool2.contoso.com")
    );
}

#[test]
fn a_master_whose_back_end_is_down_is_lost_and_recovered_first() {
    let w = World::new()
        .pool1_pool2()
        .cms(P1, Some(P1))
        .back_end(P1, Health::Down)
        .site_active("redmond", false)
        .allow_data_loss();
    let plan = w.plan();
    let cms = cms_step(&plan).expect("a recovery");
    assert!(matches!(
        cms.action,
        Action::FailOverCms {
            mode: Mode::Disaster,
            ..
        }
    ));
    let fo = step(&plan, &failover(P1, Mode::Disaster));
    assert!(waits_for(&plan, fo, cms));
}

#[test]
fn nothing_runs_before_the_recovery_of_a_lost_master() {
    // pool1 is down with its Edge pool still up, pool4's users are away on pool3, and redmond is
    // declared inactive: an Edge repoint, a failback, a sync and failovers, every one of which
    // reads or writes the CMS, so every one waits for its recovery.
    let w = World::two_pairs()
        .cms_master(None)
        .cms_database(P1)
        .health(P1, Health::Down)
        .edge("edge1.contoso.com", "redmond", P1)
        .served_by(P4, P3)
        .site_active("redmond", false)
        .allow_data_loss();
    let plan = w.plan();
    let cms = cms_step(&plan).expect("a recovery");
    assert_eq!(plan.steps[0].id, cms.id, "{plan:#?}");
    for s in plan.steps.iter().filter(|s| s.id != cms.id) {
        assert!(
            waits_for(&plan, s, cms),
            "{} does not wait: {plan:#?}",
            s.id
        );
    }
    step(&plan, &repoint("edge1.contoso.com", P2));
    step(&plan, &failback(P4, Mode::Graceful));
    step(&plan, &failover(P3, Mode::Graceful));
}

#[test]
fn a_blank_master_on_a_healthy_cms_pool_is_an_inconsistency_never_forced_over() {
    // No active master named, but pool1, which holds the CMS database, is up with its Back End:
    // a failover left half done, to repair. Even with redmond going out of service nothing is
    // forced over a live store, and nothing that needs the CMS runs.
    let w = World::two_pairs()
        .cms_master(None)
        .cms_database(P1)
        .site_active("redmond", false);
    let plan = w.plan();
    assert!(plan.steps.is_empty(), "{:?}", actions(&plan));
    let cms = plan
        .blocked
        .iter()
        .find(|b| b.reason == BlockReason::CmsUnavailable && b.message.contains("inconsistent"))
        .unwrap_or_else(|| panic!("the inconsistency is reported: {:#?}", plan.blocked));
    assert!(cms.message.contains(P1), "{}", cms.message);
    // With pool1's Back End down the master is lost, and recovered.
    let plan = w.back_end(P1, Health::Down).plan();
    assert!(
        cms_step(&plan).is_some_and(|s| matches!(
            s.action,
            Action::FailOverCms {
                mode: Mode::Disaster,
                ..
            }
        )),
        "{plan:#?}"
    );
}

#[test]
fn a_lost_master_is_reported_not_recovered_when_nothing_else_needs_it() {
    let w = World::new().pool1_pool2().cms(P1, None).cms_database(P1);
    let plan = w.plan();
    assert!(plan.steps.is_empty());
    assert_eq!(block_reasons(&plan), vec![BlockReason::CmsUnavailable]);
}

#[test]
fn a_lost_master_is_not_forced_over_for_an_edge_repoint_or_an_owed_copy_alone() {
    // Every pool serves its own users; only an Edge pool declared back onto pool3 and a
    // conference-content copy owed to pool1 remain. Neither is worth a -Force recovery that may
    // lose CMS changes: the master is reported lost and both wait for a working CMS.
    let w = World::two_pairs()
        .cms_master(None)
        .cms_database(P1)
        .edge("edge1.contoso.com", "redmond", P4)
        .declare_edge("edge1.contoso.com", P3)
        .owed_conference_content(P1, P2);
    let plan = w.plan();
    assert!(plan.steps.is_empty(), "{:?}", actions(&plan));
    assert!(
        block_reasons(&plan).contains(&BlockReason::CmsUnavailable),
        "{:?}",
        plan.blocked
    );
    // A pool that must fail over still justifies the recovery (of a master lost with its pool),
    // which comes first.
    let w = w.health(P1, Health::Down).site_active("redmond", false);
    let plan = w.plan();
    let cms = cms_step(&plan).expect("the CMS is recovered for the failover");
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    assert!(waits_for(&plan, fo, cms));
}

#[test]
fn a_blocked_cms_pair_does_not_block_the_cms_move_or_the_pairs_waiting_for_it() {
    // The CMS pair cannot move its users: pool2's users are away on pool1, which is down, and
    // data loss is not allowed. The recovery of the CMS into pool2 is still possible, and pool3
    // (up, leaving with redmond) waits only for that recovery.
    let w = World::two_pairs()
        .health(P1, Health::Down)
        .served_by(P2, P1)
        .site_active("redmond", false);
    let plan = w.plan();
    let cms = cms_step(&plan).expect("the CMS is recovered");
    assert!(matches!(
        &cms.action,
        Action::FailOverCms { to, mode: Mode::Disaster, .. } if to == P2
    ));
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    assert!(waits_for(&plan, fo, cms));
    assert_eq!(
        plan.blocked
            .iter()
            .map(|b| (b.pair.as_str(), b.reason))
            .collect::<Vec<_>>(),
        vec![("pool1-pool2", BlockReason::DataLossNotAllowed)]
    );
}

#[test]
fn replicas_not_up_to_date_never_block_a_cms_move() {
    // Replicas are verified after a move, never a reason to refuse one.
    let w = World::new()
        .pool1_pool2()
        .cms(P1, Some(P1))
        .replicas_up_to_date(false)
        .site_active("redmond", false);
    let plan = w.plan();
    assert!(plan.blocked.is_empty(), "{plan:#?}");
    let cms = cms_step(&plan).expect("a CMS move");
    assert!(waits_for(
        &plan,
        step(&plan, &failover(P1, Mode::Graceful)),
        cms
    ));
}

#[test]
fn a_graceful_cms_move_over_a_direction_in_error_state_is_blocked() {
    // The master on pool2 returns to its preferred pool1; the graceful cmdlet waits for every
    // replication from pool2, and pool2 -> pool1 is in ErrorState.
    let w = World::new()
        .pool1_pool2()
        .cms(P1, Some(P2))
        .cms_failback(CmsFailback::Automatic)
        .backup_error(P2);
    let plan = w.plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert_eq!(block_reasons(&plan), vec![BlockReason::BackupUnhealthy]);
    // The other direction does not matter to this move.
    let w = World::new()
        .pool1_pool2()
        .cms(P1, Some(P2))
        .cms_failback(CmsFailback::Automatic)
        .backup_error(P1);
    assert!(cms_step(&w.plan()).is_some());
}

#[test]
fn cms_return_to_preferred_pool_comes_after_the_pairs_failback() {
    let w = World::new()
        .pool1_pool2()
        .cms(P1, Some(P2))
        .cms_failback(CmsFailback::Automatic)
        .served_by(P1, P2);
    let plan = w.plan();
    let fb = step(&plan, &failback(P1, Mode::Graceful));
    let cms = cms_step(&plan).expect("a CMS move");
    assert!(waits_for(&plan, cms, fb));
}

#[test]
fn cms_with_manual_failback_stays_where_it_moved() {
    let w = World::new().pool1_pool2().cms(P1, Some(P2));
    assert!(w.plan().steps.is_empty());
}

#[test]
fn failover_needing_an_undeclared_cms_is_blocked() {
    let w = World::new()
        .pool1_pool2()
        .cms_master(Some(P1))
        .site_active("redmond", false);
    assert!(w.plan().steps.is_empty());
    assert_eq!(block_reasons(&w.plan()), vec![BlockReason::CmsNotManaged]);
}

#[test]
fn a_lost_undeclared_cms_blocks_every_move() {
    let w = World::new()
        .pool1_pool2()
        .pair(P3, "redmond", P4, "dublin")
        .cms_database(P1)
        .active_sites(P3, &["dublin"]);
    assert!(w.plan().steps.is_empty());
    assert_eq!(block_reasons(&w.plan()), vec![BlockReason::CmsNotManaged]);
}

#[test]
fn disaster_cms_move_without_backup_sql_is_blocked() {
    let w = World::new()
        .pool1_pool2()
        .cms(P1, None)
        .cms_database(P1)
        .health(P1, Health::Down)
        .no_backup_sql_for(P2)
        .site_active("redmond", false)
        .allow_data_loss();
    assert!(w.plan().steps.is_empty());
    assert_eq!(
        block_reasons(&w.plan()),
        vec![BlockReason::MissingBackupSql]
    );
}

#[test]
fn nothing_that_needs_the_cms_runs_while_it_moves() {
    // pool3 does not host the CMS, but its failover (like every cmdlet) reads and writes it:
    // it waits for the move, and so does the Edge repoint, rather than running beside it.
    let plan = World::two_pairs()
        .edge("edge1.contoso.com", "redmond", P1)
        .site_active("redmond", false)
        .plan();
    let cms = cms_step(&plan).expect("the CMS moves");
    for s in plan.steps.iter().filter(|s| s.id != cms.id) {
        assert!(
            waits_for(&plan, s, cms) || waits_for(&plan, cms, s),
            "{} runs beside the CMS move: {plan:#?}",
            s.id
        );
    }
}

#[test]
fn a_cms_move_waits_for_every_failback_before_it() {
    // pool3's failback and the CMS's return home to pool1 both come back: the CMS move waits
    // for pool3's failback too (and its conference copy), not only for its own pair's.
    let plan = World::two_pairs()
        .served_by(P1, P2)
        .served_by(P3, P4)
        .cms(P1, Some(P2))
        .cms_failback(CmsFailback::Automatic)
        .plan();
    let cms = cms_step(&plan).expect("the CMS returns home");
    for s in plan.steps.iter().filter(|s| s.id != cms.id) {
        assert!(
            waits_for(&plan, cms, s),
            "{} is not before the CMS move: {plan:#?}",
            s.id
        );
    }
}

#[test]
fn a_cms_in_an_unsupported_pairing_is_left_where_it_is() {
    let w = World::two_pairs()
        .edition(P2, sfb_dr::model::Edition::Standard)
        .site_active("redmond", false);
    let plan = w.plan();
    assert!(cms_step(&plan).is_none(), "{plan:#?}");
    assert!(block_reasons(&plan)
        .iter()
        .all(|r| *r == BlockReason::PairUnsupported));
    // pool3 does not need the CMS: it still fails over.
    step(&plan, &failover(P3, Mode::Graceful));
}
