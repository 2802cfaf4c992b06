//! Persistent Chat pools as the simulator keeps them (Skype for Business Server 2015): which
//! database each uses, its active servers, its servers' health, and where its two databases are
//! in SQL Server's terms (the backup one out of log shipping, the primary one restored), so the
//! refusals of Microsoft's procedure can be judged on the simulator's own state.

use std::collections::BTreeMap;

use crate::model::{
    fqdn_key, ChatState, Health, ObservedChatPool, ObservedChatServer, ObservedError,
};

/// One Persistent Chat pool.
#[derive(Clone, Debug)]
pub(super) struct ChatPool {
    pub state: ChatState,
    pub active: Vec<String>,
    /// Server FQDN -> (its site, its health).
    pub servers: BTreeMap<String, (String, Health)>,
    pub primary_site: String,
    pub backup_site: String,
    /// The SQL Servers of the primary and the backup database answer.
    pub primary_db: Health,
    pub backup_db: Health,
    /// The backup `mgc` database is online, out of log shipping (a person recovered it).
    pub backup_online: bool,
    /// The primary `mgc` database holds what was written while failed over (a person restored it).
    pub primary_restored: bool,
}

impl ChatPool {
    /// The pool a start file describes; the simulator needs every site the driver may leave out.
    pub fn new(i: usize, c: &ObservedChatPool) -> Result<Self, ObservedError> {
        let need = |field: &str, v: Option<&String>| {
            v.cloned().ok_or_else(|| ObservedError {
                field: format!("persistentChat[{i}].{field}"),
                message: "the simulator needs it to know where each database and server is".into(),
            })
        };
        let servers = c
            .servers
            .iter()
            .enumerate()
            .map(|(j, s): (usize, &ObservedChatServer)| {
                Ok((
                    s.fqdn.clone(),
                    (
                        need(&format!("servers[{j}].site"), s.site.as_ref())?,
                        s.health,
                    ),
                ))
            })
            .collect::<Result<BTreeMap<_, _>, ObservedError>>()?;
        let state = c.state.unwrap_or(ChatState::Normal);
        let mut pool = ChatPool {
            state,
            active: Vec::new(),
            servers,
            primary_site: need("primarySite", c.primary_site.as_ref())?,
            backup_site: need("backupSite", c.backup_site.as_ref())?,
            primary_db: Health::Up,
            backup_db: Health::Up,
            backup_online: state == ChatState::FailedOver,
            primary_restored: false,
        };
        pool.active = match &c.active_servers {
            Some(a) => a.clone(),
            None => {
                let site = pool.database_site().to_owned();
                pool.servers
                    .iter()
                    .filter(|(_, (s, h))| *s == site && *h == Health::Up)
                    .map(|(f, _)| f.clone())
                    .collect()
            }
        };
        Ok(pool)
    }

    /// The site of the database the pool's servers must stand beside: the backup one while
    /// failed over, until the primary one has been restored.
    pub fn database_site(&self) -> &str {
        match self.state {
            ChatState::FailedOver if !self.primary_restored => &self.backup_site,
            _ => &self.primary_site,
        }
    }

    pub fn observe(&self, fqdn: &str) -> ObservedChatPool {
        ObservedChatPool {
            fqdn: fqdn.to_owned(),
            state: Some(self.state),
            active_servers: Some(self.active.clone()),
            servers: self
                .servers
                .iter()
                .map(|(f, (site, health))| ObservedChatServer {
                    fqdn: f.clone(),
                    health: *health,
                    site: Some(site.clone()),
                })
                .collect(),
            primary_site: Some(self.primary_site.clone()),
            backup_site: Some(self.backup_site.clone()),
        }
    }

    /// A site going dark (or coming back) takes its servers and its SQL Server with it.
    pub fn site_health(&mut self, site: &str, health: Health) {
        for (s, h) in self.servers.values_mut() {
            if s == site {
                *h = health;
            }
        }
        if self.primary_site == site {
            self.primary_db = health;
        }
        if self.backup_site == site {
            self.backup_db = health;
        }
    }

