//! From the resources of one namespace to the desired state, judging what needs several objects:
//! one Topology, at most one CMS, a pool in one pair only, a CMS that names a declared pair and
//! its pools, an Edge pool declared by one Site only, and, when there is an observation, pools
//! and Edge pools that exist there in the declared site, paired as declared (Microsoft supports
//! only 1:1, mutual pairings; see ARCHITECTURE.md, "Where each SfB rule lives").

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use kube::ResourceExt;

use crate::api::{CentralManagementStore, PoolPair, Site, Topology};
use crate::model::printable::printable;
use crate::model::{
    fqdn_key, site_key, BackupSql, ChatSide, ChatSpec, CmsSpec, Desired, ObservedIndex, PairSpec,
    PoolRef, RouteKind,
};

/// A spec that is wrong across objects: which object, which field, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub kind: &'static str,
    pub name: String,
    pub field: String,
    pub message: String,
}

/// One line: names and values from the manifests show their control characters escaped.
impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}: {}",
            self.kind,
            printable(&self.name),
            printable(&self.field),
            printable(&self.message)
        )
    }
}

/// The objects of one deployment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Declared<'a> {
    pub topologies: &'a [&'a Topology],
    pub sites: &'a [&'a Site],
    pub pairs: &'a [&'a PoolPair],
    pub cms: &'a [&'a CentralManagementStore],
}

/// Builds the desired state, or every cross-object error found.
pub fn desired_state(
    d: Declared<'_>,
    observed: Option<&ObservedIndex>,
) -> Result<Desired, Vec<SpecError>> {
    let mut errors = Vec::new();
    if d.topologies.len() > 1 {
        for t in d.topologies {
            errors.push(SpecError {
                kind: "Topology",
                name: t.name_any(),
                field: "metadata.name".into(),
                message: format!(
                    "a namespace holds one Topology; found {} ({})",
                    d.topologies.len(),
                    names(d.topologies)
                ),
            });
        }
    }
    if d.cms.len() > 1 {
        for c in d.cms {
            errors.push(SpecError {
                kind: "CentralManagementStore",
                name: c.name_any(),
                field: "metadata.name".into(),
                message: format!(
                    "a deployment has one CentralManagementStore; found {} ({})",
                    d.cms.len(),
                    names(d.cms)
                ),
            });
        }
    }

    let mut pairs: Vec<PairSpec> = Vec::with_capacity(d.pairs.len());
    let mut owner: HashMap<String, String> = HashMap::new();
    for pp in d.pairs {
        let name = pp.name_any();
        let pools: Vec<PoolRef> = pp
            .spec
            .pools
            .iter()
            .map(|p| PoolRef {
                fqdn: fqdn_key(&p.fqdn),
                site: site_key(&p.site),
            })
            .collect();
        let Ok(pools) = <[PoolRef; 2]>::try_from(pools) else {
            errors.push(pair_error(
                &name,
                "spec.pools",
                "a PoolPair has exactly two pools".into(),
            ));
            continue;
        };
        let mut ok = true;
        for (i, p) in pools.iter().enumerate() {
            if let Some(other) = owner.insert(p.fqdn.clone(), name.clone()) {
                errors.push(pair_error(
                    &name,
                    &format!("spec.pools[{i}].fqdn"),
                    format!("pool {} is already in PoolPair {other}; a pool is paired with one pool only", p.fqdn),
                ));
                ok = false;
            }
        }
        if pools[0].site == pools[1].site {
            errors.push(pair_error(
                &name,
                "spec.pools[1].site",
                format!(
                    "both pools are in site {}; a pair spans two sites",
                    pools[0].site
                ),
            ));
            ok = false;
        }
        if let Some(observed) = observed {
            ok &= check_against_observed(&name, &pools, observed, &mut errors);
        }
        if ok {
            pairs.push(PairSpec {
                name,
                pools,
                active_sites: pp
                    .spec
                    .active_sites
                    .as_ref()
                    .map(|s| s.iter().map(|s| site_key(s)).collect()),
            });
        }
    }
    pairs.sort_by(|a, b| a.name.cmp(&b.name));

    // A CMS whose pair is declared but invalid is not reported again: the pair's error says why.
    let cms = d.cms.first().and_then(|c| {
        let pair_declared = d.pairs.iter().any(|p| p.name_any() == c.spec.pair);
        let pair_valid = pairs.iter().any(|p| p.name == c.spec.pair);
        if pair_declared && !pair_valid {
            return None;
        }
        cms_spec(c, &pairs, &mut errors)
    });
    let sites: BTreeMap<String, bool> = d
        .sites
        .iter()
        .map(|s| (site_key(&s.name_any()), s.spec.active))
        .collect();
    let edge_next_hops = edge_next_hops(d.sites, observed, &mut errors);
    let federation = d
        .topologies
        .first()
        .map(|t| federation_routes(t, observed, &mut errors))
        .unwrap_or_default();
    let persistent_chat = d
        .topologies
        .first()
        .map(|t| persistent_chat(t, observed, &mut errors))
        .unwrap_or_default();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Desired {
        pairs,
        sites,
        cms,
        allow_data_loss: d.topologies.first().is_some_and(|t| t.spec.allow_data_loss),
        edge_next_hops,
        federation,
        persistent_chat,
    })
}

