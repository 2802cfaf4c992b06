//! The organization's federation routes (planning rule 11, Microsoft's "Failing over and failing
//! back a pool": the Edge pool used for SIP federation and the one used for XMPP federation).
//!
//! A declared route belongs on the first of its declared Edge pools that is up in an active site.
//! It moves when the Edge pool carrying it is lost (down, or its site out of service) or when an
//! Edge pool declared before it is usable again (the failback); a route on a usable Edge pool
//! nobody declared is the administrators' choice and stays. SIP federation moves only in
//! Topology Builder, so its move is one step a person confirms; XMPP federation moves with
//! `Set-CsSite -XmppFederationRoute`, between the Edge services stopped on the new pool and the
//! DNS records and services that follow, both a person's steps.

use crate::model::{
    route_subject, Action, BlockReason, Blocked, Desired, Health, Ledger, ObservedIndex, RouteKind,
};

/// One route to move, with the site of the Edge pool it moves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RouteMove {
    pub kind: RouteKind,
    pub from: Option<String>,
    pub to: String,
    pub to_site: String,
    /// Only the last step is owed: the route already moved (`Set-CsSite`), and a person has yet
    /// to confirm its DNS records and services.
    pub publish_only: bool,
}

/// Every route to move, and every declared route that cannot be put where it belongs.
pub(super) fn moves(
    desired: &Desired,
    observed: &ObservedIndex,
    ledger: &Ledger,
) -> (Vec<RouteMove>, Vec<Blocked>) {
    let mut moves = Vec::new();
    let mut blocked = Vec::new();
    let usable = |fqdn: &str| {
        observed
            .edge(fqdn)
            .is_some_and(|e| e.health == Health::Up && desired.site_active(&e.site))
    };
    for (kind, declared) in &desired.federation {
        let kind = *kind;
        let block = |reason, message| route_blocked(kind, reason, message);
        let current = observed.route(kind);
        // `Set-CsSite` ran and its DNS records and services are owed: that step comes first,
        // whether or not the sites now agree on the route, unless the route is seen elsewhere or
        // its Edge pool is lost again (then a new move makes it moot).
        let owed = (kind == RouteKind::Xmpp)
            .then_some(ledger.xmpp_route_unpublished.as_deref())
            .flatten()
            .and_then(|e| observed.edge(e))
            .filter(|e| usable(&e.fqdn))
            .filter(|e| current.is_none_or(|c| c == Some(e.fqdn.as_str())));
        if let Some(e) = owed {
            moves.push(RouteMove {
                kind,
                from: None,
                to: e.fqdn.clone(),
                to_site: e.site.clone(),
                publish_only: true,
            });
            continue;
        }
        let Some(current) = current else {
            blocked.push(block(
                BlockReason::RouteNotObserved,
                format!(
                    "the driver does not report the {} route, so it is left where it is",
                    kind.word()
                ),
            ));
            continue;
        };
        // A route that is not set stays so: turning federation on is the administrators' call.
        let Some(carrier) = current.and_then(|c| observed.edge(c)) else {
            continue;
        };
        let active = desired.site_active(&carrier.site);
        if carrier.health == Health::Unknown && active {
            blocked.push(block(
                BlockReason::HealthUnknown,
                format!(
                    "the {} route is on Edge pool {}, whose health is Unknown; it stays until the \
                     probe can tell",
                    kind.word(),
                    carrier.fqdn
                ),
            ));
            continue;
        }
        let target = declared.iter().find(|e| usable(e));
        if usable(&carrier.fqdn) {
            // A usable carrier gives way only to an Edge pool declared before it.
            let rank = declared.iter().position(|e| *e == carrier.fqdn);
            let first = target.and_then(|t| declared.iter().position(|e| e == t));
            if !matches!((rank, first), (Some(r), Some(f)) if f < r) {
                continue;
            }
        }
        match target {
            Some(to) => moves.push(RouteMove {
                kind,
                from: Some(carrier.fqdn.clone()),
                to: to.clone(),
                to_site: observed
                    .edge(to)
                    .map(|e| e.site.clone())
                    .unwrap_or_default(),
                publish_only: false,
            }),
            None => {
                let why = if !active {
                    format!("whose site {} is out of service", carrier.site)
                } else if carrier.health == Health::Down {
                    "which is down".to_owned()
                } else {
                    "which cannot take it".to_owned()
                };
                blocked.push(block(
                    BlockReason::NoFederationEdge,
                    format!(
                        "the {} route is on Edge pool {}, {why}, and none of its declared Edge \
                         pools ({}) is up in an active site",
                        kind.word(),
                        carrier.fqdn,
                        declared.join(", ")
                    ),
                ));
            }
        }
    }
    (moves, blocked)
}

