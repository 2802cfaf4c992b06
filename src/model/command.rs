//! The language of SfB commands every layer shares: the actions a plan is made of, their modes
//! and the Backup Service modules (Microsoft's "Failing over and failing back a pool"). Not decisions: the planner
//! decides which actions to take, the drivers and the simulator carry them out or judge them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{BackupSql, MirrorRole};

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

/// A database a mirrored Back End holds, by the name `Invoke-CsDatabaseFailover -DatabaseType`
/// takes. Microsoft's procedure for a mirrored Back End fails over these two: the user
/// database always, the Central Management store's when the pool holds it.
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
pub enum DatabaseType {
    User,
    CentralMgmt,
}

impl DatabaseType {
    /// The name `-DatabaseType` takes.
    pub fn name(self) -> &'static str {
        match self {
            DatabaseType::User => "User",
            DatabaseType::CentralMgmt => "CentralMgmt",
        }
    }
}

/// A federation route an Edge pool carries for the organization: SIP federation (port 5061,
/// set in Topology Builder) or XMPP federation (port 5269, `Set-CsSite -XmppFederationRoute`).
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
pub enum RouteKind {
    Sip,
    Xmpp,
}

impl RouteKind {
    /// Both kinds, SIP first.
    pub const ALL: [RouteKind; 2] = [RouteKind::Sip, RouteKind::Xmpp];

    /// The name in words: "SIP federation" or "XMPP federation".
    pub fn word(self) -> &'static str {
        match self {
            RouteKind::Sip => "SIP federation",
            RouteKind::Xmpp => "XMPP federation",
        }
    }

    /// The field that declares and reports it: `sip` or `xmpp`.
    pub fn field(self) -> &'static str {
        match self {
            RouteKind::Sip => "sip",
            RouteKind::Xmpp => "xmpp",
        }
    }
}

/// The state of a Persistent Chat pool, as `Set-CsPersistentChatState -PoolState` takes it:
/// `Normal` uses its primary database, `FailedOver` its backup (log-shipped) database.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum ChatState {
    Normal,
    FailedOver,
}

