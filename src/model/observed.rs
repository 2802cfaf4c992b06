//! The observed topology: what a driver reports about the real deployment (docs/observed-topology.md).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::printable::printable;
use super::{fqdn_key, site_key, ChatState, RouteKind};

/// Health of a pool or Edge pool as the driver's probe sees it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum Health {
    Up,
    Down,
    /// The probe could not tell; the planner never acts on a pool whose health it does not know.
    Unknown,
}

/// Front End pool edition; SfB supports pairing only pools of the same edition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum Edition {
    Enterprise,
    Standard,
}

/// Export state of one Backup Service direction (`Get-CsBackupServiceStatus ... .BackupModules`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum ExportState {
    FinalState,
    SteadyState,
    NonSteadyState,
    NotInitialized,
    ErrorState,
}

/// Import state of one Backup Service direction.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum ImportState {
    NormalState,
    ErrorState,
}

/// One Front End pool as observed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedPool {
    pub fqdn: String,
    pub site: String,
    pub edition: Edition,
    pub health: Health,
    /// The paired pool, as Topology Builder defines it (`Get-CsPoolBackupRelationship`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_pool: Option<String>,
    /// Which pool serves this pool's users now; absent when the driver cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    #[serde(default)]
    pub users: u64,
    /// Health of the pool's Back End SQL Server; absent when the driver does not observe it.
    /// A Back End that is down makes a failover of the pool `-DisasterMode` (the cmdlet reference
    /// of `Invoke-CsPoolFailOver`: required when the Back End SQL services are down while the Front
    /// Ends are still up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_end: Option<Health>,
    /// The two SQL Servers of a Back End mirrored in Topology Builder (`Get-CsDatabaseMirrorState
    /// -DatabaseType User`); absent when the Back End is not mirrored or the driver cannot tell.
    /// When present, `backEnd` is the health of the principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_end_mirror: Option<BackEndMirror>,
}

/// Which of a mirrored Back End's two SQL Servers, as Topology Builder names them
/// (`Invoke-CsDatabaseFailover -NewPrincipal Primary|Mirror`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum MirrorRole {
    Primary,
    Mirror,
}

impl MirrorRole {
    /// The other server of the pair.
    pub fn other(self) -> Self {
        match self {
            MirrorRole::Primary => MirrorRole::Mirror,
            MirrorRole::Mirror => MirrorRole::Primary,
        }
    }

    /// The word Topology Builder and the cmdlets use.
    pub fn word(self) -> &'static str {
        match self {
            MirrorRole::Primary => "primary",
            MirrorRole::Mirror => "mirror",
        }
    }
}

/// A Back End mirrored with SQL Server database mirroring: which server is the principal now,
/// and the health of each.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackEndMirror {
    pub principal: MirrorRole,
    pub primary: Health,
    pub mirror: Health,
}

impl BackEndMirror {
    /// The health of one of the two servers.
    pub fn health(&self, role: MirrorRole) -> Health {
        match role {
            MirrorRole::Primary => self.primary,
            MirrorRole::Mirror => self.mirror,
        }
    }

    /// The server the databases should fail over to: the principal is down and the other server
    /// is up. None in every other case (nothing to gain, or nothing known).
    pub fn failover_target(&self) -> Option<MirrorRole> {
        let other = self.principal.other();
        (self.health(self.principal) == Health::Down && self.health(other) == Health::Up)
            .then_some(other)
    }
}

/// One direction of Backup Service replication, from `from` to its partner `to`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupDirection {
    pub from: String,
    pub to: String,
    pub export_state: ExportState,
    pub import_state: ImportState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_age_seconds: Option<u64>,
}

impl BackupDirection {
    /// A direction in `ErrorState` on either end never reaches the final state a graceful move
    /// waits for.
    pub fn is_error(&self) -> bool {
        self.export_state == ExportState::ErrorState || self.import_state == ImportState::ErrorState
    }
}

/// The Central Management Store as observed; `active_master` is null when the CMS is unavailable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CmsState {
    pub active_master: Option<String>,
    pub replicas_up_to_date: bool,
    /// The pool whose Back End holds the CMS database, as the published topology says; absent
    /// when unknown. With the master lost, this is what says where the CMS was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

