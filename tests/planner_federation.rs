//! Federation routes (planning rule 11), one named test each: a route on a lost Edge pool moves
//! to the first declared Edge pool that is up in an active site, in Microsoft's order (SIP by a
//! person in Topology Builder; XMPP between two of a person's steps), after the CMS has moved;
//! it returns before its site's pools fail back; and it is never moved without a reason.

mod common;

use common::{failback, failover, step, waits_for, World, P1, P2, P3};
use sfb_dr::model::{Action, BlockReason, Health, Mode, RouteKind};

const E1: &str = "edge1.contoso.com";
const E2: &str = "edge2.contoso.com";

/// Two pairs, the CMS on pool1, edge1 in redmond (next hop pool1) and edge2 in dublin (pool2),
/// both routes declared edge1 first and observed on edge1.
fn world() -> World {
    World::two_pairs()
        .edge(E1, "redmond", P1)
        .edge(E2, "dublin", P2)
        .declare_route(RouteKind::Sip, &[E1, E2])
        .declare_route(RouteKind::Xmpp, &[E1, E2])
        .route(RouteKind::Sip, Some(E1))
        .route(RouteKind::Xmpp, Some(E1))
}

fn sip(from: Option<&str>, to: &str) -> Action {
    Action::MoveSipFederationRoute {
        from: from.map(Into::into),
        to: to.into(),
    }
}

fn xmpp(site: &str, edge: &str) -> [Action; 3] {
    [
        Action::StopEdgeServices { edge: edge.into() },
        Action::SetXmppFederationRoute {
            site: site.into(),
            edge: edge.into(),
        },
        Action::PublishXmppFederationRoute { edge: edge.into() },
    ]
}

#[test]
fn a_route_on_a_lost_edge_pool_moves_to_the_next_declared_one() {
    let plan = world().edge_health(E1, Health::Down).plan();
    let actions: Vec<Action> = plan.steps.iter().map(|s| s.action.clone()).collect();
    let mut want = vec![sip(Some(E1), E2)];
    want.extend(xmpp("dublin", E2));
    assert_eq!(actions, want, "{plan:#?}");
    assert!(plan.blocked.is_empty(), "{plan:#?}");
    assert!(
        plan.steps
            .iter()
            .all(|s| s.action.is_manual()
                == !matches!(s.action, Action::SetXmppFederationRoute { .. })),
        "only Set-CsSite is a cmdlet: {plan:#?}"
    );
}

#[test]
fn the_xmpp_route_moves_in_microsofts_order() {
    let plan = world().edge_health(E1, Health::Down).plan();
    let [stop, set, publish] = xmpp("dublin", E2).map(|a| step(&plan, &a).clone());
    assert_eq!(set.depends_on, vec![stop.id.clone()], "{plan:#?}");
    assert_eq!(publish.depends_on, vec![set.id.clone()], "{plan:#?}");
}

#[test]
fn a_route_leaves_a_site_going_out_of_service_after_the_cms_has_moved() {
    let plan = world().site_active("redmond", false).plan();
    let cms = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::FailOverCms { .. }))
        .expect("the CMS moves off pool1");
    let route = step(&plan, &sip(Some(E1), E2));
    assert!(waits_for(&plan, route, cms), "{plan:#?}");
    // Beside the failovers, never holding them up: users move without waiting for a person.
    for pool in [P1, P3] {
        let fo = step(&plan, &failover(pool, Mode::Graceful));
        assert!(!waits_for(&plan, fo, route), "{pool}: {plan:#?}");
        for a in xmpp("dublin", E2) {
            assert!(!waits_for(&plan, fo, step(&plan, &a)), "{pool}: {plan:#?}");
        }
    }
}

#[test]
fn a_route_returns_before_the_pools_of_its_site_fail_back() {
    // pool1's users are on pool2 and redmond is active again; the routes are still on edge2.
    let plan = world()
        .served_by(P1, P2)
        .cms_master(Some(P2))
        .route(RouteKind::Sip, Some(E2))
        .route(RouteKind::Xmpp, Some(E2))
        .plan();
    let fb = step(&plan, &failback(P1, Mode::Graceful));
    assert!(
        waits_for(&plan, fb, step(&plan, &sip(Some(E2), E1))),
        "{plan:#?}"
    );
    let [_, _, publish] = xmpp("redmond", E1);
    assert!(waits_for(&plan, fb, step(&plan, &publish)), "{plan:#?}");
}

#[test]
fn a_route_on_its_first_usable_edge_pool_is_never_touched() {
    let plan = world().plan();
    assert!(
        plan.steps.is_empty() && plan.blocked.is_empty(),
        "{plan:#?}"
    );
}

#[test]
fn a_route_on_a_usable_edge_pool_nobody_declared_stays() {
    let plan = world()
        .edge("edge3.contoso.com", "dublin", P2)
        .route(RouteKind::Sip, Some("edge3.contoso.com"))
        .plan();
    assert!(
        plan.steps.is_empty() && plan.blocked.is_empty(),
        "{plan:#?}"
    );
}

