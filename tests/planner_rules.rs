//! Every planning rule of DESIGN section 5 (and the desired state of section 4), one named test each.

mod common;

use common::{actions, failback, failover, step, waits_for, World};
use sfb_dr::model::{Action, BackupModule, BlockReason, Mode};
use sfb_dr::model::{CmsFailback, Health};

const P1: &str = "pool1.contoso.com";
const P2: &str = "pool2.contoso.com";
const P3: &str = "pool3.contoso.com";
const P4: &str = "pool4.contoso.com";

fn repoint(edge: &str, to: &str) -> Action {
    Action::RepointEdge {
        edge: edge.into(),
        to: to.into(),
    }
}

fn two_pairs() -> World {
    World::new()
        .pool1_pool2()
        .pair(P3, "redmond", P4, "dublin")
        .cms(P1, Some(P1))
}

fn blocked_reason(w: &World) -> Vec<BlockReason> {
    w.plan().blocked.iter().map(|b| b.reason).collect()
}

#[test]
fn steady_state_plans_nothing() {
    let plan = two_pairs().edge("edge1.contoso.com", "redmond", P1).plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert!(plan.blocked.is_empty());
}

// Rule 1
#[test]
fn failback_precedes_failover_within_a_pair() {
    // pool2's users are on pool1; now redmond goes away, so pool1's users must move to pool2.
    let w = World::new()
        .pool1_pool2()
        .cms(P2, Some(P2))
        .served_by(P2, P1)
        .site_active("redmond", false);
    let plan = w.plan();
    let fb = step(&plan, &failback(P2, Mode::Graceful));
    let fo = step(&plan, &failover(P1, Mode::Graceful));
    assert!(waits_for(&plan, fo, fb), "{plan:#?}");
}

// Rule 2
#[test]
fn cms_moves_before_its_pool_fails_over() {
    let plan = World::new()
        .pool1_pool2()
        .cms(P1, Some(P1))
        .site_active("redmond", false)
        .plan();
    let cms = step(
        &plan,
        &Action::FailOverCms {
            to: P2.into(),
            mode: Mode::Graceful,
            backup_sql: None,
        },
    );
    let fo = step(&plan, &failover(P1, Mode::Graceful));
    assert!(waits_for(&plan, fo, cms));
}

#[test]
fn any_failover_waits_for_the_cms_when_it_is_unavailable() {
    // The CMS pair is steady, but with no active master every failover needs it moved first.
    let w = World::new()
        .pool1_pool2()
        .pair(P3, "redmond", P4, "dublin")
        .cms(P2, None)
        .active_sites(P3, &["dublin"]);
    let plan = w.plan();
    let cms = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::FailOverCms { .. }))
        .expect("a CMS move");
    let Action::FailOverCms {
        to,
        mode,
        backup_sql,
    } = &cms.action
    else {
        unreachable!()
    };
    assert_eq!((to.as_str(), *mode), (P2, Mode::Disaster));
    assert_eq!(backup_sql.as_ref().map(|b| b.pool.as_str()), Some(P2));
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    assert!(waits_for(&plan, fo, cms));
}

#[test]
fn unavailable_cms_is_reported_not_moved_when_no_failover_needs_it() {
    let w = World::new().pool1_pool2().cms(P1, None);
    let plan = w.plan();
    assert!(plan.steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::CmsUnavailable]);
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
    let cms = step(
        &plan,
        &Action::FailOverCms {
            to: P1.into(),
            mode: Mode::Graceful,
            backup_sql: None,
        },
    );
    assert!(waits_for(&plan, cms, fb));
}

#[test]
fn cms_with_manual_failback_stays_where_it_moved() {
    let w = World::new().pool1_pool2().cms(P1, Some(P2));
    assert!(w.plan().steps.is_empty());
}

