//! Small builders for SfB worlds: a desired state and an observation, built up one fact at a time.
#![allow(dead_code)]

pub mod random;
pub mod simulated;

use std::collections::{HashMap, HashSet};

use sfb_dr::model::*;
use sfb_dr::model::{Action, Mode, Plan, Step};
use sfb_dr::planner;

pub const P1: &str = "pool1.contoso.com";
pub const P2: &str = "pool2.contoso.com";
pub const P3: &str = "pool3.contoso.com";
pub const P4: &str = "pool4.contoso.com";
/// A Persistent Chat pool and its servers: two in redmond, two in dublin.
pub const PC: &str = "pchat.contoso.com";
pub const PC1: &str = "pc1.contoso.com";
pub const PC2: &str = "pc2.contoso.com";
pub const PC3: &str = "pc3.contoso.com";
pub const PC4: &str = "pc4.contoso.com";

/// A deployment in two sites (redmond, dublin), everything healthy and at home until told.
#[derive(Clone, Debug)]
pub struct World {
    pub observed: ObservedTopology,
    pub desired: Desired,
    pub ledger: Ledger,
    /// Where the CMS database really is when the observation does not say (property tests).
    pub truth_cms_database: Option<String>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> Self {
        World {
            observed: ObservedTopology {
                sites: vec!["redmond".into(), "dublin".into()],
                pools: vec![],
                backup: vec![],
                cms: CmsState {
                    active_master: None,
                    replicas_up_to_date: true,
                    pool: None,
                },
                edges: vec![],
                federation_routes: vec![],
                persistent_chat: vec![],
                data_loss: None,
            },
            desired: Desired::default(),
            ledger: Ledger::default(),
            truth_cms_database: None,
        }
    }

    /// Pair `a` (in `site_a`) with `b` (in `site_b`); the pair is named `a-b` by short names.
    pub fn pair(mut self, a: &str, site_a: &str, b: &str, site_b: &str) -> Self {
        for s in [site_a, site_b] {
            if !self.observed.sites.iter().any(|x| x == s) {
                self.observed.sites.push(s.into());
            }
        }
        for (p, site, partner) in [(a, site_a, b), (b, site_b, a)] {
            self.observed.pools.push(ObservedPool {
                fqdn: p.into(),
                site: site.into(),
                edition: Edition::Enterprise,
                health: Health::Up,
                backup_pool: Some(partner.into()),
                served_by: Some(p.into()),
                users: 1000,
                back_end: None,
                back_end_mirror: None,
            });
            self.observed.backup.push(BackupDirection {
                from: p.into(),
                to: partner.into(),
                export_state: ExportState::SteadyState,
                import_state: ImportState::NormalState,
                last_sync_age_seconds: Some(30),
            });
        }
        self.desired.pairs.push(PairSpec {
            name: pair_name(a, b),
            pools: [
                PoolRef {
                    fqdn: a.into(),
                    site: site_a.into(),
                },
                PoolRef {
                    fqdn: b.into(),
                    site: site_b.into(),
                },
            ],
            active_sites: None,
        });
        self.desired.pairs.sort_by(|x, y| x.name.cmp(&y.name));
        self
    }

    /// pool1 (redmond) / pool2 (dublin) and pool3 (redmond) / pool4 (dublin), the CMS declared
    /// on pool1 (its preferred pool) and its master there.
    pub fn two_pairs() -> Self {
        World::new()
            .pool1_pool2()
            .pair(P3, "redmond", P4, "dublin")
            .cms(P1, Some(P1))
    }

    /// The standard pair pool1 (redmond) / pool2 (dublin).
    pub fn pool1_pool2(self) -> Self {
        self.pair(
            "pool1.contoso.com",
            "redmond",
            "pool2.contoso.com",
            "dublin",
        )
    }

    /// Declares the CMS on the pair of `preferred`, with backup SQL for both pools, and observes
    /// its master on `master` (None: unavailable).
    pub fn cms(mut self, preferred: &str, master: Option<&str>) -> Self {
        let pair = self
            .desired
            .pairs
            .iter()
            .find(|p| p.position(preferred).is_some())
            .expect("declare the pair before the CMS")
            .clone();
        self.desired.cms = Some(CmsSpec {
            name: "cms".into(),
            pair: pair.name.clone(),
            preferred_pool: preferred.into(),
            failback: CmsFailback::Manual,
            backup_sql: pair
                .pools
                .iter()
                .map(|p| BackupSql {
                    pool: p.fqdn.clone(),
                    sql_server_fqdn: format!("sql.{}", p.fqdn),
                    sql_instance_name: Some("rtc".into()),
                    mirror_sql_server_fqdn: None,
                    mirror_sql_instance_name: None,
                })
                .collect(),
        });
        self.observed.cms.active_master = master.map(Into::into);
        self
    }

    /// Observes the CMS master on `master` without declaring a CMS.
    pub fn cms_master(mut self, master: Option<&str>) -> Self {
        self.observed.cms.active_master = master.map(Into::into);
        self
    }

