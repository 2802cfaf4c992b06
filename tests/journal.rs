//! The write-ahead journal's transitions on their own, without an API server: operation keys
//! unique to each publication, outcomes settled under the same key until they are known, and
//! `sfbdr.io/retry` rounds.

mod common;

use std::collections::HashSet;

use common::World;
use jiff::Timestamp;
use sfb_dr::api::{PlanStatus, StepState};
use sfb_dr::controller::journal::{
    advance, approval_value, key_prefix, next_retry, record, Launch, Limits, Policy, Situation,
    StepOutcome,
};
use sfb_dr::driver::{DriverError, OperationKey};
use sfb_dr::model::{Ledger, ObservedIndex, Plan};
use sfb_dr::planner;

const UID: &str = "0123456789abcdef0123456789abcdef";

fn limits() -> Limits {
    Limits {
        max_parallel: 4,
        max_attempts: 2,
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).expect("a time")
}

/// pool1 and pool2 in different sites, pool1's site inactive: one failover to run.
fn failover_world() -> (World, Plan, ObservedIndex) {
    let w = World::new()
        .pool1_pool2()
        .cms("pool2.contoso.com", Some("pool2.contoso.com"))
        .site_active("redmond", false);
    let index = w.index();
    let plan = planner::plan(&w.desired, &index, &Ledger::default());
    assert_eq!(plan.steps.len(), 1, "{plan:?}");
    (w, plan, index)
}

fn step(
    journal: Option<PlanStatus>,
    fresh: &Plan,
    observed: &ObservedIndex,
    policy: Policy,
    in_flight: &HashSet<OperationKey>,
    now: Timestamp,
) -> (PlanStatus, Vec<Launch>) {
    let a = advance(
        journal,
        Situation {
            fresh,
            observed,
            in_flight,
            instance: UID,
            policy,
            limits: limits(),
            now,
        },
    );
    (a.plan, a.launch)
}

fn outcome(launch: &Launch, result: Result<(), DriverError>, now: Timestamp) -> StepOutcome {
    StepOutcome {
        key: launch.key.clone(),
        step: launch.step.clone(),
        attempt: launch.attempt,
        settling: launch.settling,
        result,
        finished_at: now,
    }
}

#[test]
fn a_plan_published_again_runs_under_keys_of_its_own() {
    let (_, plan, index) = failover_world();
    let none = HashSet::new();
    let (first, launches) = step(None, &plan, &index, Policy::default(), &none, at(0));
    let first_key = launches[0].key.clone();
    // The same plan again later (the site failed over, came back, and fails over again): a
    // fresh publication, whose key the driver has never seen.
    let mut done = first.clone();
    done.steps[0].state = StepState::Succeeded;
    let empty = Plan {
        id: "e3b0c44298fc1c14".into(),
        steps: vec![],
        blocked: vec![],
    };
    let (rest, _) = step(Some(done), &empty, &index, Policy::default(), &none, at(10));
    let (second, launches) = step(Some(rest), &plan, &index, Policy::default(), &none, at(20));
    assert_eq!(second.id, first.id, "the same plan by its content");
    assert_ne!(launches[0].key, first_key, "never the first run's key");
    assert!(
        launches[0].key.as_str().contains(UID),
        "{}",
        launches[0].key
    );
}

