//! The simulated deployment's state, what an observer sees of it, faults, and the effect of each
//! action once it has been allowed by [`super::guards`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{Action, ActionKind, Mode};
use crate::model::{
    BackupDirection, CmsState, Edition, ExportState, Health, ImportState, ObservedEdge,
    ObservedError, ObservedIndex, ObservedPool, ObservedTopology,
};

/// A Front End pool.
#[derive(Clone, Debug)]
pub(super) struct Pool {
    pub site: String,
    pub edition: Edition,
    pub health: Health,
    pub backup_pool: Option<String>,
    pub served_by: String,
    pub users: u64,
}

/// One replication direction.
#[derive(Clone, Debug)]
pub(super) struct Replication {
    pub export_state: ExportState,
    pub import_state: ImportState,
    pub last_sync_age_seconds: Option<u64>,
}

/// An Edge pool.
#[derive(Clone, Debug)]
pub(super) struct Edge {
    pub site: String,
    pub health: Health,
    pub next_hop: String,
}

/// A fault or repair injected through `POST /faults`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Fault {
    PoolDown {
        pool: String,
    },
    PoolUp {
        pool: String,
    },
    SiteDown {
        site: String,
    },
    SiteUp {
        site: String,
    },
    EdgeDown {
        edge: String,
    },
    EdgeUp {
        edge: String,
    },
    /// Observations fail until `Heal`.
    ObservePartition,
    /// Clears the partition and pending `FailNext`/`SlowNext`, and settles CMS replicas.
    Heal,
    /// The next `count` commands of `action` fail after their latency, changing nothing.
    FailNext {
        action: ActionKind,
        count: u32,
    },
    /// The next command of `action` takes `ms` milliseconds longer (not scaled).
    SlowNext {
        action: ActionKind,
        ms: u64,
    },
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
    /// The pool holding the CMS master database, when known; unavailable while that pool is down.
    pub(super) cms_home: Option<String>,
    pub(super) replicas_up_to_date: bool,
    pub(super) edges: BTreeMap<String, Edge>,
    pub(super) data_loss: u64,
    /// Pools with an action in flight (both pools of a pair are marked).
    pub(super) busy: BTreeSet<String>,
    pub(super) cms_busy: bool,
    pub(super) partitioned: bool,
    pub(super) fail_next: HashMap<ActionKind, u32>,
    pub(super) slow_next: HashMap<ActionKind, u64>,
}

impl Deployment {
    /// A deployment in the state an observed topology describes.
    pub fn new(topology: ObservedTopology) -> Result<Self, ObservedError> {
        let t = ObservedIndex::new(topology)?.topology;
        let pools = t
            .pools
            .iter()
            .map(|p| {
                let pool = Pool {
                    site: p.site.clone(),
                    edition: p.edition,
                    health: p.health,
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
        Ok(Deployment {
            sites: t.sites.clone(),
            pools,
            replication,
            cms_home: t.cms.active_master.clone(),
            replicas_up_to_date: t.cms.replicas_up_to_date,
            edges,
            data_loss: t.data_loss.unwrap_or(0),
            busy: BTreeSet::new(),
            cms_busy: false,
            partitioned: false,
            fail_next: HashMap::new(),
            slow_next: HashMap::new(),
        })
    }

    /// The active CMS master as `Get-CsManagementStoreReplicationStatus` reports it.
    pub(super) fn cms_master(&self) -> Option<&str> {
        let home = self.cms_home.as_deref()?;
        (self.pools.get(home)?.health != Health::Down).then_some(home)
    }

    /// What a driver observes, in the shared format, with the data-loss total.
    pub fn observe(&self) -> ObservedTopology {
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
                    back_end: None,
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
                active_master: self.cms_master().map(str::to_owned),
                replicas_up_to_date: self.replicas_up_to_date && !self.cms_busy,
                pool: None,
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
            data_loss: Some(self.data_loss),
        }
    }

    /// Whether observations currently fail (an `ObservePartition` fault).
    pub fn partitioned(&self) -> bool {
        self.partitioned
    }

    /// Applies a fault; an unknown pool, site or Edge is an error naming it.
    pub fn inject(&mut self, fault: &Fault) -> Result<(), String> {
        match fault {
            Fault::PoolDown { pool } | Fault::PoolUp { pool } => {
                let up = matches!(fault, Fault::PoolUp { .. });
                let p = self
                    .pools
                    .get_mut(&crate::model::fqdn_key(pool))
                    .ok_or_else(|| format!("unknown pool {pool}"))?;
                p.health = if up { Health::Up } else { Health::Down };
            }
            Fault::SiteDown { site } | Fault::SiteUp { site } => {
                let key = crate::model::site_key(site);
                if !self.sites.contains(&key) {
                    return Err(format!("unknown site {site}"));
                }
                let health = if matches!(fault, Fault::SiteUp { .. }) {
                    Health::Up
                } else {
                    Health::Down
                };
                for p in self.pools.values_mut().filter(|p| p.site == key) {
                    p.health = health;
                }
                for e in self.edges.values_mut().filter(|e| e.site == key) {
                    e.health = health;
                }
            }
            Fault::EdgeDown { edge } | Fault::EdgeUp { edge } => {
                let up = matches!(fault, Fault::EdgeUp { .. });
                let e = self
                    .edges
                    .get_mut(&crate::model::fqdn_key(edge))
                    .ok_or_else(|| format!("unknown Edge pool {edge}"))?;
                e.health = if up { Health::Up } else { Health::Down };
            }
            Fault::ObservePartition => self.partitioned = true,
            Fault::Heal => {
                self.partitioned = false;
                self.fail_next.clear();
                self.slow_next.clear();
                self.replicas_up_to_date = true;
            }
            Fault::FailNext { action, count } => {
                self.fail_next.insert(*action, *count);
            }
            Fault::SlowNext { action, ms } => {
                self.slow_next.insert(*action, *ms);
            }
        }
        Ok(())
    }

    /// Changes not yet replicated from `from` to `to` for `home`'s users.
    fn pending_changes(&self, home: &str, from: &str, to: &str) -> u64 {
        let users = self.pools.get(home).map_or(0, |p| p.users);
        let age = self
            .replication
            .get(&(from.to_owned(), to.to_owned()))
            .and_then(|r| r.last_sync_age_seconds)
            .unwrap_or(DEFAULT_SYNC_INTERVAL_SECONDS);
        (users * age * CHANGES_PER_USER_MINUTE).div_ceil(60)
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
                let home = crate::model::fqdn_key(pool);
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
                self.cms_home = Some(crate::model::fqdn_key(to));
                self.replicas_up_to_date = true;
                0
            }
            Action::SyncBackup { pool, .. } => {
                let pool = crate::model::fqdn_key(pool);
                if let Some(b) = self.pools.get(&pool).and_then(|p| p.backup_pool.clone()) {
                    self.synced(&pool, &b);
                }
                0
            }
            Action::RepointEdge { edge, to } => {
                if let Some(e) = self.edges.get_mut(&crate::model::fqdn_key(edge)) {
                    e.next_hop = crate::model::fqdn_key(to);
                }
                0
            }
        };
        self.data_loss += lost;
        lost
    }
}
