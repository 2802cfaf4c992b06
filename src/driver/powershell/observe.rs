//! Observing a real deployment: one script gathers what the cmdlets report, under their own
//! field names, and this module turns that report into the observed topology (the format of `sfb-dr plan --observed`).
//!
//! The SfB rules of interpretation live here and in [`super::health`] and
//! [`super::backup_status`], in Rust, where they are tested: how a pool's and its Back End's
//! health are judged, how the Backup Service modules sum up to one state per direction, which
//! pool hosts the CMS master and which pool's Back End holds the CMS database. The script only
//! gathers.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::driver::DriverError;
use crate::model::{
    fqdn_key, site_key, BackupDirection, ChatState, Edition, Health, ObservedChatPool,
    ObservedChatServer, ObservedEdge, ObservedIndex, ObservedPool, ObservedRoute, ObservedTopology,
    RouteKind,
};

use super::backup_status::{direction, RawModule};
use super::cms_location::{self, RawCms, RawReplica, RawUserStore};
use super::health::{self, RawUserDatabase};
use super::outcome::{parse_outcome, OneOrMany, Outcome};
use super::remote_text::RemoteText;
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
    /// Why the replica list could not be read, if it could not.
    #[serde(default)]
    replica_error: Option<String>,
    #[serde(default)]
    edges: OneOrMany<RawEdge>,
    /// `Get-CsConfigurationStoreLocation`: the SQL Server of the CMS database, `server\instance`.
    #[serde(default)]
    cms_store: Option<String>,
    #[serde(default)]
    cms_store_error: Option<String>,
    /// `Get-CsService -UserDatabase`: each Back End SQL Server and the services that use it.
    #[serde(default)]
    user_stores: OneOrMany<RawUserStore>,
    /// Whether Response Group data is backed up (null: the setting could not be read).
    #[serde(default)]
    rgs_backup: Option<bool>,
    /// `Get-CsSite`: the federation routes each site names.
    #[serde(default)]
    sites: OneOrMany<RawSite>,
    #[serde(default)]
    site_error: Option<String>,
    /// `Get-CsService -PersistentChatServer` and each pool's state.
    #[serde(default)]
    persistent_chat: OneOrMany<RawChatPool>,
    #[serde(default)]
    persistent_chat_error: Option<String>,
}

/// A Persistent Chat pool: its state and its servers' answers on port 5041.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawChatPool {
    pool_fqdn: String,
    computers: OneOrMany<String>,
    probe: OneOrMany<bool>,
    #[serde(default)]
    pool_state: Option<String>,
    #[serde(default)]
    state_error: Option<String>,
    #[serde(default)]
    active_servers: Option<OneOrMany<String>>,
    /// Whether the state object has an `ActiveServers` property at all.
    #[serde(default)]
    has_active_servers: bool,
}

/// A site from `Get-CsSite`, with its federation routes as it names them.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawSite {
    identity: String,
    #[serde(default)]
    federation_route: Option<String>,
    #[serde(default)]
    xmpp_federation_route: Option<String>,
    /// Whether the site object has the property at all.
    #[serde(default)]
    has_federation_route: bool,
    #[serde(default)]
    has_xmpp_federation_route: bool,
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
    /// `Get-CsBackupServiceStatus -PoolFqdn <pool>` `.BackupModules` (and `-Category RGS`'s);
    /// null when it failed, or when no Front End answered the probe and the pool was not asked.
    #[serde(default)]
    backup_modules: Option<OneOrMany<RawModule>>,
    #[serde(default)]
    backup_status_error: Option<String>,
    /// `Get-CsUserDatabaseState -RegistrarPool <pool>`; null when it failed or was not asked.
    #[serde(default)]
    user_databases: Option<OneOrMany<RawUserDatabase>>,
    #[serde(default)]
    back_end_error: Option<String>,
    /// `Get-CsDatabaseMirrorState -DatabaseType User`; null when it failed or was not asked.
    #[serde(default)]
    mirror_states: Option<OneOrMany<health::RawMirrorState>>,
    #[serde(default)]
    mirror_error: Option<String>,
    /// Whether each computer, in the order listed, answered on the SIP port.
    probe: OneOrMany<bool>,
    /// Why `Get-CsComputer -Pool` failed, so that `Computers` is `Get-CsPool`'s list, whose
    /// order is not known to be the topology's.
    #[serde(default)]
    computer_error: Option<String>,
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
    probe: OneOrMany<bool>,
}

