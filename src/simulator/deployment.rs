//! The simulated deployment's state, what an observer sees of it, and the effect of each action
//! once [`super::guards`] has allowed it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{fqdn_key, Action, ActionKind, DatabaseType, MirrorRole, Mode, RouteKind};
use crate::model::{
    BackEndMirror, BackupDirection, CmsState, Edition, ExportState, Health, ImportState,
    ObservedEdge, ObservedError, ObservedIndex, ObservedPool, ObservedRoute, ObservedTopology,
};

/// A Front End pool and its Back End SQL Server.
#[derive(Clone, Debug)]
pub(super) struct Pool {
    pub site: String,
    pub edition: Edition,
    /// The Front Ends.
    pub health: Health,
    /// The Back End SQL Server, which holds the pool's databases (and the CMS, on its pool); for
    /// a mirrored Back End, the health of its user database's principal (kept so by
    /// [`Pool::settle_back_end`]).
    pub back_end: Health,
    /// A Back End mirrored in Topology Builder.
    pub mirror: Option<Mirror>,
    pub backup_pool: Option<String>,
    pub served_by: String,
    pub users: u64,
}

/// A mirrored Back End: each SQL Server's health, and which is the principal of each database
/// (they fail over one by one, so they can differ).
#[derive(Clone, Copy, Debug)]
pub(super) struct Mirror {
    pub primary: Health,
    pub mirror: Health,
    pub user: MirrorRole,
    pub cms: MirrorRole,
}

impl Mirror {
    pub fn health(&self, role: MirrorRole) -> Health {
        match role {
            MirrorRole::Primary => self.primary,
            MirrorRole::Mirror => self.mirror,
        }
    }

    pub fn set_health(&mut self, role: MirrorRole, health: Health) {
        match role {
            MirrorRole::Primary => self.primary = health,
            MirrorRole::Mirror => self.mirror = health,
        }
    }

    pub fn principal(&self, db: DatabaseType) -> MirrorRole {
        match db {
            DatabaseType::User => self.user,
            DatabaseType::CentralMgmt => self.cms,
        }
    }
}

impl Pool {
    /// Keeps `back_end` the health of a mirrored Back End's user-database principal.
    pub fn settle_back_end(&mut self) {
        if let Some(m) = self.mirror {
            self.back_end = m.health(m.user);
        }
    }

    /// Whether the server holding the pool's copy of the CMS database answers.
    pub fn cms_database_up(&self) -> bool {
        match self.mirror {
            Some(m) => m.health(m.cms) != Health::Down,
            None => self.back_end != Health::Down,
        }
    }
}

/// One replication direction.
#[derive(Clone, Debug)]
pub(super) struct Replication {
    pub export_state: ExportState,
    pub import_state: ImportState,
    pub last_sync_age_seconds: Option<u64>,
}

impl Replication {
    /// A direction in `ErrorState` on either side never reaches the final state a graceful
    /// cmdlet waits for.
    pub fn stuck(&self) -> bool {
        matches!(self.export_state, ExportState::ErrorState)
            || matches!(self.import_state, ImportState::ErrorState)
    }
}

/// An Edge pool.
#[derive(Clone, Debug)]
pub(super) struct Edge {
    pub site: String,
    pub health: Health,
    pub next_hop: String,
}

/// How long SfB waits between Backup Service syncs by default; used when no age was observed.
const DEFAULT_SYNC_INTERVAL_SECONDS: u64 = 120;
/// The data-loss model: each user makes one change a minute.
const CHANGES_PER_USER_MINUTE: u64 = 1;

/// The whole simulated deployment.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub(super) sites: Vec<String>,
    pub(super) pools: BTreeMap<String, Pool>,
    pub(super) replication: BTreeMap<(String, String), Replication>,
    /// The pool whose Back End holds the CMS database, when the start file says.
    pub(super) cms_home: Option<String>,
    /// The master is lost although its pool may be up (`CmsMasterLost`), until a recovery.
    pub(super) cms_master_lost: bool,
    pub(super) replicas_up_to_date: bool,
    pub(super) edges: BTreeMap<String, Edge>,
    /// The federation routes the start file reports (a kind `Set-CsSite` sets is added): the
    /// Edge pool each is on, if set.
    pub(super) routes: BTreeMap<RouteKind, Option<String>>,
    /// The Persistent Chat pools, by FQDN.
    pub(super) chat: BTreeMap<String, super::chat::ChatPool>,
    pub(super) data_loss: u64,
    /// Pools with an action in flight (both pools of a pair are marked).
    pub(super) busy: BTreeSet<String>,
    pub(super) cms_busy: bool,
    pub(super) partitioned: bool,
    pub(super) fail_next: HashMap<ActionKind, u32>,
    pub(super) slow_next: HashMap<ActionKind, u64>,
}

