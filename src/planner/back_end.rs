//! Back End high availability: a mirrored Back End whose principal is down fails its databases
//! over to the other SQL Server (`Invoke-CsDatabaseFailover`), and the pool keeps its users.
//!
//! Microsoft's "Back End Server high availability" page: with database mirroring "an
//! administrator must manually invoke failover" when no witness is deployed, and may invoke it
//! even with one. Its procedure ("Failing over a mirrored database") fails over the user
//! database, and the Central Management store's when the pool holds it. The planner decides that
//! repair first and plans everything else on the deployment as it will be once the databases have
//! moved: a pool whose Back End is back serves, fails over or receives users gracefully, and a CMS
//! whose database is back has its master again, so nothing is forced over.

use crate::model::{Action, DatabaseType, Desired, Health, MirrorRole, ObservedIndex};

/// One database failover the observation calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Repair {
    pub pool: String,
    pub to: MirrorRole,
    /// Whether the pool's Back End holds a Central Management database: the CMS's own pool and
    /// its backup pool, which holds the copy a CMS failover goes to. Its `CentralMgmt` database
    /// fails over too; on the CMS's pool that brings the master back.
    pub holds_cms: bool,
    /// Whether the pool holds the CMS itself: every step needs the CMS, so every step waits for
    /// this repair. The others hold up only the steps on their own pool and its partner.
    pub restores_master: bool,
}

impl Repair {
    /// The CMS database first: a step that moved it and then failed on the user database is
    /// planned again (the user database's principal is still down) and moves only what is left,
    /// whereas the other order would leave the CMS on a dead server behind a healthy-looking
    /// Back End.
    pub fn action(&self) -> Action {
        let mut databases = Vec::with_capacity(2);
        if self.holds_cms {
            databases.push(DatabaseType::CentralMgmt);
        }
        databases.push(DatabaseType::User);
        Action::FailOverDatabase {
            pool: self.pool.clone(),
            new_principal: self.to,
            databases,
        }
    }
}

/// Every declared pool whose Front Ends are up, whose Back End principal is down and whose other SQL
/// Server is up. A pool whose Front Ends are down or unknown is not repaired this way: moving its
/// databases gives its users no service, and its failover (in disaster mode) is what does.
pub(super) fn repairs(desired: &Desired, observed: &ObservedIndex) -> Vec<Repair> {
    let cms_pool = observed.topology.cms.home();
    let cms_backup = cms_pool
        .and_then(|p| observed.pool(p))
        .and_then(|p| p.backup_pool.as_deref());
    observed
        .topology
        .pools
        .iter()
        .filter(|p| p.health == Health::Up)
        // Only pools the resources declare: the operator leaves the rest of the deployment alone.
        .filter(|p| {
            desired
                .pairs
                .iter()
                .any(|pair| pair.position(&p.fqdn).is_some())
        })
        .filter_map(|p| {
            let to = p.back_end_mirror?.failover_target()?;
            Some(Repair {
                pool: p.fqdn.clone(),
                to,
                holds_cms: [cms_pool, cms_backup].contains(&Some(p.fqdn.as_str())),
                restores_master: cms_pool == Some(p.fqdn.as_str()),
            })
        })
        .collect()
}

/// The deployment as it will be once every repair has succeeded: each repaired pool's Back End
/// up on its new principal, and a CMS whose database moved with its master on its pool again.
pub(super) fn repaired(observed: &ObservedIndex, repairs: &[Repair]) -> ObservedIndex {
    let mut topology = observed.topology.clone();
    for r in repairs {
        if let Some(p) = topology.pools.iter_mut().find(|p| p.fqdn == r.pool) {
            if let Some(m) = &mut p.back_end_mirror {
                m.principal = r.to;
            }
            p.back_end = Some(Health::Up);
        }
        if topology.cms.home() == Some(r.pool.as_str()) {
            let cms = &mut topology.cms;
            if cms.active_master.is_none() || cms.active_master.as_deref() == Some(&r.pool) {
                cms.active_master = Some(r.pool.clone());
            }
        }
    }
    // The repaired topology differs from a valid one only in health and in a master placed on a
    // pool of the topology, so it is valid too; fall back to the observation if not.
    ObservedIndex::new(topology).unwrap_or_else(|_| observed.clone())
}

/// The pools a step works on, whose Back End it needs: a pool move's pool and its partner, the
/// pool a CMS failover goes to, an Edge pool's new next hop.
pub(super) fn pools_of<'a>(action: &'a Action, observed: &'a ObservedIndex) -> Vec<&'a str> {
    match action {
        Action::FailOverPool { pool, .. }
        | Action::FailBackPool { pool, .. }
        | Action::SyncBackup { pool, .. } => {
            let partner = observed.pool(pool).and_then(|p| p.backup_pool.as_deref());
            std::iter::once(pool.as_str()).chain(partner).collect()
        }
        Action::FailOverCms { to, .. } => vec![to.as_str()],
        Action::RepointEdge { to, .. } => vec![to.as_str()],
        Action::FailOverDatabase { .. }
        | Action::MoveSipFederationRoute { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::SetXmppFederationRoute { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::SetPersistentChatState { .. }
        | Action::SetPersistentChatActiveServers { .. }
        | Action::RestorePersistentChatDatabase { .. } => Vec::new(),
    }
}