/// The declared Persistent Chat pools. With an observation, each is a Persistent Chat pool of
/// the deployment, its sites are the deployment's, its servers are the pool's, and where the
/// driver knows a server's site or a database's, it is the one declared.
fn persistent_chat(
    topology: &Topology,
    observed: Option<&ObservedIndex>,
    errors: &mut Vec<SpecError>,
) -> Vec<ChatSpec> {
    let mut out = Vec::new();
    for (i, declared) in topology.spec.persistent_chat.iter().enumerate() {
        let mut error = |field: String, message: String| {
            errors.push(SpecError {
                kind: "Topology",
                name: topology.name_any(),
                field: format!("spec.persistentChat[{i}].{field}"),
                message,
            })
        };
        let side = |s: &crate::api::PersistentChatSite| ChatSide {
            site: site_key(&s.site),
            servers: s.servers.iter().map(|e| fqdn_key(e)).collect(),
        };
        let spec = ChatSpec {
            pool: fqdn_key(&declared.pool),
            primary: side(&declared.primary),
            backup: side(&declared.backup),
        };
        if let Some(observed) = observed {
            let Some(pool) = observed.chat_pool(&spec.pool) else {
                error(
                    "pool".to_owned(),
                    format!(
                        "Persistent Chat pool {} is not in the observed topology",
                        spec.pool
                    ),
                );
                continue;
            };
            for (name, side, known) in [
                ("primary", &spec.primary, &pool.primary_site),
                ("backup", &spec.backup, &pool.backup_site),
            ] {
                if !observed.topology.sites.contains(&side.site) {
                    error(
                        format!("{name}.site"),
                        format!("site {} is not in the observed topology", side.site),
                    );
                }
                if let Some(known) = known.as_ref().filter(|k| **k != side.site) {
                    error(
                        format!("{name}.site"),
                        format!(
                            "the driver reports the {name} database of {} in site {known}",
                            spec.pool
                        ),
                    );
                }
                for (j, server) in side.servers.iter().enumerate() {
                    match pool.server(server) {
                        None => error(
                            format!("{name}.servers[{j}]"),
                            format!(
                                "{server} is not a server of Persistent Chat pool {}",
                                spec.pool
                            ),
                        ),
                        Some(s) => {
                            if let Some(site) = s.site.as_ref().filter(|s| **s != side.site) {
                                error(
                                    format!("{name}.servers[{j}]"),
                                    format!("the driver reports {server} in site {site}"),
                                );
                            }
                        }
                    }
                }
            }
        }
        out.push(spec);
    }
    out
}

/// The declared federation routes: each an ordered list of Edge pools that, when there is an
/// observation, are Edge pools of the deployment.
fn federation_routes(
    topology: &Topology,
    observed: Option<&ObservedIndex>,
    errors: &mut Vec<SpecError>,
) -> Vec<(RouteKind, Vec<String>)> {
    let spec = &topology.spec.federation_routes;
    let mut routes = Vec::new();
    for (kind, edges) in [(RouteKind::Sip, &spec.sip), (RouteKind::Xmpp, &spec.xmpp)] {
        if edges.is_empty() {
            continue;
        }
        let edges: Vec<String> = edges.iter().map(|e| fqdn_key(e)).collect();
        if let Some(observed) = observed {
            for (i, e) in edges.iter().enumerate() {
                if observed.edge(e).is_none() {
                    errors.push(SpecError {
                        kind: "Topology",
                        name: topology.name_any(),
                        field: format!("spec.federationRoutes.{}[{i}]", kind.field()),
                        message: format!("Edge pool {e} is not in the observed topology"),
                    });
                }
            }
        }
        routes.push((kind, edges));
    }
    routes
}