#[test]
fn a_step_whose_first_call_still_runs_is_asked_about_under_the_same_key() {
    let (_, plan, index) = failover_world();
    let none = HashSet::new();
    let (journal, launches) = step(None, &plan, &index, Policy::default(), &none, at(0));
    let first = launches[0].clone();
    // The first call times out: ask again under the same key.
    let r = record(
        Some(journal),
        Ledger::default(),
        vec![outcome(
            &first,
            Err(DriverError::Timeout {
                what: "failover".into(),
                seconds: 60,
            }),
            at(1),
        )],
        &index,
        limits(),
    );
    let (journal, launches) = step(r.plan, &plan, &index, Policy::default(), &none, at(2));
    assert_eq!(launches.len(), 1);
    assert!(
        launches[0].settling && launches[0].key == first.key,
        "{launches:?}"
    );
    // The settle call reports it still running, then cannot even reach the server: still the
    // same key, never a new attempt while the first call may act.
    let mut journal = journal;
    for error in [
        DriverError::Timeout {
            what: "failover".into(),
            seconds: 60,
        },
        DriverError::Unreachable("no route to host".into()),
    ] {
        let r = record(
            Some(journal),
            Ledger::default(),
            vec![outcome(&launches[0], Err(error), at(3))],
            &index,
            limits(),
        );
        let plan_now = r.plan.expect("a journal");
        assert_eq!(plan_now.steps[0].state, StepState::Running, "{plan_now:?}");
        assert_eq!(plan_now.steps[0].failures, 0);
        let (next, again) = step(
            Some(plan_now),
            &plan,
            &index,
            Policy::default(),
            &none,
            at(4),
        );
        assert_eq!(again[0].key, first.key);
        journal = next;
    }
    // Only a definite answer moves it on.
    let r = record(
        Some(journal),
        Ledger::default(),
        vec![outcome(
            &launches[0],
            Err(DriverError::OutcomeUnknown("the process is gone".into())),
            at(5),
        )],
        &index,
        limits(),
    );
    let plan_now = r.plan.expect("a journal");
    assert_eq!(plan_now.steps[0].state, StepState::Failed);
    // It may have run: never again under a new key until a person asks (sfbdr.io/retry).
    assert_eq!(plan_now.steps[0].failures, limits().max_attempts);
    assert!(
        plan_now.steps[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("sfbdr.io/retry")),
        "{plan_now:?}"
    );
    let (_, relaunched) = step(
        Some(plan_now),
        &plan,
        &index,
        Policy::default(),
        &none,
        at(600),
    );
    assert!(relaunched.is_empty(), "{relaunched:?}");
}

#[test]
fn retry_can_be_asked_again_with_a_new_value() {
    let (_, plan, index) = failover_world();
    let none = HashSet::new();
    let (mut journal, _) = step(None, &plan, &index, Policy::default(), &none, at(0));
    journal.steps[0].state = StepState::Failed;
    journal.steps[0].failures = limits().max_attempts;
    journal.steps[0].attempt = 2;
    journal.steps[0].finished_at = Some(at(0).to_string());
    let id = journal.id.clone();
    assert_eq!(next_retry(&journal), id);
    let retry = |value: &str| Policy {
        retry: Some(value.to_owned()),
        ..Policy::default()
    };
    let (granted, launches) = step(Some(journal), &plan, &index, retry(&id), &none, at(1));
    assert_eq!(launches.len(), 1, "a round granted, started at once");
    assert_eq!(next_retry(&granted), format!("{id}-2"));
    // That round fails too: the same value grants nothing more, the next one does.
    let mut failed = granted;
    failed.steps[0].state = StepState::Failed;
    failed.steps[0].failures = limits().max_attempts;
    let (still, launches) = step(Some(failed), &plan, &index, retry(&id), &none, at(2));
    assert!(launches.is_empty(), "{launches:?}");
    let (_, launches) = step(
        Some(still),
        &plan,
        &index,
        retry(&format!("{id}-2")),
        &none,
        at(3),
    );
    assert_eq!(launches.len(), 1);
    // A value naming another plan grants nothing.
    assert!(!sfb_dr::controller::journal::retry_names(
        &id,
        "0000000000000000"
    ));
    assert!(!sfb_dr::controller::journal::retry_names(
        &id,
        &format!("{id}-x")
    ));
}