impl ChatState {
    /// The name `-PoolState` takes.
    pub fn name(self) -> &'static str {
        match self {
            ChatState::Normal => "Normal",
            ChatState::FailedOver => "FailedOver",
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
    /// `Invoke-CsDatabaseFailover -PoolFqdn <pool> -DatabaseType <type> -NewPrincipal <role>`
    /// for each database, in order: a mirrored Back End whose principal is down fails over to the
    /// server that is up, and the pool keeps its users.
    FailOverDatabase {
        pool: String,
        new_principal: MirrorRole,
        databases: Vec<DatabaseType>,
    },
    /// A person's step (Topology Builder has no cmdlet for it): clear "Enable federation for
    /// this Edge pool (Port 5061)" on `from`, select it on `to`, publish the topology, and run
    /// the Deployment Wizard's "Setup or Remove Skype for Business Server Components" again on
    /// `to`'s Edge Servers.
    MoveSipFederationRoute {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        to: String,
    },
    /// A person's step: `Stop-CsWindowsService` on each Edge Server of `edge`, which the
    /// driver's host does not reach (Edge Servers sit in the perimeter network).
    StopEdgeServices { edge: String },
    /// A person's step: `Start-CsWindowsService` on each Edge Server of `edge`, the Edge pool
    /// a route returns to (Microsoft's failback starts its services first).
    StartEdgeServices { edge: String },
    /// `Set-CsSite -Identity <site> -XmppFederationRoute EdgeServer:<edge>`: the XMPP
    /// federation route to `edge`, named on the site that holds it.
    SetXmppFederationRoute { site: String, edge: String },
    /// A person's step: the external DNS A record for XMPP federation and the
    /// `_xmpp-server._tcp` SRV record (port 5269) to `edge`, port 5269 open to it from outside,
    /// then `Start-CsWindowsService` on each of its Edge Servers.
    PublishXmppFederationRoute { edge: String },
    /// A person's step (SQL Server, no cmdlet): bring the Persistent Chat pool's backup `mgc`
    /// database online, as Microsoft's failover of Persistent Chat Server does it on the backup
    /// database's SQL Server instance.
    RecoverPersistentChatDatabase { pool: String },
    /// `Set-CsPersistentChatState -Identity <service> -PoolState <state>`: the pool uses its
    /// backup database (`FailedOver`) or its primary database again (`Normal`).
    SetPersistentChatState { pool: String, state: ChatState },
    /// `Set-CsPersistentChatActiveServer -Identity <service> -ActiveServers <servers>`: the
    /// servers that accept new connections; none clears the list (`$null`).
    SetPersistentChatActiveServers { pool: String, servers: Vec<String> },
    /// A person's step (SQL Server, no cmdlet): put the backup `mgc` database's content back
    /// on the primary database and log shipping back in place, as Microsoft's failback of
    /// Persistent Chat Server does it.
    RestorePersistentChatDatabase { pool: String },
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
            Action::FailOverDatabase { .. } => ActionKind::FailOverDatabase,
            Action::MoveSipFederationRoute { .. } => ActionKind::MoveSipFederationRoute,
            Action::StopEdgeServices { .. } => ActionKind::StopEdgeServices,
            Action::StartEdgeServices { .. } => ActionKind::StartEdgeServices,
            Action::SetXmppFederationRoute { .. } => ActionKind::SetXmppFederationRoute,
            Action::PublishXmppFederationRoute { .. } => ActionKind::PublishXmppFederationRoute,
            Action::RecoverPersistentChatDatabase { .. } => {
                ActionKind::RecoverPersistentChatDatabase
            }
            Action::SetPersistentChatState { .. } => ActionKind::SetPersistentChatState,
            Action::SetPersistentChatActiveServers { .. } => {
                ActionKind::SetPersistentChatActiveServers
            }
            Action::RestorePersistentChatDatabase { .. } => {
                ActionKind::RestorePersistentChatDatabase
            }
        }
    }

    /// Whether a person carries the action out and confirms it (no cmdlet does it, or it runs
    /// on servers the driver does not reach); no driver is ever asked to.
    pub fn is_manual(&self) -> bool {
        self.kind().is_manual()
    }

    /// The mode of a move (pool failover or failback, CMS failover); None for the rest.
    /// Whether the step gives up data that is not yet copied: a disaster-mode move, or a
    /// Persistent Chat pool put on its log-shipped backup database (what log shipping had not
    /// shipped stays behind).
    pub fn gives_up_data(&self) -> bool {
        self.mode() == Some(Mode::Disaster)
            || matches!(
                self,
                Action::SetPersistentChatState {
                    state: ChatState::FailedOver,
                    ..
                }
            )
    }

    pub fn mode(&self) -> Option<Mode> {
        match self {
            Action::FailOverCms { mode, .. }
            | Action::FailOverPool { mode, .. }
            | Action::FailBackPool { mode, .. } => Some(*mode),
            Action::RepointEdge { .. }
            | Action::SyncBackup { .. }
            | Action::FailOverDatabase { .. }
            | Action::MoveSipFederationRoute { .. }
            | Action::StopEdgeServices { .. }
            | Action::StartEdgeServices { .. }
            | Action::SetXmppFederationRoute { .. }
            | Action::PublishXmppFederationRoute { .. }
            | Action::RecoverPersistentChatDatabase { .. }
            | Action::SetPersistentChatState { .. }
            | Action::SetPersistentChatActiveServers { .. }
            | Action::RestorePersistentChatDatabase { .. } => None,
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
    FailOverDatabase,
    MoveSipFederationRoute,
    StopEdgeServices,
    StartEdgeServices,
    SetXmppFederationRoute,
    PublishXmppFederationRoute,
    RecoverPersistentChatDatabase,
    SetPersistentChatState,
    SetPersistentChatActiveServers,
    RestorePersistentChatDatabase,
}

impl ActionKind {
    /// Every kind of action.
    pub const ALL: [ActionKind; 15] = [
        ActionKind::RepointEdge,
        ActionKind::FailOverCms,
        ActionKind::FailOverPool,
        ActionKind::FailBackPool,
        ActionKind::SyncBackup,
        ActionKind::FailOverDatabase,
        ActionKind::MoveSipFederationRoute,
        ActionKind::StopEdgeServices,
        ActionKind::StartEdgeServices,
        ActionKind::SetXmppFederationRoute,
        ActionKind::PublishXmppFederationRoute,
        ActionKind::RecoverPersistentChatDatabase,
        ActionKind::SetPersistentChatState,
        ActionKind::SetPersistentChatActiveServers,
        ActionKind::RestorePersistentChatDatabase,
    ];

    /// Whether a person carries this kind out and confirms it (see [`Action::is_manual`]).
    pub fn is_manual(self) -> bool {
        matches!(
            self,
            ActionKind::MoveSipFederationRoute
                | ActionKind::StopEdgeServices
                | ActionKind::StartEdgeServices
                | ActionKind::PublishXmppFederationRoute
                | ActionKind::RecoverPersistentChatDatabase
                | ActionKind::RestorePersistentChatDatabase
        )
    }
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
            Action::FailOverDatabase {
                pool,
                new_principal,
                databases,
            } => {
                let names: Vec<&str> = databases.iter().map(|d| d.name()).collect();
                write!(
                    f,
                    "fail the Back End databases of {pool} ({}) over to its {} SQL Server: \
                     its {} is down, so the databases move, not the users",
                    names.join(", "),
                    new_principal.word(),
                    new_principal.other().word()
                )
            }
            Action::MoveSipFederationRoute { from, to } => {
                write!(f, "by hand, in Topology Builder: ")?;
                if let Some(from) = from {
                    write!(
                        f,
                        "clear \"Enable federation for this Edge pool (Port 5061)\" on {from}, "
                    )?;
                }
                write!(
                    f,
                    "select it on {to}, publish the topology, then run the Deployment Wizard's \
                     \"Setup or Remove Skype for Business Server Components\" again on {to}'s \
                     Edge Servers (the SIP federation route moves to {to})"
                )
            }
            Action::StopEdgeServices { edge } => write!(
                f,
                "by hand, on each Edge Server of {edge}: Stop-CsWindowsService (before the XMPP \
                 federation route moves to it)"
            ),
            Action::StartEdgeServices { edge } => write!(
                f,
                "by hand, on each Edge Server of {edge}: Start-CsWindowsService (before the \
                 federation routes move back to it)"
            ),
            Action::SetXmppFederationRoute { site, edge } => write!(
                f,
                "point the XMPP federation route at Edge pool {edge} (Set-CsSite {site} \
                 -XmppFederationRoute EdgeServer:{edge})"
            ),
            Action::PublishXmppFederationRoute { edge } => write!(
                f,
                "by hand: point the external DNS A record for XMPP federation and the \
                 _xmpp-server._tcp SRV record (port 5269) at {edge}, check that port 5269 is \
                 open to it from outside, and run Start-CsWindowsService on each of its Edge \
                 Servers whose services are stopped"
            ),
            Action::RecoverPersistentChatDatabase { pool } => write!(
                f,
                "by hand, in SQL Server Management Studio on the instance that holds Persistent \
                 Chat pool {pool}'s backup mgc database: drop log shipping (exec \
                 sp_delete_log_shipping_secondary_database mgc), copy the backup files not yet \
                 copied from the backup share to the backup server's copy destination folder, \
                 apply the transaction log backups not yet applied, in sequence, end the \
                 connections to mgc (exec sp_who2, kill <spid>), then restore database mgc with \
                 recovery"
            ),
            Action::SetPersistentChatState { pool, state } => write!(
                f,
                "put Persistent Chat pool {pool} in state {} (Set-CsPersistentChatState \
                 -PoolState {}: it uses its {} database)",
                state.name(),
                state.name(),
                match state {
                    ChatState::Normal => "primary",
                    ChatState::FailedOver => "backup",
                }
            ),
            Action::SetPersistentChatActiveServers { pool, servers } if servers.is_empty() => {
                write!(
                    f,
                    "clear Persistent Chat pool {pool}'s active servers \
                     (Set-CsPersistentChatActiveServer -ActiveServers $null), so no server \
                     connects to its databases"
                )
            }
            Action::SetPersistentChatActiveServers { pool, servers } => write!(
                f,
                "make {} the active servers of Persistent Chat pool {pool} \
                 (Set-CsPersistentChatActiveServer)",
                servers.join(", ")
            ),
            Action::RestorePersistentChatDatabase { pool } => write!(
                f,
                "by hand, in SQL Server Management Studio, for Persistent Chat pool {pool} (its \
                 primary mgc and mgccomp databases rebuilt in Topology Builder): remove \
                 mirroring from the backup mgc and mgccomp databases, back the backup mgc \
                 database up (Full) to the log-shipping share, restore that backup over the \
                 primary mgc database (overwrite, leave it ready to use), then configure SQL \
                 Server log shipping for the primary mgc database again"
            ),
        }
    }
}

fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Graceful => "graceful",
        Mode::Disaster => "disaster mode",
    }
}
