//! Where the Central Management Store is, from the observe report: which pool hosts its active
//! master (the computer `Get-CsManagementStoreReplicationStatus` names, mapped to its pool) and
//! which pool's Back End holds its database (what the published topology says, readable with
//! the master lost).

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::model::{fqdn_key, CmsState, Health};

use super::outcome::OneOrMany;
use super::remote_text::RemoteText;

/// `Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawCms {
    #[serde(default)]
    active_master_fqdn: Option<String>,
    #[serde(default)]
    active_file_transfer_agents: OneOrMany<String>,
}

/// One replica from `Get-CsManagementStoreReplicationStatus`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawReplica {
    replica_fqdn: String,
    up_to_date: bool,
}

/// A Back End's user database service and the services (`Role:pool`) that depend on it.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawUserStore {
    pool_fqdn: String,
    #[serde(default)]
    dependent_service_list: OneOrMany<String>,
}

/// The pool whose Back End holds the CMS database: the Active Directory service control point
/// names its SQL Server (`Get-CsConfigurationStoreLocation`, `server\instance`), and the
/// published topology names the one Front End pool whose Back End that SQL Server is (the
/// services depending on its user database). Anything less certain is None: where the CMS is
/// is never guessed: a CMS recovered without knowing where it was could go to the wrong pool.
pub(super) fn database_pool(
    store: Option<&str>,
    store_error: Option<&str>,
    user_stores: &OneOrMany<RawUserStore>,
    pool_fqdns: &HashSet<&str>,
) -> Option<String> {
    let unknown = |why: &str| {
        tracing::info!(
            why,
            error = %RemoteText::message(store_error.unwrap_or("none given")),
            "the pool holding the CMS database is unknown"
        );
        None
    };
    let store = store.map(str::trim).unwrap_or("");
    let server = fqdn_key(store.split(['\\', '/']).next().unwrap_or(""));
    if server.is_empty() {
        return unknown("Get-CsConfigurationStoreLocation named no SQL Server");
    }
    let mut found: Option<String> = None;
    for s in user_stores
        .iter()
        .filter(|s| fqdn_key(&s.pool_fqdn) == server)
    {
        for service in s.dependent_service_list.iter() {
            let pool = fqdn_key(service.split_once(':').map_or("", |(_, p)| p));
            if !pool_fqdns.contains(pool.as_str()) {
                continue;
            }
            match &found {
                None => found = Some(pool),
                Some(one) if *one == pool => {}
                Some(_) => {
                    return unknown(
                        "several Front End pools use the CMS SQL Server as their Back End",
                    )
                }
            }
        }
    }
    match found {
        Some(one) => Some(one),
        None => unknown("no Front End pool's Back End is the CMS SQL Server"),
    }
}

/// The CMS master is reported as a computer; it lives in the pool that lists that computer. A
/// blank master or no file transfer agent means the CMS is unavailable; a status that could not
/// be read is an error, never "unavailable". Replicas on computers
/// whose pool is down cannot catch up until it returns and do not count against "settled".
pub(super) fn master(
    raw: Option<&RawCms>,
    error: Option<&str>,
    replicas: &OneOrMany<RawReplica>,
    computers_of: &[(String, Vec<String>, Health)],
) -> Result<CmsState, String> {
    let unavailable = CmsState {
        active_master: None,
        replicas_up_to_date: false,
        pool: None,
    };
    // An unreadable status is not a lost master: taken for one, it would let a forced CMS
    // recovery discard a live master's unreplicated changes. Nothing is planned on it.
    let Some(raw) = raw else {
        return Err(format!(
            "Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus could not be read ({}), so whether the CMS master is up cannot be told",
            RemoteText::message(error.unwrap_or("it returned nothing"))
        ));
    };
    let master = raw
        .active_master_fqdn
        .as_deref()
        .map(fqdn_key)
        .filter(|m| !m.is_empty());
    let Some(master) = master.filter(|_| !raw.active_file_transfer_agents.is_empty()) else {
        return Ok(unavailable);
    };
    // Each name (a pool's FQDN or one of its computers') to the first pool that has it, built
    // once: a report of many replicas and computers must not cost their product.
    let mut pools_by_name: HashMap<&str, (&str, Health)> = HashMap::new();
    for (pool, computers, health) in computers_of {
        pools_by_name
            .entry(pool.as_str())
            .or_insert((pool.as_str(), *health));
        for c in computers {
            pools_by_name
                .entry(c.as_str())
                .or_insert((pool.as_str(), *health));
        }
    }
    let pool_of = |computer: &str| pools_by_name.get(computer).copied();
    let Some((master_pool, _)) = pool_of(&master) else {
        return Err(format!(
            "the CMS active master {} is not a computer of any Front End pool observed",
            RemoteText::excerpt(&master)
        ));
    };
    let replicas_up_to_date = replicas.iter().all(|r| {
        r.up_to_date || matches!(pool_of(&fqdn_key(&r.replica_fqdn)), Some((_, Health::Down)))
    });
    Ok(CmsState {
        active_master: Some(master_pool.to_owned()),
        replicas_up_to_date,
        pool: None,
    })
}
