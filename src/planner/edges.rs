//! Edge pool next hops around pool moves (DESIGN rule 3; SFB-DR-FACTS "Edge next hop first").
//!
//! An Edge's next hop follows the users: a live Edge pointing at a pool whose users end up on the
//! partner is repointed to the partner (before that pool's failover, which SfB refuses otherwise);
//! an Edge left pointing across sites at the partner of a pool of its own site is pointed home
//! again once that pool serves its own users.

use crate::model::{Health, ObservedIndex};

use super::pool_pair::{PairMoves, PairView};

/// A repoint of one Edge pool to pool `to` (index in the pair).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct EdgeMove {
    pub edge: String,
    pub to: usize,
    /// When the pair's failback moves users onto `to`, the repoint waits for it.
    pub after_failback: bool,
    /// When the pair's failover moves users off the Edge's current next hop, it waits for this.
    pub before_failover: bool,
}

/// Every Edge repoint the pair's moves call for.
pub(super) fn moves(
    pair: &PairView<'_>,
    moves: &PairMoves,
    observed: &ObservedIndex,
) -> Vec<EdgeMove> {
    let mut out = Vec::new();
    for i in 0..2 {
        let partner = 1 - i;
        for edge in observed.edges_to_index(pair.index[i]) {
            // A dead Edge routes nothing; only live Edges block a failover (guard 4).
            if edge.health == Health::Down || pair.pools[partner].health != Health::Up {
                continue;
            }
            let users_leave = moves.final_serving[i] == partner;
            let displaced = moves.final_serving[i] == i
                && moves.final_serving[partner] == partner
                && pair.pools[i].site != edge.site
                && pair.pools[partner].site == edge.site;
            if users_leave || displaced {
                out.push(EdgeMove {
                    edge: edge.fqdn.clone(),
                    to: partner,
                    after_failback: moves.failback.is_some_and(|m| m.pool == partner),
                    before_failover: moves.failover.is_some_and(|m| m.pool == i),
                });
            }
        }
    }
    out
}
