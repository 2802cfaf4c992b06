//! The plan format (steps, their dependencies, blocked pairs and the plan id) that the planner
//! produces, `Topology.status` journals, and `sfb-dr plan` prints.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Action, RouteKind};

/// One step of a plan: an action and the steps that must have succeeded before it starts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: String,
    #[serde(flatten)]
    pub action: Action,
    pub depends_on: Vec<String>,
}

/// Why a pair (or the CMS, reported under its pair) cannot be moved to its desired state.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
pub enum BlockReason {
    /// Neither pool of the pair is in an active site.
    NoActiveSite,
    /// The pool that would receive users (or the CMS) is down.
    TargetDown,
    /// A failback needs the home pool healthy.
    HomeDown,
    /// A pool's health is `Unknown`; nothing is done until the probe can tell.
    HealthUnknown,
    /// Failback while the backup pool is down loses data and `allowDataLoss` is false.
    DataLossNotAllowed,
    /// The Backup Service direction a graceful move waits for is in `ErrorState`.
    BackupUnhealthy,
    /// The failover needs the CMS moved, and no `CentralManagementStore` is declared.
    CmsNotManaged,
    /// A disaster-mode CMS failover into a pool with no `backupSql` entry.
    MissingBackupSql,
    /// No longer produced: replicas not up to date are verified after a CMS move, never a
    /// reason to refuse one. Kept so a status written by an older version still reads.
    CmsUnsettled,
    /// The CMS has no active master and no other step needs it recovered.
    CmsUnavailable,
    /// The observation contradicts the ledger or the declared resources.
    ObservationDisagrees,
    /// The CMS has no active master and the observation does not say which pool holds its
    /// database (`cms.pool`), so no pool can be chosen for its recovery; nothing that needs the
    /// CMS is done.
    CmsLocationUnknown,
    /// The pairing breaks Microsoft's support rules (same edition, different sites); the pair
    /// is reported and left alone, the other pairs are still planned.
    PairUnsupported,
    /// A declared federation route is on an Edge pool that is lost, and none of its declared
    /// Edge pools is up in an active site.
    NoFederationEdge,
    /// A federation route is declared, and the driver does not report where it is.
    RouteNotObserved,
    /// A Persistent Chat pool is declared, and the driver does not report its state.
    PersistentChatNotObserved,
    /// None of the Persistent Chat servers of the site whose database the pool should use is up.
    NoPersistentChatServer,
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A pair that is left where it is, and why. A federation route is reported under
/// `federation:sip` or `federation:xmpp`, a Persistent Chat pool under `persistentChat:<fqdn>`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub pair: String,
    pub reason: BlockReason,
    pub message: String,
}

/// One line: what is blocked, why, and what would unblock it.
impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            blocked_subject(&self.pair),
            self.reason,
            self.message
        )
    }
}

/// How a blocked entry's `pair` reads in a sentence: "pair <name>", "the SIP federation
/// route" for a route, "Persistent Chat pool <fqdn>" for a Persistent Chat pool.
pub fn blocked_subject(pair: &str) -> String {
    if let Some(pool) = pair.strip_prefix(CHAT_SUBJECT) {
        return format!("Persistent Chat pool {pool}");
    }
    match RouteKind::ALL
        .into_iter()
        .find(|k| route_subject(*k) == pair)
    {
        Some(kind) => format!("the {} route", kind.word()),
        None => format!("pair {pair}"),
    }
}

const CHAT_SUBJECT: &str = "persistentChat:";

/// The name a blocked Persistent Chat pool is reported under: `persistentChat:<fqdn>`.
pub fn chat_subject(pool: &str) -> String {
    format!("{CHAT_SUBJECT}{pool}")
}

/// The name a blocked federation route is reported under: `federation:sip` or
/// `federation:xmpp` (no PoolPair can be named so: Kubernetes names have no colon).
pub fn route_subject(kind: RouteKind) -> String {
    format!("federation:{}", kind.field())
}

/// An ordered set of steps with a stable id, plus the pairs that cannot be moved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub id: String,
    pub steps: Vec<Step>,
    pub blocked: Vec<Blocked>,
}

impl Plan {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}
