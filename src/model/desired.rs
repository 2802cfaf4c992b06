//! The desired state the resources declare, already checked across objects: for a pool P paired
//! with Q, P's users are served by P while P's site is active, else by Q while Q's site is
//! active, else the pair cannot be served (`NoActiveSite`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{site_key, RouteKind};

/// One pool of a pair: its FQDN and the site it lives in (both canonical).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRef {
    pub fqdn: String,
    pub site: String,
}

/// A declared pool pairing and the sites that may serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairSpec {
    pub name: String,
    pub pools: [PoolRef; 2],
    /// Narrows the sites this pair may be served from; `None` means both.
    pub active_sites: Option<Vec<String>>,
}

impl PairSpec {
    /// The index of `fqdn` in this pair, if it is one of its pools.
    pub fn position(&self, fqdn: &str) -> Option<usize> {
        self.pools.iter().position(|p| p.fqdn == fqdn)
    }
}

/// Whether a CMS master that moved off its preferred pool goes back on its own.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum CmsFailback {
    #[default]
    Manual,
    Automatic,
}

/// Backup SQL details for a disaster-mode CMS failover into `pool`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSql {
    pub pool: String,
    pub sql_server_fqdn: String,
    /// `None`: the server's default instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_instance_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_sql_server_fqdn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_sql_instance_name: Option<String>,
}

/// The declared Central Management Store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmsSpec {
    pub name: String,
    /// Name of the pair that hosts the CMS.
    pub pair: String,
    pub preferred_pool: String,
    pub failback: CmsFailback,
    pub backup_sql: Vec<BackupSql>,
}

impl CmsSpec {
    /// Backup SQL details declared for a disaster-mode failover into `pool`.
    pub fn backup_sql_for(&self, pool: &str) -> Option<&BackupSql> {
        self.backup_sql.iter().find(|b| b.pool == pool)
    }
}

/// Everything the resources of one namespace declare, checked across objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Sorted by name.
    pub pairs: Vec<PairSpec>,
    /// Canonical site name -> `Site.spec.active`; a site without a `Site` counts as active.
    pub sites: BTreeMap<String, bool>,
    pub cms: Option<CmsSpec>,
    pub allow_data_loss: bool,
    /// Edge pool FQDN -> the Front End pool it should forward to while that pool serves its
    /// own users (`Site.spec.edgePools`); an Edge pool not listed is never pointed back.
    pub edge_next_hops: BTreeMap<String, String>,
    /// The declared federation routes, each with its Edge pools in order of preference
    /// (`Topology.spec.federationRoutes`); a kind not listed is never moved.
    pub federation: Vec<(RouteKind, Vec<String>)>,
    /// The declared Persistent Chat pools (`Topology.spec.persistentChat`); a pool not listed is
    /// never touched.
    pub persistent_chat: Vec<ChatSpec>,
}

/// A Persistent Chat pool whose failover is part of a site failover: the data center of its
/// primary database and the one of its backup database, each with the servers that stand there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatSpec {
    pub pool: String,
    pub primary: ChatSide,
    pub backup: ChatSide,
}

/// One data center of a Persistent Chat pool: its site and the pool's servers there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatSide {
    pub site: String,
    pub servers: Vec<String>,
}

impl Desired {
    /// Whether the `Site` resource for `site` is active (absent means active).
    pub fn site_active(&self, site: &str) -> bool {
        let active = if site.bytes().any(|b| b.is_ascii_uppercase()) {
            self.sites.get(&site_key(site))
        } else {
            self.sites.get(site)
        };
        active.copied().unwrap_or(true)
    }

    /// Whether pool `i` of `pair` may serve users: its site is active and, when the pair narrows
    /// its sites, among them.
    pub fn pool_site_active(&self, pair: &PairSpec, i: usize) -> bool {
        let site = &pair.pools[i].site;
        self.site_active(site)
            && pair
                .active_sites
                .as_ref()
                .is_none_or(|sites| sites.iter().any(|s| s == site))
    }

    /// Which pool of `pair` should serve pool `i`'s users: its own when its site is active, else
    /// its partner when that site is active, else none (the pair cannot be served).
    pub fn desired_server(&self, pair: &PairSpec, i: usize) -> Option<usize> {
        let partner = 1 - i.min(1);
        if self.pool_site_active(pair, i) {
            Some(i)
        } else if self.pool_site_active(pair, partner) {
            Some(partner)
        } else {
            None
        }
    }

    /// The pair named `name`.
    pub fn pair(&self, name: &str) -> Option<&PairSpec> {
        self.pairs
            .binary_search_by(|p| p.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.pairs[i])
    }
}