impl CmsState {
    /// The pool whose Back End holds the CMS database: the master's pool, or with the master
    /// lost, the one the published topology names.
    pub fn home(&self) -> Option<&str> {
        self.active_master.as_deref().or(self.pool.as_deref())
    }
}

/// One Edge pool and the Front End pool it forwards to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedEdge {
    pub fqdn: String,
    pub site: String,
    pub health: Health,
    pub next_hop: String,
}

/// Which Edge pool carries one of the organization's federation routes. A kind the driver does
/// not report is not listed; `edge: null` says the route is not set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedRoute {
    pub kind: RouteKind,
    #[serde(default)]
    pub edge: Option<String>,
}

/// A Persistent Chat pool (Skype for Business Server 2015): its state, its active servers and
/// its servers' health. What the driver cannot read is absent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedChatPool {
    pub fqdn: String,
    /// `Get-CsPersistentChatState`'s `PoolState`; absent when it could not be read.
    #[serde(default)]
    pub state: Option<ChatState>,
    /// The servers that accept new connections; absent when the driver cannot read them.
    #[serde(default)]
    pub active_servers: Option<Vec<String>>,
    pub servers: Vec<ObservedChatServer>,
    /// The sites of the primary and the backup `mgc` database, when the driver knows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_site: Option<String>,
}

/// One server of a Persistent Chat pool; `site` is the site (data center) it stands in, when
/// the driver knows it (a stretched pool is one pool of one site in the topology).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedChatServer {
    pub fqdn: String,
    pub health: Health,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

impl ObservedChatPool {
    /// The server with this canonical FQDN.
    pub fn server(&self, fqdn: &str) -> Option<&ObservedChatServer> {
        self.servers.iter().find(|s| s.fqdn == fqdn)
    }
}

/// The whole observed deployment, in the format drivers, the simulator and `sfb-dr plan` share.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservedTopology {
    pub sites: Vec<String>,
    pub pools: Vec<ObservedPool>,
    #[serde(default)]
    pub backup: Vec<BackupDirection>,
    pub cms: CmsState,
    #[serde(default)]
    pub edges: Vec<ObservedEdge>,
    /// The federation routes the driver reports, each kind at most once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federation_routes: Vec<ObservedRoute>,
    /// The Persistent Chat pools the driver reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persistent_chat: Vec<ObservedChatPool>,
    /// Running total of changes lost by disaster-mode moves; only the simulator reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss: Option<u64>,
}

/// An observed topology that contradicts itself, with the field that does. Shown on one line,
/// the names it quotes with their control characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", printable(field), printable(message))]
pub struct ObservedError {
    pub field: String,
    pub message: String,
}

fn observed_error(field: String, message: impl Into<String>) -> ObservedError {
    ObservedError {
        field,
        message: message.into(),
    }
}

/// A checked observed topology with lookups by FQDN; FQDNs and sites are canonical (lowercase).
#[derive(Debug, Clone)]
pub struct ObservedIndex {
    pub topology: ObservedTopology,
    pools: HashMap<String, usize>,
    /// By pool index: the direction from that pool (a pool replicates to its one backup pool).
    backup_from: Vec<Option<usize>>,
    /// By pool index: the index of its backup pool.
    partner: Vec<Option<usize>>,
    /// By pool index: why its pairing breaks Microsoft's support rules, if it does.
    unsupported: Vec<Option<String>>,
    /// By pool index: the Edge pools using it as next hop, as ranges of `edge_list`.
    edge_start: Vec<usize>,
    edge_list: Vec<usize>,
}