#[test]
fn a_route_with_no_usable_edge_pool_is_blocked_with_its_reason() {
    let plan = world()
        .edge_health(E1, Health::Down)
        .edge_health(E2, Health::Down)
        .plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    let reasons: Vec<(&str, BlockReason)> = plan
        .blocked
        .iter()
        .map(|b| (b.pair.as_str(), b.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("federation:sip", BlockReason::NoFederationEdge),
            ("federation:xmpp", BlockReason::NoFederationEdge)
        ]
    );
    assert!(plan.blocked[0].message.contains(E1), "{plan:#?}");
}

#[test]
fn a_route_the_driver_does_not_report_is_left_alone_and_said_so() {
    let mut w = world().edge_health(E1, Health::Down);
    w.observed.federation_routes.clear();
    let plan = w.plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert!(
        plan.blocked
            .iter()
            .all(|b| b.reason == BlockReason::RouteNotObserved),
        "{plan:#?}"
    );
    assert_eq!(plan.blocked.len(), 2);
}

#[test]
fn a_route_on_an_edge_pool_of_unknown_health_stays() {
    let plan = world().edge_health(E1, Health::Unknown).plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert!(
        plan.blocked
            .iter()
            .all(|b| b.reason == BlockReason::HealthUnknown),
        "{plan:#?}"
    );
}

#[test]
fn an_xmpp_route_moved_but_not_yet_published_owes_only_its_last_step() {
    let mut w = world()
        .edge_health(E1, Health::Down)
        .route(RouteKind::Sip, Some(E2))
        .route(RouteKind::Xmpp, Some(E2));
    w.ledger.xmpp_route_unpublished = Some(E2.into());
    let plan = w.plan();
    let actions: Vec<Action> = plan.steps.iter().map(|s| s.action.clone()).collect();
    assert_eq!(
        actions,
        vec![Action::PublishXmppFederationRoute { edge: E2.into() }]
    );
}

#[test]
fn a_lost_master_that_cannot_be_recovered_holds_the_routes() {
    // Nothing else to do, so the master is not forced over for a route move alone.
    let plan = world()
        .edge_health(E1, Health::Down)
        .cms_master(None)
        .cms_database(P1)
        .plan();
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert!(
        plan.blocked
            .iter()
            .any(|b| b.pair == "federation:sip" && b.reason == BlockReason::CmsUnavailable),
        "{plan:#?}"
    );
}

#[test]
fn a_returning_route_starts_its_edge_services_first_and_moves_sip_before_xmpp() {
    let plan = world()
        .served_by(P1, P2)
        .cms_master(Some(P2))
        .route(RouteKind::Sip, Some(E2))
        .route(RouteKind::Xmpp, Some(E2))
        .plan();
    let start = step(&plan, &Action::StartEdgeServices { edge: E1.into() });
    let sip = step(&plan, &sip(Some(E2), E1));
    assert_eq!(sip.depends_on, vec![start.id.clone()], "{plan:#?}");
    let set = step(
        &plan,
        &Action::SetXmppFederationRoute {
            site: "redmond".into(),
            edge: E1.into(),
        },
    );
    assert_eq!(set.depends_on, vec![sip.id.clone()], "{plan:#?}");
    // Its services were started for the return: nothing stops them.
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::StopEdgeServices { .. })),
        "{plan:#?}"
    );
}

#[test]
fn a_route_that_is_not_set_is_never_turned_on() {
    let plan = world().route(RouteKind::Sip, None).plan();
    assert!(
        plan.steps.is_empty() && plan.blocked.is_empty(),
        "{plan:#?}"
    );
}

#[test]
fn a_leaving_route_waits_for_the_edge_repoints_a_publish_could_overwrite() {
    let plan = world().site_active("redmond", false).plan();
    let repoint = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::RepointEdge { .. }))
        .expect("edge1 leaves pool1");
    assert!(
        waits_for(&plan, step(&plan, &sip(Some(E1), E2)), repoint),
        "{plan:#?}"
    );
}

#[test]
fn an_owed_xmpp_publish_is_planned_even_while_the_sites_disagree_and_without_a_cms() {
    // Set-CsSite ran; the route is not reported (say the sites name different pools) and the
    // CMS has lost its master: the DNS records and services need neither.
    let mut w = world()
        .edge_health(E1, Health::Down)
        .route(RouteKind::Sip, Some(E2))
        .cms_master(None)
        .cms_database(P1);
    w.observed
        .federation_routes
        .retain(|r| r.kind == RouteKind::Sip);
    w.ledger.xmpp_route_unpublished = Some(E2.into());
    let plan = w.plan();
    let actions: Vec<Action> = plan.steps.iter().map(|s| s.action.clone()).collect();
    assert_eq!(
        actions,
        vec![Action::PublishXmppFederationRoute { edge: E2.into() }],
        "{plan:#?}"
    );
}