impl Deployment {
    /// A deployment in the state an observed topology describes. Where the CMS lives is
    /// `cms.activeMaster`, else `cms.pool`; a blank master on a pool that is up is a lost master.
    pub fn new(topology: ObservedTopology) -> Result<Self, ObservedError> {
        let t = ObservedIndex::new(topology)?.topology;
        let pools: BTreeMap<String, Pool> = t
            .pools
            .iter()
            .map(|p| {
                let pool = Pool {
                    site: p.site.clone(),
                    edition: p.edition,
                    health: p.health,
                    back_end: p.back_end.unwrap_or(Health::Up),
                    mirror: p.back_end_mirror.map(|m| Mirror {
                        primary: m.primary,
                        mirror: m.mirror,
                        user: m.principal,
                        cms: m.principal,
                    }),
                    backup_pool: p.backup_pool.clone(),
                    served_by: p.served_by.clone().unwrap_or_else(|| p.fqdn.clone()),
                    users: p.users,
                };
                (p.fqdn.clone(), pool)
            })
            .collect();
        let mut replication: BTreeMap<(String, String), Replication> = t
            .backup
            .iter()
            .map(|b| {
                let r = Replication {
                    export_state: b.export_state,
                    import_state: b.import_state,
                    last_sync_age_seconds: b.last_sync_age_seconds,
                };
                ((b.from.clone(), b.to.clone()), r)
            })
            .collect();
        for p in &t.pools {
            if let Some(b) = &p.backup_pool {
                replication
                    .entry((p.fqdn.clone(), b.clone()))
                    .or_insert(Replication {
                        export_state: ExportState::SteadyState,
                        import_state: ImportState::NormalState,
                        last_sync_age_seconds: None,
                    });
            }
        }
        let edges = t
            .edges
            .iter()
            .map(|e| {
                let edge = Edge {
                    site: e.site.clone(),
                    health: e.health,
                    next_hop: e.next_hop.clone(),
                };
                (e.fqdn.clone(), edge)
            })
            .collect();
        let chat = t
            .persistent_chat
            .iter()
            .enumerate()
            .map(|(i, c)| Ok((c.fqdn.clone(), super::chat::ChatPool::new(i, c)?)))
            .collect::<Result<_, ObservedError>>()?;
        let cms_home = t.cms.home().map(str::to_owned);
        let cms_master_lost = t.cms.active_master.is_none()
            && cms_home
                .as_ref()
                .and_then(|h| pools.get(h))
                .is_some_and(|p| p.health != Health::Down && p.cms_database_up());
        Ok(Deployment {
            sites: t.sites.clone(),
            pools,
            replication,
            cms_home,
            cms_master_lost,
            replicas_up_to_date: t.cms.replicas_up_to_date,
            edges,
            routes: t
                .federation_routes
                .iter()
                .map(|r| (r.kind, r.edge.clone()))
                .collect(),
            chat,
            data_loss: t.data_loss.unwrap_or(0),
            busy: BTreeSet::new(),
            cms_busy: false,
            partitioned: false,
            fail_next: HashMap::new(),
            slow_next: HashMap::new(),
        })
    }

    /// The active CMS master as `Get-CsManagementStoreReplicationStatus` reports it: none while
    /// its pool's Front Ends or Back End are down, or the master is lost.
    pub(super) fn cms_master(&self) -> Option<&str> {
        let home = self.cms_home.as_deref()?;
        let pool = self.pools.get(home)?;
        let up = !self.cms_master_lost && pool.health != Health::Down && pool.cms_database_up();
        up.then_some(home)
    }

    /// What a driver observes, in the shared format, with the data-loss total.
    pub fn observe(&self) -> ObservedTopology {
        let master = self.cms_master().map(str::to_owned);
        ObservedTopology {
            sites: self.sites.clone(),
            pools: self
                .pools
                .iter()
                .map(|(fqdn, p)| ObservedPool {
                    fqdn: fqdn.clone(),
                    site: p.site.clone(),
                    edition: p.edition,
                    health: p.health,
                    backup_pool: p.backup_pool.clone(),
                    served_by: Some(p.served_by.clone()),
                    users: p.users,
                    back_end: Some(p.back_end),
                    back_end_mirror: p.mirror.map(|m| BackEndMirror {
                        principal: m.user,
                        primary: m.primary,
                        mirror: m.mirror,
                    }),
                })
                .collect(),
            backup: self
                .replication
                .iter()
                .map(|((from, to), r)| BackupDirection {
                    from: from.clone(),
                    to: to.clone(),
                    export_state: r.export_state,
                    import_state: r.import_state,
                    last_sync_age_seconds: r.last_sync_age_seconds,
                })
                .collect(),
            cms: CmsState {
                // Replicas cannot be up to date with a master that does not answer.
                replicas_up_to_date: self.replicas_up_to_date && !self.cms_busy && master.is_some(),
                active_master: master,
                pool: self.cms_home.clone(),
            },
            edges: self
                .edges
                .iter()
                .map(|(fqdn, e)| ObservedEdge {
                    fqdn: fqdn.clone(),
                    site: e.site.clone(),
                    health: e.health,
                    next_hop: e.next_hop.clone(),
                })
                .collect(),
            federation_routes: self
                .routes
                .iter()
                .map(|(kind, edge)| ObservedRoute {
                    kind: *kind,
                    edge: edge.clone(),
                })
                .collect(),
            persistent_chat: self.chat.iter().map(|(f, c)| c.observe(f)).collect(),
            data_loss: Some(self.data_loss),
        }
    }

