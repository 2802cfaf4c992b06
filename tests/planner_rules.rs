//! The rules that decide each pair on its own, one named test each: the swap rule, the mode of
//! each move (Front Ends and Back End), never into a pool that is down, backup health, pairs
//! Microsoft does not support, independence of pairs and the plan id. The CMS, Edge and ledger
//! rules have their own files (`planner_cms.rs`, `planner_edges.rs`, `planner_ledger.rs`).

mod common;

use common::{actions, block_reasons, failback, failover, step, waits_for, World, P1, P2, P3, P4};
use sfb_dr::model::{Action, BackupModule, BlockReason, Edition, Health, Mode, ObservedIndex};

fn blocked_reason(w: &World) -> Vec<BlockReason> {
    block_reasons(&w.plan())
}

#[test]
fn steady_state_plans_nothing() {
    let plan = World::two_pairs()
        .edge("edge1.contoso.com", "redmond", P1)
        .plan();
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

// Rule 4
#[test]
fn failover_is_disaster_mode_exactly_when_the_pool_is_down() {
    let w = World::two_pairs()
        .active_sites(P3, &["dublin"])
        .allow_data_loss();
    assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Graceful)]);
    let w = w.health(P3, Health::Down);
    assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Disaster)]);
}

#[test]
fn a_disaster_failover_gives_up_data_only_with_consent() {
    // The same rule as for a disaster-mode failback: without allowDataLoss the pair waits.
    for w in [
        World::two_pairs().health(P3, Health::Down),
        World::two_pairs().back_end(P3, Health::Down),
    ] {
        let w = w.active_sites(P3, &["dublin"]);
        let plan = w.plan();
        assert!(plan.steps.is_empty(), "{plan:#?}");
        assert_eq!(blocked_reason(&w), vec![BlockReason::DataLossNotAllowed]);
        assert!(
            plan.blocked[0].message.contains("allowDataLoss: true"),
            "{}",
            plan.blocked[0].message
        );
        assert_eq!(
            actions(&w.allow_data_loss().plan()),
            vec![failover(P3, Mode::Disaster)]
        );
    }
}

#[test]
fn failback_needs_the_home_pool_up() {
    let w = World::two_pairs()
        .served_by(P3, P4)
        .health(P3, Health::Down);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::HomeDown]);
}

#[test]
fn failback_while_the_backup_pool_is_down_is_disaster_mode_only_with_consent() {
    let w = World::two_pairs()
        .served_by(P3, P4)
        .health(P4, Health::Down);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::DataLossNotAllowed]);
    let plan = w.allow_data_loss().plan();
    // No conference-content sync from a backup pool that is down.
    assert_eq!(actions(&plan), vec![failback(P3, Mode::Disaster)]);
}

// Rule 5
#[test]
fn conference_content_is_synced_after_a_failback() {
    let plan = World::two_pairs().served_by(P3, P4).plan();
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
    let w = World::two_pairs()
        .active_sites(P3, &["dublin"])
        .backup_error(P3);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::BackupUnhealthy]);
    // A disaster-mode failover does not wait for replication, so it goes ahead.
    let w = w.health(P3, Health::Down).allow_data_loss();
    assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Disaster)]);
}

#[test]
fn graceful_failback_checks_the_direction_users_leave() {
    let w = World::two_pairs().served_by(P3, P4).backup_error(P4);
    assert_eq!(blocked_reason(&w), vec![BlockReason::BackupUnhealthy]);
}

// Back End health
#[test]
fn a_pool_whose_back_end_is_down_fails_over_in_disaster_mode() {
    // Front Ends up, Back End SQL down: Invoke-CsPoolFailOver needs -DisasterMode.
    let w = World::two_pairs()
        .active_sites(P3, &["dublin"])
        .back_end(P3, Health::Down)
        .allow_data_loss();
    assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Disaster)]);
    // Even with its Backup Service direction in ErrorState: disaster mode does not wait for it.
    assert_eq!(
        actions(&w.backup_error(P3).plan()),
        vec![failover(P3, Mode::Disaster)]
    );
}

#[test]
fn a_back_end_that_is_up_or_not_observed_keeps_the_failover_graceful() {
    for back_end in [None, Some(Health::Up)] {
        let mut w = World::two_pairs().active_sites(P3, &["dublin"]);
        if let Some(h) = back_end {
            w = w.back_end(P3, h);
        }
        assert_eq!(actions(&w.plan()), vec![failover(P3, Mode::Graceful)]);
    }
}

#[test]
fn a_back_end_of_unknown_health_blocks_the_failover() {
    let w = World::two_pairs()
        .active_sites(P3, &["dublin"])
        .back_end(P3, Health::Unknown);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::HealthUnknown]);
}

