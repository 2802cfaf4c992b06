//! Observing a real deployment: one script gathers what the cmdlets report, under their own
//! field names, and this module turns that report into the observed topology (DESIGN section 7).
//!
//! The SfB rules of interpretation live here, in Rust, where they are tested: how a pool's
//! health is judged, how the Backup Service modules sum up to one state per direction, which
//! pool hosts the CMS master. The script only gathers.

use serde::Deserialize;

use crate::driver::DriverError;
use crate::model::{
    fqdn_key, site_key, BackupDirection, CmsState, Edition, ExportState, Health, ImportState,
    ObservedEdge, ObservedIndex, ObservedPool, ObservedTopology,
};

use super::outcome::{parse_outcome, OneOrMany, Outcome};
use super::script::guarded;

/// The script `observe` runs; it prints one JSON document (`ConvertTo-Json -Depth 8 -Compress`).
pub fn observe_script() -> String {
    guarded(
        "observe",
        include_str!("observe.ps1"),
        "[Console]::Out.WriteLine((ConvertTo-Json -InputObject $report -Depth 8 -Compress))",
    )
}

/// The observe script's document.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Report {
    pools: OneOrMany<RawPool>,
    cms: Option<RawCms>,
    #[serde(default)]
    cms_error: Option<String>,
    #[serde(default)]
    replicas: OneOrMany<RawReplica>,
    #[serde(default)]
    edges: OneOrMany<RawEdge>,
}

/// A Front End pool from `Get-CsPool`, with its pairing and Backup Service status.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawPool {
    fqdn: String,
    site: String,
    computers: OneOrMany<String>,
    /// `Get-CsPoolBackupRelationship`; empty when the pool is not paired.
    #[serde(default)]
    backup_pool_fqdn: Option<String>,
    /// Why `Get-CsPoolBackupRelationship` failed for this pool; null when it answered.
    #[serde(default)]
    relation_error: Option<String>,
    /// `Get-CsBackupServiceStatus -PoolFqdn <pool>` `.BackupModules`; null when it failed, or
    /// when no Front End answered the probe and the pool was not asked.
    #[serde(default)]
    backup_modules: Option<OneOrMany<RawModule>>,
    #[serde(default)]
    backup_status_error: Option<String>,
    probe: Probe,
}

/// One entry of `.BackupModules`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawModule {
    identity: String,
    export_status: String,
    import_status: String,
}

/// The TCP probe of a pool's or Edge pool's computers.
#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Probe {
    total: u32,
    answered: u32,
}

/// `Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawCms {
    #[serde(default)]
    active_master_fqdn: Option<String>,
    #[serde(default)]
    active_file_transfer_agents: OneOrMany<String>,
}

/// One replica from `Get-CsManagementStoreReplicationStatus`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawReplica {
    replica_fqdn: String,
    up_to_date: bool,
}

/// An Edge pool from `Get-CsService -EdgeServer`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawEdge {
    pool_fqdn: String,
    site_id: String,
    /// The next hop, as `Registrar:<pool>`.
    registrar: String,
    computers: OneOrMany<String>,
    probe: Probe,
}

/// Reads the observe script's standard output into a checked observed topology. Empty,
/// truncated or malformed output, a failed cmdlet, and a report that contradicts itself are
/// each a clear error.
pub fn parse_observation(host: &str, stdout: &str) -> Result<ObservedTopology, DriverError> {
    let value = match parse_outcome(host, stdout)? {
        Outcome::Succeeded(value) => value,
        Outcome::Failed { cmdlet, message } => {
            return Err(DriverError::Unreachable(format!(
                "observing through {host}: {cmdlet}: {message}"
            )))
        }
    };
    let report: Report = serde_path_to_error::deserialize(value).map_err(|e| {
        DriverError::BadOutput(format!(
            "{host}: the observe report does not have the expected shape at {}: {}",
            e.path(),
            e.inner()
        ))
    })?;
    let topology = topology(&report).map_err(|m| DriverError::BadOutput(format!("{host}: {m}")))?;
    ObservedIndex::new(topology.clone()).map_err(|e| {
        DriverError::BadOutput(format!(
            "{host}: the deployment as observed contradicts itself: {e}"
        ))
    })?;
    Ok(topology)
}

/// Site identities look like `Site:Redmond`; the site's name is what follows the prefix.
fn site_name(identity: &str) -> String {
    let name = match identity.split_once(':') {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("site") => rest,
        _ => identity,
    };
    site_key(name.trim())
}

fn strip_prefix<'a>(value: &'a str, prefix: &str) -> &'a str {
    match value.split_once(':') {
        Some((p, rest)) if p.eq_ignore_ascii_case(prefix) => rest,
        _ => value,
    }
}