impl ObservedIndex {
    /// Canonicalises names and checks that the topology is consistent: unique pools, known sites,
    /// mutual pairings, and references to known pools only. A pairing Microsoft does not support
    /// (same site, different editions) is not an inconsistency: it is recorded for
    /// [`ObservedIndex::unsupported_pairing`] so the planner can leave that pair alone.
    pub fn new(mut topology: ObservedTopology) -> Result<Self, ObservedError> {
        canonicalise(&mut topology);
        let t = &topology;
        // A set, not a list: a report of many pools in many sites must not cost their product.
        let sites: HashSet<&str> = t.sites.iter().map(String::as_str).collect();
        let mut pools = HashMap::with_capacity(t.pools.len());
        for (i, p) in t.pools.iter().enumerate() {
            if pools.insert(p.fqdn.clone(), i).is_some() {
                return Err(observed_error(
                    format!("pools[{i}].fqdn"),
                    format!("pool {} is listed twice", p.fqdn),
                ));
            }
            if !sites.contains(p.site.as_str()) {
                return Err(observed_error(
                    format!("pools[{i}].site"),
                    format!("site {} of pool {} is not in sites", p.site, p.fqdn),
                ));
            }
            if let (Some(m), Some(b)) = (p.back_end_mirror, p.back_end) {
                let principal = m.health(m.principal);
                if principal != b {
                    return Err(observed_error(
                        format!("pools[{i}].backEnd"),
                        format!(
                            "the Back End of {} is {b:?} but its principal ({}) is {principal:?} \
                             (backEndMirror); with a mirror, backEnd is the principal's health",
                            p.fqdn,
                            m.principal.word()
                        ),
                    ));
                }
            }
        }
        let mut partner = vec![None; t.pools.len()];
        let mut unsupported = vec![None; t.pools.len()];
        for (i, p) in t.pools.iter().enumerate() {
            if let Some(b) = &p.backup_pool {
                let Some(&j) = pools.get(b) else {
                    return Err(observed_error(
                        format!("pools[{i}].backupPool"),
                        format!("{b} is not a pool in this topology"),
                    ));
                };
                if j == i {
                    return Err(observed_error(
                        format!("pools[{i}].backupPool"),
                        format!("{b} cannot be its own backup pool"),
                    ));
                }
                partner[i] = Some(j);
                let partner = &t.pools[j];
                if partner.backup_pool.as_deref() != Some(p.fqdn.as_str()) {
                    return Err(observed_error(
                        format!("pools[{i}].backupPool"),
                        format!(
                            "{} is paired with {b} but {b} is not paired back (pairings are mutual)",
                            p.fqdn
                        ),
                    ));
                }
                // Topology Builder lets these through, and Microsoft does not support them: the
                // pair is reported and left alone, the rest of the deployment is still planned.
                if partner.site == p.site {
                    unsupported[i] = Some(format!(
                        "{} and {b} are both in site {}; paired pools must be in different sites",
                        p.fqdn, p.site
                    ));
                } else if partner.edition != p.edition {
                    unsupported[i] = Some(format!(
                        "{} ({:?}) is paired with {b} ({:?}); SfB supports pairing only pools of the same edition",
                        p.fqdn, p.edition, partner.edition
                    ));
                }
            }
            if let Some(s) = &p.served_by {
                if s != &p.fqdn && p.backup_pool.as_ref() != Some(s) {
                    return Err(observed_error(
                        format!("pools[{i}].servedBy"),
                        format!(
                            "{s} can serve {}'s users only if it is {} itself or its backup pool",
                            p.fqdn, p.fqdn
                        ),
                    ));
                }
            }
        }
        let mut backup_from = vec![None; t.pools.len()];
        for (i, b) in t.backup.iter().enumerate() {
            let Some(&from) = pools.get(&b.from) else {
                return Err(observed_error(
                    format!("backup[{i}].from"),
                    format!("{} is not a pool in this topology", b.from),
                ));
            };
            if t.pools[from].backup_pool.as_ref() != Some(&b.to) {
                return Err(observed_error(
                    format!("backup[{i}].to"),
                    format!("{} is not the backup pool of {}", b.to, b.from),
                ));
            }
            if backup_from[from].replace(i).is_some() {
                return Err(observed_error(
                    format!("backup[{i}]"),
                    format!("direction {} -> {} is listed twice", b.from, b.to),
                ));
            }
        }
        for (field, pool) in [
            ("cms.activeMaster", &t.cms.active_master),
            ("cms.pool", &t.cms.pool),
        ] {
            if let Some(m) = pool {
                if !pools.contains_key(m) {
                    return Err(observed_error(
                        field.into(),
                        format!("{m} is not a pool in this topology"),
                    ));
                }
            }
        }
        let mut edge_hops = Vec::with_capacity(t.edges.len());
        let mut edge_names = HashMap::with_capacity(t.edges.len());
        for (i, e) in t.edges.iter().enumerate() {
            if edge_names.insert(e.fqdn.as_str(), i).is_some() {
                return Err(observed_error(
                    format!("edges[{i}].fqdn"),
                    format!("Edge pool {} is listed twice", e.fqdn),
                ));
            }
            if !sites.contains(e.site.as_str()) {
                return Err(observed_error(
                    format!("edges[{i}].site"),
                    format!("site {} of Edge pool {} is not in sites", e.site, e.fqdn),
                ));
            }
            let Some(&hop) = pools.get(&e.next_hop) else {
                return Err(observed_error(
                    format!("edges[{i}].nextHop"),
                    format!("{} is not a pool in this topology", e.next_hop),
                ));
            };
            edge_hops.push((hop, i));
        }
        for (i, r) in t.federation_routes.iter().enumerate() {
            if t.federation_routes[..i].iter().any(|o| o.kind == r.kind) {
                return Err(observed_error(
                    format!("federationRoutes[{i}].kind"),
                    format!("the {} route is listed twice", r.kind.word()),
                ));
            }
            if let Some(e) = r.edge.as_deref().filter(|e| !edge_names.contains_key(e)) {
                return Err(observed_error(
                    format!("federationRoutes[{i}].edge"),
                    format!("{e} is not an Edge pool in this topology (edges)"),
                ));
            }
        }
        check_chat_pools(&t.persistent_chat, &sites)?;
        edge_hops.sort_unstable();
        let mut edge_start = Vec::with_capacity(t.pools.len() + 1);
        let mut k = 0;
        for p in 0..=t.pools.len() {
            while k < edge_hops.len() && edge_hops[k].0 < p {
                k += 1;
            }
            edge_start.push(k);
        }
        let edge_list = edge_hops.into_iter().map(|(_, e)| e).collect();
        Ok(ObservedIndex {
            topology,
            pools,
            backup_from,
            partner,
            unsupported,
            edge_start,
            edge_list,
        })
    }

