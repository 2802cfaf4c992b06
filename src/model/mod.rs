//! Plain data for the SfB world: what the driver observes, what the resources desire, the SfB
//! commands and the plan format, and the ledger of failovers the operator performed. No Kubernetes, no I/O, no clock.

pub mod command;
pub mod desired;
pub mod ledger;
pub mod observed;
pub mod plan;
pub mod printable;

pub use command::{Action, ActionKind, BackupModule, ChatState, DatabaseType, Mode, RouteKind};
pub use desired::{
    BackupSql, ChatSide, ChatSpec, CmsFailback, CmsSpec, Desired, PairSpec, PoolRef,
};
pub use ledger::Ledger;
pub use observed::{
    BackEndMirror, BackupDirection, CmsState, Edition, ExportState, Health, ImportState,
    MirrorRole, ObservedChatPool, ObservedChatServer, ObservedEdge, ObservedError, ObservedIndex,
    ObservedPool, ObservedRoute, ObservedTopology,
};
pub use plan::{blocked_subject, chat_subject, route_subject, BlockReason, Blocked, Plan, Step};

/// Site names compare case-insensitively (docs/observed-topology.md); this is the one canonical spelling.
pub fn site_key(site: &str) -> String {
    site.to_ascii_lowercase()
}

/// FQDNs are DNS names and compare case-insensitively; SfB cmdlets may print them in any case.
pub fn fqdn_key(fqdn: &str) -> String {
    fqdn.trim_end_matches('.').to_ascii_lowercase()
}