    /// Whether observations currently fail (an `ObservePartition` fault).
    pub fn partitioned(&self) -> bool {
        self.partitioned
    }

    /// Changes not yet replicated from `from` to `to` for `home`'s users; saturates rather
    /// than overflow on absurd user counts or ages.
    fn pending_changes(&self, home: &str, from: &str, to: &str) -> u64 {
        let users = self.pools.get(home).map_or(0, |p| p.users);
        let age = self
            .replication
            .get(&(from.to_owned(), to.to_owned()))
            .and_then(|r| r.last_sync_age_seconds)
            .unwrap_or(DEFAULT_SYNC_INTERVAL_SECONDS);
        users
            .saturating_mul(age)
            .saturating_mul(CHANGES_PER_USER_MINUTE)
            .div_ceil(60)
    }

    fn synced(&mut self, from: &str, to: &str) {
        if let Some(r) = self.replication.get_mut(&(from.to_owned(), to.to_owned())) {
            r.last_sync_age_seconds = Some(0);
        }
    }

    /// The action's effect, after its guards passed and its latency elapsed. Returns the changes
    /// it lost (graceful paths replicate first and lose nothing).
    pub(super) fn apply(&mut self, action: &Action) -> u64 {
        let lost = match action {
            Action::FailOverPool { pool, mode } | Action::FailBackPool { pool, mode } => {
                let home = fqdn_key(pool);
                let Some(backup) = self.pools.get(&home).and_then(|p| p.backup_pool.clone()) else {
                    return 0;
                };
                let failover = matches!(action, Action::FailOverPool { .. });
                let (from, to) = if failover {
                    (&home, &backup)
                } else {
                    (&backup, &home)
                };
                let lost = match mode {
                    Mode::Graceful => {
                        self.synced(from, to);
                        0
                    }
                    Mode::Disaster => self.pending_changes(&home, from, to),
                };
                if let Some(p) = self.pools.get_mut(&home) {
                    p.served_by = to.clone();
                }
                lost
            }
            Action::FailOverCms { to, .. } => {
                self.cms_home = Some(fqdn_key(to));
                self.cms_master_lost = false;
                self.replicas_up_to_date = true;
                0
            }
            Action::SyncBackup { pool, .. } => {
                let pool = fqdn_key(pool);
                if let Some(b) = self.pools.get(&pool).and_then(|p| p.backup_pool.clone()) {
                    self.synced(&pool, &b);
                }
                0
            }
            Action::RepointEdge { edge, to } => {
                if let Some(e) = self.edges.get_mut(&fqdn_key(edge)) {
                    e.next_hop = fqdn_key(to);
                }
                0
            }
            Action::SetXmppFederationRoute { edge, .. } => {
                self.routes.insert(RouteKind::Xmpp, Some(fqdn_key(edge)));
                0
            }
            Action::SetPersistentChatState { pool, state } => {
                if let Some(c) = self.chat.get_mut(&fqdn_key(pool)) {
                    c.set_state(*state);
                }
                0
            }
            Action::SetPersistentChatActiveServers { pool, servers } => {
                if let Some(c) = self.chat.get_mut(&fqdn_key(pool)) {
                    c.active = servers.iter().map(|s| fqdn_key(s)).collect();
                }
                0
            }
            // A person's steps never reach here: the guards refuse them.
            Action::MoveSipFederationRoute { .. }
            | Action::StopEdgeServices { .. }
            | Action::StartEdgeServices { .. }
            | Action::PublishXmppFederationRoute { .. }
            | Action::RecoverPersistentChatDatabase { .. }
            | Action::RestorePersistentChatDatabase { .. } => 0,
            // Synchronous mirroring: the new principal has every committed change.
            Action::FailOverDatabase {
                pool,
                new_principal,
                databases,
            } => {
                let pool = fqdn_key(pool);
                // The master answers again on its database: its replicas catch up.
                if self.cms_home.as_deref() == Some(pool.as_str())
                    && databases.contains(&DatabaseType::CentralMgmt)
                {
                    self.replicas_up_to_date = true;
                }
                if let Some(p) = self.pools.get_mut(&pool) {
                    if let Some(m) = &mut p.mirror {
                        for db in databases {
                            match db {
                                DatabaseType::User => m.user = *new_principal,
                                DatabaseType::CentralMgmt => m.cms = *new_principal,
                            }
                        }
                    }
                    p.settle_back_end();
                }
                0
            }
        };
        self.data_loss = self.data_loss.saturating_add(lost);
        lost
    }
}