/// Reads the observe script's standard output into a checked observed topology. Empty,
/// truncated or malformed output, a failed cmdlet, and a report that contradicts itself are
/// each a clear error.
pub fn parse_observation(host: &str, stdout: &str) -> Result<ObservedTopology, DriverError> {
    let value = match parse_outcome(host, stdout)? {
        Outcome::Succeeded(value) => value,
        Outcome::Failed {
            cmdlet, message, ..
        } => {
            return Err(DriverError::Unreachable(format!(
                "observing through {host}: {cmdlet}: {message}"
            )))
        }
    };
    let report: Report = serde_path_to_error::deserialize(value).map_err(|e| {
        DriverError::BadOutput(format!(
            "{host}: the observe report does not have the expected shape at {}: {}",
            RemoteText::excerpt(&e.path().to_string()),
            RemoteText::excerpt(&e.inner().to_string())
        ))
    })?;
    tracing::debug!(host, rgs_backup = ?report.rgs_backup, "observe report read");
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

/// The probe's answers, one per computer listed.
fn answers<'a>(
    what: &str,
    probe: &'a OneOrMany<bool>,
    computers: usize,
) -> Result<&'a [bool], String> {
    if probe.0.len() == computers {
        Ok(&probe.0)
    } else {
        Err(format!(
            "pool {what}: Probe gives {} answers for {computers} computers",
            probe.0.len()
        ))
    }
}

/// For each pool some readable relation names as a backup pool, the pool naming it when exactly
/// one does (None when several do): pairings are mutual (Topology Builder pairs both ways), so a
/// pool whose own relation could not be read is still paired with it, and the partner's pairing
/// still checks. Built once, so that a report of many pools costs their number, not its square.
struct Pairings(HashMap<String, Option<String>>);

impl Pairings {
    fn of(report: &Report) -> Self {
        let mut naming: HashMap<String, Option<String>> = HashMap::new();
        for p in report.pools.iter().filter(|p| p.relation_error.is_none()) {
            let Some(backup) = p.backup_pool_fqdn.as_deref().map(fqdn_key) else {
                continue;
            };
            naming
                .entry(backup)
                .and_modify(|partner| *partner = None)
                .or_insert_with(|| Some(fqdn_key(&p.fqdn)));
        }
        Pairings(naming)
    }

    /// The pool whose readable relation names `fqdn`, when exactly one does.
    fn paired_with(&self, fqdn: &str) -> Option<String> {
        self.0.get(fqdn).cloned().flatten()
    }
}

fn names(list: &OneOrMany<String>) -> Vec<String> {
    list.iter().map(|c| fqdn_key(c)).collect()
}

