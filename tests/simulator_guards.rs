//! The simulator refuses what the real product refuses (SFB-DR-FACTS "Guards"), one test each,
//! and accounts for time, faults and lost data.

mod common;

use std::sync::Arc;

use common::{failback, failover, World};
use sfb_dr::model::BackupSql;
use sfb_dr::model::Health;
use sfb_dr::model::{Action, ActionKind, BackupModule, Mode};
use sfb_dr::simulator::{Config, Deployment, Fault, Outcome, Simulator};

const P1: &str = "pool1.contoso.com";
const P2: &str = "pool2.contoso.com";
const P3: &str = "pool3.contoso.com";
const P4: &str = "pool4.contoso.com";

fn world() -> World {
    World::new()
        .pool1_pool2()
        .pair(P3, "redmond", P4, "dublin")
        .cms(P1, Some(P1))
}

fn deployment(w: &World) -> Deployment {
    Deployment::new(w.observed.clone()).expect("consistent world")
}

fn cms_to(to: &str, mode: Mode, backup_sql: bool) -> Action {
    Action::FailOverCms {
        to: to.into(),
        mode,
        backup_sql: backup_sql.then(|| {
            Box::new(BackupSql {
                pool: to.into(),
                sql_server_fqdn: "sql2.contoso.com".into(),
                sql_instance_name: "rtc".into(),
                mirror_sql_server_fqdn: None,
                mirror_sql_instance_name: None,
            })
        }),
    }
}

fn refusal(d: &mut Deployment, action: &Action) -> String {
    match d.run(action) {
        Err(message) => message,
        Ok(_) => panic!("{action:?} was allowed"),
    }
}

fn served_by(d: &Deployment, pool: &str) -> String {
    d.observe()
        .pools
        .into_iter()
        .find(|p| p.fqdn == pool)
        .and_then(|p| p.served_by)
        .expect("known pool")
}

#[test]
fn failover_and_failback_name_the_home_pool() {
    let mut d = deployment(&world());
    d.run(&failover(P3, Mode::Graceful)).expect("allowed");
    assert_eq!(served_by(&d, P3), P4);
    assert_eq!(
        served_by(&d, P4),
        P4,
        "the backup pool's own users stay home"
    );
    d.run(&failback(P3, Mode::Graceful)).expect("allowed");
    assert_eq!(served_by(&d, P3), P3);
}

#[test]
fn failover_refused_while_the_partner_is_failed_over() {
    let mut d = deployment(&world().served_by(P4, P3));
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(
        m.contains("Invoke-CsPoolFailBack -PoolFqdn pool4.contoso.com first"),
        "{m}"
    );
}

#[test]
fn failover_of_the_cms_pool_refused_before_the_cms_moves() {
    let mut d = deployment(&world());
    let m = refusal(&mut d, &failover(P1, Mode::Graceful));
    assert!(m.contains("Central Management Store master"), "{m}");
    d.run(&cms_to(P2, Mode::Graceful, false))
        .expect("CMS moves");
    d.run(&failover(P1, Mode::Graceful))
        .expect("then the pool fails over");
}

#[test]
fn failover_refused_while_the_cms_is_unavailable() {
    let mut d = deployment(&world().health(P1, Health::Down));
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(m.contains("Central Management Store is unavailable"), "{m}");
}

#[test]
fn failover_refused_while_a_live_edge_points_at_the_pool() {
    let w = world().edge("edge1.contoso.com", "redmond", P3);
    let mut d = deployment(&w);
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(m.contains("edge1.contoso.com"), "{m}");
    let mut dead = deployment(&w.edge_health("edge1.contoso.com", Health::Down));
    dead.run(&failover(P3, Mode::Graceful))
        .expect("a dead Edge routes nothing");
}

#[test]
fn failover_into_a_pool_that_is_down_refused() {
    let mut d = deployment(&world().health(P4, Health::Down));
    let m = refusal(&mut d, &failover(P3, Mode::Disaster));
    assert!(m.contains("not reachable"), "{m}");
}

#[test]
fn graceful_failover_of_a_pool_that_is_down_refused() {
    let mut d = deployment(&world().health(P3, Health::Down));
    let m = refusal(&mut d, &failover(P3, Mode::Graceful));
    assert!(m.contains("-DisasterMode"), "{m}");
    d.run(&failover(P3, Mode::Disaster))
        .expect("disaster mode is for exactly this");
}