#[test]
fn an_unknown_outcome_whose_effect_is_observed_counts_as_succeeded_and_enters_the_ledger() {
    let (w, plan, index) = failover_world();
    let none = HashSet::new();
    let (journal, launches) = step(None, &plan, &index, Policy::default(), &none, at(0));
    let settle = Launch {
        settling: true,
        ..launches[0].clone()
    };
    let lost = || {
        vec![outcome(
            &settle,
            Err(DriverError::OutcomeUnknown("the connection dropped".into())),
            at(5),
        )]
    };
    // The deployment shows pool1's users on pool2: the failover happened, whatever the
    // driver could not say, and the ledger records it.
    let moved = w
        .clone()
        .served_by("pool1.contoso.com", "pool2.contoso.com")
        .index();
    let r = record(
        Some(journal.clone()),
        Ledger::default(),
        lost(),
        &moved,
        limits(),
    );
    let plan_now = r.plan.expect("a journal");
    assert_eq!(
        plan_now.steps[0].state,
        StepState::Succeeded,
        "{plan_now:?}"
    );
    assert_eq!(
        r.ledger
            .served_by
            .get("pool1.contoso.com")
            .map(String::as_str),
        Some("pool2.contoso.com")
    );
    // Not shown (still home): it failed, the ledger is untouched, and it waits for a person.
    let r = record(Some(journal), Ledger::default(), lost(), &index, limits());
    let plan_now = r.plan.expect("a journal");
    assert_eq!(plan_now.steps[0].state, StepState::Failed);
    assert_eq!(plan_now.steps[0].failures, limits().max_attempts);
    assert!(r.ledger.served_by.is_empty());
}

#[test]
fn a_failback_whose_lost_outcome_shows_enters_the_ledger_with_the_copy_it_owes() {
    let away = World::new()
        .pool1_pool2()
        .cms("pool2.contoso.com", Some("pool2.contoso.com"))
        .served_by("pool1.contoso.com", "pool2.contoso.com");
    let mut ledger = Ledger::default();
    ledger.record("pool1.contoso.com", "pool2.contoso.com");
    let plan = planner::plan(&away.desired, &away.index(), &ledger);
    let none = HashSet::new();
    let (journal, launches) = step(None, &plan, &away.index(), Policy::default(), &none, at(0));
    let failback = launches
        .iter()
        .find(|l| l.action.to_string().starts_with("fail back"))
        .expect("a failback");
    let settle = Launch {
        settling: true,
        ..failback.clone()
    };
    let home = away
        .served_by("pool1.contoso.com", "pool1.contoso.com")
        .index();
    let r = record(
        Some(journal),
        ledger,
        vec![outcome(
            &settle,
            Err(DriverError::BadOutput("garbled".into())),
            at(5),
        )],
        &home,
        limits(),
    );
    let journal = r.plan.expect("a journal");
    let s = journal
        .steps
        .iter()
        .find(|s| s.id == failback.step)
        .expect("the step");
    assert_eq!(s.state, StepState::Succeeded, "{journal:?}");
    assert_eq!(
        r.ledger
            .served_by
            .get("pool1.contoso.com")
            .map(String::as_str),
        Some("pool1.contoso.com")
    );
    assert_eq!(
        r.ledger
            .conference_content_owed
            .get("pool1.contoso.com")
            .map(String::as_str),
        Some("pool2.contoso.com")
    );
}