/// Up when more than half the computers accept a connection on the SIP port (a pool needs a
/// majority of its Front Ends to run), Down when none does, Unknown in between or with no
/// computers listed: the planner acts on no pool whose health is Unknown.
fn health(probe: Probe) -> Health {
    if probe.total == 0 || probe.answered > probe.total {
        Health::Unknown
    } else if probe.answered * 2 > probe.total {
        Health::Up
    } else if probe.answered == 0 {
        Health::Down
    } else {
        Health::Unknown
    }
}

fn export_state(pool: &str, m: &RawModule) -> Result<ExportState, String> {
    serde_json::from_value(serde_json::Value::String(m.export_status.clone())).map_err(|_| {
        format!(
            "pool {pool}, module {}: ExportStatus {:?} is not FinalState, SteadyState, NonSteadyState, NotInitialized or ErrorState",
            m.identity, m.export_status
        )
    })
}

fn import_state(pool: &str, m: &RawModule) -> Result<ImportState, String> {
    serde_json::from_value(serde_json::Value::String(m.import_status.clone())).map_err(|_| {
        format!(
            "pool {pool}, module {}: ImportStatus {:?} is not NormalState or ErrorState",
            m.identity, m.import_status
        )
    })
}

/// How far a state is from "nothing left to send"; a direction is as far as its worst module.
fn export_rank(s: ExportState) -> u8 {
    match s {
        ExportState::FinalState => 0,
        ExportState::SteadyState => 1,
        ExportState::NonSteadyState => 2,
        ExportState::NotInitialized => 3,
        ExportState::ErrorState => 4,
    }
}

/// One direction from the pool's own status. `CentralMgmt.CMSMaster` in `NotInitialized` is
/// normal on the pool that does not host the master and is left out (SFB-DR-FACTS).
fn direction(
    pool: &RawPool,
    from: &str,
    to: &str,
    health: Health,
) -> Result<Option<BackupDirection>, String> {
    let unreadable = || BackupDirection {
        from: from.to_owned(),
        to: to.to_owned(),
        export_state: ExportState::ErrorState,
        import_state: ImportState::ErrorState,
        last_sync_age_seconds: None,
    };
    let Some(modules) = &pool.backup_modules else {
        tracing::debug!(
            pool = from,
            error = pool.backup_status_error.as_deref().unwrap_or("none given"),
            "Backup Service status unreadable"
        );
        // A pool that is down cannot answer; one that is up but cannot report its Backup
        // Service is treated as in error, so no graceful move waits for a FinalState.
        return Ok((health != Health::Down).then(unreadable));
    };
    let mut export: Option<ExportState> = None;
    let mut import = ImportState::NormalState;
    for m in modules.iter() {
        let e = export_state(from, m)?;
        if import_state(from, m)? == ImportState::ErrorState {
            import = ImportState::ErrorState;
        }
        if m.identity.eq_ignore_ascii_case("CentralMgmt.CMSMaster")
            && e == ExportState::NotInitialized
        {
            continue;
        }
        if export.is_none_or(|w| export_rank(e) > export_rank(w)) {
            export = Some(e);
        }
    }
    Ok(export.map(|export_state| BackupDirection {
        from: from.to_owned(),
        to: to.to_owned(),
        export_state,
        import_state: import,
        // The age of the last sync is not a documented output of any cmdlet.
        last_sync_age_seconds: None,
    }))
}

/// The pool whose readable relation names `fqdn` as its backup pool, when exactly one does:
/// pairings are mutual (SFB-DR-FACTS "Pool pairing"), so a pool whose own relation could not be
/// read is still paired with it, and the partner's pairing still checks.
fn paired_with(report: &Report, fqdn: &str) -> Option<String> {
    let mut naming = report
        .pools
        .iter()
        .filter(|p| p.relation_error.is_none())
        .filter(|p| p.backup_pool_fqdn.as_deref().map(fqdn_key).as_deref() == Some(fqdn))
        .map(|p| fqdn_key(&p.fqdn));
    match (naming.next(), naming.next()) {
        (Some(partner), None) => Some(partner),
        _ => None,
    }
}

fn names(list: &OneOrMany<String>) -> Vec<String> {
    list.iter().map(|c| fqdn_key(c)).collect()
}