#[test]
fn cms_failover_is_disaster_mode_with_backup_sql_when_the_master_is_down() {
    let plan = World::new()
        .pool1_pool2()
        .cms(P1, Some(P1))
        .health(P1, Health::Down)
        .site_active("redmond", false)
        .plan();
    let Action::FailOverCms {
        mode, backup_sql, ..
    } = &plan.steps[0].action
    else {
        panic!("the CMS moves first: {plan:#?}")
    };
    assert_eq!(*mode, Mode::Disaster);
    assert_eq!(
        backup_sql.as_ref().map(|b| b.sql_server_fqdn.as_str()),
        Some("sql.pool2.contoso.com")
    );
}

#[test]
fn cms_move_waits_for_the_previous_one_to_settle() {
    let w = World::new()
        .pool1_pool2()
        .cms(P1, Some(P1))
        .replicas_up_to_date(false)
        .site_active("redmond", false);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::CmsUnsettled]);
}

// Rule 3
#[test]
fn live_edges_are_repointed_before_their_pool_fails_over() {
    let plan = two_pairs()
        .edge("edge1.contoso.com", "redmond", P3)
        .edge("edge2.contoso.com", "dublin", P3)
        .active_sites(P3, &["dublin"])
        .plan();
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    for edge in ["edge1.contoso.com", "edge2.contoso.com"] {
        let r = step(&plan, &repoint(edge, P4));
        assert!(waits_for(&plan, fo, r), "{edge}");
    }
}

#[test]
fn dead_edges_do_not_hold_up_a_failover() {
    let plan = two_pairs()
        .edge("edge1.contoso.com", "redmond", P3)
        .edge_health("edge1.contoso.com", Health::Down)
        .active_sites(P3, &["dublin"])
        .plan();
    assert_eq!(actions(&plan), vec![failover(P3, Mode::Graceful)]);
}

#[test]
fn edges_are_pointed_home_after_failback() {
    let w = two_pairs()
        .served_by(P3, P4)
        .edge("edge1.contoso.com", "redmond", P4);
    let plan = w.plan();
    let fb = step(&plan, &failback(P3, Mode::Graceful));
    let r = step(&plan, &repoint("edge1.contoso.com", P3));
    assert!(waits_for(&plan, r, fb));
}

#[test]
fn edges_stay_with_the_partner_while_their_pool_is_failed_over() {
    let w = two_pairs()
        .served_by(P3, P4)
        .site_active("redmond", false)
        .served_by(P1, P2)
        .cms(P1, Some(P2))
        .edge("edge1.contoso.com", "redmond", P4);
    assert!(w.plan().steps.is_empty(), "{:#?}", w.plan());
}

// Rule 4
#[test]
fn failover_is_disaster_mode_exactly_when_the_pool_is_down() {
    let w = two_pairs().active_sites(P3, &["dublin"]);
    assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Graceful)]);
    let w = w.health(P3, Health::Down);
    assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Disaster)]);
}

#[test]
fn failback_needs_the_home_pool_up() {
    let w = two_pairs().served_by(P3, P4).health(P3, Health::Down);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::HomeDown]);
}

#[test]
fn failback_while_the_backup_pool_is_down_is_disaster_mode_only_with_consent() {
    let w = two_pairs().served_by(P3, P4).health(P4, Health::Down);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::DataLossNotAllowed]);
    let plan = w.allow_data_loss().plan();
    // No conference-content sync from a backup pool that is down.
    assert_eq!(actions(&plan), vec![failback(P3, Mode::Disaster)]);
}

// Rule 5
#[test]
fn conference_content_is_synced_after_a_failback() {
    let plan = two_pairs().served_by(P3, P4).plan();
    let fb = step(&plan, &failback(P3, Mode::Graceful));
    let sync = step(
        &plan,
        &Action::SyncBackup {
            pool: P4.into(),
            module: BackupModule::DataConf,
        },
    );
    assert!(waits_for(&plan, sync, fb));
}

#[test]
fn graceful_move_with_backup_in_error_state_is_blocked() {
    let w = two_pairs().active_sites(P3, &["dublin"]).backup_error(P3);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::BackupUnhealthy]);
    // A disaster-mode failover does not wait for replication, so it goes ahead.
    let w = w.health(P3, Health::Down);
    assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Disaster)]);
}