#[test]
fn failback_of_a_pool_that_is_down_refused() {
    let mut d = deployment(&world().served_by(P3, P4).health(P3, Health::Down));
    let m = refusal(&mut d, &failback(P3, Mode::Graceful));
    assert!(m.contains("not reachable"), "{m}");
    let m = refusal(&mut d, &failback(P3, Mode::Disaster));
    assert!(m.contains("not reachable"), "{m}");
}

#[test]
fn graceful_failback_without_the_backup_pool_refused() {
    let mut d = deployment(&world().served_by(P3, P4).health(P4, Health::Down));
    let m = refusal(&mut d, &failback(P3, Mode::Graceful));
    assert!(m.contains("-DisasterMode"), "{m}");
    d.run(&failback(P3, Mode::Disaster))
        .expect("disaster-mode failback");
}

#[test]
fn failback_of_a_pool_that_is_not_failed_over_refused() {
    let mut d = deployment(&world());
    let m = refusal(&mut d, &failback(P3, Mode::Graceful));
    assert!(m.contains("not failed over"), "{m}");
}

#[test]
fn disaster_mode_cms_failover_without_backup_sql_refused() {
    let mut d = deployment(&world().health(P1, Health::Down));
    let m = refusal(&mut d, &cms_to(P2, Mode::Disaster, false));
    assert!(m.contains("-BackupSqlServerFqdn"), "{m}");
    let m = refusal(&mut d, &cms_to(P2, Mode::Graceful, false));
    assert!(m.contains("cannot be reached"), "{m}");
    d.run(&cms_to(P2, Mode::Disaster, true))
        .expect("with backup SQL details");
    d.run(&failover(P1, Mode::Disaster)).expect("then the pool");
}

#[test]
fn cms_failover_refused_while_the_previous_one_is_unsettled() {
    let mut d = deployment(&world().replicas_up_to_date(false));
    let m = refusal(&mut d, &cms_to(P2, Mode::Graceful, false));
    assert!(m.contains("has not settled"), "{m}");
    d.inject(&Fault::Heal).expect("heal");
    d.run(&cms_to(P2, Mode::Graceful, false))
        .expect("settled now");
}

#[tokio::test(start_paused = true)]
async fn a_second_cms_failover_is_refused_while_one_runs() {
    let sim = Arc::new(Simulator::new(deployment(&world()), Config::default()));
    let first = tokio::spawn({
        let sim = sim.clone();
        async move { sim.execute(cms_to(P2, Mode::Graceful, false)).await }
    });
    // Let the first command start and mark the CMS busy.
    while sim.observe().expect("observable").cms.replicas_up_to_date {
        tokio::task::yield_now().await;
    }
    let second = sim.execute(cms_to(P1, Mode::Graceful, false)).await;
    assert_eq!(second.outcome, Outcome::Refused, "{second:?}");
    assert_eq!(first.await.expect("joined").outcome, Outcome::Succeeded);
}

#[test]
fn cms_failover_goes_only_to_the_partner_of_the_master() {
    let mut d = deployment(&world());
    let m = refusal(&mut d, &cms_to(P4, Mode::Graceful, false));
    assert!(m.contains("not the backup pool"), "{m}");
}

#[test]
fn unknown_pools_and_edges_refused() {
    let mut d = deployment(&world());
    for action in [
        failover("nope.contoso.com", Mode::Graceful),
        failback("nope.contoso.com", Mode::Graceful),
        cms_to("nope.contoso.com", Mode::Graceful, false),
        Action::SyncBackup {
            pool: "nope.contoso.com".into(),
            module: BackupModule::DataConf,
        },
        Action::RepointEdge {
            edge: "edge9.contoso.com".into(),
            to: P1.into(),
        },
    ] {
        let m = refusal(&mut d, &action);
        assert!(m.contains("Cannot find"), "{m}");
    }
}

#[test]
fn graceful_paths_lose_nothing_and_disaster_mode_loses_what_was_not_replicated() {
    let mut d = deployment(&world());
    d.run(&failover(P3, Mode::Graceful)).expect("graceful");
    d.run(&failback(P3, Mode::Graceful)).expect("graceful");
    assert_eq!(d.observe().data_loss, Some(0));
    // 1000 users, 30 s since the last sync, one change per user a minute: 500 changes.
    let mut d = deployment(&world());
    d.inject(&Fault::PoolDown { pool: P3.into() })
        .expect("known pool");
    let lost = d.run(&failover(P3, Mode::Disaster)).expect("disaster");
    assert_eq!(lost, 500);
    assert_eq!(d.observe().data_loss, Some(500));
}

