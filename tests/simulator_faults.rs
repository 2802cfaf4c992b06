//! The simulator's faults, latency and repeatability.

mod common;

use common::simulated::simulated;
use common::{failback, failover, World, P1, P3, P4};
use sfb_dr::model::{ActionKind, Health, Mode};
use sfb_dr::simulator::{Config, Fault, Outcome, Simulator};

#[test]
fn site_faults_take_pools_and_edges_down_and_up() {
    let mut d = simulated(&World::two_pairs().edge("edge1.contoso.com", "redmond", P1));
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
    let sim = Simulator::new(simulated(&World::two_pairs()), Config::default());
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
        simulated(&World::two_pairs()),
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
            simulated(&World::two_pairs()),
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
    let sim = Simulator::new(simulated(&World::two_pairs()), Config::default());
    sim.inject(&Fault::ObservePartition).expect("fault");
    assert!(sim.observe().is_err());
    sim.inject(&Fault::Heal).expect("fault");
    assert!(sim.observe().is_ok());
}

#[test]
fn back_end_faults_name_a_known_pool() {
    let mut d = simulated(&World::two_pairs());
    assert!(d
        .inject(&Fault::BackEndDown {
            pool: "nope.contoso.com".into()
        })
        .is_err());
    d.inject(&Fault::BackEndDown { pool: P4.into() })
        .expect("known pool");
    let t = d.observe();
    let p4 = t.pools.iter().find(|p| p.fqdn == P4).expect("pool4");
    assert_eq!(p4.back_end, Some(Health::Down));
}

#[tokio::test(start_paused = true)]
async fn a_nan_time_scale_and_a_huge_slow_next_do_not_panic() {
    let sim = Simulator::new(
        simulated(&World::two_pairs()),
        Config {
            time_scale: f64::NAN,
            seed: 0,
        },
    );
    sim.inject(&Fault::SlowNext {
        action: ActionKind::FailOverPool,
        ms: u64::MAX,
    })
    .expect("fault");
    // The latency is capped at a day, the extra delay saturates: on paused time the command
    // simply finishes instead of panicking.
    let r = sim.execute(failover(P3, Mode::Graceful)).await;
    assert_eq!(r.outcome, Outcome::Succeeded, "{r:?}");
}
