//! The simulator's federation routes: what `Set-CsSite -XmppFederationRoute` refuses and
//! changes, a person's steps refused as commands, and the SIP route moved by hand.

mod common;

use common::simulated::{refusal, simulated};
use common::{World, P1, P2};
use sfb_dr::model::{Action, RouteKind};
use sfb_dr::simulator::{Deployment, Fault};

const E1: &str = "edge1.contoso.com";
const E2: &str = "edge2.contoso.com";

fn world() -> World {
    World::two_pairs()
        .cms_database(P1)
        .edge(E1, "redmond", P1)
        .edge(E2, "dublin", P2)
        .route(RouteKind::Sip, Some(E1))
        .route(RouteKind::Xmpp, Some(E1))
}

fn route(d: &Deployment, kind: RouteKind) -> Option<String> {
    d.observe()
        .federation_routes
        .into_iter()
        .find(|r| r.kind == kind)
        .and_then(|r| r.edge)
}

fn xmpp(site: &str, edge: &str) -> Action {
    Action::SetXmppFederationRoute {
        site: site.into(),
        edge: edge.into(),
    }
}

#[test]
fn set_cssite_moves_the_xmpp_route_and_leaves_sip_alone() {
    let mut d = simulated(&world());
    d.run(&xmpp("dublin", E2)).expect("allowed");
    assert_eq!(route(&d, RouteKind::Xmpp).as_deref(), Some(E2));
    assert_eq!(route(&d, RouteKind::Sip).as_deref(), Some(E1));
}

#[test]
fn the_xmpp_route_is_named_on_the_site_that_holds_its_edge_pool() {
    let mut d = simulated(&world());
    let m = refusal(&mut d, &xmpp("redmond", E2));
    assert!(m.contains("is in site \"dublin\""), "{m}");
    let m = refusal(&mut d, &xmpp("dublin", "edge9.contoso.com"));
    assert!(m.contains("Cannot find service"), "{m}");
    let m = refusal(&mut d, &xmpp("tokyo", E2));
    assert!(m.contains("Cannot find site"), "{m}");
    assert_eq!(route(&d, RouteKind::Xmpp).as_deref(), Some(E1));
}

#[test]
fn set_cssite_is_refused_while_the_cms_has_no_master() {
    let mut d = simulated(&world());
    d.inject(&Fault::CmsMasterLost).unwrap();
    let m = refusal(&mut d, &xmpp("dublin", E2));
    assert!(m.contains("Central Management Store is unavailable"), "{m}");
}

#[test]
fn a_persons_step_is_refused_as_a_command() {
    let mut d = simulated(&world());
    for action in [
        Action::MoveSipFederationRoute {
            from: Some(E1.into()),
            to: E2.into(),
        },
        Action::StopEdgeServices { edge: E2.into() },
        Action::PublishXmppFederationRoute { edge: E2.into() },
    ] {
        let m = refusal(&mut d, &action);
        assert!(m.contains("a person's step"), "{m}");
    }
    assert_eq!(route(&d, RouteKind::Sip).as_deref(), Some(E1));
}

#[test]
fn the_sip_route_moves_only_by_hand_and_only_with_a_cms_master() {
    let mut d = simulated(&world());
    d.inject(&Fault::SipRouteMovedByHand { edge: E2.into() })
        .expect("Topology Builder publishes");
    assert_eq!(route(&d, RouteKind::Sip).as_deref(), Some(E2));
    d.inject(&Fault::CmsMasterLost).unwrap();
    let e = d
        .inject(&Fault::SipRouteMovedByHand { edge: E1.into() })
        .unwrap_err();
    assert!(e.to_string().contains("no active master"), "{e}");
    assert_eq!(route(&d, RouteKind::Sip).as_deref(), Some(E2));
}

#[test]
fn a_route_the_start_file_does_not_report_stays_unreported_until_set() {
    let mut w = world();
    w.observed.federation_routes.clear();
    let mut d = simulated(&w);
    assert!(d.observe().federation_routes.is_empty());
    d.run(&xmpp("dublin", E2)).expect("allowed");
    assert_eq!(route(&d, RouteKind::Xmpp).as_deref(), Some(E2));
    assert!(route(&d, RouteKind::Sip).is_none());
}