fn route_blocked(kind: RouteKind, reason: BlockReason, message: String) -> Blocked {
    Blocked {
        pair: route_subject(kind),
        reason,
        message,
    }
}

/// With a lost master that cannot be recovered, keeps only the moves that need no CMS (the DNS
/// records and Edge services of a route already moved) and reports the others: like an Edge
/// repoint, a route move alone never justifies forcing a lost master over.
pub(super) fn hold_without_cms(
    routes: Vec<RouteMove>,
    blocked: &mut Vec<Blocked>,
) -> Vec<RouteMove> {
    let (owed, held): (Vec<_>, Vec<_>) = routes.into_iter().partition(|r| r.publish_only);
    blocked.extend(held.iter().map(|r| {
        route_blocked(
            r.kind,
            BlockReason::CmsUnavailable,
            format!(
                "the {} route should move to Edge pool {}, which needs a working CMS, and the \
                 CMS has no active master",
                r.kind.word(),
                r.to
            ),
        )
    }));
    owed
}

/// Emits `moves` in Microsoft's order, each first step waiting for `deps`, and returns each
/// move's last step with the site it moves to. Per Edge pool the routes move to: on a return
/// (failback) its Edge services are started first; the SIP route moves before the XMPP route (a
/// Topology Builder publish must not overwrite the `Set-CsSite` that follows it); the XMPP route
/// leaving a lost pool stops the new pool's Edge services first, and its DNS records and
/// services follow `Set-CsSite`.
pub(super) fn emit(
    out: &mut super::Emitter<'_>,
    moves: &[&RouteMove],
    deps: &[usize],
    returning: bool,
) -> Vec<(String, usize)> {
    let mut last = Vec::new();
    for m in moves.iter().filter(|m| m.publish_only) {
        let step = out.push(
            Action::PublishXmppFederationRoute { edge: m.to.clone() },
            deps.to_vec(),
        );
        last.push((m.to_site.clone(), step));
    }
    let mut targets: Vec<&RouteMove> = moves.iter().copied().filter(|m| !m.publish_only).collect();
    targets.dedup_by(|a, b| a.to == b.to);
    for target in targets {
        let of = |kind| {
            moves
                .iter()
                .find(|m| !m.publish_only && m.to == target.to && m.kind == kind)
        };
        let mut after = deps.to_vec();
        let mut then = |out: &mut super::Emitter<'_>, action| {
            let step = out.push(action, std::mem::take(&mut after));
            after = vec![step];
            step
        };
        let edge = target.to.clone();
        let mut end = None;
        if returning {
            end = Some(then(out, Action::StartEdgeServices { edge: edge.clone() }));
        }
        if let Some(sip) = of(RouteKind::Sip) {
            end = Some(then(
                out,
                Action::MoveSipFederationRoute {
                    from: sip.from.clone(),
                    to: edge.clone(),
                },
            ));
        }
        if let Some(xmpp) = of(RouteKind::Xmpp) {
            if !returning {
                then(out, Action::StopEdgeServices { edge: edge.clone() });
            }
            then(
                out,
                Action::SetXmppFederationRoute {
                    site: xmpp.to_site.clone(),
                    edge: edge.clone(),
                },
            );
            end = Some(then(out, Action::PublishXmppFederationRoute { edge }));
        }
        if let Some(end) = end {
            last.push((target.to_site.clone(), end));
        }
    }
    last
}