/// One Front End pool as observed, the direction of its Backup Service, and its computers.
fn pool(
    pairings: &Pairings,
    raw: &RawPool,
) -> Result<(ObservedPool, Option<BackupDirection>, Vec<String>), String> {
    let fqdn = fqdn_key(&raw.fqdn);
    if fqdn.is_empty() {
        return Err("a pool has an empty Fqdn".into());
    }
    let site = site_name(&raw.site);
    if site.is_empty() {
        return Err(format!("pool {fqdn} has no Site"));
    }
    let computers = names(&raw.computers);
    let mut health = health::front_end_pool(answers(&fqdn, &raw.probe, computers.len())?);
    // Below 8 servers any of them count; from 8 only the first in topology order do.
    if let Some(error) = raw
        .computer_error
        .as_deref()
        .filter(|_| computers.len() >= 8)
    {
        tracing::warn!(pool = %fqdn, error = %RemoteText::message(error), "Get-CsComputer failed; the pool's servers are not in a known order, its health counts as Unknown");
        health = Health::Unknown;
    }
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
                error = %RemoteText::message(error),
                "Get-CsPoolBackupRelationship failed; the pool's health counts as Unknown"
            );
            health = Health::Unknown;
            pairings.paired_with(&fqdn)
        }
    };
    if raw.backup_modules.is_none() {
        if let Some(error) = &raw.backup_status_error {
            tracing::debug!(pool = %fqdn, error = %RemoteText::message(error), "Backup Service status unreadable");
        }
    }
    let modules = raw.backup_modules.as_ref().map(|m| m.0.as_slice());
    let direction = match &backup_pool {
        Some(to) => direction(modules, &fqdn, to, health)?,
        None => None,
    };
    if let Some(error) = &raw.back_end_error {
        tracing::warn!(pool = %fqdn, error = %RemoteText::message(error), "Get-CsUserDatabaseState failed; the Back End counts as Unknown");
    }
    let back_end = match (&raw.user_databases, &raw.back_end_error) {
        // Not asked: no Front End answered, so the pool is down whatever its Back End.
        (None, None) => None,
        (databases, error) => Some(
            health::back_end(
                databases.as_ref().map_or(&[][..], |d| d.0.as_slice()),
                error.as_deref(),
            )
            .map_err(|m| format!("pool {fqdn}: {m}"))?,
        ),
    };
    if let Some(error) = &raw.mirror_error {
        tracing::warn!(pool = %fqdn, error = %RemoteText::message(error), "Get-CsDatabaseMirrorState failed; the Back End is reported without its mirror, so a principal that is down is not failed over");
    }
    let states = raw
        .mirror_states
        .as_ref()
        .map_or(&[][..], |s| s.0.as_slice());
    // User databases of unknown state leave the mirror's word: it says which server answers.
    let known = back_end.filter(|h| *h != Health::Unknown);
    let back_end_mirror = health::mirror(states, known).unwrap_or_else(|why| {
        tracing::warn!(pool = %fqdn, why = %why, "the Back End mirror state is not reported");
        None
    });
    let back_end = match (back_end, back_end_mirror) {
        (Some(Health::Unknown), Some(m)) => Some(m.health(m.principal)),
        (b, _) => b,
    };
    let observed = ObservedPool {
        fqdn,
        site,
        edition,
        health,
        backup_pool,
        // No cmdlet reports who serves a pool's users (Microsoft documents none).
        served_by: None,
        // Counting users would enumerate every user at each observation; not done.
        users: 0,
        back_end,
        back_end_mirror,
    };
    Ok((observed, direction, computers))
}

