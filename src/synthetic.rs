//! Made-up deployments of any size, for the convergence benchmark and the fault campaign: the
//! observed topology a simulator starts from, and the resources that declare it.

use kube::api::ObjectMeta;

use crate::api::{
    Approval, CentralManagementStore, CentralManagementStoreSpec, DriverSpec, Objectives, PoolPair,
    PoolPairSpec, PoolSpec, SimulatorDriver, Site, SiteSpec, Topology, TopologySpec,
};
use crate::model::{
    BackupDirection, CmsFailback, CmsState, Edition, ExportState, Health, ImportState,
    ObservedEdge, ObservedPool, ObservedTopology,
};

/// The two sites every synthetic deployment spans.
pub const SITES: [&str; 2] = ["redmond", "dublin"];

/// The shape of a synthetic deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The namespace (and the Topology's name).
    pub namespace: String,
    /// Pool pairs, each with one pool in each site, alternating which site holds the first.
    pub pairs: usize,
    /// One Edge pool per this many pairs, in the site of the pair's first pool (0: none).
    pub edge_every: usize,
    /// Users per pool.
    pub users: u64,
}

impl Shape {
    /// `pairs` pairs in `namespace`, an Edge pool for every tenth pair.
    pub fn new(namespace: &str, pairs: usize) -> Self {
        Shape {
            namespace: namespace.into(),
            pairs,
            edge_every: 10,
            users: 5_000,
        }
    }

    /// The FQDNs of pair `i`'s pools, in the namespace's own DNS zone.
    pub fn pools(&self, i: usize) -> (String, String) {
        let zone = format!("{}.example", self.namespace);
        (format!("pool{i}a.{zone}"), format!("pool{i}b.{zone}"))
    }

    /// The sites of pair `i`'s pools: pairs alternate which site holds the first pool.
    pub fn sites(&self, i: usize) -> (&'static str, &'static str) {
        if i.is_multiple_of(2) {
            (SITES[0], SITES[1])
        } else {
            (SITES[1], SITES[0])
        }
    }

    /// Everything healthy, every pool serving its own users, the CMS on the first pair's first pool.
    pub fn observed(&self) -> ObservedTopology {
        let mut t = ObservedTopology {
            sites: SITES.iter().map(|s| (*s).to_owned()).collect(),
            pools: Vec::with_capacity(2 * self.pairs),
            backup: Vec::with_capacity(2 * self.pairs),
            cms: CmsState {
                active_master: (self.pairs > 0).then(|| self.pools(0).0),
                replicas_up_to_date: true,
                pool: (self.pairs > 0).then(|| self.pools(0).0),
            },
            edges: Vec::new(),
            federation_routes: Vec::new(),
            persistent_chat: Vec::new(),
            data_loss: None,
        };
        for i in 0..self.pairs {
            let (a, b) = self.pools(i);
            let (site_a, site_b) = self.sites(i);
            for (p, site, partner) in [(&a, site_a, &b), (&b, site_b, &a)] {
                t.pools.push(ObservedPool {
                    fqdn: p.clone(),
                    site: site.into(),
                    edition: Edition::Enterprise,
                    health: Health::Up,
                    backup_pool: Some(partner.clone()),
                    served_by: Some(p.clone()),
                    users: self.users,
                    back_end: Some(Health::Up),
                    back_end_mirror: None,
                });
                t.backup.push(BackupDirection {
                    from: p.clone(),
                    to: partner.clone(),
                    export_state: ExportState::SteadyState,
                    import_state: ImportState::NormalState,
                    last_sync_age_seconds: Some(30),
                });
            }
            if self.edge_every > 0 && i.is_multiple_of(self.edge_every) {
                t.edges.push(ObservedEdge {
                    fqdn: format!("edge{i}.{}.example", self.namespace),
                    site: site_a.into(),
                    health: Health::Up,
                    next_hop: a.clone(),
                });
            }
        }
        t
    }

    fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace.clone()),
            ..Default::default()
        }
    }

    /// The Topology, pointed at a simulator, allowed `parallel` steps at once.
    pub fn topology(&self, simulator_url: &str, parallel: u32) -> Topology {
        Topology {
            metadata: self.meta(&self.namespace),
            spec: TopologySpec {
                driver: DriverSpec {
                    simulator: Some(SimulatorDriver {
                        url: simulator_url.into(),
                    }),
                    powershell: None,
                },
                observe_interval_seconds: 30,
                approval: Approval::Automatic,
                paused: false,
                max_parallel_steps: parallel,
                // The campaign and the benchmark take sites down: disaster-mode moves are theirs to make.
                allow_data_loss: true,
                objectives: Objectives::default(),
                max_attempts: 3,
                federation_routes: Default::default(),
                persistent_chat: Vec::new(),
            },
            status: None,
        }
    }

    /// Both sites, active.
    pub fn sites_declared(&self) -> Vec<Site> {
        SITES
            .iter()
            .map(|s| Site {
                metadata: self.meta(s),
                spec: SiteSpec {
                    active: true,
                    edge_pools: Vec::new(),
                },
                status: None,
            })
            .collect()
    }

    /// Every pair, named `pair<i>`.
    pub fn pairs_declared(&self) -> Vec<PoolPair> {
        (0..self.pairs)
            .map(|i| {
                let (a, b) = self.pools(i);
                let (site_a, site_b) = self.sites(i);
                PoolPair {
                    metadata: self.meta(&format!("pair{i}")),
                    spec: PoolPairSpec {
                        pools: vec![
                            PoolSpec {
                                fqdn: a,
                                site: site_a.into(),
                            },
                            PoolSpec {
                                fqdn: b,
                                site: site_b.into(),
                            },
                        ],
                        active_sites: None,
                    },
                    status: None,
                }
            })
            .collect()
    }

    /// The CMS on the first pair, preferring its first pool.
    pub fn cms_declared(&self) -> Option<CentralManagementStore> {
        (self.pairs > 0).then(|| CentralManagementStore {
            metadata: self.meta("cms"),
            spec: CentralManagementStoreSpec {
                pair: "pair0".into(),
                preferred_pool: self.pools(0).0,
                failback: CmsFailback::Manual,
                backup_sql: Vec::new(),
            },
            status: None,
        })
    }
}