    pub fn cms_failback(mut self, failback: CmsFailback) -> Self {
        self.desired
            .cms
            .as_mut()
            .expect("declare the CMS first")
            .failback = failback;
        self
    }

    pub fn no_backup_sql_for(mut self, pool: &str) -> Self {
        let cms = self.desired.cms.as_mut().expect("declare the CMS first");
        cms.backup_sql.retain(|b| b.pool != pool);
        self
    }

    /// Observes which pool's Back End holds the CMS database (`cms.pool`).
    pub fn cms_database(mut self, pool: &str) -> Self {
        self.observed.cms.pool = Some(pool.into());
        self
    }

    pub fn replicas_up_to_date(mut self, yes: bool) -> Self {
        self.observed.cms.replicas_up_to_date = yes;
        self
    }

    pub fn edge(mut self, fqdn: &str, site: &str, next_hop: &str) -> Self {
        self.observed.edges.push(ObservedEdge {
            fqdn: fqdn.into(),
            site: site.into(),
            health: Health::Up,
            next_hop: next_hop.into(),
        });
        self
    }

    /// Observes the route of `kind` on `edge` (None: not set).
    pub fn route(mut self, kind: RouteKind, edge: Option<&str>) -> Self {
        self.observed.federation_routes.retain(|r| r.kind != kind);
        self.observed.federation_routes.push(ObservedRoute {
            kind,
            edge: edge.map(Into::into),
        });
        self
    }

    /// Declares the Edge pools of route `kind`, in order of preference.
    pub fn declare_route(mut self, kind: RouteKind, edges: &[&str]) -> Self {
        self.desired.federation.retain(|(k, _)| *k != kind);
        self.desired
            .federation
            .push((kind, edges.iter().map(|e| (*e).to_owned()).collect()));
        self
    }

    pub fn edge_health(mut self, fqdn: &str, health: Health) -> Self {
        self.observed
            .edges
            .iter_mut()
            .find(|e| e.fqdn == fqdn)
            .expect("known edge")
            .health = health;
        self
    }

    pub fn health(mut self, pool: &str, health: Health) -> Self {
        self.pool_mut(pool).health = health;
        self
    }

    /// Observes the health of the pool's Back End SQL Server.
    pub fn back_end(mut self, pool: &str, health: Health) -> Self {
        self.pool_mut(pool).back_end = Some(health);
        self
    }

    /// Observes a mirrored Back End: its principal and each SQL Server's health (`backEnd` is
    /// the principal's).
    pub fn mirror(
        mut self,
        pool: &str,
        principal: MirrorRole,
        primary: Health,
        mirror: Health,
    ) -> Self {
        let m = BackEndMirror {
            principal,
            primary,
            mirror,
        };
        let p = self.pool_mut(pool);
        p.back_end = Some(m.health(principal));
        p.back_end_mirror = Some(m);
        self
    }

    pub fn edition(mut self, pool: &str, edition: Edition) -> Self {
        self.pool_mut(pool).edition = edition;
        self
    }

    /// Declares, in the Edge pool's Site, the next hop it should point at (`spec.edgePools`).
    pub fn declare_edge(mut self, edge: &str, next_hop: &str) -> Self {
        self.desired
            .edge_next_hops
            .insert(edge.into(), next_hop.into());
        self
    }

    /// The ledger owes `home` the conference content its users left on `backup`.
    pub fn owed_conference_content(mut self, home: &str, backup: &str) -> Self {
        self.ledger
            .conference_content_owed
            .insert(home.into(), backup.into());
        self
    }

    /// `home`'s users are served by `server`.
    pub fn served_by(mut self, home: &str, server: &str) -> Self {
        self.pool_mut(home).served_by = Some(server.into());
        self
    }

    /// The driver cannot tell who serves `home`'s users.
    pub fn serving_unobserved(mut self, home: &str) -> Self {
        self.pool_mut(home).served_by = None;
        self
    }

    pub fn ledger(mut self, home: &str, server: &str) -> Self {
        self.ledger.record(home, server);
        self
    }

    pub fn site_active(mut self, site: &str, active: bool) -> Self {
        self.desired.sites.insert(site.into(), active);
        self
    }

