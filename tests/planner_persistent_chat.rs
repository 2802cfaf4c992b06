//! Persistent Chat (planning rule 12), one named test each: a declared pool follows the site of
//! its primary database; when that site goes out of service it fails over to its backup
//! database (a person's SQL steps, then `Set-CsPersistentChatState FailedOver`, then the backup
//! site's servers made active), only with `allowDataLoss`; it fails back (active servers
//! cleared, a person's restore, `Normal`, primary servers active); a plan made again after any
//! step is the rest of its chain; and it is never touched without a reason.

mod common;

use common::simulated::simulated;
use common::{actions, cms_step, step, waits_for, World, P1, PC, PC1, PC2, PC3, PC4};
use common::{chat_active as active, chat_state as state};
use sfb_dr::model::{Action, BlockReason, ChatState, Health, ObservedIndex};
use sfb_dr::simulator::Fault;

fn world() -> World {
    World::two_pairs().chat(ChatState::Normal, Some(&[PC1, PC2]))
}

fn chat_steps(plan: &sfb_dr::model::Plan) -> Vec<Action> {
    actions(plan)
        .into_iter()
        .filter(|a| {
            matches!(
                a,
                Action::RecoverPersistentChatDatabase { .. }
                    | Action::RestorePersistentChatDatabase { .. }
                    | Action::SetPersistentChatState { .. }
                    | Action::SetPersistentChatActiveServers { .. }
            )
        })
        .collect()
}

#[test]
fn a_pool_at_rest_is_never_touched() {
    let plan = world().plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert!(plan.blocked.is_empty(), "{plan:#?}");
    // Active servers the driver cannot read are trusted while nothing is owed.
    let plan = World::two_pairs().chat(ChatState::Normal, None).plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
}

#[test]
fn the_primary_site_out_of_service_fails_the_pool_over_in_microsofts_order() {
    let plan = world()
        .site_active("redmond", false)
        .allow_data_loss()
        .plan();
    let want = vec![
        Action::RecoverPersistentChatDatabase { pool: PC.into() },
        state(ChatState::FailedOver),
        active(&[PC3, PC4]),
    ];
    assert_eq!(chat_steps(&plan), want, "{plan:#?}");
    for pair in want.windows(2) {
        let (a, b) = (step(&plan, &pair[0]), step(&plan, &pair[1]));
        assert_eq!(b.depends_on, vec![a.id.clone()], "{plan:#?}");
    }
    assert!(plan.steps.iter().any(|s| s.action.is_manual()));
    assert!(!state(ChatState::FailedOver).is_manual());
    // Everything that needs the CMS waits for it to move off redmond.
    let cms = cms_step(&plan).expect("the CMS leaves redmond");
    let first = step(&plan, &want[0]);
    assert!(waits_for(&plan, first, cms), "{plan:#?}");
}

#[test]
fn a_failover_that_loses_unshipped_logs_needs_allow_data_loss() {
    let plan = world().site_active("redmond", false).plan();
    assert!(chat_steps(&plan).is_empty(), "{plan:#?}");
    let b = plan
        .blocked
        .iter()
        .find(|b| b.pair == "persistentChat:pchat.contoso.com")
        .expect("the pool is reported");
    assert_eq!(b.reason, BlockReason::DataLossNotAllowed);
    assert!(b.message.contains("allowDataLoss"), "{}", b.message);
    assert_eq!(
        b.to_string().split(':').next(),
        Some("Persistent Chat pool pchat.contoso.com")
    );
}

#[test]
fn the_failback_clears_the_active_servers_restores_then_returns_to_normal_and_its_servers() {
    let plan = World::two_pairs()
        .chat(ChatState::FailedOver, Some(&[PC3, PC4]))
        .plan();
    let want = vec![
        active(&[]),
        Action::RestorePersistentChatDatabase { pool: PC.into() },
        state(ChatState::Normal),
        active(&[PC1, PC2]),
    ];
    assert_eq!(chat_steps(&plan), want, "{plan:#?}");
    for pair in want.windows(2) {
        let (a, b) = (step(&plan, &pair[0]), step(&plan, &pair[1]));
        assert_eq!(b.depends_on, vec![a.id.clone()], "{plan:#?}");
    }
    // Already cleared (an interrupted failback): not cleared again.
    let plan = World::two_pairs()
        .chat(ChatState::FailedOver, Some(&[]))
        .plan();
    assert_eq!(chat_steps(&plan), want[1..].to_vec(), "{plan:#?}");
}

#[test]
fn only_servers_that_are_up_become_active() {
    let plan = world()
        .site_active("redmond", false)
        .allow_data_loss()
        .chat_server(PC3, Health::Down)
        .plan();
    assert!(chat_steps(&plan).contains(&active(&[PC4])), "{plan:#?}");
}

#[test]
fn no_server_up_where_the_pool_should_be_blocks_it_and_says_what_would_move_it() {
    let plan = world()
        .chat_server(PC1, Health::Down)
        .chat_server(PC2, Health::Down)
        .plan();
    assert!(chat_steps(&plan).is_empty(), "{plan:#?}");
    let b = &plan.blocked[0];
    assert_eq!(b.reason, BlockReason::NoPersistentChatServer, "{plan:#?}");
    assert!(b.message.contains("out of service"), "{}", b.message);
    let plan = world()
        .chat_server(PC1, Health::Unknown)
        .chat_server(PC2, Health::Down)
        .plan();
    assert_eq!(
        plan.blocked[0].reason,
        BlockReason::HealthUnknown,
        "{plan:#?}"
    );
}

