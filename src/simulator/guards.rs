//! What the real product refuses, with SfB-like messages, judged here on the simulator's own
//! state and never through the planner (see ARCHITECTURE.md, "Where each SfB rule lives", for the
//! Microsoft page behind each refusal).

use crate::model::{fqdn_key, DatabaseType, Health, MirrorRole};
use crate::model::{Action, Mode};

use super::deployment::{Deployment, Pool};

/// Checks an action against the deployment's state; `Err` is the refusal message.
pub(super) fn check(d: &Deployment, action: &Action) -> Result<(), String> {
    if action.is_manual() {
        return Err(format!(
            "No cmdlet does this; it is a person's step: {action}"
        ));
    }
    // Every cmdlet but the CMS failover reads or writes the Central Management Store; a
    // database failover reads the local replica instead (`-LocalStore`).
    let without_cms = matches!(
        action,
        Action::FailOverCms { .. } | Action::FailOverDatabase { .. }
    );
    if !without_cms && d.cms_master().is_none() {
        return Err(format!(
            "Cannot {}: the Central Management Store is unavailable (no active master). Recover \
             it with Invoke-CsManagementServerFailover first.",
            verb(action)
        ));
    }
    match action {
        Action::FailOverPool { pool, mode } => failover(d, &fqdn_key(pool), *mode),
        Action::FailBackPool { pool, mode } => failback(d, &fqdn_key(pool), *mode),
        Action::FailOverCms {
            to,
            mode,
            backup_sql,
        } => cms_failover(d, &fqdn_key(to), *mode, backup_sql.is_some()),
        Action::SyncBackup { pool, .. } => sync(d, &fqdn_key(pool)),
        Action::FailOverDatabase {
            pool,
            new_principal,
            databases,
        } => database_failover(d, &fqdn_key(pool), *new_principal, databases),
        Action::RepointEdge { edge, to } => {
            let edge = fqdn_key(edge);
            if !d.edges.contains_key(&edge) {
                return Err(format!("Cannot find Edge pool \"{edge}\" in the topology."));
            }
            known_pool(d, &fqdn_key(to)).map(|_| ())
        }
        Action::SetXmppFederationRoute { site, edge } => xmpp_route(d, site, edge),
        Action::SetPersistentChatState { pool, state } => {
            chat_pool(d, pool)?.check_state(&fqdn_key(pool), *state)
        }
        Action::SetPersistentChatActiveServers { pool, servers } => {
            chat_pool(d, pool)?.check_active(&fqdn_key(pool), servers)
        }
        Action::MoveSipFederationRoute { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::RestorePersistentChatDatabase { .. } => Ok(()),
    }
}

/// The Persistent Chat pool a cmdlet names, as `Get-CsService -PersistentChatServer` finds it.
fn chat_pool<'a>(d: &'a Deployment, pool: &str) -> Result<&'a super::chat::ChatPool, String> {
    let pool = fqdn_key(pool);
    d.chat.get(&pool).ok_or_else(|| {
        format!("Cannot find service \"PersistentChatServer:{pool}\" in the topology.")
    })
}

/// `Set-CsSite <site> -XmppFederationRoute EdgeServer:<edge>`: the site and the Edge pool must
/// exist, and the route is named on the site that holds the Edge pool (Microsoft's procedure).
fn xmpp_route(d: &Deployment, site: &str, edge: &str) -> Result<(), String> {
    let (site, edge) = (crate::model::site_key(site), fqdn_key(edge));
    if !d.sites.contains(&site) {
        return Err(format!("Cannot find site \"{site}\" in the topology."));
    }
    let e = d
        .edges
        .get(&edge)
        .ok_or_else(|| format!("Cannot find service \"EdgeServer:{edge}\" in the topology."))?;
    if e.site != site {
        return Err(format!(
            "Edge pool \"{edge}\" is in site \"{}\", not \"{site}\"; the XMPP federation route \
             is set on the site that holds its Edge pool.",
            e.site
        ));
    }
    Ok(())
}

fn verb(action: &Action) -> &'static str {
    match action {
        Action::FailOverPool { .. } => "fail over the pool",
        Action::FailBackPool { .. } => "fail back the pool",
        Action::SyncBackup { .. } => "start a Backup Service sync",
        Action::RepointEdge { .. } => "change the Edge pool's next hop",
        Action::FailOverCms { .. } => "fail over the Central Management Store",
        Action::FailOverDatabase { .. } => "fail over the database",
        Action::SetXmppFederationRoute { .. } => "change the XMPP federation route",
        Action::SetPersistentChatState { .. } => "change the Persistent Chat pool's state",
        Action::SetPersistentChatActiveServers { .. } => {
            "change the Persistent Chat active servers"
        }
        Action::MoveSipFederationRoute { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::RestorePersistentChatDatabase { .. } => "do a person's step",
    }
}

