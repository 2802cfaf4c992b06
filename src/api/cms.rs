//! `CentralManagementStore`: where the CMS master should live, and how to move it in a disaster.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::model::CmsFailback;

/// The CMS of the deployment: the pair that hosts it and its preferred pool.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sfbdr.io",
    version = "v1alpha1",
    kind = "CentralManagementStore",
    doc = "Where the Central Management Store master should live, and how to move it in a disaster.",
    namespaced,
    cel,
    status = "CmsStatus",
    shortname = "cms",
    category = "sfbdr",
    printcolumn(name = "Pair", type_ = "string", json_path = ".spec.pair"),
    printcolumn(name = "Master", type_ = "string", json_path = ".status.activeMaster"),
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
#[x_kube(validation = Rule::new(
    "!has(self.backupSql) || self.backupSql.all(a, self.backupSql.exists_one(b, b.pool == a.pool))"
)
.message("backupSql has at most one entry per pool"))]
#[serde(rename_all = "camelCase")]
pub struct CentralManagementStoreSpec {
    /// The `PoolPair` whose pools host the CMS master and its standby.
    #[x_kube(validation = super::non_empty_rule())]
    #[schemars(length(max = 253))]
    pub pair: String,
    /// Where the master should be while that pool's site is active.
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub preferred_pool: String,
    /// Whether a master that moved off `preferredPool` returns on its own. Default Manual.
    #[serde(default)]
    pub failback: CmsFailback,
    /// Backup SQL Server details per pool, for a disaster-mode CMS failover into that pool.
    /// At most one per pool of the pair: two. The bound also keeps the cost of the "one entry
    /// per pool" rule, which grows with the square of the list, within what the API server
    /// accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2))]
    pub backup_sql: Vec<BackupSqlSpec>,
}

/// Where a pool's backup CMS database lives (`-BackupSqlServerFqdn`, `-BackupSqlInstanceName`).
/// An instance name left out is the server's default instance, for which the cmdlet takes no
/// instance parameter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.mirrorSqlInstanceName) || has(self.mirrorSqlServerFqdn)")
    .message("mirrorSqlInstanceName needs mirrorSqlServerFqdn"))]
pub struct BackupSqlSpec {
    /// The pool that receives the CMS.
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub pool: String,
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub sql_server_fqdn: String,
    /// Left out for the SQL Server's default instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = sql_instance_rule())]
    #[schemars(length(max = 16))]
    pub sql_instance_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub mirror_sql_server_fqdn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = sql_instance_rule())]
    #[schemars(length(max = 16))]
    pub mirror_sql_instance_name: Option<String>,
}

/// SQL Server instance names: letters, digits, `_`, `$` and `#`, starting with a letter or `_`.
pub(crate) const SQL_INSTANCE_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_$#]{0,15}$";

fn sql_instance_rule() -> kube::core::Rule {
    kube::core::Rule::new(format!(
        "self.matches('{SQL_INSTANCE_PATTERN}') && !self.matches('^(?i:mssqlserver)$')"
    ))
    .message("must be a named SQL Server instance: up to 16 letters, digits, _, $ or #, starting with a letter or _; leave it out for the default instance (MSSQLSERVER)")
}

/// The CMS as observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CmsStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The pool holding the active CMS master; absent while the CMS has no master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_master: Option<String>,
    /// The pool whose Back End holds the CMS database, as the published topology says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Whether every CMS replica has caught up with the master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas_up_to_date: Option<bool>,
}