#[test]
fn an_approval_binds_to_one_publication_of_a_plan() {
    let (_, plan, index) = failover_world();
    let none = HashSet::new();
    let manual = |approved: Option<&str>| Policy {
        manual: true,
        approved: approved.map(str::to_owned),
        ..Policy::default()
    };
    // Published before any approval: it waits, then its id approves it.
    let (first, launches) = step(None, &plan, &index, manual(None), &none, at(0));
    assert!(launches.is_empty(), "{launches:?}");
    assert!(!first.approval_left_over);
    assert_eq!(approval_value(&first), plan.id);
    let first_prefix = key_prefix(&first).to_owned();
    let (mut done, launches) = step(
        Some(first),
        &plan,
        &index,
        manual(Some(&plan.id)),
        &none,
        at(1),
    );
    assert_eq!(launches.len(), 1, "the approved plan starts");
    // It finishes; later the same plan is needed again, the annotation still naming its id.
    done.steps[0].state = StepState::Succeeded;
    let empty = Plan {
        id: "e3b0c44298fc1c14".into(),
        steps: vec![],
        blocked: vec![],
    };
    let left = manual(Some(&plan.id));
    let (rest, _) = step(Some(done), &empty, &index, left.clone(), &none, at(10));
    let (second, launches) = step(Some(rest), &plan, &index, left.clone(), &none, at(20));
    assert_eq!(second.id, plan.id);
    assert!(
        launches.is_empty(),
        "a left-over approval starts nothing: {launches:?}"
    );
    assert!(second.approval_left_over);
    let (second, launches) = step(Some(second), &plan, &index, left, &none, at(21));
    assert!(
        launches.is_empty(),
        "nor on the next reconcile: {launches:?}"
    );
    // Nor does the earlier publication's key prefix; this one's does.
    let (second, launches) = step(
        Some(second),
        &plan,
        &index,
        manual(Some(&first_prefix)),
        &none,
        at(22),
    );
    assert!(launches.is_empty(), "{launches:?}");
    let prefix = approval_value(&second).to_owned();
    assert_eq!(prefix, key_prefix(&second));
    assert_ne!(prefix, first_prefix);
    let (_, launches) = step(
        Some(second),
        &plan,
        &index,
        manual(Some(&prefix)),
        &none,
        at(23),
    );
    assert_eq!(
        launches.len(),
        1,
        "approved by its own publication's key prefix"
    );
}

#[test]
fn a_retry_left_from_an_earlier_publication_of_a_plan_grants_nothing() {
    let (_, plan, index) = failover_world();
    let none = HashSet::new();
    let left = Policy {
        retry: Some(plan.id.clone()),
        ..Policy::default()
    };
    // Published while sfbdr.io/retry already names its id (a round granted to an earlier run of
    // the same plan): that value counts as used, and the next round needs a new one.
    let (published, _) = step(None, &plan, &index, left, &none, at(0));
    assert_eq!(published.retried_with.as_deref(), Some(plan.id.as_str()));
    assert_eq!(next_retry(&published), format!("{}-2", plan.id));
}

/// edge1, carrying SIP federation, is down: one person's step, the move to edge2.
fn sip_world() -> (World, Plan, ObservedIndex) {
    use sfb_dr::model::{Health, RouteKind};
    let w = World::new()
        .pool1_pool2()
        .cms("pool1.contoso.com", Some("pool1.contoso.com"))
        .edge("edge1.contoso.com", "redmond", "pool1.contoso.com")
        .edge("edge2.contoso.com", "dublin", "pool2.contoso.com")
        .edge_health("edge1.contoso.com", Health::Down)
        .declare_route(RouteKind::Sip, &["edge1.contoso.com", "edge2.contoso.com"])
        .route(RouteKind::Sip, Some("edge1.contoso.com"));
    let index = w.index();
    let plan = planner::plan(&w.desired, &index, &Ledger::default());
    assert_eq!(plan.steps.len(), 1, "{plan:?}");
    (w, plan, index)
}

fn confirming(keys: &[&str]) -> Policy {
    Policy {
        confirmed: keys.iter().map(|k| (*k).to_owned()).collect(),
        ..Policy::default()
    }
}