    /// `Set-CsPersistentChatState -PoolState <state>`: the backup database must be online to
    /// fail over to it, the primary one restored to go back to it.
    pub fn check_state(&self, pool: &str, state: ChatState) -> Result<(), String> {
        if self.state == state {
            return Err(format!(
                "Persistent Chat pool \"{pool}\" is already in state {}.",
                state.name()
            ));
        }
        match state {
            ChatState::FailedOver if !self.backup_online => Err(format!(
                "Cannot fail over Persistent Chat pool \"{pool}\": its backup mgc database is a \
                 log-shipping secondary, not online. Restore it with recovery first."
            )),
            ChatState::FailedOver if self.backup_db == Health::Down => Err(format!(
                "Cannot fail over Persistent Chat pool \"{pool}\": the SQL Server of its backup \
                 database does not answer."
            )),
            ChatState::Normal if !self.primary_restored => Err(format!(
                "Cannot return Persistent Chat pool \"{pool}\" to Normal: its primary mgc \
                 database does not hold what was written while it was failed over. Restore it \
                 from the backup database first."
            )),
            ChatState::Normal | ChatState::FailedOver => Ok(()),
        }
    }

    /// `Set-CsPersistentChatActiveServer`: servers of the pool, up, and in the site of the
    /// database in use (Microsoft: "All the active servers must be located within the same
    /// data center as the new primary database"); none clears the list.
    pub fn check_active(&self, pool: &str, servers: &[String]) -> Result<(), String> {
        let site = self.database_site();
        for s in servers {
            let s = fqdn_key(s);
            let Some((at, health)) = self.servers.get(&s) else {
                return Err(format!(
                    "\"{s}\" is not a server of Persistent Chat pool \"{pool}\"."
                ));
            };
            if *health != Health::Up {
                return Err(format!(
                    "Persistent Chat server \"{s}\" is not operational."
                ));
            }
            if at != site {
                return Err(format!(
                    "Persistent Chat server \"{s}\" is in site \"{at}\", not beside the database \
                     the pool uses (site \"{site}\")."
                ));
            }
        }
        Ok(())
    }

    /// A person brings the backup `mgc` database online (the step
    /// `RecoverPersistentChatDatabase` asks of them).
    pub fn recover(&mut self, pool: &str) -> Result<(), String> {
        if self.state == ChatState::FailedOver || self.backup_online {
            return Err(format!(
                "the backup mgc database of Persistent Chat pool {pool} is already online"
            ));
        }
        if self.backup_db == Health::Down {
            return Err(format!(
                "the SQL Server of Persistent Chat pool {pool}'s backup database does not answer"
            ));
        }
        self.backup_online = true;
        Ok(())
    }

    /// A person restores the primary `mgc` database from the backup one and log shipping (the
    /// step `RestorePersistentChatDatabase` asks of them): only once no server is active.
    pub fn restore(&mut self, pool: &str) -> Result<(), String> {
        if self.state != ChatState::FailedOver || !self.backup_online {
            return Err(format!(
                "Persistent Chat pool {pool} is not failed over: there is nothing to restore"
            ));
        }
        if !self.active.is_empty() {
            return Err(format!(
                "Persistent Chat pool {pool} still has active servers ({}): clear them first, \
                 so that none connects to the databases during the failback",
                self.active.join(", ")
            ));
        }
        if self.primary_db == Health::Down {
            return Err(format!(
                "the SQL Server of Persistent Chat pool {pool}'s primary database does not answer"
            ));
        }
        self.primary_restored = true;
        Ok(())
    }

    /// The effect of a cmdlet whose checks passed.
    pub fn set_state(&mut self, state: ChatState) {
        self.state = state;
        if state == ChatState::Normal {
            // Log shipping runs again from the restored primary.
            self.primary_restored = false;
            self.backup_online = false;
        }
    }
}
