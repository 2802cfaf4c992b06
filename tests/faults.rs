//! The fault campaign: for each seed, a random deployment and a random sequence of site and pair
//! changes, with faults injected while the operator works: the operator killed and restarted
//! (mid-step too), a second operator racing it, API errors (409, 429, 500), dropped watches and
//! 410s from kube-sandbox, driver failures and timeouts, an unreachable management server, and
//! pools, Back Ends and Edge pools dying and coming back. Once the faults stop, the deployment
//! must converge with no refusal from the simulator, no command run twice, no data lost on a
//! graceful path, and status telling the truth.
//!
//! `FAULTS_SEEDS=N` runs N seeds (default 12); `FAULTS_SEED=S` replays one. A failure names its
//! seed.

mod e2e;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::Env;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use kube_sandbox::Verb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sfb_dr::api::{CentralManagementStore, PoolPair, Site, StepState, Topology};
use sfb_dr::controller::{self, Operator};
use sfb_dr::model::{Action, ActionKind, Mode};
use sfb_dr::simulator::{AuditEntry, Fault, Outcome};
use sfb_dr::synthetic::{Shape, SITES};

/// Simulated latencies divided by this: a pool failover takes 0.3 s, long enough for faults to
/// land in the middle of steps.
const SCALE: f64 = 3000.0;
/// How long a simulator step call may run before it is abandoned and settled under its key.
const STEP_TIMEOUT: Duration = Duration::from_millis(400);
/// How long convergence may take once the faults stop.
const SETTLE: Duration = Duration::from_secs(120);

/// What one scenario did, for the closing tally.
#[derive(Default, Debug)]
struct Tally {
    changes: usize,
    faults: usize,
    kills: usize,
    commands: usize,
}

struct Scenario {
    seed: u64,
    rng: StdRng,
    env: Env,
    shape: Shape,
    operator: Option<Operator>,
    rival: Option<Operator>,
    tally: Tally,
    /// Pools, Back Ends and Edge pools taken down: brought back at random or when the faults stop.
    down: Vec<Fault>,
    /// Every pool whose Front Ends or Back End went down at some point: the only pools a
    /// disaster-mode move may concern.
    ever_down: std::collections::BTreeSet<String>,
    operators_started: usize,
}

