//! Random SfB deployments for the property tests: up to 20 pairs across three sites, any health
//! of Front Ends and Back Ends, pairs failed over either way, unsupported pairings, Backup
//! Service errors, a CMS declared or not whose master may be up, blank or on a pool that is down
//! (and whose database location the observation may or may not name), mirrored Back Ends whose
//! principal or other SQL Server may be down, Edge pools live or dead
//! with or without a declared next hop, and conference content the ledger owes.

use proptest::prelude::*;
use sfb_dr::model::{CmsFailback, Edition, Health, MirrorRole, ObservedTopology};

use super::World;

pub const SITES: [&str; 3] = ["redmond", "dublin", "paris"];

#[derive(Clone, Debug)]
struct PairGen {
    sites: (usize, usize),
    health: (Health, Health),
    back_end: (Option<Health>, Option<Health>),
    /// The health of a mirrored Back End's other SQL Server (the primary is the principal, with
    /// `back_end`'s health); None for a Back End that is not mirrored.
    mirror: (Option<Health>, Option<Health>),
    /// 0: both home, 1: pool A failed over, 2: pool B failed over.
    serving: u8,
    active_sites: Option<u8>,
    backup_error: (bool, bool),
    /// The driver cannot tell who serves this pair's users; the ledger records it instead.
    unobserved: bool,
    /// Pool B is a Standard Edition pool: a pairing Microsoft does not support.
    mixed_editions: bool,
    /// The ledger owes pool A (0) or pool B (1) its conference content from the other.
    owed: Option<usize>,
}

#[derive(Clone, Debug)]
struct CmsGen {
    pair: usize,
    preferred: usize,
    /// Where the CMS database really is: pool 0 or 1 of the pair.
    location: usize,
    /// Whether the observation reports the master (on `location`); blank otherwise.
    master_reported: bool,
    /// Whether the observation names the pool holding the database (`cms.pool`).
    location_known: bool,
    declared: bool,
    automatic: bool,
    replicas_up_to_date: bool,
    backup_sql: (bool, bool),
}

#[derive(Clone, Debug)]
struct EdgeGen {
    site: usize,
    next_hop: usize,
    health: Health,
    /// The declared next hop (`Site.spec.edgePools`), as an index into the declared pools.
    declared: Option<usize>,
}

fn health() -> impl Strategy<Value = Health> {
    prop_oneof![6 => Just(Health::Up), 3 => Just(Health::Down), 1 => Just(Health::Unknown)]
}

fn back_end() -> impl Strategy<Value = Option<Health>> {
    prop_oneof![
        12 => Just(None),
        4 => Just(Some(Health::Up)),
        2 => Just(Some(Health::Down)),
        1 => Just(Some(Health::Unknown)),
    ]
}

fn mirror() -> impl Strategy<Value = Option<Health>> {
    prop_oneof![
        4 => Just(None),
        3 => Just(Some(Health::Up)),
        1 => Just(Some(Health::Down)),
        1 => Just(Some(Health::Unknown)),
    ]
}

fn pair_gen() -> impl Strategy<Value = PairGen> {
    (
        (
            (0usize..3, 1usize..3),
            (health(), health()),
            (back_end(), back_end()),
            (mirror(), mirror()),
        ),
        prop_oneof![6 => Just(0u8), 2 => Just(1u8), 2 => Just(2u8)],
        prop_oneof![4 => Just(None), 1 => (1u8..4).prop_map(Some)],
        (prop::bool::weighted(0.1), prop::bool::weighted(0.1)),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.05),
        prop_oneof![8 => Just(None), 1 => (0usize..2).prop_map(Some)],
    )
        .prop_map(
            |(
                ((a, d), health, back_end, mirror),
                serving,
                active_sites,
                backup_error,
                unobserved,
                mixed_editions,
                owed,
            )| PairGen {
                sites: (a, (a + d) % 3),
                health,
                back_end,
                mirror,
                serving,
                active_sites,
                backup_error,
                unobserved,
                mixed_editions,
                owed,
            },
        )
}

fn cms_gen() -> impl Strategy<Value = (prop::sample::Index, CmsGen)> {
    (
        any::<prop::sample::Index>(),
        (0usize..2, 0usize..2),
        (prop::bool::weighted(0.75), prop::bool::weighted(0.7)),
        prop::bool::weighted(0.85),
        any::<bool>(),
        prop::bool::weighted(0.85),
        (prop::bool::weighted(0.8), prop::bool::weighted(0.8)),
    )
        .prop_map(
            |(
                pair,
                (preferred, location),
                (reported, known),
                declared,
                automatic,
                replicas,
                sql,
            )| {
                let cms = CmsGen {
                    pair: 0,
                    preferred,
                    location,
                    master_reported: reported,
                    location_known: known,
                    declared,
                    automatic,
                    replicas_up_to_date: replicas,
                    backup_sql: sql,
                };
                (pair, cms)
            },
        )
}

/// A random deployment and desired state.
pub fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(pair_gen(), 1..=20),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        any::<bool>(),
        cms_gen(),
        prop::collection::vec(
            (
                0usize..3,
                any::<prop::sample::Index>(),
                health(),
                prop_oneof![2 => Just(None), 1 => any::<prop::sample::Index>().prop_map(Some)],
            ),
            0..=4,
        ),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(pairs, active, allow_loss, (cms_pair, mut cms), edges, odd)| {
                cms.pair = cms_pair.index(pairs.len());
                let edges: Vec<EdgeGen> = edges
                    .into_iter()
                    .map(|(site, hop, health, declared)| EdgeGen {
                        site,
                        next_hop: hop.index(pairs.len() * 2),
                        health,
                        declared: declared.map(|d| d.index(pairs.len() * 2)),
                    })
                    .collect();
                build(
                    &pairs,
                    [active.0, active.1, active.2],
                    allow_loss,
                    &cms,
                    &edges,
                    odd,
                )
            },
        )
}

