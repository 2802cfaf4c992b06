//! Where the Central Management Store master should be, and the CMS failover that gets it there.
//!
//! Two different moves share the cmdlet (`Invoke-CsManagementServerFailover`, run on the pool that
//! receives the CMS): with the master up, a graceful move with no parameters, which first waits
//! for every replication; with the master lost, a recovery from the backup SQL Server with
//! `-Force`, which Microsoft's procedure sends to the backup pool of the pool that holds the CMS
//! database. A blank `ActiveMasterFqdn` says the master is lost, not where it was: the planner
//! recovers it only where the observation says the database lives (`cms.pool`).

use crate::model::{
    BackupSql, BlockReason, CmsFailback, CmsSpec, Desired, Health, Mode, ObservedIndex,
    ObservedPool,
};

use super::pool_pair::{back_end_note, serving_health, unknown_health, PairView};

/// The CMS master as observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Master<'a> {
    /// The active master's pool, which can serve.
    Available(&'a str),
    /// No active master (blank, or on a pool or Back End that is down); `location` is the pool
    /// that holds the CMS database when the observation says so.
    Lost { location: Option<&'a str> },
    /// No active master named, while the pool that holds the CMS database is up with its Back
    /// End: a failed or half-done CMS failover to repair, not a lost master. Nothing that needs
    /// the CMS can run, and nothing forces a failover over a live store.
    Inconsistent { pool: &'a str },
}

impl<'a> Master<'a> {
    /// Reads the master from the observation: a master reported on a pool whose Front Ends or
    /// Back End (where the CMS database lives) are down is no master.
    pub fn observe(observed: &'a ObservedIndex) -> Self {
        let cms = &observed.topology.cms;
        let down = |p: &ObservedPool| p.health == Health::Down || p.back_end == Some(Health::Down);
        match cms.active_master.as_deref() {
            Some(m) if observed.pool(m).is_some_and(|p| !down(p)) => Master::Available(m),
            Some(m) => Master::Lost { location: Some(m) },
            None => match cms.pool.as_deref() {
                Some(pool)
                    if observed
                        .pool(pool)
                        .is_some_and(|p| !down(p) && p.health == Health::Up) =>
                {
                    Master::Inconsistent { pool }
                }
                location => Master::Lost { location },
            },
        }
    }

    /// The pool hosting an available master.
    pub fn available(self) -> Option<&'a str> {
        match self {
            Master::Available(m) => Some(m),
            Master::Lost { .. } | Master::Inconsistent { .. } => None,
        }
    }
}

/// What the CMS needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum CmsDecision {
    /// No `CentralManagementStore` is declared; the CMS is never moved.
    NotManaged,
    /// The master is where it should be.
    Stays,
    /// A CMS failover into `to`; `Disaster` exactly when it recovers a lost master.
    Move {
        to: String,
        mode: Mode,
        backup_sql: Option<Box<BackupSql>>,
    },
    /// A move is needed and cannot be made.
    Blocked(BlockReason, String),
}

type Block = (BlockReason, String);

/// Decides the CMS move. `pair` is the CMS pair's view, when the pair is declared and observed;
/// `other_steps` says whether anything else is to be done, which a lost master must precede.
pub(super) fn decide(
    desired: &Desired,
    observed: &ObservedIndex,
    master: Master<'_>,
    pair: Option<&PairView<'_>>,
    other_steps: bool,
) -> CmsDecision {
    let Some(spec) = &desired.cms else {
        return CmsDecision::NotManaged;
    };
    let Some(view) = pair else {
        return CmsDecision::Blocked(
            BlockReason::ObservationDisagrees,
            format!("the CMS pair {} is not declared or not observed", spec.pair),
        );
    };
    let decision = match master {
        Master::Available(m) => graceful(desired, spec, observed, view, m),
        Master::Lost { .. } if !other_steps => Err((
            BlockReason::CmsUnavailable,
            "the CMS has no active master; it is forced over only when a pool must fail over \
             or back, and every other step (Edge repoints, conference-content copies) waits for \
             a working CMS"
                .into(),
        )),
        Master::Lost { location } => recovery(desired, view, location),
        Master::Inconsistent { pool } => Err((
            BlockReason::CmsUnavailable,
            format!(
                "the CMS names no active master while {pool}, which holds its database, is up with \
                 its Back End: that is a CMS failover left inconsistent, to repair by hand \
                 (Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus on {pool} \
                 shows its state), not a lost master; sfb-dr does not force a failover over a live \
                 store, and every step that needs the CMS waits"
            ),
        )),
    };
    match decision {
        Ok(Some((to, mode))) => {
            if let Some(why) = observed.unsupported_pairing(view.index[0]) {
                return CmsDecision::Blocked(
                    BlockReason::PairUnsupported,
                    format!("the CMS would move within an unsupported pairing: {why}"),
                );
            }
            let backup_sql = match mode {
                Mode::Graceful => None,
                Mode::Disaster => match spec.backup_sql_for(&to) {
                    Some(b) => Some(Box::new(b.clone())),
                    None => {
                        return CmsDecision::Blocked(
                            BlockReason::MissingBackupSql,
                            format!(
                                "recovering the CMS into {to} needs its backup SQL Server; add a \
                                 backupSql entry for {to} to CentralManagementStore {}",
                                spec.name
                            ),
                        )
                    }
                },
            };
            CmsDecision::Move {
                to,
                mode,
                backup_sql,
            }
        }
        Ok(None) => CmsDecision::Stays,
        Err((reason, message)) => CmsDecision::Blocked(reason, message),
    }
}

