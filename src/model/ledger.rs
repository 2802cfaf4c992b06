//! The ledger: the operator's own durable record of who serves each pool's users, and of the
//! conference content still owed to pools that failed back.
//!
//! SfB has no cmdlet that reports "pool P is failed over" (see ARCHITECTURE.md, "Where each SfB
//! rule lives"), so the record of performed failovers is the truth and an observation, when the
//! driver has one, is the check on it. The operator keeps this in `Topology.status.ledger`; every
//! field has a default so a status written by an older version still reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{fqdn_key, Action, BackupModule, ObservedIndex};

/// What the operator's own actions left behind: who serves each home pool's users, and which
/// conference-content copies are still owed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// Home pool FQDN -> the pool that serves its users according to the operator's last action.
    #[serde(default)]
    pub served_by: BTreeMap<String, String>,
    /// Home pool FQDN -> the backup pool that still holds the conference content its users
    /// created while failed over. Microsoft asks for the copy home
    /// (`Invoke-CsBackupServiceSync -PoolFqdn <backup> -BackupModule ConfServices.DataConf`)
    /// after every failback; after a disaster-mode failback the backup pool is down, so the copy
    /// stays owed here until it is up and the sync has succeeded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conference_content_owed: BTreeMap<String, String>,
    /// The Edge pool the XMPP federation route was moved to (`Set-CsSite`) whose DNS records and
    /// services a person has yet to confirm: the observation shows the route there, but not
    /// whether federation reaches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmpp_route_unpublished: Option<String>,
    /// The Persistent Chat pools whose state was changed since their active servers were last
    /// set: the servers of the site in use are owed. The planner reads this and
    /// `chat_servers_cleared` only where the driver does not report the active servers (no
    /// cmdlet Microsoft documents reads them back).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub chat_servers_owed: std::collections::BTreeSet<String>,
    /// The Persistent Chat pools whose active servers the operator cleared and has not set
    /// since: known to be empty where the driver does not report them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub chat_servers_cleared: std::collections::BTreeSet<String>,
}

impl Ledger {
    /// Records that `home`'s users are now served by `server`.
    pub fn record(&mut self, home: &str, server: &str) {
        self.served_by.insert(fqdn_key(home), fqdn_key(server));
    }

    /// Records what a step that succeeded changed. `observed` names each pool's backup pool.
    /// A failover moves the users to the backup pool (and makes any owed copy moot: the content
    /// is where the users now are); a failback brings them home and owes the copy of their
    /// conference content from the backup pool, which the sync that follows pays.
    pub fn record_step(&mut self, action: &Action, observed: &ObservedIndex) {
        let backup_of = |pool: &str| {
            observed
                .pool(&fqdn_key(pool))
                .and_then(|p| p.backup_pool.clone())
        };
        match action {
            Action::FailOverPool { pool, .. } => {
                let home = fqdn_key(pool);
                if let Some(backup) = backup_of(&home) {
                    self.served_by.insert(home.clone(), backup);
                }
                self.conference_content_owed.remove(&home);
            }
            Action::FailBackPool { pool, .. } => {
                let home = fqdn_key(pool);
                if let Some(backup) = backup_of(&home) {
                    self.conference_content_owed.insert(home.clone(), backup);
                }
                self.served_by.insert(home.clone(), home);
            }
            Action::SyncBackup {
                pool,
                module: BackupModule::DataConf,
            } => {
                let from = fqdn_key(pool);
                self.conference_content_owed
                    .retain(|_, backup| *backup != from);
            }
            Action::SetXmppFederationRoute { edge, .. } => {
                self.xmpp_route_unpublished = Some(fqdn_key(edge));
            }
            Action::PublishXmppFederationRoute { edge } => {
                if self.xmpp_route_unpublished.as_deref() == Some(fqdn_key(edge).as_str()) {
                    self.xmpp_route_unpublished = None;
                }
            }
            // A state change owes the servers of the site now in use; cleared servers are
            // known to be none until they are set.
            Action::SetPersistentChatState { pool, .. } => {
                self.chat_servers_owed.insert(fqdn_key(pool));
            }
            Action::SetPersistentChatActiveServers { pool, servers } if servers.is_empty() => {
                self.chat_servers_cleared.insert(fqdn_key(pool));
            }
            Action::SetPersistentChatActiveServers { pool, .. } => {
                self.chat_servers_owed.remove(&fqdn_key(pool));
                self.chat_servers_cleared.remove(&fqdn_key(pool));
            }
            Action::SyncBackup { .. }
            | Action::RecoverPersistentChatDatabase { .. }
            | Action::RestorePersistentChatDatabase { .. }
            | Action::RepointEdge { .. }
            | Action::FailOverCms { .. }
            | Action::FailOverDatabase { .. }
            | Action::MoveSipFederationRoute { .. }
            | Action::StopEdgeServices { .. }
            | Action::StartEdgeServices { .. } => {}
        }
    }
}
