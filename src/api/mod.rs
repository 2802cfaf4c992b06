//! The custom resources of group `sfbdr.io`, version `v1alpha1` (README.md, "The resources").
//!
//! CEL rules judge what one object can; what needs several objects is judged in
//! [`crate::manifest`] and reported by the controller as `Stalled`/`InvalidSpec`.

// kube-derive takes one `printcolumn(...)` per column, each with `type_ = ...`; clippy reads
// the repeated key as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

mod cms;
mod condition;
pub mod names;
mod pool_pair;
mod site;
mod topology;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::Rule;
use kube::CustomResourceExt;

pub use cms::{BackupSqlSpec, CentralManagementStore, CentralManagementStoreSpec, CmsStatus};
pub use condition::{ConditionType, Reason};
pub use pool_pair::{PoolPair, PoolPairSpec, PoolPairStatus, PoolSpec, PoolStatus};
pub use site::{EdgePoolSpec, Site, SiteEdgeStatus, SitePoolStatus, SiteSpec, SiteStatus};
pub use topology::{
    ActionTimeouts, Approval, BlockedStatus, DriverSpec, FederationRoutes, Objectives,
    PersistentChatPool, PersistentChatSite, PlanOutcome, PlanRecord, PlanStatus, PowerShellDriver,
    SecretRef, SimulatorDriver, StepState, StepStatus, Topology, TopologySpec, TopologyStatus,
};

/// The API group of every sfb-dr resource.
pub const GROUP: &str = "sfbdr.io";
/// The one served version.
pub const VERSION: &str = "v1alpha1";

/// Every CRD, in the order `sfb-dr crd` prints them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        Topology::crd(),
        Site::crd(),
        PoolPair::crd(),
        CentralManagementStore::crd(),
    ]
}

/// Every CRD as one multi-document YAML stream (what `crds/` holds).
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}

/// RFC 1123 DNS name, lowercase, at least two labels: how SfB names pools and servers.
pub(crate) const FQDN_PATTERN: &str =
    "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$";

/// The CEL rule for a field holding an FQDN.
pub(crate) fn fqdn_rule() -> Rule {
    Rule::new(format!(
        "self.size() <= 253 && self.matches('{FQDN_PATTERN}')"
    ))
    .message(
        "must be a lowercase fully qualified domain name (RFC 1123), such as pool1.contoso.com",
    )
}

/// The CEL rule for a list of FQDNs, each as [`fqdn_rule`] wants it.
pub(crate) fn fqdn_list_rule() -> Rule {
    Rule::new(format!(
        "self.all(e, e.size() <= 253 && e.matches('{FQDN_PATTERN}'))"
    ))
    .message("each entry must be a lowercase fully qualified domain name (RFC 1123)")
}

/// The CEL rule for a name that must not be empty.
pub(crate) fn non_empty_rule() -> Rule {
    Rule::new("self.size() > 0").message("must not be empty")
}