fn topology(report: &Report) -> Result<ObservedTopology, String> {
    if report.pools.is_empty() {
        return Err(
            "the observe report lists no Front End pool (Pools is missing or empty)".into(),
        );
    }
    let mut sites: Vec<String> = Vec::new();
    let mut add_site = |s: &str| {
        if !sites.iter().any(|x| x == s) {
            sites.push(s.to_owned());
        }
    };
    let mut pools = Vec::new();
    let mut backup = Vec::new();
    let mut computers_of: Vec<(String, Vec<String>, Health)> = Vec::new();
    for raw in report.pools.iter() {
        let fqdn = fqdn_key(&raw.fqdn);
        if fqdn.is_empty() {
            return Err("a pool has an empty Fqdn".into());
        }
        let site = site_name(&raw.site);
        if site.is_empty() {
            return Err(format!("pool {fqdn} has no Site"));
        }
        add_site(&site);
        let computers = names(&raw.computers);
        let mut health = health(raw.probe);
        // A Standard Edition pool is its one server: the pool's FQDN is the computer's.
        let edition = if computers.len() == 1 && computers[0] == fqdn {
            Edition::Standard
        } else {
            Edition::Enterprise
        };
        let backup_pool = match &raw.relation_error {
            None => raw
                .backup_pool_fqdn
                .as_deref()
                .map(fqdn_key)
                .filter(|b| !b.is_empty()),
            // One pool's unreadable pairing marks that pool, not the whole observation: its
            // health is Unknown, so the planner does nothing to it.
            Some(error) => {
                tracing::warn!(
                    pool = %fqdn,
                    error = %error,
                    "Get-CsPoolBackupRelationship failed; the pool's health counts as Unknown"
                );
                health = Health::Unknown;
                paired_with(report, &fqdn)
            }
        };
        if let Some(to) = &backup_pool {
            backup.extend(direction(raw, &fqdn, to, health)?);
        }
        pools.push(ObservedPool {
            fqdn: fqdn.clone(),
            site,
            edition,
            health,
            backup_pool,
            // No cmdlet reports who serves a pool's users (SFB-DR-FACTS, "unconfirmed").
            served_by: None,
            // Counting users would enumerate every user at each observation; not done.
            users: 0,
            back_end: None,
        });
        computers_of.push((fqdn, computers, health));
    }
    let pool_fqdns: Vec<&str> = pools.iter().map(|p| p.fqdn.as_str()).collect();
    let mut edges = Vec::new();
    for raw in report.edges.iter() {
        let fqdn = fqdn_key(&raw.pool_fqdn);
        let next_hop = fqdn_key(strip_prefix(&raw.registrar, "registrar"));
        let health = health(raw.probe);
        computers_of.push((fqdn.clone(), names(&raw.computers), health));
        // An Edge pool whose next hop is a Director, not a Front End pool, never blocks a pool
        // failover (guard 4) and is left out.
        if !pool_fqdns.contains(&next_hop.as_str()) {
            continue;
        }
        let site = site_name(&raw.site_id);
        add_site(&site);
        edges.push(ObservedEdge {
            fqdn,
            site,
            health,
            next_hop,
        });
    }
    let cms = cms(report, &computers_of)?;
    Ok(ObservedTopology {
        sites,
        pools,
        backup,
        cms,
        edges,
        data_loss: None,
    })
}

/// The CMS master is reported as a computer; it lives in the pool that lists that computer. A
/// blank master or no file transfer agent means the CMS is unavailable. Replicas on computers
/// whose pool is down cannot catch up until it returns and do not count against "settled".
fn cms(
    report: &Report,
    computers_of: &[(String, Vec<String>, Health)],
) -> Result<CmsState, String> {
    let unavailable = CmsState {
        active_master: None,
        replicas_up_to_date: false,
        pool: None,
    };
    let Some(raw) = &report.cms else {
        tracing::debug!(
            error = report.cms_error.as_deref().unwrap_or("none given"),
            "CMS status unreadable; the CMS counts as unavailable"
        );
        return Ok(unavailable);
    };
    let master = raw
        .active_master_fqdn
        .as_deref()
        .map(fqdn_key)
        .filter(|m| !m.is_empty());
    let Some(master) = master.filter(|_| !raw.active_file_transfer_agents.is_empty()) else {
        return Ok(unavailable);
    };
    let pool_of = |computer: &str| {
        computers_of.iter().find(|(pool, computers, _)| {
            pool == computer || computers.iter().any(|c| c == computer)
        })
    };
    let Some((master_pool, _, _)) = pool_of(&master) else {
        return Err(format!(
            "the CMS active master {master} is not a computer of any Front End pool observed"
        ));
    };
    let replicas_up_to_date = report.replicas.iter().all(|r| {
        r.up_to_date
            || matches!(
                pool_of(&fqdn_key(&r.replica_fqdn)),
                Some((_, _, Health::Down))
            )
    });
    Ok(CmsState {
        active_master: Some(master_pool.clone()),
        replicas_up_to_date,
        pool: None,
    })
}