    /// The pool with this canonical FQDN.
    pub fn pool(&self, fqdn: &str) -> Option<&ObservedPool> {
        self.pool_index(fqdn).map(|i| &self.topology.pools[i])
    }

    /// The position of the pool with this canonical FQDN in `topology.pools`.
    pub fn pool_index(&self, fqdn: &str) -> Option<usize> {
        self.pools.get(fqdn).copied()
    }

    /// Replication from `from` to its partner, when the driver reported it.
    pub fn backup(&self, from: &str, to: &str) -> Option<&BackupDirection> {
        self.backup_from_index(self.pool_index(from)?)
            .filter(|b| b.to == to)
    }

    /// The index of the backup pool of the pool at `index`.
    pub fn partner_index(&self, index: usize) -> Option<usize> {
        self.partner.get(index).copied().flatten()
    }

    /// Why the pairing of the pool at `index` breaks Microsoft's support rules, if it does.
    pub fn unsupported_pairing(&self, index: usize) -> Option<&str> {
        self.unsupported.get(index)?.as_deref()
    }

    /// Replication from the pool at `index` to its partner, when the driver reported it.
    pub fn backup_from_index(&self, index: usize) -> Option<&BackupDirection> {
        let d = (*self.backup_from.get(index)?)?;
        self.topology.backup.get(d)
    }

    /// The Edge pool with this canonical FQDN.
    pub fn edge(&self, fqdn: &str) -> Option<&ObservedEdge> {
        self.topology.edges.iter().find(|e| e.fqdn == fqdn)
    }

