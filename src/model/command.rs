//! The language of SfB commands every layer shares: the actions a plan is made of, their modes
//! and the Backup Service modules (Microsoft's "Failing over and failing back a pool"). Not decisions: the planner
//! decides which actions to take, the drivers and the simulator carry them out or judge them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::BackupSql;

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
    /// Response Group configuration (Skype for Business Server 2019 CU1 and later, with
    /// `EnableRgsBackupService` on).
    #[serde(rename = "ApplicationServer.RGSDataStore")]
    RgsDataStore,
    /// Response Group files (audio, as for the data store).
    #[serde(rename = "ApplicationServer.RGSFileStore")]
    RgsFileStore,
}

impl BackupModule {
    /// The module's full name.
    pub fn name(self) -> &'static str {
        match self {
            BackupModule::PresenceFocus => "UserServices.PresenceFocus",
            BackupModule::DataConf => "ConfServices.DataConf",
            BackupModule::CmsMaster => "CentralMgmt.CMSMaster",
            BackupModule::RgsDataStore => "ApplicationServer.RGSDataStore",
            BackupModule::RgsFileStore => "ApplicationServer.RGSFileStore",
        }
    }
}

/// One action on the deployment. `pool` is always the users' home pool, for failover and
/// failback alike, as `Invoke-CsPoolFailOver -PoolFqdn` and `Invoke-CsPoolFailBack -PoolFqdn` take it.
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

    /// The mode of a move (pool failover or failback, CMS failover); None for the rest.
    pub fn mode(&self) -> Option<Mode> {
        match self {
            Action::FailOverCms { mode, .. }
            | Action::FailOverPool { mode, .. }
            | Action::FailBackPool { mode, .. } => Some(*mode),
            Action::RepointEdge { .. } | Action::SyncBackup { .. } => None,
        }
    }
}

/// The kinds of action, without their arguments (fault injection and latencies are per kind).
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
pub enum ActionKind {
    RepointEdge,
    FailOverCms,
    FailOverPool,
    FailBackPool,
    SyncBackup,
}

impl ActionKind {
    /// Every kind of action.
    pub const ALL: [ActionKind; 5] = [
        ActionKind::RepointEdge,
        ActionKind::FailOverCms,
        ActionKind::FailOverPool,
        ActionKind::FailBackPool,
        ActionKind::SyncBackup,
    ];
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
