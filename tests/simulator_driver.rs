//! The simulator driver against a simulator served on loopback: observe, execute, refusals and
//! failures come back as the driver's errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::World;
use sfb_dr::driver::simulator::SimulatorDriver;
use sfb_dr::driver::{Driver, DriverError};
use sfb_dr::planner::{Action, ActionKind, Mode};
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
    match driver.execute(&cms_pool).await {
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
        driver.execute(&pool3).await,
        Err(DriverError::Failed(_))
    ));
    driver
        .execute(&pool3)
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