fn known_pool<'a>(d: &'a Deployment, pool: &str) -> Result<&'a Pool, String> {
    d.pools
        .get(pool)
        .ok_or_else(|| format!("Cannot find pool \"{pool}\" in the topology."))
}

fn backup_of<'a>(d: &'a Deployment, pool: &str, verb: &str) -> Result<&'a str, String> {
    known_pool(d, pool)?
        .backup_pool
        .as_deref()
        .ok_or_else(|| format!("Pool \"{pool}\" does not have a backup pool; it cannot be {verb}."))
}

fn not_busy(d: &Deployment, pool: &str) -> Result<(), String> {
    if d.busy.contains(pool) {
        return Err(format!(
            "Another failover, failback or sync is in progress on pool \"{pool}\" or its backup pool."
        ));
    }
    Ok(())
}

/// Why a pool cannot be reached, if it cannot.
fn unreachable_because(p: &Pool) -> Option<&'static str> {
    if p.health == Health::Down {
        Some("its Front End servers are not reachable")
    } else if p.back_end == Health::Down {
        Some("its Back End SQL Server is not reachable")
    } else {
        None
    }
}

/// A graceful move waits for the Backup Service to reach its final state from `from` to `to`;
/// a direction in ErrorState never does, so the cmdlet would wait for ever.
fn replication_final(d: &Deployment, from: &str, to: &str, what: &str) -> Result<(), String> {
    match d.replication.get(&(from.to_owned(), to.to_owned())) {
        Some(r) if r.stuck() => Err(format!(
            "{what} waits for the Backup Service to finish replicating from \"{from}\" to \
             \"{to}\", which is in ErrorState and never reaches FinalState; it does not complete."
        )),
        _ => Ok(()),
    }
}

/// The home pool is named, its partner's users are home, the CMS and every Edge pool's next hop
/// are off it, the target can be reached, and graceful only for a pool that fully runs.
fn failover(d: &Deployment, pool: &str, mode: Mode) -> Result<(), String> {
    let backup = backup_of(d, pool, "failed over")?;
    let p = known_pool(d, pool)?;
    not_busy(d, pool)?;
    if p.served_by != pool {
        return Err(format!(
            "Pool \"{pool}\" is already failed over to \"{}\".",
            p.served_by
        ));
    }
    let partner = known_pool(d, backup)?;
    if partner.served_by != backup {
        return Err(format!(
            "Cannot fail over pool \"{pool}\": the users of its backup pool \"{backup}\" are failed over to it. \
             Run Invoke-CsPoolFailBack -PoolFqdn {backup} first."
        ));
    }
    if d.cms_master() == Some(pool) {
        return Err(format!(
            "Cannot fail over pool \"{pool}\": it hosts the active Central Management Store master. \
             Fail the CMS over to \"{backup}\" with Invoke-CsManagementServerFailover first."
        ));
    }
    // The refusal is about the topology: an Edge pool that is down still names the pool.
    if let Some((edge, _)) = d.edges.iter().find(|(_, e)| e.next_hop == pool) {
        return Err(format!(
            "Invoke-CsPoolFailOver : This Front-end pool \"{pool}\" is specified in topology as \
             the next hop for the Edge server \"{edge}\". Change the Edge internal next hop to \
             point to a different Front-end pool before you proceed."
        ));
    }
    if let Some(why) = unreachable_because(partner) {
        return Err(format!(
            "Cannot fail over pool \"{pool}\": backup pool \"{backup}\" is not usable ({why})."
        ));
    }
    if mode == Mode::Graceful {
        if let Some(why) = unreachable_because(p) {
            return Err(format!(
                "Pool \"{pool}\" cannot be failed over gracefully: {why}. Use -DisasterMode."
            ));
        }
        replication_final(d, pool, backup, "The graceful failover")?;
    }
    Ok(())
}

/// The home pool must be healthy; a graceful failback needs the backup pool and its replication
/// home too.
fn failback(d: &Deployment, pool: &str, mode: Mode) -> Result<(), String> {
    let backup = backup_of(d, pool, "failed back")?;
    let p = known_pool(d, pool)?;
    not_busy(d, pool)?;
    if p.served_by == pool {
        return Err(format!(
            "Pool \"{pool}\" is not failed over; there is nothing to fail back."
        ));
    }
    if let Some(why) = unreachable_because(p) {
        return Err(format!(
            "Cannot fail back pool \"{pool}\": {why}. Fail back only when the pool is healthy."
        ));
    }
    if mode == Mode::Graceful {
        if let Some(why) = unreachable_because(known_pool(d, backup)?) {
            return Err(format!(
                "Cannot fail back pool \"{pool}\" gracefully: backup pool \"{backup}\" is not usable ({why}). \
                 Use -DisasterMode to fail back without it (its users' recent changes there are lost)."
            ));
        }
        replication_final(d, backup, pool, "The graceful failback")?;
    }
    Ok(())
}