#[test]
fn active_servers_of_the_wrong_site_are_set_right() {
    let plan = World::two_pairs()
        .chat(ChatState::Normal, Some(&[PC1, PC3]))
        .plan();
    assert_eq!(chat_steps(&plan), vec![active(&[PC1, PC2])], "{plan:#?}");
    let plan = World::two_pairs().chat(ChatState::Normal, Some(&[])).plan();
    assert_eq!(chat_steps(&plan), vec![active(&[PC1, PC2])], "{plan:#?}");
}

#[test]
fn active_servers_owed_after_a_failover_are_set_though_unobserved() {
    let mut w = World::two_pairs()
        .chat(ChatState::FailedOver, None)
        .site_active("redmond", false);
    assert!(
        chat_steps(&w.plan()).is_empty(),
        "nothing owed, nothing seen"
    );
    w.ledger
        .record_step(&state(ChatState::FailedOver), &w.index());
    assert_eq!(chat_steps(&w.plan()), vec![active(&[PC3, PC4])]);
    w.ledger.record_step(&active(&[PC3, PC4]), &w.index());
    assert!(chat_steps(&w.plan()).is_empty());
}

#[test]
fn an_unreported_state_or_no_active_site_leaves_the_pool_alone() {
    let mut w = world();
    w.observed.persistent_chat[0].state = None;
    let plan = w.plan();
    assert_eq!(
        plan.blocked[0].reason,
        BlockReason::PersistentChatNotObserved
    );
    let plan = world()
        .site_active("redmond", false)
        .site_active("dublin", false)
        .allow_data_loss()
        .plan();
    assert!(chat_steps(&plan).is_empty(), "{plan:#?}");
    assert!(plan
        .blocked
        .iter()
        .any(|b| b.pair.starts_with("persistentChat:") && b.reason == BlockReason::NoActiveSite));
}

#[test]
fn a_lost_master_that_cannot_be_recovered_holds_the_pool_whole() {
    let plan = World::two_pairs()
        .chat(ChatState::FailedOver, Some(&[PC3, PC4]))
        .cms_master(None)
        .health(P1, Health::Up)
        .plan();
    assert!(chat_steps(&plan).is_empty(), "{plan:#?}");
    assert!(
        plan.blocked
            .iter()
            .any(|b| b.pair.starts_with("persistentChat:")
                && matches!(
                    b.reason,
                    BlockReason::CmsUnavailable | BlockReason::CmsLocationUnknown
                )),
        "{plan:#?}"
    );
}

/// Plays `world`'s chain on the simulator one step at a time (a person's step as the fault that
/// stands for the person's work), planning again after each from the fresh observation and the
/// ledger: the fresh chain must be the rest of the first one (with a person's step just done
/// still at its head, since nothing observes it), or the operator would replace its plan half-way
/// and ask again for a person's work already done. `hide_active` plays a driver that does not
/// read the active servers back.
fn walk(world: &World, hide_active: bool) -> Vec<Action> {
    let mut d = simulated(world);
    let mut ledger = world.ledger.clone();
    let observe = |d: &sfb_dr::simulator::Deployment| {
        let mut t = d.observe();
        if hide_active {
            t.persistent_chat[0].active_servers = None;
        }
        ObservedIndex::new(t).expect("consistent")
    };
    let chain = chat_steps(&sfb_dr::planner::plan(
        &world.desired,
        &observe(&d),
        &ledger,
    ));
    assert!(!chain.is_empty(), "a chain to walk");
    for (i, action) in chain.iter().enumerate() {
        match action {
            Action::RecoverPersistentChatDatabase { pool } => d
                .inject(&Fault::PersistentChatDatabaseRecovered { pool: pool.clone() })
                .expect("recovered"),
            Action::RestorePersistentChatDatabase { pool } => d
                .inject(&Fault::PersistentChatDatabaseRestored { pool: pool.clone() })
                .expect("restored"),
            other => {
                d.run(other)
                    .unwrap_or_else(|e| panic!("step {i} {other:?}: {e}"));
            }
        }
        let index = observe(&d);
        ledger.record_step(action, &index);
        let fresh = chat_steps(&sfb_dr::planner::plan(&world.desired, &index, &ledger));
        let rest = &chain[i + 1..];
        let held = action.is_manual() && fresh == chain[i..];
        assert!(
            fresh == rest || held,
            "after step {i} ({action}), hide_active {hide_active}: planned {fresh:#?}, the rest \
             is {rest:#?}"
        );
    }
    chain
}

#[test]
fn a_plan_made_again_after_any_step_is_the_rest_of_its_chain() {
    for hide_active in [false, true] {
        let failover = world()
            .cms_database(P1)
            .site_active("redmond", false)
            .allow_data_loss();
        assert_eq!(walk(&failover, hide_active).len(), 3);
        let failback = World::two_pairs()
            .cms_database(P1)
            .chat(ChatState::FailedOver, Some(&[PC3, PC4]));
        assert_eq!(walk(&failback, hide_active).len(), 4);
    }
}
