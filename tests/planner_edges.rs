//! Edge pool next hops around pool moves, one named test each: every Edge pool off a pool that
//! fails over (live or dead), pointed back only where its Site declares the next hop, and never
//! touched on a deployment at rest.

mod common;

use common::{
    actions, failback, failover, repoint, step, sync_conference_content, waits_for, World, P1, P2,
    P3, P4,
};
use sfb_dr::model::{Health, Mode};

const EDGE1: &str = "edge1.contoso.com";
const EDGE2: &str = "edge2.contoso.com";

#[test]
fn live_edges_are_repointed_before_their_pool_fails_over() {
    let plan = World::two_pairs()
        .edge(EDGE1, "redmond", P3)
        .edge(EDGE2, "dublin", P3)
        .active_sites(P3, &["dublin"])
        .plan();
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    // edge1 (redmond) goes to pool1, the live pool of its own site; edge2 (dublin) to the
    // partner pool4, in its site.
    for (edge, to) in [(EDGE1, P1), (EDGE2, P4)] {
        let r = step(&plan, &repoint(edge, to));
        assert!(waits_for(&plan, fo, r), "{edge}");
    }
}

#[test]
fn an_edge_goes_to_a_pool_of_its_own_site_only_while_one_serves_there() {
    // The whole of redmond out of service: no pool of edge1's site serves, so the partner.
    let plan = World::two_pairs()
        .edge(EDGE1, "redmond", P3)
        .active_sites(P1, &["dublin"])
        .active_sites(P3, &["dublin"])
        .plan();
    step(&plan, &repoint(EDGE1, P4));
    assert!(
        !actions(&plan).contains(&repoint(EDGE1, P1)),
        "never to a pool failing over too: {plan:#?}"
    );
}

#[test]
fn dead_edges_are_repointed_before_their_pool_fails_over() {
    // Invoke-CsPoolFailOver refuses on the topology, which still names the pool as the dead Edge
    // pool's next hop; Set-CsEdgeServer needs only the CMS, not the Edge.
    let plan = World::two_pairs()
        .edge(EDGE1, "redmond", P3)
        .edge_health(EDGE1, Health::Down)
        .active_sites(P3, &["dublin"])
        .plan();
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    // To pool1, the pool of the Edge's site that goes on serving.
    let r = step(&plan, &repoint(EDGE1, P1));
    assert!(waits_for(&plan, fo, r), "{plan:#?}");
}

#[test]
fn an_undeclared_edge_is_not_pointed_back_after_failback() {
    // Microsoft's failback asks for no further step.
    let plan = World::two_pairs()
        .served_by(P3, P4)
        .edge(EDGE1, "redmond", P4)
        .plan();
    assert_eq!(
        actions(&plan),
        vec![failback(P3, Mode::Graceful), sync_conference_content(P4)]
    );
}

#[test]
fn a_declared_edge_is_pointed_back_once_its_next_hop_serves_its_own_users() {
    let w = World::two_pairs()
        .served_by(P3, P4)
        .edge(EDGE1, "redmond", P4)
        .declare_edge(EDGE1, P3);
    let plan = w.plan();
    let fb = step(&plan, &failback(P3, Mode::Graceful));
    let r = step(&plan, &repoint(EDGE1, P3));
    assert!(waits_for(&plan, r, fb), "{plan:#?}");
}

#[test]
fn an_edge_on_a_deployment_at_rest_is_never_touched() {
    // A deliberate cross-site next hop: edge1 in redmond forwards to pool4 in dublin.
    let w = World::two_pairs().edge(EDGE1, "redmond", P4);
    assert!(w.plan().steps.is_empty(), "{:#?}", w.plan());
    // Declared so, it stays so.
    assert!(w.declare_edge(EDGE1, P4).plan().steps.is_empty());
}

#[test]
fn edges_stay_with_the_partner_while_their_pool_is_failed_over() {
    let w = World::two_pairs()
        .served_by(P3, P4)
        .site_active("redmond", false)
        .served_by(P1, P2)
        .cms(P1, Some(P2))
        .edge(EDGE1, "redmond", P4)
        .declare_edge(EDGE1, P3);
    assert!(w.plan().steps.is_empty(), "{:#?}", w.plan());
}

#[test]
fn an_edge_leaving_a_failing_pool_goes_to_its_declared_next_hop_when_that_serves() {
    // edge2 (dublin) forwards to pool3 in redmond, which fails over; its site declares pool2,
    // which serves its own users: one repoint, straight there, before the failover.
    let plan = World::two_pairs()
        .edge(EDGE2, "dublin", P3)
        .declare_edge(EDGE2, P2)
        .active_sites(P3, &["dublin"])
        .plan();
    let fo = step(&plan, &failover(P3, Mode::Graceful));
    let r = step(&plan, &repoint(EDGE2, P2));
    assert!(waits_for(&plan, fo, r), "{plan:#?}");
    assert_eq!(plan.steps.len(), 2, "{plan:#?}");
}

#[test]
fn a_declared_next_hop_that_is_down_is_not_restored() {
    let w = World::two_pairs()
        .edge(EDGE1, "redmond", P4)
        .declare_edge(EDGE1, P3)
        .health(P3, Health::Down);
    assert!(w.plan().steps.is_empty(), "{:#?}", w.plan());
}

#[test]
fn an_edge_follows_pool2_when_pool1_fails_over_with_the_cms() {
    let plan = World::two_pairs()
        .edge(EDGE1, "redmond", P1)
        .site_active("redmond", false)
        .plan();
    let fo = step(&plan, &failover(P1, Mode::Graceful));
    let r = step(&plan, &repoint(EDGE1, P2));
    assert!(waits_for(&plan, fo, r));
}