/// The FQDN of pool `j` (0 or 1) of pair `i`.
pub fn pool(i: usize, j: usize) -> String {
    format!("p{i}{}.contoso.com", ["a", "b"][j])
}

fn build(
    pairs: &[PairGen],
    active: [bool; 3],
    allow_loss: bool,
    cms: &CmsGen,
    edges: &[EdgeGen],
    undeclared_same_site_pair: bool,
) -> World {
    let mut w = World::new();
    w.observed.sites = SITES.iter().map(|s| s.to_string()).collect();
    for (i, p) in pairs.iter().enumerate() {
        let (a, b) = (pool(i, 0), pool(i, 1));
        w = w
            .pair(&a, SITES[p.sites.0], &b, SITES[p.sites.1])
            .health(&a, p.health.0)
            .health(&b, p.health.1);
        for (fqdn, be, mirror) in [
            (&a, p.back_end.0, p.mirror.0),
            (&b, p.back_end.1, p.mirror.1),
        ] {
            // The principal is the primary or, after an earlier failover, the mirror.
            let principal = if i % 3 == 2 {
                MirrorRole::Mirror
            } else {
                MirrorRole::Primary
            };
            match (be, mirror) {
                (Some(h), Some(m)) => {
                    let (primary, mirror) = match principal {
                        MirrorRole::Primary => (h, m),
                        MirrorRole::Mirror => (m, h),
                    };
                    w = w.mirror(fqdn, principal, primary, mirror)
                }
                (Some(h), None) => w = w.back_end(fqdn, h),
                (None, _) => {}
            }
        }
        if p.mixed_editions {
            w = w.edition(&b, Edition::Standard);
        }
        match p.serving {
            1 => w = w.served_by(&a, &b),
            2 => w = w.served_by(&b, &a),
            _ => {}
        }
        if let Some(mask) = p.active_sites {
            let mut sites = vec![];
            if mask & 1 != 0 {
                sites.push(SITES[p.sites.0]);
            }
            if mask & 2 != 0 {
                sites.push(SITES[p.sites.1]);
            }
            w = w.active_sites(&a, &sites);
        }
        if p.unobserved {
            for (home, partner) in [(&a, &b), (&b, &a)] {
                let failed_over = (p.serving == 1 && home == &a) || (p.serving == 2 && home == &b);
                w = w
                    .ledger(home, if failed_over { partner } else { home })
                    .serving_unobserved(home);
            }
        }
        if p.backup_error.0 {
            w = w.backup_error(&a);
        }
        if p.backup_error.1 {
            w = w.backup_error(&b);
        }
        if let Some(home) = p.owed {
            let fqdns = [&a, &b];
            w = w.owed_conference_content(fqdns[home], fqdns[1 - home]);
        }
    }
    if undeclared_same_site_pair {
        // Two pools Topology Builder paired within one site: observed, never declared.
        let (x, y) = ("odd1.contoso.com", "odd2.contoso.com");
        w = w.pair(x, "paris", y, "dublin");
        for p in w.observed.pools.iter_mut().filter(|p| p.fqdn == y) {
            p.site = "paris".into();
        }
        w.desired.pairs.retain(|p| p.pools[0].fqdn != x);
    }
    for (s, a) in SITES.iter().zip(active) {
        w = w.site_active(s, a);
    }
    if allow_loss {
        w = w.allow_data_loss();
    }
    let location = pool(cms.pair, cms.location);
    let master = cms.master_reported.then_some(location.as_str());
    if cms.declared {
        w = w
            .cms(&pool(cms.pair, cms.preferred), master)
            .cms_failback(if cms.automatic {
                CmsFailback::Automatic
            } else {
                CmsFailback::Manual
            });
        for (j, keep) in [cms.backup_sql.0, cms.backup_sql.1].into_iter().enumerate() {
            if !keep {
                w = w.no_backup_sql_for(&pool(cms.pair, j));
            }
        }
    } else {
        w = w.cms_master(master);
    }
    if cms.location_known {
        w = w.cms_database(&location);
    }
    w.truth_cms_database = Some(location);
    w = w.replicas_up_to_date(cms.replicas_up_to_date);
    for (k, e) in edges.iter().enumerate() {
        let name = format!("edge{k}.contoso.com");
        w = w
            .edge(&name, SITES[e.site], &pool(e.next_hop / 2, e.next_hop % 2))
            .edge_health(&name, e.health);
        if let Some(d) = e.declared {
            w = w.declare_edge(&name, &pool(d / 2, d % 2));
        }
    }
    w
}

/// Who really serves `home`'s users: the observation, else the ledger, else home.
pub fn serving(w: &World, home: &str) -> String {
    let observed = w
        .observed
        .pools
        .iter()
        .find(|p| p.fqdn == home)
        .and_then(|p| p.served_by.clone());
    observed
        .or_else(|| w.ledger.served_by.get(home).cloned())
        .unwrap_or_else(|| home.to_owned())
}

/// The deployment as it really is, including what the driver could not observe: who serves each
/// pool, and where the CMS database is.
pub fn truth(w: &World) -> ObservedTopology {
    let mut t = w.observed.clone();
    for p in &mut t.pools {
        p.served_by = Some(serving(w, &p.fqdn));
    }
    t.cms.pool = w.truth_cms_database.clone().or(t.cms.pool);
    t
}