fn topology(report: &Report) -> Result<ObservedTopology, String> {
    if report.pools.is_empty() {
        return Err(
            "the observe report lists no Front End pool (Pools is missing or empty)".into(),
        );
    }
    // In the order first seen, with a set to look them up in.
    let mut sites: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut add_site = |s: &str| {
        if seen.insert(s.to_owned()) {
            sites.push(s.to_owned());
        }
    };
    let mut pools = Vec::new();
    let mut backup = Vec::new();
    let mut computers_of: Vec<(String, Vec<String>, Health)> = Vec::new();
    let pairings = Pairings::of(report);
    for raw in report.pools.iter() {
        let (observed, direction, computers) = pool(&pairings, raw)?;
        add_site(&observed.site);
        backup.extend(direction);
        computers_of.push((observed.fqdn.clone(), computers, observed.health));
        pools.push(observed);
    }
    let pool_fqdns: HashSet<&str> = pools.iter().map(|p| p.fqdn.as_str()).collect();
    let mut edges = Vec::new();
    for raw in report.edges.iter() {
        let fqdn = fqdn_key(&raw.pool_fqdn);
        let next_hop = fqdn_key(strip_prefix(&raw.registrar, "registrar"));
        let computers = names(&raw.computers);
        let health = health::edge_pool(answers(&fqdn, &raw.probe, computers.len())?);
        computers_of.push((fqdn.clone(), computers, health));
        // An Edge pool whose next hop is a Director, not a Front End pool, never blocks a pool
        // failover (guard 4) and is left out.
        if !pool_fqdns.contains(next_hop.as_str()) {
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
    let mut cms = cms_location::master(
        report.cms.as_ref(),
        report.cms_error.as_deref(),
        &report.replicas,
        &computers_of,
    )?;
    if report.replica_error.is_some() {
        // Unknown replicas are not settled ones: a CMS move is never taken for finished.
        cms.replicas_up_to_date = false;
    }
    cms.pool = cms_location::database_pool(
        report.cms_store.as_deref(),
        report.cms_store_error.as_deref(),
        &report.user_stores,
        &pool_fqdns,
    );
    let federation_routes = federation_routes(report, &edges, &computers_of);
    Ok(ObservedTopology {
        sites,
        pools,
        backup,
        cms,
        edges,
        federation_routes,
        persistent_chat: persistent_chat(report)?,
        data_loss: None,
    })
}

/// The Persistent Chat pools: a server is `Up` when it answers on port 5041; a state that
/// cannot be read, or that is neither `Normal` nor `FailedOver`, is left unreported, and so are
/// the active servers when the state object does not carry them. Which site each server and
/// database stands in is not in the topology (a stretched pool is one pool of one site), so it
/// is never reported: the Topology declares it.
fn persistent_chat(report: &Report) -> Result<Vec<ObservedChatPool>, String> {
    if let Some(error) = &report.persistent_chat_error {
        tracing::debug!(error = %RemoteText::message(error), "no Persistent Chat pool is read (Get-CsService -PersistentChatServer failed)");
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for raw in report.persistent_chat.iter() {
        let fqdn = fqdn_key(&raw.pool_fqdn);
        let computers = names(&raw.computers);
        let probe = answers(&fqdn, &raw.probe, computers.len())?;
        let state = match (raw.pool_state.as_deref(), &raw.state_error) {
            (_, Some(error)) => {
                tracing::warn!(pool = %fqdn, error = %RemoteText::message(error), "Get-CsPersistentChatState failed; the pool's state is not reported");
                None
            }
            (Some(s), None) if s.eq_ignore_ascii_case("Normal") => Some(ChatState::Normal),
            (Some(s), None) if s.eq_ignore_ascii_case("FailedOver") => Some(ChatState::FailedOver),
            (other, None) => {
                tracing::warn!(pool = %fqdn, state = ?other.map(RemoteText::message), "a Persistent Chat state sfb-dr does not know; not reported");
                None
            }
        };
        out.push(ObservedChatPool {
            state,
            active_servers: raw
                .has_active_servers
                .then(|| raw.active_servers.as_ref().map(names).unwrap_or_default()),
            servers: computers
                .into_iter()
                .zip(probe)
                .map(|(fqdn, up)| ObservedChatServer {
                    fqdn,
                    health: if *up { Health::Up } else { Health::Down },
                    site: None,
                })
                .collect(),
            fqdn,
            primary_site: None,
            backup_site: None,
        });
    }
    Ok(out)
}

/// The federation routes the sites name, each mapped to an Edge pool of `edges` (a route may
/// name the pool's service or one of its computers). A kind is left unreported, so the planner
/// leaves it alone, when `Get-CsSite` failed, no site has the property, the sites name
/// different Edge pools, or the Edge pool named is not one the observation lists.
fn federation_routes(
    report: &Report,
    edges: &[ObservedEdge],
    computers_of: &[(String, Vec<String>, Health)],
) -> Vec<ObservedRoute> {
    if let Some(error) = &report.site_error {
        tracing::warn!(error = %RemoteText::message(error), "Get-CsSite failed; the federation routes are not reported");
        return Vec::new();
    }
    let edge_of = |value: &str| -> Option<String> {
        let name = fqdn_key(strip_prefix(value.trim(), "edgeserver"));
        if edges.iter().any(|e| e.fqdn == name) {
            return Some(name);
        }
        computers_of
            .iter()
            .find(|(pool, computers, _)| {
                computers.contains(&name) && edges.iter().any(|e| e.fqdn == *pool)
            })
            .map(|(pool, _, _)| pool.clone())
    };
    let mut routes = Vec::new();
    for kind in RouteKind::ALL {
        let mut present = false;
        let mut named: Vec<String> = Vec::new();
        let mut unknown = None;
        for site in report.sites.iter() {
            let (has, value) = match kind {
                RouteKind::Sip => (site.has_federation_route, &site.federation_route),
                RouteKind::Xmpp => (site.has_xmpp_federation_route, &site.xmpp_federation_route),
            };
            present |= has;
            let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            match edge_of(value) {
                Some(edge) if !named.contains(&edge) => named.push(edge),
                Some(_) => {}
                None => unknown = Some((site.identity.as_str(), value)),
            }
        }
        if let Some((site, value)) = unknown {
            tracing::warn!(kind = kind.word(), site = %RemoteText::message(site), route = %RemoteText::message(value), "a federation route names no observed Edge pool; the route is not reported");
            continue;
        }
        match named.len() {
            _ if !present => {}
            0 => routes.push(ObservedRoute { kind, edge: None }),
            1 => routes.push(ObservedRoute {
                kind,
                edge: named.pop(),
            }),
            _ => {
                tracing::warn!(kind = kind.word(), edges = ?named, "the sites name different Edge pools for one federation route; the route is not reported")
            }
        }
    }
    routes
}
