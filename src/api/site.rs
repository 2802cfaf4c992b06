//! `Site`: a central site (data centre) and whether it may serve users.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::model::Health;

/// Declares whether a site is active. Pools in an inactive site have their users failed over.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sfbdr.io",
    version = "v1alpha1",
    kind = "Site",
    doc = "A central site of the deployment and whether its pools may serve users.",
    namespaced,
    cel,
    status = "SiteStatus",
    shortname = "site",
    category = "sfbdr",
    printcolumn(name = "Active", type_ = "boolean", json_path = ".spec.active"),
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
    "!has(self.edgePools) || self.edgePools.all(a, self.edgePools.exists_one(b, b.fqdn == a.fqdn))"
)
.message("edgePools lists each Edge pool once"))]
#[serde(rename_all = "camelCase")]
pub struct SiteSpec {
    /// Whether this site's pools should serve users. Default true.
    #[serde(default = "default_active")]
    pub active: bool,
    /// Where each Edge pool of this site should forward (its next hop) while that Front End
    /// pool serves its own users. An Edge pool listed here is pointed back once its next hop
    /// serves its own users again; one not listed is only ever moved off a pool that fails over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub edge_pools: Vec<EdgePoolSpec>,
}

/// One Edge pool of the site and the Front End pool it should forward to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EdgePoolSpec {
    /// The Edge pool's FQDN, as in Topology Builder.
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub fqdn: String,
    /// The Front End pool it should forward to (`Set-CsEdgeServer -Registrar`).
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub next_hop: String,
}

fn default_active() -> bool {
    true
}

/// What the operator sees in the site.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub pools: Vec<SitePoolStatus>,
    #[serde(default)]
    pub edges: Vec<SiteEdgeStatus>,
}

/// A Front End pool in the site.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SitePoolStatus {
    pub fqdn: String,
    pub health: Health,
}

/// An Edge pool in the site.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteEdgeStatus {
    pub fqdn: String,
    pub health: Health,
    pub next_hop: String,
}