/// The declared next hop of every Edge pool: each declared by one Site, and, when there is an
/// observation, an Edge pool of that site whose next hop is a Front End pool of the deployment.
fn edge_next_hops(
    sites: &[&Site],
    observed: Option<&ObservedIndex>,
    errors: &mut Vec<SpecError>,
) -> BTreeMap<String, String> {
    let mut hops = BTreeMap::new();
    let mut declared_by: HashMap<String, String> = HashMap::new();
    for site in sites {
        let name = site.name_any();
        for (i, e) in site.spec.edge_pools.iter().enumerate() {
            let (edge, hop) = (fqdn_key(&e.fqdn), fqdn_key(&e.next_hop));
            let mut error = |field: &str, message: String| {
                errors.push(SpecError {
                    kind: "Site",
                    name: name.clone(),
                    field: format!("spec.edgePools[{i}].{field}"),
                    message,
                })
            };
            if let Some(other) = declared_by.insert(edge.clone(), name.clone()) {
                error(
                    "fqdn",
                    format!("Edge pool {edge} is already declared by Site {other}; an Edge pool belongs to one site"),
                );
                continue;
            }
            if let Some(observed) = observed {
                match observed.topology.edges.iter().find(|o| o.fqdn == edge) {
                    None => error(
                        "fqdn",
                        format!("Edge pool {edge} is not in the observed topology"),
                    ),
                    Some(o) if o.site != site_key(&name) => error(
                        "fqdn",
                        format!(
                            "Edge pool {edge} is in site {} according to the deployment, not {name}",
                            o.site
                        ),
                    ),
                    Some(_) => {}
                }
                if observed.pool(&hop).is_none() {
                    error(
                        "nextHop",
                        format!("{hop} is not a Front End pool in the observed topology"),
                    );
                }
            }
            hops.insert(edge, hop);
        }
    }
    hops
}

fn names<K: ResourceExt>(objects: &[&K]) -> String {
    objects
        .iter()
        .map(|o| o.name_any())
        .collect::<Vec<_>>()
        .join(", ")
}

fn pair_error(name: &str, field: &str, message: String) -> SpecError {
    SpecError {
        kind: "PoolPair",
        name: name.to_owned(),
        field: field.to_owned(),
        message,
    }
}

/// The declared pair must match what Topology Builder defined: pools that exist, in the declared
/// sites, paired with each other.
fn check_against_observed(
    name: &str,
    pools: &[PoolRef; 2],
    observed: &ObservedIndex,
    errors: &mut Vec<SpecError>,
) -> bool {
    let before = errors.len();
    for (i, p) in pools.iter().enumerate() {
        let Some(o) = observed.pool(&p.fqdn) else {
            errors.push(pair_error(
                name,
                &format!("spec.pools[{i}].fqdn"),
                format!("pool {} is not in the observed topology", p.fqdn),
            ));
            continue;
        };
        if o.site != p.site {
            errors.push(pair_error(
                name,
                &format!("spec.pools[{i}].site"),
                format!(
                    "pool {} is in site {} according to the deployment, not {}",
                    p.fqdn, o.site, p.site
                ),
            ));
        }
        let partner = &pools[1 - i].fqdn;
        if o.backup_pool.as_ref() != Some(partner) {
            errors.push(pair_error(
                name,
                &format!("spec.pools[{i}].fqdn"),
                format!(
                    "pool {} is paired with {} in Topology Builder, not with {partner}",
                    p.fqdn,
                    o.backup_pool.as_deref().unwrap_or("no pool")
                ),
            ));
        }
    }
    errors.len() == before
}

fn cms_spec(
    c: &CentralManagementStore,
    pairs: &[PairSpec],
    errors: &mut Vec<SpecError>,
) -> Option<CmsSpec> {
    let name = c.name_any();
    let error = |field: String, message: String| SpecError {
        kind: "CentralManagementStore",
        name: name.clone(),
        field,
        message,
    };
    let Some(pair) = pairs.iter().find(|p| p.name == c.spec.pair) else {
        errors.push(error(
            "spec.pair".into(),
            format!(
                "PoolPair {} is not declared (or is itself invalid)",
                c.spec.pair
            ),
        ));
        return None;
    };
    let preferred = fqdn_key(&c.spec.preferred_pool);
    let before = errors.len();
    if pair.position(&preferred).is_none() {
        errors.push(error(
            "spec.preferredPool".into(),
            format!(
                "{preferred} is not in PoolPair {} ({} and {})",
                pair.name, pair.pools[0].fqdn, pair.pools[1].fqdn
            ),
        ));
    }
    let backup_sql: Vec<BackupSql> = c
        .spec
        .backup_sql
        .iter()
        .map(|b| BackupSql {
            pool: fqdn_key(&b.pool),
            sql_server_fqdn: fqdn_key(&b.sql_server_fqdn),
            sql_instance_name: b.sql_instance_name.clone(),
            mirror_sql_server_fqdn: b.mirror_sql_server_fqdn.as_deref().map(fqdn_key),
            mirror_sql_instance_name: b.mirror_sql_instance_name.clone(),
        })
        .collect();
    for (i, b) in backup_sql.iter().enumerate() {
        if pair.position(&b.pool).is_none() {
            errors.push(error(
                format!("spec.backupSql[{i}].pool"),
                format!("{} is not in PoolPair {}", b.pool, pair.name),
            ));
        }
    }
    (errors.len() == before).then(|| CmsSpec {
        name: name.clone(),
        pair: pair.name.clone(),
        preferred_pool: preferred,
        failback: c.spec.failback,
        backup_sql,
    })
}
