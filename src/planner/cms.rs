//! Where the Central Management Store master should be, and the CMS failover that gets it there
//! (DESIGN section 4 and rule 2; SFB-DR-FACTS "CMS first").

use crate::model::{BackupSql, BlockReason, CmsFailback, Desired, Health, Mode, ObservedIndex};

use super::pool_pair::{PairDecision, PairView};

/// What the CMS needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum CmsDecision {
    /// No `CentralManagementStore` is declared; the CMS is never moved.
    NotManaged,
    /// The master is where it should be.
    Stays,
    /// A CMS failover into `to`.
    Move {
        to: String,
        mode: Mode,
        backup_sql: Option<Box<BackupSql>>,
    },
    /// A move is needed (or would be, for a failover) and cannot be made.
    Blocked(BlockReason, String),
}

/// The CMS master as observed: `reported` is what the driver said, `available` the same unless
/// that pool is down, in which case the CMS is unavailable.
#[derive(Clone, Copy, Debug)]
pub(super) struct Master<'a> {
    pub available: Option<&'a str>,
    pub reported: Option<&'a str>,
}

/// Decides the CMS move. `pair` is the CMS pair's view and decision, when the pair exists;
/// `needed_by_failover` says whether some planned failover needs an unavailable CMS moved.
pub(super) fn decide(
    desired: &Desired,
    observed: &ObservedIndex,
    master: Master<'_>,
    pair: Option<(&PairView<'_>, &PairDecision)>,
    needed_by_failover: bool,
) -> CmsDecision {
    let Some(spec) = &desired.cms else {
        return CmsDecision::NotManaged;
    };
    let Some((view, pair_decision)) = pair else {
        return CmsDecision::Blocked(
            BlockReason::ObservationDisagrees,
            format!("the CMS pair {} is not declared or not observed", spec.pair),
        );
    };
    let lost = master.reported.filter(|_| master.available.is_none());
    let master = master.available;
    let master_i = match master.or(lost).map(|m| (m, view.spec.position(m))) {
        Some((m, None)) => {
            return CmsDecision::Blocked(
                BlockReason::ObservationDisagrees,
                format!(
                    "the CMS active master is on {m}, which is not in the declared CMS pair {}",
                    spec.pair
                ),
            )
        }
        Some((_, Some(i))) if master.is_some() => Some(i),
        _ => None,
    };
    let lost_i = lost.and_then(|m| view.spec.position(m));
    let Some(pref) = view.spec.position(&spec.preferred_pool) else {
        return CmsDecision::Blocked(
            BlockReason::ObservationDisagrees,
            format!(
                "preferredPool {} is not in pair {}",
                spec.preferred_pool, spec.pair
            ),
        );
    };
    let other = 1 - pref;
    let active = |i: usize| desired.pool_site_active(view.spec, i);
    // The CMS cannot go back onto the pool it was lost with; DESIGN section 4 otherwise.
    let usable = |i: usize| active(i) && lost_i != Some(i);
    let target = if spec.failback == CmsFailback::Manual && master_i == Some(other) && active(other)
    {
        other
    } else if usable(pref) {
        pref
    } else if usable(other) {
        other
    } else if lost_i.is_some() {
        return CmsDecision::Blocked(
            BlockReason::TargetDown,
            format!(
                "the CMS was lost with {} and the other pool of pair {} is not in an active site",
                lost.unwrap_or_default(),
                spec.pair
            ),
        );
    } else {
        return CmsDecision::Blocked(
            BlockReason::NoActiveSite,
            format!(
                "neither pool of the CMS pair {} is in an active site",
                spec.pair
            ),
        );
    };
    if master_i == Some(target) {
        return CmsDecision::Stays;
    }
    let to = view.fqdn(target).to_owned();
    if master_i.is_none() && !needed_by_failover {
        return CmsDecision::Blocked(
            BlockReason::CmsUnavailable,
            format!(
                "the CMS has no active master; it is failed over to {to} only when a pool failover needs it"
            ),
        );
    }
    if master.is_some() && !observed.topology.cms.replicas_up_to_date {
        return CmsDecision::Blocked(
            BlockReason::CmsUnsettled,
            "CMS replicas are not up to date; a CMS failover waits until the previous one has settled"
                .into(),
        );
    }
    if let Err((reason, message)) = pair_decision {
        return CmsDecision::Blocked(*reason, format!("the CMS pair is blocked: {message}"));
    }
    let target_pool = view.pools[target];
    match target_pool.health {
        Health::Up => {}
        Health::Down => {
            return CmsDecision::Blocked(
                BlockReason::TargetDown,
                format!("the CMS should move to {to}, which is down"),
            )
        }
        Health::Unknown => {
            return CmsDecision::Blocked(
                BlockReason::HealthUnknown,
                format!("the CMS should move to {to}, whose health is Unknown"),
            )
        }
    }
    let mode = match master_i.map(|i| view.pools[i].health) {
        Some(Health::Up) => Mode::Graceful,
        Some(Health::Down) | None => Mode::Disaster,
        Some(Health::Unknown) => {
            return CmsDecision::Blocked(
                BlockReason::HealthUnknown,
                format!(
                    "the health of the CMS master pool {} is Unknown",
                    master.unwrap_or_default()
                ),
            )
        }
    };
    let backup_sql = match mode {
        Mode::Graceful => None,
        Mode::Disaster => match spec.backup_sql_for(&to) {
            Some(b) => Some(Box::new(b.clone())),
            None => {
                return CmsDecision::Blocked(
                    BlockReason::MissingBackupSql,
                    format!(
                        "a disaster-mode CMS failover into {to} needs its backup SQL Server; add a \
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
