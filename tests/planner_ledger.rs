//! The ledger, one named test each: the operator's record of who serves each pool when the driver
//! cannot tell, the check an observation makes on it, and the conference content it keeps owed
//! after a disaster-mode failback until the backup pool is up.

mod common;

use common::{
    actions, block_reasons, failback, failover, step, sync_conference_content, waits_for, World,
    P3, P4,
};
use sfb_dr::model::{Action, BackupModule, BlockReason, Health, Ledger, Mode};

#[test]
fn ledger_and_observation_disagreeing_stops_the_pair() {
    let w = World::two_pairs().ledger(P3, P4);
    assert!(w.plan().steps.is_empty());
    assert_eq!(
        block_reasons(&w.plan()),
        vec![BlockReason::ObservationDisagrees]
    );
}

#[test]
fn ledger_is_the_record_when_serving_cannot_be_observed() {
    let plan = World::two_pairs()
        .serving_unobserved(P3)
        .ledger(P3, P4)
        .plan();
    assert_eq!(actions(&plan)[0], failback(P3, Mode::Graceful));
}

#[test]
fn a_disaster_failback_leaves_the_conference_content_copy_owed_until_a_sync_pays_it() {
    let w = World::two_pairs().served_by(P3, P4);
    let index = w.index();
    let mut ledger = Ledger::default();
    ledger.record_step(&failover(P3, Mode::Graceful), &index);
    assert_eq!(ledger.served_by.get(P3).map(String::as_str), Some(P4));
    ledger.record_step(&failback(P3, Mode::Disaster), &index);
    assert_eq!(ledger.served_by.get(P3).map(String::as_str), Some(P3));
    assert_eq!(
        ledger.conference_content_owed.get(P3).map(String::as_str),
        Some(P4)
    );
    // Another module's sync does not pay it; the conference content's does.
    ledger.record_step(
        &Action::SyncBackup {
            pool: P4.into(),
            module: BackupModule::PresenceFocus,
        },
        &index,
    );
    assert!(!ledger.conference_content_owed.is_empty());
    ledger.record_step(&sync_conference_content(P4), &index);
    assert!(ledger.conference_content_owed.is_empty());
}

#[test]
fn owed_conference_content_is_copied_once_the_backup_pool_is_up() {
    let w = World::two_pairs()
        .owed_conference_content(P3, P4)
        .health(P4, Health::Down);
    let plan = w.plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert!(plan.blocked.is_empty(), "owed is not blocked: {plan:#?}");
    let w = w.health(P4, Health::Up);
    assert_eq!(actions(&w.plan()), vec![sync_conference_content(P4)]);
    // A Back End that is down is no better than a pool that is down.
    let w = w.back_end(P4, Health::Down);
    assert!(w.plan().steps.is_empty());
}

#[test]
fn an_owed_copy_waits_while_the_users_are_away_again() {
    let w = World::two_pairs()
        .owed_conference_content(P3, P4)
        .served_by(P3, P4)
        .site_active("redmond", false)
        .served_by("pool1.contoso.com", "pool2.contoso.com")
        .cms("pool1.contoso.com", Some("pool2.contoso.com"));
    assert!(w.plan().steps.is_empty(), "{:#?}", w.plan());
}

#[test]
fn a_failover_within_the_pair_waits_for_the_owed_copy() {
    // pool4's users leave for pool3 while pool3 is owed its conference content from pool4: the
    // copy and the failover would both hold the pair, so the failover waits.
    let w = World::two_pairs()
        .owed_conference_content(P3, P4)
        .active_sites(P4, &["redmond"]);
    let plan = w.plan();
    let sync = step(&plan, &sync_conference_content(P4));
    let fo = step(&plan, &failover(P4, Mode::Graceful));
    assert!(waits_for(&plan, fo, sync), "{plan:#?}");
}

#[test]
fn a_copy_owed_from_a_pool_that_is_not_the_backup_stops_the_pair() {
    let w = World::two_pairs().owed_conference_content(P3, "pool2.contoso.com");
    assert_eq!(
        block_reasons(&w.plan()),
        vec![BlockReason::ObservationDisagrees]
    );
}

#[test]
fn a_ledger_written_before_owed_content_existed_still_reads() {
    let old: Ledger =
        serde_json::from_str(r#"{"servedBy": {"pool3.contoso.com": "pool4.contoso.com"}}"#)
            .expect("an older ledger reads");
    assert_eq!(old.served_by.len(), 1);
    assert!(old.conference_content_owed.is_empty());
    let empty: Ledger = serde_json::from_str("{}").expect("an empty ledger reads");
    assert_eq!(empty, Ledger::default());
    let mut owed = Ledger::default();
    owed.conference_content_owed.insert(P3.into(), P4.into());
    let json = serde_json::to_value(&owed).expect("serializes");
    assert_eq!(json["conferenceContentOwed"][P3], P4);
}