#[test]
fn site_faults_take_pools_and_edges_down_and_up() {
    let mut d = deployment(&world().edge("edge1.contoso.com", "redmond", P1));
    d.inject(&Fault::SiteDown {
        site: "Redmond".into(),
    })
    .expect("known site");
    let t = d.observe();
    assert!(t
        .pools
        .iter()
        .filter(|p| p.site == "redmond")
        .all(|p| p.health == Health::Down));
    assert_eq!(t.edges[0].health, Health::Down);
    assert_eq!(t.cms.active_master, None, "the CMS went down with pool1");
    d.inject(&Fault::SiteUp {
        site: "redmond".into(),
    })
    .expect("known site");
    assert_eq!(d.observe().cms.active_master.as_deref(), Some(P1));
    assert!(d
        .inject(&Fault::SiteDown {
            site: "paris".into()
        })
        .is_err());
    assert!(d
        .inject(&Fault::PoolDown {
            pool: "nope.contoso.com".into()
        })
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn fail_next_fails_the_action_and_changes_nothing() {
    let sim = Simulator::new(deployment(&world()), Config::default());
    sim.inject(&Fault::FailNext {
        action: ActionKind::FailOverPool,
        count: 1,
    })
    .expect("fault");
    let r = sim.execute(failover(P3, Mode::Graceful)).await;
    assert_eq!(r.outcome, Outcome::Failed);
    let pool3 = |sim: &Simulator| {
        sim.observe()
            .expect("observable")
            .pools
            .into_iter()
            .find(|p| p.fqdn == P3)
    };
    assert_eq!(pool3(&sim).and_then(|p| p.served_by).as_deref(), Some(P3));
    let r = sim.execute(failover(P3, Mode::Graceful)).await;
    assert_eq!(r.outcome, Outcome::Succeeded, "only the next one fails");
    let audit = sim.audit();
    assert_eq!(
        audit.iter().map(|a| (a.seq, a.outcome)).collect::<Vec<_>>(),
        vec![(1, Outcome::Failed), (2, Outcome::Succeeded)]
    );
}

#[tokio::test(start_paused = true)]
async fn latency_is_scaled_and_slow_next_adds_to_it() {
    let sim = Simulator::new(
        deployment(&world()),
        Config {
            time_scale: 100.0,
            seed: 7,
        },
    );
    let start = tokio::time::Instant::now();
    sim.execute(failover(P3, Mode::Graceful)).await;
    let scaled = start.elapsed();
    // 900 s graceful failover with ±10% jitter, divided by 100.
    assert!(
        scaled.as_secs_f64() >= 8.1 && scaled.as_secs_f64() <= 9.9,
        "{scaled:?}"
    );
    sim.inject(&Fault::SlowNext {
        action: ActionKind::FailBackPool,
        ms: 60_000,
    })
    .expect("fault");
    let start = tokio::time::Instant::now();
    sim.execute(failback(P3, Mode::Graceful)).await;
    let slowed = start.elapsed().as_secs_f64();
    assert!((70.8..=73.2).contains(&slowed), "{slowed}");
}

#[tokio::test(start_paused = true)]
async fn a_seed_makes_a_run_repeatable() {
    async fn run(seed: u64) -> Vec<std::time::Duration> {
        let sim = Simulator::new(
            deployment(&world()),
            Config {
                time_scale: 10.0,
                seed,
            },
        );
        let mut out = vec![];
        for a in [failover(P3, Mode::Graceful), failback(P3, Mode::Graceful)] {
            let start = tokio::time::Instant::now();
            sim.execute(a).await;
            out.push(start.elapsed());
        }
        out
    }
    assert_eq!(run(42).await, run(42).await);
    assert_ne!(run(42).await, run(43).await);
}

#[test]
fn observe_partition_hides_the_topology_until_healed() {
    let sim = Simulator::new(deployment(&world()), Config::default());
    sim.inject(&Fault::ObservePartition).expect("fault");
    assert!(sim.observe().is_err());
    sim.inject(&Fault::Heal).expect("fault");
    assert!(sim.observe().is_ok());
}