impl Scenario {
    async fn start(seed: u64) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);
        let shape = Shape {
            namespace: "sfb".into(),
            pairs: rng.random_range(2..=5),
            edge_every: rng.random_range(1..=3),
            users: 1_000,
        };
        let env = Env::start_scaled(shape.observed(), SCALE).await;
        let client = env.client.clone();
        let ns = &shape.namespace;
        env.kubectl(&["create", "namespace", ns]).await.ok();
        let pp = PostParams::default();
        let mut topology = shape.topology(&env.sim_url, rng.random_range(1..=4));
        topology.spec.observe_interval_seconds = 5;
        topology.spec.max_attempts = 10;
        Api::<Topology>::namespaced(client.clone(), ns)
            .create(&pp, &topology)
            .await
            .expect("Topology");
        for s in shape.sites_declared() {
            Api::<Site>::namespaced(client.clone(), ns)
                .create(&pp, &s)
                .await
                .expect("Site");
        }
        for p in shape.pairs_declared() {
            Api::<PoolPair>::namespaced(client.clone(), ns)
                .create(&pp, &p)
                .await
                .expect("PoolPair");
        }
        if let Some(c) = shape.cms_declared() {
            Api::<CentralManagementStore>::namespaced(client.clone(), ns)
                .create(&pp, &c)
                .await
                .expect("CMS");
        }
        let mut s = Scenario {
            seed,
            rng,
            env,
            shape,
            operator: None,
            rival: None,
            tally: Tally::default(),
            down: Vec::new(),
            ever_down: Default::default(),
            operators_started: 0,
        };
        s.operator = Some(s.new_operator().await);
        s
    }

    async fn new_operator(&mut self) -> Operator {
        self.operators_started += 1;
        let mut config = self
            .env
            .operator_config(&format!("op{}", self.operators_started));
        config.metrics_addr = None;
        config.simulator_step_timeout = Some(STEP_TIMEOUT);
        controller::start(config)
            .await
            .expect("the operator starts")
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "seed {}: {what}\nreplay with: FAULTS_SEED={} cargo test --test faults\naudit: {:#?}",
            self.seed,
            self.seed,
            self.env.audit()
        )
    }

    /// One change of the declared state: a site in or out of service, or a pair narrowed to
    /// one site or widened again. At least one site stays active.
    async fn change(&mut self) {
        let ns = self.shape.namespace.clone();
        let client = self.env.client.clone();
        self.tally.changes += 1;
        let sites: Api<Site> = Api::namespaced(client.clone(), &ns);
        let pairs: Api<PoolPair> = Api::namespaced(client, &ns);
        let mut active = Vec::new();
        for name in SITES {
            active.push(sites.get(name).await.map(|s| s.spec.active).unwrap_or(true));
        }
        let widen = |pair: &str| {
            let pairs = pairs.clone();
            let pair = pair.to_owned();
            async move {
                pairs
                    .patch(
                        &pair,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"activeSites": null}})),
                    )
                    .await
            }
        };
        if self.rng.random_bool(0.7) {
            let i = self.rng.random_range(0..SITES.len());
            // Toggle the site, unless that would leave no site active; a pair narrowed to a site
            // going out of service is widened first, so every pair can still be served.
            let others_active = active.iter().enumerate().any(|(j, a)| j != i && *a);
            let want = !active[i] || !others_active;
            if !want {
                for p in pairs.list(&Default::default()).await.expect("pairs").items {
                    let narrowed = p
                        .spec
                        .active_sites
                        .as_ref()
                        .is_some_and(|s| s.iter().all(|x| x == SITES[i]));
                    if narrowed {
                        widen(&p.metadata.name.clone().unwrap_or_default())
                            .await
                            .unwrap_or_else(|e| self.fail(&format!("widening a pair: {e}")));
                    }
                }
            }
            sites
                .patch(
                    SITES[i],
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"active": want}})),
                )
                .await
                .unwrap_or_else(|e| self.fail(&format!("patching Site: {e}")));
        } else {
            let i = self.rng.random_range(0..self.shape.pairs);
            let choices: Vec<&str> = SITES
                .iter()
                .zip(&active)
                .filter(|(_, a)| **a)
                .map(|(s, _)| *s)
                .collect();
            if self.rng.random_bool(0.5) && !choices.is_empty() {
                // Narrowed to one site that is in service.
                let site = choices[self.rng.random_range(0..choices.len())];
                pairs
                    .patch(
                        &format!("pair{i}"),
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"activeSites": [site]}})),
                    )
                    .await
                    .unwrap_or_else(|e| self.fail(&format!("patching PoolPair: {e}")));
            } else {
                widen(&format!("pair{i}"))
                    .await
                    .unwrap_or_else(|e| self.fail(&format!("patching PoolPair: {e}")));
            }
        }
    }

    /// One random fault.
    async fn fault(&mut self) {
        self.tally.faults += 1;
        println!("seed {}: fault {}", self.seed, self.tally.faults);
        let pools: Vec<String> = (0..self.shape.pairs)
            .flat_map(|i| {
                let (a, b) = self.shape.pools(i);
                [a, b]
            })
            .collect();
        let edges: Vec<String> = self
            .shape
            .observed()
            .edges
            .iter()
            .map(|e| e.fqdn.clone())
            .collect();
        let kinds = [
            ActionKind::FailOverPool,
            ActionKind::FailBackPool,
            ActionKind::FailOverCms,
            ActionKind::RepointEdge,
            ActionKind::SyncBackup,
        ];
        let kind = self.rng.random_range(0..12);
        println!("seed {}: fault kind {kind}", self.seed);
        match kind {
            0 => {
                // Killed, maybe mid-step, and back after a moment.
                if let Some(op) = self.operator.take() {
                    op.abort();
                    self.tally.kills += 1;
                }
                tokio::time::sleep(Duration::from_millis(self.rng.random_range(0..300))).await;
                self.operator = Some(self.new_operator().await);
            }
            1 => {
                // A second operator races the first (no Lease: the journal and the keys fence).
                match self.rival.take() {
                    Some(r) => r.abort(),
                    None => self.rival = Some(self.new_operator().await),
                }
            }
            2 => {
                let code = [409, 429, 500][self.rng.random_range(0..3)];
                let (verb, resource) = [
                    (Verb::Update, "topologies/status"),
                    (Verb::Patch, "poolpairs/status"),
                    (Verb::Patch, "sites/status"),
                    (Verb::Create, "events"),
                    (Verb::Patch, "configmaps"),
                    (Verb::List, "topologies"),
                    (Verb::Watch, "poolpairs"),
                ][self.rng.random_range(0..7)];
                self.env.server.sandbox().fail_next(
                    verb,
                    resource,
                    self.rng.random_range(1..=3),
                    code,
                );
            }
            3 => self.env.server.sandbox().drop_watches(),
            4 => self.env.server.sandbox().compact(),
            5 => self.env.fault(Fault::FailNext {
                action: kinds[self.rng.random_range(0..kinds.len())],
                count: self.rng.random_range(1..=2),
            }),
            6 => self.env.fault(Fault::SlowNext {
                // Longer than the driver waits: the call times out and is settled by its key.
                action: kinds[self.rng.random_range(0..kinds.len())],
                ms: 600,
            }),
            7 => {
                self.env.fault(Fault::ObservePartition);
                tokio::time::sleep(Duration::from_millis(self.rng.random_range(50..400))).await;
                self.env.fault(Fault::Heal);
            }
            8 => {
                let pool = pools[self.rng.random_range(0..pools.len())].clone();
                self.env.fault(Fault::PoolDown { pool: pool.clone() });
                self.ever_down.insert(pool.clone());
                self.down.push(Fault::PoolUp { pool });
            }
            9 => {
                let pool = pools[self.rng.random_range(0..pools.len())].clone();
                self.env.fault(Fault::BackEndDown { pool: pool.clone() });
                self.ever_down.insert(pool.clone());
                self.down.push(Fault::BackEndUp { pool });
            }
            10 if !self.down.is_empty() => {
                // Something that died comes back while the plan runs.
                let i = self.rng.random_range(0..self.down.len());
                let repair = self.down.swap_remove(i);
                self.env.fault(repair);
            }
            _ => {
                if let Some(edge) = edges.get(self.rng.random_range(0..edges.len().max(1))) {
                    self.env.fault(Fault::EdgeDown { edge: edge.clone() });
                    self.down.push(Fault::EdgeUp { edge: edge.clone() });
                }
            }
        }
    }

    /// A graceful shutdown, which must end within its drain time (10 s) and the Lease's
    /// release, whatever the faults left queued.
    async fn shut_down(&self, operator: Operator) {
        if tokio::time::timeout(Duration::from_secs(30), operator.shutdown())
            .await
            .is_err()
        {
            self.fail("an operator did not shut down within 30 s");
        }
    }

    /// Stops every fault: components back up, the simulator healed, one operator running.
    async fn stop_faults(&mut self) {
        for f in std::mem::take(&mut self.down) {
            self.env.fault(f);
        }
        self.env.fault(Fault::Heal);
        if let Some(r) = self.rival.take() {
            self.shut_down(r).await;
        }
        if self.operator.is_none() {
            self.operator = Some(self.new_operator().await);
        }
    }

    /// Waits until the Topology has no step left, nothing blocked, and every object is Ready for
    /// its generation; returns the Topology.
    async fn converged(&self) -> Topology {
        let ns = &self.shape.namespace;
        let topologies: Api<Topology> = Api::namespaced(self.env.client.clone(), ns);
        let pairs: Api<PoolPair> = Api::namespaced(self.env.client.clone(), ns);
        let sites: Api<Site> = Api::namespaced(self.env.client.clone(), ns);
        let ready = |generation: Option<i64>,
                     conditions: Option<
            &Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
        >| {
            conditions.is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "Ready" && c.status == "True" && c.observed_generation >= generation
                })
            })
        };
        let end = Instant::now() + SETTLE;
        let mut last = String::new();
        while Instant::now() < end {
            if let (Ok(t), Ok(ps), Ok(ss)) = (
                topologies.get(ns).await,
                pairs.list(&Default::default()).await,
                sites.list(&Default::default()).await,
            ) {
                let idle = t
                    .status
                    .as_ref()
                    .and_then(|s| s.plan.as_ref())
                    .is_some_and(|p| {
                        p.blocked.is_empty()
                            && p.steps.iter().all(|s| s.state == StepState::Succeeded)
                    });
                let all = ready(
                    t.metadata.generation,
                    t.status.as_ref().map(|s| &s.conditions),
                ) && ps.items.iter().all(|p| {
                    ready(
                        p.metadata.generation,
                        p.status.as_ref().map(|s| &s.conditions),
                    )
                }) && ss.items.iter().all(|s| {
                    ready(
                        s.metadata.generation,
                        s.status.as_ref().map(|s| &s.conditions),
                    )
                });
                if idle && all {
                    return t;
                }
                last = format!("{:?}", t.status.as_ref().map(|s| (&s.conditions, &s.plan)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!(
            "no convergence within {SETTLE:?} after the faults stopped; last status: {last}"
        ))
    }

    /// The checks once converged.
    async fn check(&self, topology: &Topology, healed_at: jiff::Timestamp) {
        let audit = self.env.audit();
        // No refusal from a step that started once the faults had stopped (before, a pool
        // dying under a planned step is the world changing, not the operator erring).
        for e in &audit {
            let started = e
                .started_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            if e.outcome == Outcome::Refused && started.is_some_and(|s| s > healed_at) {
                self.fail(&format!("refused after the faults stopped: {e:?}"));
            }
        }
        no_command_twice(&audit).unwrap_or_else(|e| self.fail(&e));
        no_repeat_refused(&audit).unwrap_or_else(|e| self.fail(&e));
        self.no_disaster_without_cause(&audit);
        // No data lost on graceful paths.
        let observed = self.env.sim.observe().expect("observes");
        let disaster = audit.iter().any(|e| {
            e.outcome == Outcome::Succeeded
                && matches!(
                    e.command,
                    Action::FailOverPool {
                        mode: Mode::Disaster,
                        ..
                    } | Action::FailBackPool {
                        mode: Mode::Disaster,
                        ..
                    }
                )
        });
        if !disaster && observed.data_loss.unwrap_or(0) > 0 {
            self.fail("data lost although every move was graceful");
        }
        // Status tells the truth: who serves each pool is what the deployment says, and what
        // the declared sites want.
        let served: BTreeMap<String, String> = observed
            .pools
            .iter()
            .map(|p| (p.fqdn.clone(), p.served_by.clone().unwrap_or_default()))
            .collect();
        let pairs: Api<PoolPair> = Api::namespaced(self.env.client.clone(), &self.shape.namespace);
        for p in pairs.list(&Default::default()).await.expect("pairs").items {
            for pool in p
                .status
                .as_ref()
                .map(|s| s.pools.clone())
                .unwrap_or_default()
            {
                let truth = served.get(&pool.fqdn);
                if pool.served_by.as_ref() != truth {
                    self.fail(&format!(
                        "{} says {} is served by {:?}, the deployment by {truth:?}",
                        p.metadata.name.clone().unwrap_or_default(),
                        pool.fqdn,
                        pool.served_by
                    ));
                }
                if pool.desired_served_by != pool.served_by {
                    self.fail(&format!(
                        "{} is Ready but {} is served by {:?}, not {:?}",
                        p.metadata.name.clone().unwrap_or_default(),
                        pool.fqdn,
                        pool.served_by,
                        pool.desired_served_by
                    ));
                }
            }
        }
        let ledger = &topology.status.as_ref().expect("status").ledger;
        for (home, server) in &ledger.served_by {
            if served.get(home) != Some(server) {
                self.fail(&format!(
                    "the ledger says {home} is served by {server}, the deployment by {:?}",
                    served.get(home)
                ));
            }
        }
        if !ledger.conference_content_owed.is_empty() {
            self.fail(&format!(
                "conference content still owed at rest: {:?}",
                ledger.conference_content_owed
            ));
        }
    }
}

impl Scenario {
    /// A disaster-mode move only for a pool that died: a pool failed over in disaster mode had its
    /// Front Ends or Back End down, a pool failed back in disaster mode had its backup pool down,
    /// and the CMS is forced over only off a pool that died.
    fn no_disaster_without_cause(&self, audit: &[AuditEntry]) {
        let backup_of = |pool: &str| {
            (0..self.shape.pairs).find_map(|i| {
                let (a, b) = self.shape.pools(i);
                (a == pool)
                    .then_some(b.clone())
                    .or((b == pool).then_some(a))
            })
        };
        for e in audit.iter().filter(|e| e.outcome == Outcome::Succeeded) {
            let cause = match &e.command {
                Action::FailOverPool {
                    pool,
                    mode: Mode::Disaster,
                } => Some(pool.clone()),
                Action::FailBackPool {
                    pool,
                    mode: Mode::Disaster,
                } => backup_of(pool),
                Action::FailOverCms {
                    to,
                    mode: Mode::Disaster,
                    ..
                } => backup_of(to),
                _ => continue,
            };
            if !cause.is_some_and(|p| self.ever_down.contains(&p)) {
                self.fail(&format!(
                    "a disaster-mode move although no pool it concerns ever died: {e:?}"
                ));
            }
        }
    }
}

/// A refusal that says the command's effect is already there, or that another move of the
/// pair is running, is a command run twice (or two at once), whatever faults were in force.
fn no_repeat_refused(audit: &[AuditEntry]) -> Result<(), String> {
    const REPEATS: [&str; 5] = [
        "is already failed over",
        "Another failover, failback or sync is in progress",
        "is not failed over; there is nothing to fail back",
        "already hosts the active Central Management Store master",
        "is already in progress",
    ];
    match audit
        .iter()
        .find(|e| e.outcome == Outcome::Refused && REPEATS.iter().any(|r| e.message.contains(r)))
    {
        Some(e) => Err(format!("a command refused as a repeat: {e:?}")),
        None => Ok(()),
    }
}

/// Each pool's failovers and failbacks alternate, the CMS never moves twice to the same pool in
/// a row, and an Edge pool is never repointed twice to the same next hop in a row: a command run
/// twice would show as one of these.
fn no_command_twice(audit: &[AuditEntry]) -> Result<(), String> {
    let mut away: BTreeMap<String, bool> = BTreeMap::new();
    let mut cms: Option<String> = None;
    let mut edges: BTreeMap<String, String> = BTreeMap::new();
    for e in audit.iter().filter(|e| e.outcome == Outcome::Succeeded) {
        match &e.command {
            Action::FailOverPool { pool, .. } => {
                if away.insert(pool.clone(), true) == Some(true) {
                    return Err(format!(
                        "{pool} failed over twice without a failback: {e:?}"
                    ));
                }
            }
            Action::FailBackPool { pool, .. } => {
                if away.insert(pool.clone(), false) != Some(true) {
                    return Err(format!(
                        "{pool} failed back without being failed over: {e:?}"
                    ));
                }
            }
            Action::FailOverCms { to, .. } => {
                if cms.replace(to.clone()).as_ref() == Some(to) {
                    return Err(format!("the CMS moved to {to} twice in a row: {e:?}"));
                }
            }
            Action::RepointEdge { edge, to } => {
                if edges.insert(edge.clone(), to.clone()).as_ref() == Some(to) {
                    return Err(format!("{edge} repointed to {to} twice in a row: {e:?}"));
                }
            }
            Action::SyncBackup { .. } => {}
            // The simulator refuses a database already on its new principal: run twice, the
            // second would have been refused, not succeeded.
            Action::FailOverDatabase { .. }
            | Action::MoveSipFederationRoute { .. }
            | Action::StopEdgeServices { .. }
            | Action::StartEdgeServices { .. }
            | Action::SetXmppFederationRoute { .. }
            | Action::PublishXmppFederationRoute { .. }
            | Action::RecoverPersistentChatDatabase { .. }
            | Action::SetPersistentChatState { .. }
            | Action::SetPersistentChatActiveServers { .. }
            | Action::RestorePersistentChatDatabase { .. } => {}
        }
    }
    Ok(())
}

async fn scenario(seed: u64) -> Tally {
    let mut s = Scenario::start(seed).await;
    s.converged().await;
    let changes = s.rng.random_range(1..=3);
    for _ in 0..changes {
        println!("seed {seed}: change");
        s.change().await;
        let faults = s.rng.random_range(1..=4);
        for _ in 0..faults {
            tokio::time::sleep(Duration::from_millis(s.rng.random_range(0..400))).await;
            s.fault().await;
        }
    }
    tokio::time::sleep(Duration::from_millis(s.rng.random_range(0..500))).await;
    println!("seed {seed}: stopping faults");
    s.stop_faults().await;
    println!("seed {seed}: converging");
    let healed_at = jiff::Timestamp::now();
    let topology = s.converged().await;
    s.check(&topology, healed_at).await;
    s.tally.commands = s.env.audit().len();
    if let Some(op) = s.operator.take() {
        s.shut_down(op).await;
    }
    s.tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_converges_through_random_faults_without_repeating_a_command() {
    let seeds: Vec<u64> = match std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => {
            let n = std::env::var("FAULTS_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(12u64);
            (1..=n).collect()
        }
    };
    let mut total = Tally::default();
    for seed in seeds {
        let t = scenario(seed).await;
        println!("seed {seed}: {t:?}");
        total.changes += t.changes;
        total.faults += t.faults;
        total.kills += t.kills;
        total.commands += t.commands;
    }
    println!("fault campaign: {total:?}");
}