/// `Invoke-CsBackupServiceSync -PoolFqdn <pool>` copies from the pool into its backup pool:
/// both must be reachable.
fn sync(d: &Deployment, pool: &str) -> Result<(), String> {
    let p = known_pool(d, pool)?;
    let Some(backup) = p.backup_pool.as_deref() else {
        return Err(format!("Pool \"{pool}\" has no backup pool to sync with."));
    };
    if let Some(why) = unreachable_because(p) {
        return Err(format!(
            "Cannot reach the Backup Service on pool \"{pool}\": {why}."
        ));
    }
    if let Some(why) = unreachable_because(known_pool(d, backup)?) {
        return Err(format!(
            "Cannot sync from \"{pool}\" into its backup pool \"{backup}\": {why}."
        ));
    }
    not_busy(d, pool)
}

/// One CMS failover at a time, into the backup pool of the pool that holds the CMS, which must
/// be reachable; graceful only with the master up (and it waits for replication), the backup SQL
/// details and `-Force` exactly when the master is lost.
fn cms_failover(d: &Deployment, to: &str, mode: Mode, has_backup_sql: bool) -> Result<(), String> {
    let target = known_pool(d, to)?;
    if d.cms_busy {
        return Err(
            "A Central Management Store failover is already in progress. Wait for it to finish."
                .into(),
        );
    }
    let Some(home) = d.cms_home.as_deref() else {
        return Err(
            "Cannot find the pool that hosts the Central Management Store in the topology.".into(),
        );
    };
    let master = d.cms_master();
    if home == to {
        return Err(match master {
            Some(_) => {
                format!("\"{to}\" already hosts the active Central Management Store master.")
            }
            None => format!(
                "\"{to}\" hosts the lost Central Management Store; fail it over to its backup pool."
            ),
        });
    }
    if d.pools.get(home).and_then(|p| p.backup_pool.as_deref()) != Some(to) {
        return Err(format!(
            "\"{to}\" is not the backup pool of \"{home}\", which hosts the Central Management Store."
        ));
    }
    if let Some(why) = unreachable_because(target) {
        return Err(format!(
            "Cannot fail the Central Management Store over to \"{to}\": {why}."
        ));
    }
    match (mode, master) {
        (Mode::Graceful, None) => Err(
            "The active Central Management Store master cannot be reached. Run \
             Invoke-CsManagementServerFailover with -BackupSqlServerFqdn (and -BackupSqlInstanceName for a named instance) and -Force."
                .into(),
        ),
        (Mode::Graceful, Some(_)) => replication_final(d, home, to, "The Central Management Store failover"),
        // Microsoft advises against -Force "other than disaster recovery" (the cmdlet itself would
        // run); the PowerShell driver refuses it at run time while the master's computer
        // answers, and this stands for that check.
        (Mode::Disaster, Some(m)) => Err(format!(
            "The active Central Management Store master on \"{m}\" is reachable: -Force is for \
             disaster recovery only. Run Invoke-CsManagementServerFailover without it."
        )),
        (Mode::Disaster, None) if !has_backup_sql => Err(
            "Parameter -BackupSqlServerFqdn is required to fail over the Central Management Store \
             without its active master."
                .into(),
        ),
        (Mode::Disaster, None) => Ok(()),
    }
}

/// `Invoke-CsDatabaseFailover` fails only with a mirror configured, into a server that answers;
/// each database named must be in the pool and not already on the new principal, and a pool busy
/// with another move waits.
fn database_failover(
    d: &Deployment,
    pool: &str,
    to: MirrorRole,
    databases: &[DatabaseType],
) -> Result<(), String> {
    let p = known_pool(d, pool)?;
    let Some(m) = p.mirror else {
        return Err(format!(
            "Invoke-CsDatabaseFailover : Pool \"{pool}\" has no mirror database configured; \
             both a primary and a mirror database are needed."
        ));
    };
    not_busy(d, pool)?;
    if databases.is_empty() {
        return Err("Invoke-CsDatabaseFailover : -DatabaseType is required.".into());
    }
    for db in databases {
        let home = d.cms_home.as_deref();
        let backup = home
            .and_then(|h| d.pools.get(h))
            .and_then(|h| h.backup_pool.as_deref());
        if *db == DatabaseType::CentralMgmt && home != Some(pool) && backup != Some(pool) {
            return Err(format!(
                "Invoke-CsDatabaseFailover : Pool \"{pool}\" holds no Central Management database."
            ));
        }
        if m.principal(*db) == to {
            return Err(format!(
                "Invoke-CsDatabaseFailover : The {} database of pool \"{pool}\" already has the {} \
                 as its principal.",
                db.name(),
                to.word()
            ));
        }
    }
    if m.health(to) != Health::Up {
        return Err(format!(
            "Invoke-CsDatabaseFailover : The {} SQL Server of pool \"{pool}\" is not reachable; \
             the databases cannot fail over to it.",
            to.word()
        ));
    }
    Ok(())
}