#[test]
fn graceful_failback_checks_the_direction_users_leave() {
    let w = two_pairs().served_by(P3, P4).backup_error(P4);
    assert_eq!(blocked_reason(&w), vec![BlockReason::BackupUnhealthy]);
}

#[test]
fn failover_needing_an_undeclared_cms_is_blocked() {
    let w = World::new()
        .pool1_pool2()
        .cms_master(Some(P1))
        .site_active("redmond", false);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::CmsNotManaged]);
}

#[test]
fn disaster_cms_move_without_backup_sql_is_blocked() {
    let w = World::new()
        .pool1_pool2()
        .cms(P1, None)
        .no_backup_sql_for(P2)
        .site_active("redmond", false);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::MissingBackupSql]);
}

// Rule 6
#[test]
fn never_fails_over_into_a_pool_that_is_down() {
    let w = two_pairs()
        .active_sites(P3, &["dublin"])
        .health(P4, Health::Down);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::TargetDown]);
}

#[test]
fn never_both_pools_of_a_pair_failed_over() {
    let w = two_pairs().served_by(P3, P4).served_by(P4, P3);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::ObservationDisagrees]);
}

// Rule 7
#[test]
fn steps_of_different_pairs_are_independent() {
    let plan = World::new()
        .pair(P3, "redmond", P4, "dublin")
        .pair(
            "pool5.contoso.com",
            "redmond",
            "pool6.contoso.com",
            "dublin",
        )
        .cms(P3, Some(P4))
        .site_active("redmond", false)
        .plan();
    assert_eq!(plan.steps.len(), 2);
    assert!(
        plan.steps.iter().all(|s| s.depends_on.is_empty()),
        "{plan:#?}"
    );
}

#[test]
fn cms_ties_pairs_only_through_rule_2() {
    let plan = two_pairs().site_active("redmond", false).plan();
    let p3 = step(&plan, &failover(P3, Mode::Graceful));
    assert!(
        p3.depends_on.is_empty(),
        "pool3 does not host the CMS: {plan:#?}"
    );
}

// Rule 8
#[test]
fn plan_id_is_stable_for_equal_inputs() {
    let w = two_pairs().site_active("redmond", false);
    assert_eq!(w.plan().id, w.clone().plan().id);
}

#[test]
fn plan_id_changes_when_the_plan_changes() {
    let w = two_pairs().site_active("redmond", false);
    let graceful = w.plan().id;
    let disaster = w.health(P3, Health::Down).plan().id;
    assert_ne!(graceful, disaster);
}

// Section 4 and section 6
#[test]
fn no_active_site_blocks_the_pair() {
    let w = two_pairs()
        .site_active("redmond", false)
        .site_active("dublin", false);
    assert!(w.plan().steps.is_empty());
    assert!(blocked_reason(&w)
        .iter()
        .all(|r| *r == BlockReason::NoActiveSite));
}

#[test]
fn active_sites_narrows_where_a_pair_is_served() {
    let plan = two_pairs().active_sites(P3, &["dublin"]).plan();
    assert_eq!(actions(&plan), vec![failover(P3, Mode::Graceful)]);
}

#[test]
fn unknown_health_blocks_instead_of_guessing() {
    let w = two_pairs()
        .active_sites(P3, &["dublin"])
        .health(P3, Health::Unknown);
    assert_eq!(blocked_reason(&w), vec![BlockReason::HealthUnknown]);
}

#[test]
fn ledger_and_observation_disagreeing_stops_the_pair() {
    let w = two_pairs().ledger(P3, P4);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::ObservationDisagrees]);
}

#[test]
fn ledger_is_the_record_when_serving_cannot_be_observed() {
    let plan = two_pairs().serving_unobserved(P3).ledger(P3, P4).plan();
    assert_eq!(actions(&plan)[0], failback(P3, Mode::Graceful));
}