#[test]
fn failback_needs_the_home_back_end_up() {
    let w = World::two_pairs()
        .served_by(P3, P4)
        .back_end(P3, Health::Down);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::HomeDown]);
    assert!(w.plan().blocked[0].message.contains("Back End"));
}

#[test]
fn failback_from_a_backup_pool_whose_back_end_is_down_is_disaster_mode_only_with_consent() {
    let w = World::two_pairs()
        .served_by(P3, P4)
        .back_end(P4, Health::Down);
    assert_eq!(blocked_reason(&w), vec![BlockReason::DataLossNotAllowed]);
    assert_eq!(
        actions(&w.allow_data_loss().plan()),
        vec![failback(P3, Mode::Disaster)]
    );
}

#[test]
fn never_fails_over_into_a_pool_whose_back_end_is_down() {
    let w = World::two_pairs()
        .active_sites(P3, &["dublin"])
        .back_end(P4, Health::Down);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::TargetDown]);
}

// Rule 6
#[test]
fn never_fails_over_into_a_pool_that_is_down() {
    let w = World::two_pairs()
        .active_sites(P3, &["dublin"])
        .health(P4, Health::Down);
    assert!(w.plan().steps.is_empty());
    assert_eq!(blocked_reason(&w), vec![BlockReason::TargetDown]);
}

#[test]
fn never_both_pools_of_a_pair_failed_over() {
    let w = World::two_pairs().served_by(P3, P4).served_by(P4, P3);
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

// Pairings Microsoft does not support
#[test]
fn an_unsupported_pairing_blocks_that_pair_only() {
    // pool4 is a Standard Edition pool paired with an Enterprise pool: Topology Builder allows
    // it, Microsoft does not support it. The other pairs are still planned.
    let w = World::two_pairs()
        .edition(P4, Edition::Standard)
        .site_active("redmond", false);
    let plan = w.plan();
    assert_eq!(
        plan.blocked
            .iter()
            .map(|b| (b.pair.as_str(), b.reason))
            .collect::<Vec<_>>(),
        vec![("pool3-pool4", BlockReason::PairUnsupported)],
        "{plan:#?}"
    );
    assert!(plan.blocked[0].message.contains("same edition"));
    step(&plan, &failover(P1, Mode::Graceful));
    assert!(plan.steps.iter().all(|s| !matches!(
        &s.action,
        Action::FailOverPool { pool, .. } if pool == P3
    )));
}

#[test]
fn an_undeclared_pairing_within_one_site_does_not_refuse_the_observation() {
    let mut w = World::two_pairs().pair(
        "pool5.contoso.com",
        "redmond",
        "pool6.contoso.com",
        "dublin",
    );
    for p in w
        .observed
        .pools
        .iter_mut()
        .filter(|p| p.fqdn == "pool6.contoso.com")
    {
        p.site = "redmond".into();
    }
    w.desired.pairs.retain(|p| p.name != "pool5-pool6");
    let index = ObservedIndex::new(w.observed.clone()).expect("an unsupported pairing is data");
    let p5 = index.pool_index("pool5.contoso.com").expect("pool5");
    assert!(index
        .unsupported_pairing(p5)
        .is_some_and(|why| why.contains("different sites")));
    assert!(w.site_active("redmond", false).plan().blocked.is_empty());
}

// Rule 8
#[test]
fn plan_id_is_stable_for_equal_inputs() {
    let w = World::two_pairs().site_active("redmond", false);
    assert_eq!(w.plan().id, w.clone().plan().id);
}

#[test]
fn plan_id_changes_when_the_plan_changes() {
    let w = World::two_pairs().site_active("redmond", false);
    let graceful = w.plan().id;
    let disaster = w.health(P3, Health::Down).plan().id;
    assert_ne!(graceful, disaster);
}

// Desired state
#[test]
fn no_active_site_blocks_the_pair() {
    let w = World::two_pairs()
        .site_active("redmond", false)
        .site_active("dublin", false);
    assert!(w.plan().steps.is_empty());
    assert!(blocked_reason(&w)
        .iter()
        .all(|r| *r == BlockReason::NoActiveSite));
}

#[test]
fn active_sites_narrows_where_a_pair_is_served() {
    let plan = World::two_pairs().active_sites(P3, &["dublin"]).plan();
    assert_eq!(actions(&plan), vec![failover(P3, Mode::Graceful)]);
}

#[test]
fn unknown_health_blocks_instead_of_guessing() {
    let w = World::two_pairs()
        .active_sites(P3, &["dublin"])
        .health(P3, Health::Unknown);
    assert_eq!(blocked_reason(&w), vec![BlockReason::HealthUnknown]);
}
