//! Persistent Chat pools (planning rule 12, Microsoft's "Manage high availability and disaster
//! recovery for Persistent Chat Server", Skype for Business Server 2015).
//!
//! A declared pool uses the database of its primary site while that site is active, else the
//! backup (log-shipped) database of its backup site while that one is; its active servers are
//! the servers of that site that are up. Microsoft's failover: a person brings the backup `mgc`
//! database online in SQL Server, then `Set-CsPersistentChatState -PoolState FailedOver`, then
//! `Set-CsPersistentChatActiveServer` with the backup site's servers. Its failback: the active
//! servers cleared, a person restores the primary database from the backup one and log shipping,
//! `-PoolState Normal`, then the primary site's servers made active (the page sets the servers
//! before the state; see `decide`).
//!
//! Every chain is made so that each step's effect shows in the next observation (or, for the
//! active servers the driver may not read back, in the ledger): a plan made again after any step
//! is the rest of the chain, so the journalled plan goes on and no person's step is asked twice.

use crate::model::{
    chat_subject, Action, BlockReason, Blocked, ChatSide, ChatSpec, ChatState, Desired, Health,
    Ledger, ObservedChatPool, ObservedIndex,
};

/// The steps of one pool, in order: each waits for the one before it.
pub(super) struct Chain {
    pub pool: String,
    pub steps: Vec<Action>,
}

/// Every declared pool's steps, and every declared pool that cannot be put where it belongs.
pub(super) fn moves(
    desired: &Desired,
    observed: &ObservedIndex,
    ledger: &Ledger,
) -> (Vec<Chain>, Vec<Blocked>) {
    let mut chains = Vec::new();
    let mut blocked = Vec::new();
    for spec in &desired.persistent_chat {
        match decide(spec, desired, observed, ledger) {
            Ok(steps) if steps.is_empty() => {}
            Ok(steps) => chains.push(Chain {
                pool: spec.pool.clone(),
                steps,
            }),
            Err((reason, message)) => blocked.push(Blocked {
                pair: chat_subject(&spec.pool),
                reason,
                message,
            }),
        }
    }
    (chains, blocked)
}

/// With a lost master that cannot be recovered, reports every pool that should move: every
/// Persistent Chat cmdlet reads and writes the CMS, and a pool is never moved half-way.
pub(super) fn hold_without_cms(chains: Vec<Chain>, blocked: &mut Vec<Blocked>) -> Vec<Chain> {
    blocked.extend(chains.into_iter().map(|c| Blocked {
        pair: chat_subject(&c.pool),
        reason: BlockReason::CmsUnavailable,
        message: "its steps need a working CMS, and the CMS has no active master".to_owned(),
    }));
    Vec::new()
}

/// Where the pool's users should be served from: the state it should be in and that site.
fn wanted<'a>(spec: &'a ChatSpec, desired: &Desired) -> Option<(ChatState, &'a ChatSide)> {
    if desired.site_active(&spec.primary.site) {
        Some((ChatState::Normal, &spec.primary))
    } else if desired.site_active(&spec.backup.site) {
        Some((ChatState::FailedOver, &spec.backup))
    } else {
        None
    }
}

