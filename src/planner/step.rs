//! Steps, plans and the reasons a pair can be blocked: the plan format of DESIGN section 7.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::BackupSql;

/// How a move is made: `Graceful` loses nothing, `Disaster` skips the final replication.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum Mode {
    Graceful,
    Disaster,
}

/// A Backup Service module, by its full name as `Invoke-CsBackupServiceSync -BackupModule` takes it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum BackupModule {
    #[serde(rename = "UserServices.PresenceFocus")]
    PresenceFocus,
    #[serde(rename = "ConfServices.DataConf")]
    DataConf,
    #[serde(rename = "CentralMgmt.CMSMaster")]
    CmsMaster,
}

impl BackupModule {
    /// The module's full name.
    pub fn name(self) -> &'static str {
        match self {
            BackupModule::PresenceFocus => "UserServices.PresenceFocus",
            BackupModule::DataConf => "ConfServices.DataConf",
            BackupModule::CmsMaster => "CentralMgmt.CMSMaster",
        }
    }
}

/// One action on the deployment. `pool` is always the users' home pool (SFB-DR-FACTS guard 1).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(tag = "action", rename_all_fields = "camelCase")]
pub enum Action {
    /// `Set-CsEdgeServer -Identity EdgeServer:<edge> -Registrar Registrar:<to>`.
    RepointEdge { edge: String, to: String },
    /// `Invoke-CsManagementServerFailover`, run on the pool that receives the CMS.
    FailOverCms {
        to: String,
        mode: Mode,
        /// Present exactly for disaster mode: where the receiving pool's backup CMS database lives.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backup_sql: Option<Box<BackupSql>>,
    },
    /// `Invoke-CsPoolFailOver -PoolFqdn <pool>`.
    FailOverPool { pool: String, mode: Mode },
    /// `Invoke-CsPoolFailBack -PoolFqdn <pool>`.
    FailBackPool { pool: String, mode: Mode },
    /// `Invoke-CsBackupServiceSync -PoolFqdn <pool> -BackupModule <module>`.
    SyncBackup { pool: String, module: BackupModule },
}

impl Action {
    /// The action's name as it appears in the plan's `action` field.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::RepointEdge { .. } => ActionKind::RepointEdge,
            Action::FailOverCms { .. } => ActionKind::FailOverCms,
            Action::FailOverPool { .. } => ActionKind::FailOverPool,
            Action::FailBackPool { .. } => ActionKind::FailBackPool,
            Action::SyncBackup { .. } => ActionKind::SyncBackup,
        }
    }
}

/// The kinds of action, without their arguments (fault injection and latencies are per kind).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    RepointEdge,
    FailOverCms,
    FailOverPool,
    FailBackPool,
    SyncBackup,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::RepointEdge { edge, to } => {
                write!(f, "repoint Edge pool {edge} to next hop {to}")
            }
            Action::FailOverCms { to, mode, .. } => {
                write!(f, "fail the CMS over to {to} ({})", mode_word(*mode))
            }
            Action::FailOverPool { pool, mode } => {
                write!(
                    f,
                    "fail over pool {pool} to its backup pool ({})",
                    mode_word(*mode)
                )
            }
            Action::FailBackPool { pool, mode } => {
                write!(
                    f,
                    "fail back pool {pool} from its backup pool ({})",
                    mode_word(*mode)
                )
            }
            Action::SyncBackup { pool, module } => {
                write!(f, "sync {} from {pool} to its backup pool", module.name())
            }
        }
    }
}

fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Graceful => "graceful",
        Mode::Disaster => "disaster mode",
    }
}

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
    /// The previous CMS failover has not settled (replicas not up to date).
    CmsUnsettled,
    /// The CMS has no active master and no failover needs it moved.
    CmsUnavailable,
    /// The observation contradicts the ledger or the declared resources.
    ObservationDisagrees,
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A pair that is left where it is, and why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub pair: String,
    pub reason: BlockReason,
    pub message: String,
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
