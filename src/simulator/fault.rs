//! Faults and repairs injected through `POST /faults`.

use serde::{Deserialize, Serialize};

use crate::model::{fqdn_key, site_key, ActionKind, Health, RouteKind};

use super::deployment::Deployment;

/// A fault or repair injected through `POST /faults`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Fault {
    /// The pool's Front Ends stop (or start) answering.
    PoolDown {
        pool: String,
    },
    PoolUp {
        pool: String,
    },
    /// Every pool (its Front Ends and its Back End) and Edge pool of the site.
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
    /// The pool's Back End SQL Server stops (or starts) while its Front Ends keep running.
    BackEndDown {
        pool: String,
    },
    BackEndUp {
        pool: String,
    },
    /// One SQL Server of a mirrored Back End stops (or starts), whichever is the principal.
    DatabaseServerDown {
        pool: String,
        server: crate::model::MirrorRole,
    },
    DatabaseServerUp {
        pool: String,
        server: crate::model::MirrorRole,
    },
    /// The Backup Service direction from `from` to its backup pool changes state at run time
    /// (say `NotInitialized` after a rebuilt pool, or `NonSteadyState` with a backlog), with the
    /// age of its last sync.
    #[serde(rename_all = "camelCase")]
    Backup {
        from: String,
        export_state: crate::model::ExportState,
        #[serde(default)]
        last_sync_age_seconds: Option<u64>,
    },
    /// A person moved SIP federation to `edge` in Topology Builder and published the topology
    /// (the step `MoveSipFederationRoute` asks of them). Publishing needs a CMS master.
    SipRouteMovedByHand {
        edge: String,
    },
    /// A person brought the Persistent Chat pool's backup `mgc` database online in SQL Server
    /// (the step `RecoverPersistentChatDatabase` asks of them).
    PersistentChatDatabaseRecovered {
        pool: String,
    },
    /// A person restored the Persistent Chat pool's primary `mgc` database from its backup
    /// database and set log shipping up again (the step `RestorePersistentChatDatabase`).
    PersistentChatDatabaseRestored {
        pool: String,
    },
    /// The CMS master goes blank while its pool stays up, until a CMS recovery.
    CmsMasterLost,
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

fn health(up: bool) -> Health {
    if up {
        Health::Up
    } else {
        Health::Down
    }
}

/// Why a fault was not applied: what it names is not in the deployment (HTTP 404), or the
/// deployment's state does not allow it (HTTP 409), such as a person's step done twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultError {
    NotFound(String),
    Refused(String),
}

impl std::fmt::Display for FaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultError::NotFound(m) | FaultError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FaultError {}

impl Deployment {
    /// Applies a fault; an unknown pool, site or Edge is an error naming it.
    pub fn inject(&mut self, fault: &Fault) -> Result<(), FaultError> {
        use FaultError::{NotFound, Refused};
        match fault {
            Fault::PoolDown { pool } | Fault::PoolUp { pool } => {
                let up = matches!(fault, Fault::PoolUp { .. });
                self.pool_mut(pool)?.health = health(up);
            }
            Fault::BackEndDown { pool } | Fault::BackEndUp { pool } => {
                // The principal of a mirrored Back End's user database, or its only server.
                let h = health(matches!(fault, Fault::BackEndUp { .. }));
                let p = self.pool_mut(pool)?;
                match &mut p.mirror {
                    Some(m) => m.set_health(m.user, h),
                    None => p.back_end = h,
                }
                p.settle_back_end();
            }
            Fault::DatabaseServerDown { pool, server }
            | Fault::DatabaseServerUp { pool, server } => {
                let h = health(matches!(fault, Fault::DatabaseServerUp { .. }));
                let p = self.pool_mut(pool)?;
                let m = p
                    .mirror
                    .as_mut()
                    .ok_or_else(|| Refused(format!("pool {pool} has no mirrored Back End")))?;
                m.set_health(*server, h);
                p.settle_back_end();
            }
            Fault::SiteDown { site } | Fault::SiteUp { site } => {
                let key = site_key(site);
                if !self.sites.contains(&key) {
                    return Err(NotFound(format!("unknown site {site}")));
                }
                let h = health(matches!(fault, Fault::SiteUp { .. }));
                // A site that goes dark takes its SQL Servers with it.
                for p in self.pools.values_mut().filter(|p| p.site == key) {
                    p.health = h;
                    p.back_end = h;
                    if let Some(m) = &mut p.mirror {
                        (m.primary, m.mirror) = (h, h);
                    }
                }
                for e in self.edges.values_mut().filter(|e| e.site == key) {
                    e.health = h;
                }
                for c in self.chat.values_mut() {
                    c.site_health(&key, h);
                }
            }
            Fault::EdgeDown { edge } | Fault::EdgeUp { edge } => {
                let up = matches!(fault, Fault::EdgeUp { .. });
                let e = self
                    .edges
                    .get_mut(&fqdn_key(edge))
                    .ok_or_else(|| NotFound(format!("unknown Edge pool {edge}")))?;
                e.health = health(up);
            }
            Fault::Backup {
                from,
                export_state,
                last_sync_age_seconds,
            } => {
                let from = fqdn_key(from);
                let r = self
                    .replication
                    .iter_mut()
                    .find(|((f, _), _)| *f == from)
                    .map(|(_, r)| r)
                    .ok_or_else(|| NotFound(format!("no Backup Service direction from {from}")))?;
                r.export_state = *export_state;
                r.last_sync_age_seconds = *last_sync_age_seconds;
            }
            Fault::SipRouteMovedByHand { edge } => {
                let edge = fqdn_key(edge);
                if !self.edges.contains_key(&edge) {
                    return Err(NotFound(format!("unknown Edge pool {edge}")));
                }
                if self.cms_master().is_none() {
                    return Err(Refused(
                        "Topology Builder cannot publish: the Central Management Store has no active master"
                            .into(),
                    ));
                }
                self.routes.insert(RouteKind::Sip, Some(edge));
            }
            Fault::PersistentChatDatabaseRecovered { pool }
            | Fault::PersistentChatDatabaseRestored { pool } => {
                let pool = fqdn_key(pool);
                let c = self
                    .chat
                    .get_mut(&pool)
                    .ok_or_else(|| NotFound(format!("unknown Persistent Chat pool {pool}")))?;
                match fault {
                    Fault::PersistentChatDatabaseRecovered { .. } => c.recover(&pool),
                    _ => c.restore(&pool),
                }
                .map_err(Refused)?;
            }
            Fault::CmsMasterLost => {
                if self.cms_home.is_none() {
                    return Err(Refused(
                        "the deployment does not say where its CMS is (cms.pool)".into(),
                    ));
                }
                self.cms_master_lost = true;
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

    fn pool_mut(&mut self, pool: &str) -> Result<&mut super::deployment::Pool, FaultError> {
        self.pools
            .get_mut(&fqdn_key(pool))
            .ok_or_else(|| FaultError::NotFound(format!("unknown pool {pool}")))
    }
}