fn decide(
    spec: &ChatSpec,
    desired: &Desired,
    observed: &ObservedIndex,
    ledger: &Ledger,
) -> Result<Vec<Action>, (BlockReason, String)> {
    let pool = spec.pool.as_str();
    let not_observed = |what: &str| {
        (
            BlockReason::PersistentChatNotObserved,
            format!("the driver does not report {what}, so it is left as it is"),
        )
    };
    let obs = observed
        .chat_pool(pool)
        .ok_or_else(|| not_observed("the pool"))?;
    let state = obs.state.ok_or_else(|| not_observed("its state"))?;
    let (want, side) = wanted(spec, desired).ok_or_else(|| {
        (
            BlockReason::NoActiveSite,
            format!(
                "neither site {} (its primary database) nor site {} (its backup database) is \
                 active",
                spec.primary.site, spec.backup.site
            ),
        )
    })?;
    let servers = usable_servers(obs, side, want, spec)?;
    let set_active = |servers: Vec<String>| Action::SetPersistentChatActiveServers {
        pool: pool.to_owned(),
        servers,
    };
    let active = active_servers(obs, ledger);
    Ok(match (state, want) {
        (ChatState::Normal, ChatState::Normal) | (ChatState::FailedOver, ChatState::FailedOver) => {
            let right = match active {
                Active::Known(active) => {
                    !active.is_empty() && active.iter().all(|a| side.servers.contains(a))
                }
                Active::Owed => false,
                Active::Trusted => true,
            };
            if right {
                Vec::new()
            } else {
                vec![set_active(servers)]
            }
        }
        (ChatState::Normal, ChatState::FailedOver) => {
            if !desired.allow_data_loss {
                return Err((
                    BlockReason::DataLossNotAllowed,
                    format!(
                        "site {} is out of service, and failing the pool over to its backup \
                         database loses what log shipping had not yet shipped; set the \
                         Topology's allowDataLoss to allow it",
                        spec.primary.site
                    ),
                ));
            }
            vec![
                Action::RecoverPersistentChatDatabase {
                    pool: pool.to_owned(),
                },
                Action::SetPersistentChatState {
                    pool: pool.to_owned(),
                    state: ChatState::FailedOver,
                },
                set_active(servers),
            ]
        }
        (ChatState::FailedOver, ChatState::Normal) => {
            let mut chain = Vec::with_capacity(4);
            if !matches!(active, Active::Known(a) if a.is_empty()) {
                chain.push(set_active(Vec::new()));
            }
            chain.push(Action::RestorePersistentChatDatabase {
                pool: pool.to_owned(),
            });
            // The state before the servers (Microsoft's page lists them the other way round):
            // each step then shows in the next observation, so a plan made again half-way is
            // the rest of this one and never asks for the restore twice, and no server connects
            // while the pool still names the backup database, which the restore has made a
            // log-shipping secondary again.
            chain.push(Action::SetPersistentChatState {
                pool: pool.to_owned(),
                state: ChatState::Normal,
            });
            chain.push(set_active(servers));
            chain
        }
    })
}

/// What is known of a pool's active servers: what the driver reports, else what the ledger
/// says the operator left (none, after a clear), else owed after a state change, else trusted to
/// be right (nothing the operator did changed them).
enum Active<'a> {
    Known(&'a [String]),
    Owed,
    Trusted,
}

fn active_servers<'a>(obs: &'a ObservedChatPool, ledger: &Ledger) -> Active<'a> {
    match &obs.active_servers {
        Some(active) => Active::Known(active),
        None if ledger.chat_servers_cleared.contains(&obs.fqdn) => Active::Known(&[]),
        None if ledger.chat_servers_owed.contains(&obs.fqdn) => Active::Owed,
        None => Active::Trusted,
    }
}

/// The declared servers of `side` that are up, in declared order; none up blocks the pool.
fn usable_servers(
    obs: &ObservedChatPool,
    side: &ChatSide,
    want: ChatState,
    spec: &ChatSpec,
) -> Result<Vec<String>, (BlockReason, String)> {
    let health = |s: &String| obs.server(s).map(|o| o.health);
    let up: Vec<String> = side
        .servers
        .iter()
        .filter(|s| health(s) == Some(Health::Up))
        .cloned()
        .collect();
    if !up.is_empty() {
        return Ok(up);
    }
    let database = match want {
        ChatState::Normal => "primary",
        ChatState::FailedOver => "backup",
    };
    if side
        .servers
        .iter()
        .any(|s| health(s) == Some(Health::Unknown))
    {
        return Err((
            BlockReason::HealthUnknown,
            format!(
                "it should use its {database} database in site {}, and the health of its \
                 servers there ({}) is not known",
                side.site,
                side.servers.join(", ")
            ),
        ));
    }
    let other = match want {
        ChatState::Normal => &spec.backup.site,
        ChatState::FailedOver => &spec.primary.site,
    };
    Err((
        BlockReason::NoPersistentChatServer,
        format!(
            "it should use its {database} database in site {}, and none of its servers there \
             ({}) is up; bring one up, or declare site {} out of service and site {other} \
             active to move it",
            side.site,
            side.servers.join(", "),
            side.site
        ),
    ))
}