#[test]
fn a_persons_step_waits_for_a_confirmation_written_after_it_was_ready() {
    use sfb_dr::controller::journal::{confirm, confirmation_key, Recorded};
    let (_, plan, index) = sip_world();
    let none = HashSet::new();
    // Confirmed in advance, by someone who guessed the publication's key prefix.
    let early = format!("{}-0123456789abcdef-s1", plan.id);
    let (journal, launches) = step(None, &plan, &index, Policy::default(), &none, at(0));
    assert!(launches.is_empty(), "never sent to a driver: {launches:?}");
    let s1 = &journal.steps[0];
    assert_eq!(s1.state, StepState::AwaitingConfirmation);
    let key = s1.confirm_with.clone().expect("a confirmation key");
    assert_eq!(key, confirmation_key(key_prefix(&journal), "s1", at(0)));
    assert!(s1
        .message
        .as_deref()
        .unwrap_or("")
        .contains("kubectl sfbdr confirm s1"));
    let settle = |journal: &PlanStatus, keys: &[&str]| {
        let mut r = Recorded {
            plan: Some(journal.clone()),
            ledger: Ledger::default(),
            events: vec![],
        };
        confirm(&mut r, &confirming(keys).confirmed, &index, at(5));
        r.plan.expect("a plan").steps[0].state
    };
    assert_eq!(settle(&journal, &[&early]), StepState::AwaitingConfirmation);
    // Its key, once the observation shows the route moved: done.
    let moved = World::new()
        .pool1_pool2()
        .edge("edge1.contoso.com", "redmond", "pool1.contoso.com")
        .edge("edge2.contoso.com", "dublin", "pool2.contoso.com")
        .route(sfb_dr::model::RouteKind::Sip, Some("edge2.contoso.com"))
        .index();
    let mut r = Recorded {
        plan: Some(journal.clone()),
        ledger: Ledger::default(),
        events: vec![],
    };
    confirm(&mut r, std::slice::from_ref(&key), &index, at(5));
    let waiting = r.plan.clone().expect("a plan");
    assert_eq!(
        waiting.steps[0].state,
        StepState::AwaitingConfirmation,
        "the route is still seen on edge1"
    );
    assert!(
        waiting.steps[0]
            .message
            .as_deref()
            .unwrap_or("")
            .contains("observation disagrees"),
        "{:?}",
        waiting.steps[0].message
    );
    confirm(&mut r, &[key], &moved, at(6));
    assert_eq!(r.plan.expect("a plan").steps[0].state, StepState::Succeeded);
}

#[test]
fn a_persons_step_under_way_is_never_replaced_by_a_fresh_plan() {
    let (_, plan, index) = sip_world();
    let none = HashSet::new();
    let (journal, _) = step(None, &plan, &index, Policy::default(), &none, at(0));
    // The person has half done it, or the deployment changed: the fresh plan has nothing.
    let empty = Plan {
        id: "e3b0c44298fc1c14".into(),
        steps: vec![],
        blocked: vec![],
    };
    let a = advance(
        Some(journal.clone()),
        Situation {
            fresh: &empty,
            observed: &index,
            in_flight: &none,
            instance: UID,
            policy: Policy::default(),
            limits: limits(),
            now: at(10),
        },
    );
    assert_eq!(a.plan.id, journal.id, "the journalled plan goes on");
    assert_eq!(a.plan.steps[0].state, StepState::AwaitingConfirmation);
}