    /// The route of this kind as observed: `None` when the driver does not report it,
    /// `Some(None)` when it is not set.
    pub fn route(&self, kind: RouteKind) -> Option<Option<&str>> {
        self.topology
            .federation_routes
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.edge.as_deref())
    }

    /// The Persistent Chat pool with this canonical FQDN.
    pub fn chat_pool(&self, fqdn: &str) -> Option<&ObservedChatPool> {
        self.topology
            .persistent_chat
            .iter()
            .find(|c| c.fqdn == fqdn)
    }

    /// Every Edge pool whose next hop is this pool.
    pub fn edges_to(&self, pool: &str) -> impl Iterator<Item = &ObservedEdge> {
        self.edges_to_index(self.pool_index(pool).unwrap_or(usize::MAX))
    }

    /// Every Edge pool whose next hop is the pool at `index`.
    pub fn edges_to_index(&self, index: usize) -> impl Iterator<Item = &ObservedEdge> {
        let range = match (self.edge_start.get(index), self.edge_start.get(index + 1)) {
            (Some(&a), Some(&b)) => a..b,
            _ => 0..0,
        };
        self.edge_list[range]
            .iter()
            .map(|&e| &self.topology.edges[e])
    }
}

/// Persistent Chat pools and servers listed once, active servers among the pool's servers,
/// sites among the topology's.
fn check_chat_pools(chat: &[ObservedChatPool], sites: &HashSet<&str>) -> Result<(), ObservedError> {
    let mut servers = HashSet::new();
    for (i, c) in chat.iter().enumerate() {
        let at = |field: &str| format!("persistentChat[{i}].{field}");
        if chat[..i].iter().any(|o| o.fqdn == c.fqdn) {
            return Err(observed_error(
                at("fqdn"),
                format!("Persistent Chat pool {} is listed twice", c.fqdn),
            ));
        }
        for (j, server) in c.servers.iter().enumerate() {
            if !servers.insert(server.fqdn.as_str()) {
                return Err(observed_error(
                    at(&format!("servers[{j}].fqdn")),
                    format!("server {} is listed twice", server.fqdn),
                ));
            }
        }
        let named = c
            .servers
            .iter()
            .enumerate()
            .filter_map(|(j, server)| Some((format!("servers[{j}].site"), server.site.as_ref()?)))
            .chain(c.primary_site.iter().map(|s| ("primarySite".to_owned(), s)))
            .chain(c.backup_site.iter().map(|s| ("backupSite".to_owned(), s)));
        for (field, site) in named {
            if !sites.contains(site.as_str()) {
                return Err(observed_error(
                    at(&field),
                    format!("site {site} is not in sites"),
                ));
            }
        }
        for (j, a) in c.active_servers.iter().flatten().enumerate() {
            if c.server(a).is_none() {
                return Err(observed_error(
                    at(&format!("activeServers[{j}]")),
                    format!("{a} is not a server of Persistent Chat pool {}", c.fqdn),
                ));
            }
        }
    }
    Ok(())
}

fn canonicalise(t: &mut ObservedTopology) {
    for s in &mut t.sites {
        *s = site_key(s);
    }
    for p in &mut t.pools {
        if let Some(m) = p.back_end_mirror {
            p.back_end.get_or_insert(m.health(m.principal));
        }
        p.fqdn = fqdn_key(&p.fqdn);
        p.site = site_key(&p.site);
        for f in [&mut p.backup_pool, &mut p.served_by].into_iter().flatten() {
            *f = fqdn_key(f);
        }
    }
    for b in &mut t.backup {
        b.from = fqdn_key(&b.from);
        b.to = fqdn_key(&b.to);
    }
    for m in [&mut t.cms.active_master, &mut t.cms.pool]
        .into_iter()
        .flatten()
    {
        *m = fqdn_key(m);
    }
    for e in &mut t.edges {
        e.fqdn = fqdn_key(&e.fqdn);
        e.site = site_key(&e.site);
        e.next_hop = fqdn_key(&e.next_hop);
    }
    for r in &mut t.federation_routes {
        if let Some(e) = &mut r.edge {
            *e = fqdn_key(e);
        }
    }
    for c in &mut t.persistent_chat {
        c.fqdn = fqdn_key(&c.fqdn);
        for a in c.active_servers.iter_mut().flatten() {
            *a = fqdn_key(a);
        }
        for server in &mut c.servers {
            server.fqdn = fqdn_key(&server.fqdn);
            if let Some(site) = &mut server.site {
                *site = site_key(site);
            }
        }
        for site in [&mut c.primary_site, &mut c.backup_site]
            .into_iter()
            .flatten()
        {
            *site = site_key(site);
        }
    }
}
