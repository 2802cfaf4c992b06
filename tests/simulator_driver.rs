//! The simulator driver against a simulator served on loopback: observe, execute, refusals and
//! failures come back as the driver's errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::World;
use sfb_dr::driver::simulator::SimulatorDriver;
use sfb_dr::driver::{Driver, DriverError, OperationKey};
use sfb_dr::model::{Action, ActionKind, Mode};
use sfb_dr::simulator::{server, Config, Deployment, Fault, Simulator};

async fn serve(sim: Arc<Simulator>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, server::router(sim)).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_simulator_driver_observes_and_acts() {
    let w = World::new()
        .pool1_pool2()
        .pair(
            "pool3.contoso.com",
            "redmond",
            "pool4.contoso.com",
            "dublin",
        )
        .cms("pool1.contoso.com", Some("pool1.contoso.com"));
    let config = Config {
        time_scale: 1e6,
        seed: 3,
    };
    let sim = Arc::new(Simulator::new(
        Deployment::new(w.observed.clone()).expect("consistent"),
        config,
    ));
    let driver =
        SimulatorDriver::new(&serve(sim.clone()).await, Duration::from_secs(10)).expect("client");

    let observed = driver.observe().await.expect("observes");
    assert_eq!(observed.pools.len(), 4);

    let cms_pool = Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Graceful,
    };
    match driver.execute(&key(1), &cms_pool).await {
        Err(DriverError::Refused(m)) => assert!(m.contains("Central Management Store"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    sim.inject(&Fault::FailNext {
        action: ActionKind::FailOverPool,
        count: 1,
    })
    .expect("fault");
    let pool3 = Action::FailOverPool {
        pool: "pool3.contoso.com".into(),
        mode: Mode::Graceful,
    };
    assert!(matches!(
        driver.execute(&key(2), &pool3).await,
        Err(DriverError::Failed(_))
    ));
    driver
        .execute(&key(3), &pool3)
        .await
        .expect("succeeds the second time");
    let observed = driver.observe().await.expect("observes");
    let served = observed
        .pools
        .iter()
        .find(|p| p.fqdn == "pool3.contoso.com")
        .and_then(|p| p.served_by.clone());
    assert_eq!(served.as_deref(), Some("pool4.contoso.com"));

    sim.inject(&Fault::ObservePartition).expect("fault");
    assert!(matches!(
        driver.observe().await,
        Err(DriverError::Unreachable(_))
    ));
}

#[tokio::test]
async fn an_unreachable_simulator_is_reported_as_such() {
    // Bind then drop a listener so the port is (very likely) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let driver = SimulatorDriver::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
        .expect("client");
    assert!(matches!(
        driver.observe().await,
        Err(DriverError::Unreachable(_))
    ));
}

fn key(attempt: u32) -> OperationKey {
    OperationKey::for_step("0123456789abcdef", "s1", attempt).expect("a valid key")
}

fn fast_simulator(w: &World) -> Arc<Simulator> {
    Arc::new(Simulator::new(
        Deployment::new(w.observed.clone()).expect("consistent"),
        Config {
            time_scale: 1e6,
            seed: 7,
        },
    ))
}

#[tokio::test]
async fn a_repeated_operation_key_executes_once_and_returns_the_first_result() {
    let sim = fast_simulator(&World::two_pairs());
    let driver =
        SimulatorDriver::new(&serve(sim.clone()).await, Duration::from_secs(10)).expect("client");
    let pool3 = Action::FailOverPool {
        pool: "pool3.contoso.com".into(),
        mode: Mode::Graceful,
    };
    // Three callers at once and one after: as after a crash, or with two leaders.
    let k = key(1);
    let (a, b, c) = tokio::join!(
        driver.execute(&k, &pool3),
        driver.execute(&k, &pool3),
        driver.execute(&k, &pool3)
    );
    for r in [a, b, c] {
        r.expect("every caller learns the one success");
    }
    // Run again for real, the failover would be refused: pool3 is already failed over.
    driver
        .execute(&k, &pool3)
        .await
        .expect("the recorded success, not a refusal");
    let audit = sim.audit();
    assert_eq!(audit.len(), 1, "executed once: {audit:?}");
    assert_eq!(audit[0].key.as_deref(), Some(k.as_str()));
}

#[tokio::test]
async fn a_repeated_key_returns_a_recorded_refusal_without_acting() {
    let sim = fast_simulator(&World::two_pairs());
    let driver =
        SimulatorDriver::new(&serve(sim.clone()).await, Duration::from_secs(10)).expect("client");
    let cms_pool = Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Graceful,
    };
    for _ in 0..2 {
        match driver.execute(&key(1), &cms_pool).await {
            Err(DriverError::Refused(m)) => assert!(m.contains("Central Management Store"), "{m}"),
            other => panic!("expected the refusal, got {other:?}"),
        }
    }
    assert_eq!(sim.audit().len(), 1);
}

#[tokio::test]
async fn a_key_names_one_command() {
    let sim = fast_simulator(&World::two_pairs());
    let driver =
        SimulatorDriver::new(&serve(sim.clone()).await, Duration::from_secs(10)).expect("client");
    let pool3 = Action::FailOverPool {
        pool: "pool3.contoso.com".into(),
        mode: Mode::Graceful,
    };
    driver.execute(&key(1), &pool3).await.expect("runs");
    let other = Action::FailOverPool {
        pool: "pool4.contoso.com".into(),
        mode: Mode::Graceful,
    };
    match driver.execute(&key(1), &other).await {
        Err(DriverError::Refused(m)) => assert!(m.contains("first used for"), "{m}"),
        r => panic!("expected a refusal naming the first command, got {r:?}"),
    }
    assert_eq!(sim.audit().len(), 1, "the second command never ran");
}

#[tokio::test]
async fn operations_are_readable_by_key() {
    let sim = fast_simulator(&World::two_pairs());
    let base = serve(sim.clone()).await;
    let driver = SimulatorDriver::new(&base, Duration::from_secs(10)).expect("client");
    let pool3 = Action::FailOverPool {
        pool: "pool3.contoso.com".into(),
        mode: Mode::Graceful,
    };
    driver.execute(&key(1), &pool3).await.expect("runs");
    let http = reqwest::Client::new();
    let record: serde_json::Value = http
        .get(format!("{base}/operations/{}", key(1)))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(record["key"], key(1).as_str());
    assert_eq!(record["command"]["pool"], "pool3.contoso.com");
    assert_eq!(record["result"]["outcome"], "Succeeded");
    let missing = http
        .get(format!("{base}/operations/never-used"))
        .send()
        .await
        .expect("answers");
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    let bad = http
        .post(format!("{base}/commands"))
        .json(
            &serde_json::json!({"action": "SyncBackup", "pool": "pool3.contoso.com",
            "module": "ConfServices.DataConf", "key": "../../etc"}),
        )
        .send()
        .await
        .expect("answers");
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(sim.audit().len() == 1, "a bad key runs nothing");
}

/// A step call that outlives the driver's step timeout is a `Timeout` (the command may still be
/// running: ask again under its key), never an outcome given up on; asked again once it has
/// ended, the same key answers with the one execution's result.
#[tokio::test]
async fn a_step_call_past_its_timeout_is_a_timeout_and_its_key_answers_later() {
    let w = World::new()
        .pool1_pool2()
        .cms("pool2.contoso.com", Some("pool2.contoso.com"));
    let sim = Arc::new(Simulator::new(
        Deployment::new(w.observed.clone()).expect("consistent"),
        Config {
            time_scale: 1e6,
            seed: 3,
        },
    ));
    sim.inject(&Fault::SlowNext {
        action: ActionKind::FailOverPool,
        ms: 600,
    })
    .expect("the fault applies");
    let url = serve(sim.clone()).await;
    let driver = SimulatorDriver::new(&url, Duration::from_secs(10))
        .expect("client")
        .with_step_timeout(Duration::from_millis(100));
    let failover = Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Graceful,
    };
    match driver.execute(&key(7), &failover).await {
        Err(DriverError::Timeout { what, .. }) => assert!(what.contains("pool1"), "{what}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let patient = SimulatorDriver::new(&url, Duration::from_secs(10)).expect("client");
    patient
        .execute(&key(7), &failover)
        .await
        .expect("the same key answers with the first call's success");
    assert_eq!(sim.audit().len(), 1, "one execution");
}
