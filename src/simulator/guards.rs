//! What the real product refuses, with SfB-like messages (SFB-DR-FACTS "Guards, in one list").

use crate::model::{fqdn_key, Health};
use crate::model::{Action, Mode};

use super::deployment::Deployment;

/// Checks an action against the deployment's state; `Err` is the refusal message.
pub(super) fn check(d: &Deployment, action: &Action) -> Result<(), String> {
    match action {
        Action::FailOverPool { pool, mode } => failover(d, &fqdn_key(pool), *mode),
        Action::FailBackPool { pool, mode } => failback(d, &fqdn_key(pool), *mode),
        Action::FailOverCms {
            to,
            mode,
            backup_sql,
        } => cms_failover(d, &fqdn_key(to), *mode, backup_sql.is_some()),
        Action::SyncBackup { pool, .. } => {
            let pool = fqdn_key(pool);
            let p = known_pool(d, &pool)?;
            if p.backup_pool.is_none() {
                return Err(format!("Pool \"{pool}\" has no backup pool to sync with."));
            }
            if p.health == Health::Down {
                return Err(format!(
                    "Cannot reach the Backup Service on pool \"{pool}\"."
                ));
            }
            not_busy(d, &pool)
        }
        Action::RepointEdge { edge, to } => {
            let edge = fqdn_key(edge);
            if !d.edges.contains_key(&edge) {
                return Err(format!("Cannot find Edge pool \"{edge}\" in the topology."));
            }
            known_pool(d, &fqdn_key(to)).map(|_| ())
        }
    }
}

fn known_pool<'a>(d: &'a Deployment, pool: &str) -> Result<&'a super::deployment::Pool, String> {
    d.pools
        .get(pool)
        .ok_or_else(|| format!("Cannot find pool \"{pool}\" in the topology."))
}

fn not_busy(d: &Deployment, pool: &str) -> Result<(), String> {
    if d.busy.contains(pool) {
        return Err(format!(
            "Another failover, failback or sync is in progress on pool \"{pool}\" or its backup pool."
        ));
    }
    Ok(())
}

/// Guards 1-5 and 7: home pool named, partner at home, CMS and Edges off the pool, target up,
/// graceful only for a running pool.
fn failover(d: &Deployment, pool: &str, mode: Mode) -> Result<(), String> {
    let p = known_pool(d, pool)?;
    let Some(backup) = &p.backup_pool else {
        return Err(format!(
            "Pool \"{pool}\" does not have a backup pool; it cannot be failed over."
        ));
    };
    not_busy(d, pool)?;
    if p.served_by != pool {
        return Err(format!(
            "Pool \"{pool}\" is already failed over to \"{}\".",
            p.served_by
        ));
    }
    let partner = known_pool(d, backup)?;
    if partner.served_by != *backup {
        return Err(format!(
            "Cannot fail over pool \"{pool}\": the users of its backup pool \"{backup}\" are failed over to it. \
             Run Invoke-CsPoolFailBack -PoolFqdn {backup} first."
        ));
    }
    match d.cms_master() {
        None => {
            return Err(format!(
                "Cannot fail over pool \"{pool}\": the Central Management Store is unavailable. \
                 Fail it over with Invoke-CsManagementServerFailover first."
            ))
        }
        Some(m) if m == pool => {
            return Err(format!(
                "Cannot fail over pool \"{pool}\": it hosts the active Central Management Store master. \
                 Fail the CMS over to \"{backup}\" with Invoke-CsManagementServerFailover first."
            ))
        }
        Some(_) => {}
    }
    if let Some((edge, _)) = d
        .edges
        .iter()
        .find(|(_, e)| e.next_hop == pool && e.health != Health::Down)
    {
        return Err(format!(
            "Cannot fail over pool \"{pool}\": Edge pool \"{edge}\" uses it as its next hop. \
             Point the Edge pool at \"{backup}\" first."
        ));
    }
    if partner.health == Health::Down {
        return Err(format!(
            "Cannot fail over pool \"{pool}\": backup pool \"{backup}\" is not reachable."
        ));
    }
    if mode == Mode::Graceful && p.health == Health::Down {
        return Err(format!(
            "Pool \"{pool}\" is not reachable; a graceful failover needs it running. Use -DisasterMode."
        ));
    }
    Ok(())
}

/// Guard 6: the home pool must be healthy; graceful failback needs the backup pool too.
fn failback(d: &Deployment, pool: &str, mode: Mode) -> Result<(), String> {
    let p = known_pool(d, pool)?;
    let Some(backup) = &p.backup_pool else {
        return Err(format!(
            "Pool \"{pool}\" does not have a backup pool; it cannot be failed back."
        ));
    };
    not_busy(d, pool)?;
    if p.served_by == pool {
        return Err(format!(
            "Pool \"{pool}\" is not failed over; there is nothing to fail back."
        ));
    }
    if p.health == Health::Down {
        return Err(format!(
            "Cannot fail back pool \"{pool}\": it is not reachable. Fail back only when the pool is healthy."
        ));
    }
    if mode == Mode::Graceful && known_pool(d, backup)?.health == Health::Down {
        return Err(format!(
            "Cannot fail back pool \"{pool}\" gracefully: backup pool \"{backup}\" is not reachable. \
             Use -DisasterMode to fail back without it (its users' recent changes there are lost)."
        ));
    }
    Ok(())
}

/// Guard 3's other half and the CMS procedure: one CMS failover at a time, into a running
/// partner of the master, with backup SQL details exactly when the master is lost.
fn cms_failover(d: &Deployment, to: &str, mode: Mode, has_backup_sql: bool) -> Result<(), String> {
    let target = known_pool(d, to)?;
    if d.cms_busy || (d.cms_master().is_some() && !d.replicas_up_to_date) {
        return Err(
            "A Central Management Store failover is already in progress or has not settled \
             (replicas are not up to date). Wait for it to finish."
                .into(),
        );
    }
    if let Some(home) = &d.cms_home {
        if home == to && d.cms_master().is_some() {
            return Err(format!(
                "\"{to}\" already hosts the active Central Management Store master."
            ));
        }
        let paired = d.pools.get(home).and_then(|p| p.backup_pool.as_deref()) == Some(to);
        if home != to && !paired {
            return Err(format!(
                "\"{to}\" is not the backup pool of \"{home}\", which hosts the Central Management Store."
            ));
        }
    }
    if target.health == Health::Down {
        return Err(format!(
            "Cannot fail the Central Management Store over to \"{to}\": it is not reachable."
        ));
    }
    match mode {
        Mode::Graceful if d.cms_master().is_none() => Err(
            "The active Central Management Store master cannot be reached. Run \
             Invoke-CsManagementServerFailover with -BackupSqlServerFqdn, -BackupSqlInstanceName and -Force."
                .into(),
        ),
        Mode::Disaster if !has_backup_sql => Err(
            "Parameters -BackupSqlServerFqdn and -BackupSqlInstanceName are required to fail over \
             the Central Management Store without its active master."
                .into(),
        ),
        _ => Ok(()),
    }
}
