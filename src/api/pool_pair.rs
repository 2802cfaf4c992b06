//! `PoolPair`: two Front End pools in different sites that back each other up.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::model::{BackupDirection, Health};

/// A pool pairing as defined in Topology Builder, and the sites allowed to serve it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sfbdr.io",
    version = "v1alpha1",
    kind = "PoolPair",
    doc = "Two Front End pools in different sites that back each other up.",
    namespaced,
    cel,
    status = "PoolPairStatus",
    shortname = "pp",
    category = "sfbdr",
    printcolumn(name = "Pool-A", type_ = "string", json_path = ".spec.pools[0].fqdn"),
    printcolumn(name = "Pool-B", type_ = "string", json_path = ".spec.pools[1].fqdn"),
    printcolumn(
        name = "A-Served-By",
        type_ = "string",
        json_path = ".status.pools[0].servedBy"
    ),
    printcolumn(
        name = "B-Served-By",
        type_ = "string",
        json_path = ".status.pools[1].servedBy"
    ),
    printcolumn(
        name = "Backup",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"BackupInSync\")].status"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new("self.pools.size() == 2").message("a PoolPair has exactly two pools"),
    validation = Rule::new("self.pools.size() != 2 || self.pools[0].fqdn != self.pools[1].fqdn")
        .message("the two pools of a pair must have distinct FQDNs"),
    validation = Rule::new(
        "self.pools.size() != 2 || self.pools[0].site.lowerAscii() != self.pools[1].site.lowerAscii()"
    )
    .message("the two pools of a pair must be in different sites"),
    validation = Rule::new(
        "!has(self.activeSites) || (self.activeSites.size() > 0 && self.activeSites.all(s, \
         self.pools.exists(p, p.site.lowerAscii() == s.lowerAscii())))"
    )
    .message("activeSites must be a non-empty subset of the sites of the pair's pools")
)]
#[serde(rename_all = "camelCase")]
pub struct PoolPairSpec {
    /// The two pools, each in its own site. The bound (and those on every string here) lets
    /// the API server estimate the cost of the CEL rules within its budget.
    #[schemars(length(max = 2))]
    pub pools: Vec<PoolSpec>,
    /// Narrows the sites this pair may be served from; default both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2))]
    #[schemars(inner(length(max = 253)))]
    pub active_sites: Option<Vec<String>>,
}

/// One pool of a pair.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolSpec {
    /// The pool's FQDN, as in Topology Builder.
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub fqdn: String,
    /// The name of the `Site` the pool lives in.
    #[x_kube(validation = super::non_empty_rule())]
    #[schemars(length(max = 253))]
    pub site: String,
}

/// Who serves each pool's users, and how replication between them is doing.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolPairStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The two pools, in the order of `spec.pools`.
    #[serde(default)]
    pub pools: Vec<PoolStatus>,
    /// Backup Service replication in each direction, as of `observedAt` on the Topology (the
    /// live sync age is the `sfbdr_backup_sync_age_seconds` metric).
    #[serde(default)]
    pub backup: Vec<BackupDirection>,
}

/// One pool's health and who serves its users now and should.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    pub fqdn: String,
    pub health: Health,
    /// Health of the pool's Back End SQL Server, when the driver observes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_end: Option<Health>,
    /// The pool serving this pool's users now (observed, else from the operator's ledger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    /// The pool that should serve them, by the declared active sites; absent when neither may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_served_by: Option<String>,
}