#[test]
fn a_confirmed_persons_step_lets_its_plan_go_on_to_the_next() {
    use sfb_dr::controller::journal::{confirm, Recorded};
    use sfb_dr::model::{Health, RouteKind};
    let world = |sip_on: &str| {
        World::new()
            .pool1_pool2()
            .cms("pool1.contoso.com", Some("pool1.contoso.com"))
            .edge("edge1.contoso.com", "redmond", "pool1.contoso.com")
            .edge("edge2.contoso.com", "dublin", "pool2.contoso.com")
            .edge_health("edge1.contoso.com", Health::Down)
            .declare_route(RouteKind::Sip, &["edge1.contoso.com", "edge2.contoso.com"])
            .declare_route(RouteKind::Xmpp, &["edge1.contoso.com", "edge2.contoso.com"])
            .route(RouteKind::Sip, Some(sip_on))
            .route(RouteKind::Xmpp, Some("edge1.contoso.com"))
    };
    let none = HashSet::new();
    let before = world("edge1.contoso.com");
    let index = before.index();
    let plan = planner::plan(&before.desired, &index, &Ledger::default());
    assert_eq!(plan.steps.len(), 4, "{plan:#?}");
    let (journal, _) = step(None, &plan, &index, Policy::default(), &none, at(0));
    let key = journal.steps[0].confirm_with.clone().expect("a key");
    // Moved by hand and confirmed.
    let after = world("edge2.contoso.com");
    let index = after.index();
    let mut r = Recorded {
        plan: Some(journal.clone()),
        ledger: Ledger::default(),
        events: vec![],
    };
    confirm(&mut r, std::slice::from_ref(&key), &index, at(5));
    let fresh = planner::plan(&after.desired, &index, &r.ledger);
    let (next, _) = step(r.plan, &fresh, &index, confirming(&[&key]), &none, at(5));
    assert_eq!(next.id, journal.id, "the plan goes on");
    assert_eq!(next.steps[1].state, StepState::AwaitingConfirmation);
    let (again, _) = step(
        Some(next.clone()),
        &fresh,
        &index,
        confirming(&[&key]),
        &none,
        at(6),
    );
    assert_eq!(again.id, journal.id, "and stays: {again:#?}");
    assert_eq!(again.steps[1].confirm_with, next.steps[1].confirm_with);
    // The Edge services stopped and confirmed: the fresh plan, blind to them, still asks for the
    // stop, and the plan goes on to Set-CsSite rather than asking again.
    let stop = again.steps[1].confirm_with.clone().expect("a key");
    let mut r = Recorded {
        plan: Some(again),
        ledger: Ledger::default(),
        events: vec![],
    };
    confirm(&mut r, std::slice::from_ref(&stop), &index, at(7));
    let (last, launches) = step(r.plan, &fresh, &index, confirming(&[&stop]), &none, at(7));
    assert_eq!(last.id, journal.id, "{last:#?}");
    assert_eq!(launches.len(), 1, "Set-CsSite starts: {launches:?}");
}

#[test]
fn a_persons_step_done_in_a_plan_is_not_asked_for_again_by_the_same_move() {
    use sfb_dr::controller::journal::{confirm, Recorded};
    use sfb_dr::model::{Health, RouteKind};
    // edge1 carries XMPP and is down: stop edge2's services (a person), Set-CsSite, DNS.
    let w = World::new()
        .pool1_pool2()
        .cms("pool1.contoso.com", Some("pool1.contoso.com"))
        .edge("edge1.contoso.com", "redmond", "pool1.contoso.com")
        .edge("edge2.contoso.com", "dublin", "pool2.contoso.com")
        .edge_health("edge1.contoso.com", Health::Down)
        .declare_route(RouteKind::Xmpp, &["edge1.contoso.com", "edge2.contoso.com"])
        .route(RouteKind::Xmpp, Some("edge1.contoso.com"));
    let index = w.index();
    let plan = planner::plan(&w.desired, &index, &Ledger::default());
    let none = HashSet::new();
    let (journal, _) = step(None, &plan, &index, Policy::default(), &none, at(0));
    let key = journal.steps[0].confirm_with.clone().expect("a key");
    let mut r = Recorded {
        plan: Some(journal.clone()),
        ledger: Ledger::default(),
        events: vec![],
    };
    confirm(&mut r, std::slice::from_ref(&key), &index, at(5));
    // The fresh plan, which cannot see stopped services, still starts with the stop.
    let (next, launches) = step(r.plan, &plan, &index, confirming(&[&key]), &none, at(5));
    assert_eq!(next.id, journal.id, "the plan goes on");
    assert_eq!(next.steps[0].state, StepState::Succeeded);
    assert_eq!(launches.len(), 1, "Set-CsSite starts: {launches:?}");
}