    pub fn active_sites(mut self, pool: &str, sites: &[&str]) -> Self {
        let pair = self
            .desired
            .pairs
            .iter_mut()
            .find(|p| p.position(pool).is_some())
            .expect("known pool");
        pair.active_sites = Some(sites.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn allow_data_loss(mut self) -> Self {
        self.desired.allow_data_loss = true;
        self
    }

    pub fn backup_error(mut self, from: &str) -> Self {
        let d = self
            .observed
            .backup
            .iter_mut()
            .find(|b| b.from == from)
            .expect("known direction");
        d.export_state = ExportState::ErrorState;
        self
    }

    /// A Persistent Chat pool `PC` with servers `PC1`, `PC2` in redmond (its primary database)
    /// and `PC3`, `PC4` in dublin (its backup database), observed `state` with `active` servers
    /// (None: not reported), all up, and declared so.
    pub fn chat(mut self, state: ChatState, active: Option<&[&str]>) -> Self {
        let server = |fqdn: &str, site: &str| ObservedChatServer {
            fqdn: fqdn.into(),
            health: Health::Up,
            site: Some(site.into()),
        };
        self.observed.persistent_chat = vec![ObservedChatPool {
            fqdn: PC.into(),
            state: Some(state),
            active_servers: active.map(|a| a.iter().map(|s| (*s).to_owned()).collect()),
            servers: vec![
                server(PC1, "redmond"),
                server(PC2, "redmond"),
                server(PC3, "dublin"),
                server(PC4, "dublin"),
            ],
            primary_site: Some("redmond".into()),
            backup_site: Some("dublin".into()),
        }];
        let side = |site: &str, servers: [&str; 2]| ChatSide {
            site: site.into(),
            servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        };
        self.desired.persistent_chat = vec![ChatSpec {
            pool: PC.into(),
            primary: side("redmond", [PC1, PC2]),
            backup: side("dublin", [PC3, PC4]),
        }];
        self
    }

    /// The health of a Persistent Chat server.
    pub fn chat_server(mut self, fqdn: &str, health: Health) -> Self {
        self.observed
            .persistent_chat
            .iter_mut()
            .flat_map(|c| c.servers.iter_mut())
            .find(|s| s.fqdn == fqdn)
            .expect("known Persistent Chat server")
            .health = health;
        self
    }

    fn pool_mut(&mut self, fqdn: &str) -> &mut ObservedPool {
        self.observed
            .pools
            .iter_mut()
            .find(|p| p.fqdn == fqdn)
            .unwrap_or_else(|| panic!("unknown pool {fqdn}"))
    }

    pub fn index(&self) -> ObservedIndex {
        ObservedIndex::new(self.observed.clone()).expect("the world is consistent")
    }

    pub fn plan(&self) -> Plan {
        planner::plan(&self.desired, &self.index(), &self.ledger)
    }
}

pub fn pair_name(a: &str, b: &str) -> String {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_owned();
    format!("{}-{}", short(a), short(b))
}

/// The step doing exactly `action`.
pub fn step<'a>(plan: &'a Plan, action: &Action) -> &'a Step {
    plan.steps
        .iter()
        .find(|s| &s.action == action)
        .unwrap_or_else(|| panic!("no step {action:?} in {plan:#?}"))
}

/// Whether `later` waits, directly or through others, for `earlier`.
pub fn waits_for(plan: &Plan, later: &Step, earlier: &Step) -> bool {
    let by_id: HashMap<&str, &Step> = plan.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut seen = HashSet::new();
    let mut todo: Vec<&str> = later.depends_on.iter().map(String::as_str).collect();
    while let Some(id) = todo.pop() {
        if id == earlier.id {
            return true;
        }
        if seen.insert(id) {
            if let Some(s) = by_id.get(id) {
                todo.extend(s.depends_on.iter().map(String::as_str));
            }
        }
    }
    false
}

pub fn actions(plan: &Plan) -> Vec<Action> {
    plan.steps.iter().map(|s| s.action.clone()).collect()
}

pub fn failover(pool: &str, mode: Mode) -> Action {
    Action::FailOverPool {
        pool: pool.into(),
        mode,
    }
}

pub fn failback(pool: &str, mode: Mode) -> Action {
    Action::FailBackPool {
        pool: pool.into(),
        mode,
    }
}

pub fn repoint(edge: &str, to: &str) -> Action {
    Action::RepointEdge {
        edge: edge.into(),
        to: to.into(),
    }
}

pub fn sync_conference_content(from: &str) -> Action {
    Action::SyncBackup {
        pool: from.into(),
        module: BackupModule::DataConf,
    }
}

/// The plan's CMS failover step, if any.
pub fn cms_step(plan: &Plan) -> Option<&Step> {
    plan.steps
        .iter()
        .find(|s| matches!(s.action, Action::FailOverCms { .. }))
}

/// The reasons of the plan's blocked entries, in order.
pub fn block_reasons(plan: &Plan) -> Vec<BlockReason> {
    plan.blocked.iter().map(|b| b.reason).collect()
}

/// The script `powershell.exe -EncodedCommand <encoded>` would run: base64 of UTF-16LE.
pub fn decode_encoded_command(encoded: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).expect("UTF-16LE")
}

/// `Set-CsPersistentChatState` of the pool `PC`.
pub fn chat_state(state: ChatState) -> Action {
    Action::SetPersistentChatState {
        pool: PC.into(),
        state,
    }
}

/// `Set-CsPersistentChatActiveServer` of the pool `PC` (none: clear them).
pub fn chat_active(servers: &[&str]) -> Action {
    Action::SetPersistentChatActiveServers {
        pool: PC.into(),
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
    }
}