/// With the master up: where it should be (the preferred pool while its site is active, else
/// the partner; with `failback: Manual` a master that moved stays while its site is active), and
/// the graceful move there.
fn graceful(
    desired: &Desired,
    spec: &CmsSpec,
    observed: &ObservedIndex,
    view: &PairView<'_>,
    master: &str,
) -> Result<Option<(String, Mode)>, Block> {
    let Some(master_i) = view.spec.position(master) else {
        return Err((
            BlockReason::ObservationDisagrees,
            format!(
                "the CMS active master is on {master}, which is not in the declared CMS pair {}",
                spec.pair
            ),
        ));
    };
    let pref = preferred(view, &spec.preferred_pool)?;
    let active = |i: usize| desired.pool_site_active(view.spec, i);
    let other = 1 - pref;
    let target = if spec.failback == CmsFailback::Manual && master_i == other && active(other) {
        other
    } else if active(pref) {
        pref
    } else if active(other) {
        other
    } else {
        return Err((
            BlockReason::NoActiveSite,
            format!(
                "neither pool of the CMS pair {} is in an active site",
                spec.pair
            ),
        ));
    };
    if target == master_i {
        return Ok(None);
    }
    let (from, to) = (view.pools[master_i], view.pools[target]);
    receiving_pool_up(view, target)?;
    if serving_health(from) == Health::Unknown {
        return Err(unknown_health(from));
    }
    // The graceful cmdlet waits until every replication is done; a direction in ErrorState is
    // never done.
    let direction = observed
        .backup_from_index(view.index[master_i])
        .filter(|d| d.to == to.fqdn);
    if let Some(d) = direction.filter(|d| d.is_error()) {
        return Err((
            BlockReason::BackupUnhealthy,
            format!(
                "cannot move the CMS gracefully: Backup Service replication {} -> {} is in \
                 ErrorState (export {:?}, import {:?}) and the move waits for it; repair it first",
                from.fqdn, to.fqdn, d.export_state, d.import_state
            ),
        ));
    }
    Ok(Some((to.fqdn.clone(), Mode::Graceful)))
}

/// With the master lost: the recovery into the backup pool of the pool that holds the CMS
/// database, which the observation must name.
fn recovery(
    desired: &Desired,
    view: &PairView<'_>,
    location: Option<&str>,
) -> Result<Option<(String, Mode)>, Block> {
    let Some(location) = location else {
        return Err((
            BlockReason::CmsLocationUnknown,
            "the observation does not say which pool holds the CMS database (cms.pool), so no \
             pool can be chosen for its recovery and nothing that needs the CMS is done; find it \
             with Invoke-CsManagementServerFailover -WhatIf and report it as cms.pool"
                .into(),
        ));
    };
    let Some(lost_i) = view.spec.position(location) else {
        return Err((
            BlockReason::ObservationDisagrees,
            format!(
                "the CMS database is on {location}, which is not in the declared CMS pair {}",
                view.spec.name
            ),
        ));
    };
    let target = 1 - lost_i;
    if !desired.pool_site_active(view.spec, target) {
        return Err((
            BlockReason::NoActiveSite,
            format!(
                "the CMS lost its master on {location} and can be recovered only into its backup \
                 pool {}, whose site is not active",
                view.fqdn(target)
            ),
        ));
    }
    receiving_pool_up(view, target)?;
    Ok(Some((view.fqdn(target).to_owned(), Mode::Disaster)))
}

fn preferred(view: &PairView<'_>, preferred: &str) -> Result<usize, Block> {
    view.spec.position(preferred).ok_or_else(|| {
        (
            BlockReason::ObservationDisagrees,
            format!(
                "preferredPool {preferred} is not in pair {}",
                view.spec.name
            ),
        )
    })
}

/// The pool that receives the CMS runs the cmdlet and hosts the database: Front Ends and Back
/// End up.
fn receiving_pool_up(view: &PairView<'_>, target: usize) -> Result<(), Block> {
    let pool = view.pools[target];
    match serving_health(pool) {
        Health::Up => Ok(()),
        Health::Down => Err((
            BlockReason::TargetDown,
            format!(
                "the CMS should move to {}, which is down{}",
                pool.fqdn,
                back_end_note(pool)
            ),
        )),
        Health::Unknown => Err(unknown_health(pool)),
    }
}
