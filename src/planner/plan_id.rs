//! The plan id: a stable hash of the inputs that shaped the plan, so an approval names exactly
//! one plan.

use sha2::{Digest, Sha256};

use crate::model::{Action, Blocked, Mode, Step};

/// A stable hash of what the plan will do and what it leaves blocked (not of messages, which
/// carry ages), so an approval names exactly one plan and survives unrelated changes.
pub(super) fn plan_id(steps: &[Step], blocked: &[Blocked]) -> String {
    let mut hasher = Sha256::new();
    let mut field = |s: &str| {
        hasher.update(s.as_bytes());
        hasher.update([0]);
    };
    for step in steps {
        field(&step.id);
        match &step.action {
            Action::RepointEdge { edge, to } => ["RepointEdge", edge, to, ""].map(&mut field),
            Action::FailOverCms {
                to,
                mode,
                backup_sql,
            } => {
                let sql = backup_sql.as_ref().map(|b| {
                    let mirror = (
                        b.mirror_sql_server_fqdn.as_deref(),
                        b.mirror_sql_instance_name.as_deref(),
                    );
                    format!(
                        "{} {} {:?}",
                        b.sql_server_fqdn,
                        b.sql_instance_name.as_deref().unwrap_or(""),
                        mirror
                    )
                });
                [
                    "FailOverCms",
                    to,
                    mode_name(*mode),
                    sql.as_deref().unwrap_or("-"),
                ]
                .map(&mut field)
            }
            Action::FailOverPool { pool, mode } => {
                ["FailOverPool", pool, mode_name(*mode), ""].map(&mut field)
            }
            Action::FailBackPool { pool, mode } => {
                ["FailBackPool", pool, mode_name(*mode), ""].map(&mut field)
            }
            Action::SyncBackup { pool, module } => {
                ["SyncBackup", pool, module.name(), ""].map(&mut field)
            }
            Action::FailOverDatabase {
                pool,
                new_principal,
                databases,
            } => {
                let names: Vec<&str> = databases.iter().map(|d| d.name()).collect();
                [
                    "FailOverDatabase",
                    pool,
                    new_principal.word(),
                    &names.join(","),
                ]
                .map(&mut field)
            }
            Action::MoveSipFederationRoute { from, to } => [
                "MoveSipFederationRoute",
                from.as_deref().unwrap_or("-"),
                to,
                "",
            ]
            .map(&mut field),
            Action::StopEdgeServices { edge } => ["StopEdgeServices", edge, "", ""].map(&mut field),
            Action::StartEdgeServices { edge } => {
                ["StartEdgeServices", edge, "", ""].map(&mut field)
            }
            Action::SetXmppFederationRoute { site, edge } => {
                ["SetXmppFederationRoute", site, edge, ""].map(&mut field)
            }
            Action::PublishXmppFederationRoute { edge } => {
                ["PublishXmppFederationRoute", edge, "", ""].map(&mut field)
            }
            Action::RecoverPersistentChatDatabase { pool } => {
                ["RecoverPersistentChatDatabase", pool, "", ""].map(&mut field)
            }
            Action::RestorePersistentChatDatabase { pool } => {
                ["RestorePersistentChatDatabase", pool, "", ""].map(&mut field)
            }
            Action::SetPersistentChatState { pool, state } => {
                ["SetPersistentChatState", pool, state.name(), ""].map(&mut field)
            }
            Action::SetPersistentChatActiveServers { pool, servers } => [
                "SetPersistentChatActiveServers",
                pool,
                &servers.join(","),
                "",
            ]
            .map(&mut field),
        };
        for d in &step.depends_on {
            field(d);
        }
        field("\n");
    }
    for b in blocked {
        field(&b.pair);
        field(&b.reason.to_string());
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Graceful => "Graceful",
        Mode::Disaster => "Disaster",
    }
}
