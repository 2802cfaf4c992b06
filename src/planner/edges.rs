//! Edge pool next hops around pool moves.
//!
//! `Invoke-CsPoolFailOver` refuses while the topology names the pool as an Edge pool's next hop,
//! and the refusal is about the topology: a dead Edge pool counts too, and `Set-CsEdgeServer`
//! changes the topology in the CMS without needing the Edge up. So every Edge pool whose next hop
//! fails over is repointed first. Microsoft's failback asks for no further step, so an Edge pool
//! is pointed back only where its `Site.spec.edgePools` declares the next hop, once that pool
//! serves its own users; an undeclared Edge pool is never moved except off a pool failing over,
//! and a deployment at rest is never touched. Off a pool failing over, an undeclared Edge pool
//! goes to a pool of its own site that will serve its own users, if there is one, else to the
//! failing pool's partner.

use crate::model::{Desired, Health, ObservedIndex};

use super::pool_pair::{serving_health, PairDecision, PairView};

/// A repoint of one Edge pool to the pool `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct EdgeMove {
    pub edge: String,
    pub to: String,
    /// The pair (index in the planner's pairs) whose failback brings `to`'s users home: the
    /// repoint waits for it.
    pub after_failback: Option<usize>,
    /// The pair whose failover moves users off the Edge's current next hop: it waits for this.
    pub before_failover: Option<usize>,
}

/// Every Edge repoint the pairs' moves and the declared next hops call for.
pub(super) fn moves(
    pairs: &[(Option<PairView<'_>>, PairDecision)],
    desired: &Desired,
    observed: &ObservedIndex,
) -> Vec<EdgeMove> {
    if observed.topology.edges.is_empty() {
        return Vec::new();
    }
    // Observed pool index -> (pair, position in the pair).
    let mut by_pool = vec![None; observed.topology.pools.len()];
    for (k, (view, _)) in pairs.iter().enumerate() {
        if let Some(view) = view {
            for (i, &p) in view.index.iter().enumerate() {
                by_pool[p] = Some((k, i));
            }
        }
    }
    let place = |fqdn: &str| {
        observed
            .pool_index(fqdn)
            .and_then(|p| by_pool.get(p).copied().flatten())
    };
    // Where a pool's users end up: `Some(failback)` when `pool` serves its own users after the
    // plan and can take an Edge's traffic, with the pair whose failback brings them home, if any.
    let serves_itself = |pool: &str| -> Option<Option<usize>> {
        if observed
            .pool(pool)
            .is_none_or(|p| serving_health(p) != Health::Up)
        {
            return None;
        }
        match place(pool) {
            Some((k, i)) => {
                let moves = pairs[k].1.as_ref().ok()?;
                (moves.final_serving[i] == i)
                    .then_some(moves.failback.filter(|m| m.pool == i).map(|_| k))
            }
            None => {
                let served = observed.pool(pool)?.served_by.as_deref();
                served.is_none_or(|s| s == pool).then_some(None)
            }
        }
    };
    let mut out = Vec::new();
    for edge in &observed.topology.edges {
        let hop = edge.next_hop.as_str();
        let failing_over = place(hop).filter(|&(k, i)| {
            pairs[k]
                .1
                .as_ref()
                .is_ok_and(|m| m.failover.is_some_and(|f| f.pool == i))
        });
        let declared = desired
            .edge_next_hops
            .get(&edge.fqdn)
            .filter(|d| d.as_str() != hop)
            .and_then(|d| serves_itself(d).map(|after| (d.clone(), after)));
        let (to, after_failback, before_failover) = match (failing_over, declared) {
            (Some((k, _)), Some((to, after))) => (to, after, Some(k)),
            (Some((k, i)), None) => {
                let Some(view) = &pairs[k].0 else { continue };
                let partner = view.fqdn(1 - i);
                let in_edge_site = |pool: &str| {
                    observed
                        .pool(pool)
                        .is_some_and(|p| p.site.eq_ignore_ascii_case(&edge.site))
                };
                // An Edge forwards best to a pool of its own site: when the partner is in
                // another site and a pool of the Edge's site serves its own users after the
                // plan, the Edge goes there (the first such pool, in the topology's order).
                let local = (!in_edge_site(partner))
                    .then(|| {
                        observed.topology.pools.iter().find_map(|p| {
                            (p.fqdn != hop && in_edge_site(&p.fqdn))
                                .then(|| {
                                    serves_itself(&p.fqdn).map(|after| (p.fqdn.clone(), after))
                                })
                                .flatten()
                        })
                    })
                    .flatten();
                match local {
                    Some((to, after)) => (to, after, Some(k)),
                    None => {
                        let after = pairs[k]
                            .1
                            .as_ref()
                            .ok()
                            .and_then(|m| m.failback)
                            .filter(|m| m.pool == 1 - i)
                            .map(|_| k);
                        (partner.to_owned(), after, Some(k))
                    }
                }
            }
            (None, Some((to, after))) => (to, after, None),
            (None, None) => continue,
        };
        out.push(EdgeMove {
            edge: edge.fqdn.clone(),
            to,
            after_failback,
            before_failover,
        });
    }
    out
}
