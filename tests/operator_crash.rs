//! Crash safety: the operator killed at step boundaries and in the middle of steps, two
//! operators at once with and without leader election. Whatever happens, the deployment
//! converges, the simulator refuses nothing, and no command runs twice.

mod e2e;

use std::time::Duration;

use e2e::{assert_clean, contoso_observed, eventually, executions, Env, CONVERGE, NS};
use sfb_dr::api::{StepState, Topology};
use sfb_dr::driver::OperationKey;
use sfb_dr::model::ActionKind;
use sfb_dr::simulator::Fault;

/// Slow enough that a kill lands in the middle of a step (a pool failover takes 0.9 s).
const CRASH_SCALE: f64 = 1000.0;

/// Whether everything is Ready for the current generations (the Site's included).
async fn converged(env: &Env, site: &str) -> bool {
    let ready = |what: String| async move {
        env.jsonpath(
            &what,
            "{.metadata.generation} {.status.conditions[?(@.type==\"Ready\")].observedGeneration} {.status.conditions[?(@.type==\"Ready\")].status}",
        )
        .await
    };
    let site = ready(format!("site/{site}")).await;
    let parts: Vec<&str> = site.split_whitespace().collect();
    if parts.len() != 3 || parts[0] != parts[1] || parts[2] != "True" {
        return false;
    }
    for what in [
        "topology/contoso",
        "poolpair/pool1-pool2",
        "poolpair/pool3-pool4",
        "poolpair/pool5-pool6",
        "cms/cms",
    ] {
        if !ready(what.into()).await.ends_with("True") {
            return false;
        }
    }
    true
}

/// Whether a step is journalled `Running` while its command has not ended: the operator holds
/// a step in flight (sent, or about to be), not merely a journal entry whose command is over.
async fn step_in_flight(env: &Env) -> bool {
    let api: kube::Api<Topology> = kube::Api::namespaced(env.client.clone(), NS);
    let Ok(t) = api.get("contoso").await else {
        return false;
    };
    let Some(plan) = t.status.and_then(|s| s.plan) else {
        return false;
    };
    let ended: Vec<String> = env.audit().into_iter().filter_map(|a| a.key).collect();
    let prefix = sfb_dr::controller::journal::key_prefix(&plan).to_owned();
    plan.steps.iter().any(|s| {
        s.state == StepState::Running
            && OperationKey::for_step(&prefix, &s.id, s.attempt)
                .is_ok_and(|k| !ended.iter().any(|e| e == k.as_str()))
    })
}

/// Kills the operator again and again, alternately just after a command ended and while a step
/// is journalled `Running`, until the site change has converged. Returns the number of kills.
async fn converge_through_crashes(env: &Env, site: &str) -> usize {
    let mut kills = 0;
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no convergence after {kills} kills"
        );
        let mid_step = kills % 2 == 1;
        if mid_step {
            // Backup Service syncs take 0.12 s here, a window a poll can miss: the next one
            // this operator starts is held 2 s, so the kill can land inside it.
            env.fault(Fault::SlowNext {
                action: ActionKind::SyncBackup,
                ms: 2_000,
            });
        }
        let operator = env.operator().await;
        let before = env.audit().len();
        let done = std::cell::Cell::new(false);
        eventually("a kill point", CONVERGE, || {
            let done = &done;
            async move {
                // The kill point first: it is one cheap read, and a step's Running window is
                // short next to the five kubectl calls that tell convergence.
                let at_point = if mid_step {
                    step_in_flight(env).await
                } else {
                    env.audit().len() > before
                };
                if at_point {
                    return Ok(());
                }
                if converged(env, site).await {
                    done.set(true);
                    return Ok(());
                }
                Err("no step ended or started yet".into())
            }
        })
        .await;
        if done.get() {
            operator.shutdown().await;
            return kills;
        }
        operator.abort();
        kills += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_at_step_boundaries_and_mid_step_never_repeats_a_command() {
    let env = Env::start_scaled(contoso_observed(), CRASH_SCALE).await;
    env.apply_contoso().await;
    let operator = env.operator().await;
    env.wait_all_ready().await;
    operator.shutdown().await;

    env.set_site_active("redmond", false).await;
    let kills = converge_through_crashes(&env, "redmond").await;
    assert!(kills >= 2, "the failover survived only {kills} kills");
    let audit = env.audit();
    assert_clean(&audit);
    let runs = executions(&audit);
    assert_eq!(runs.len(), 5, "the five steps of the failover: {runs:?}");
    assert!(runs.iter().all(|(_, n)| *n == 1), "each ran once: {runs:?}");

    env.set_site_active("redmond", true).await;
    let kills = converge_through_crashes(&env, "redmond").await;
    assert!(kills >= 2, "the failback survived only {kills} kills");
    let audit = env.audit();
    assert_clean(&audit);
    let runs = executions(&audit);
    assert_eq!(
        runs.len(),
        11,
        "five steps out, three failbacks and three syncs back: {runs:?}"
    );
    assert!(runs.iter().all(|(_, n)| *n == 1), "each ran once: {runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_without_leader_election_still_run_each_command_once() {
    let env = Env::start_scaled(contoso_observed(), CRASH_SCALE).await;
    env.apply_contoso().await;
    let one = sfb_dr::controller::start(env.operator_config("one"))
        .await
        .expect("starts");
    let two = sfb_dr::controller::start(env.operator_config("two"))
        .await
        .expect("starts");
    env.wait_all_ready().await;
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    env.set_site_active("redmond", true).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    let runs = executions(&audit);
    assert_eq!(runs.len(), 11, "{runs:?}");
    assert!(runs.iter().all(|(_, n)| *n == 1), "each ran once: {runs:?}");
    one.shutdown().await;
    two.shutdown().await;
}

async fn leader_metric(operator: &sfb_dr::controller::Operator) -> Option<String> {
    let addr = operator.metrics_addr()?;
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("sfbdr_leader "))
        .map(|l| l.trim_start_matches("sfbdr_leader ").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leader_election_one_operator_acts_and_the_other_takes_over_when_it_dies() {
    let env = Env::start_scaled(contoso_observed(), CRASH_SCALE).await;
    env.apply_contoso().await;
    let first = env.leader_elected_operator("first").await;
    let e = &env;
    eventually("first holds the lease", CONVERGE, || async move {
        let holder = e.lease_holder().await;
        if holder == "first" {
            Ok(())
        } else {
            Err(holder)
        }
    })
    .await;
    let second = env.leader_elected_operator("second").await;
    env.wait_all_ready().await;
    assert_eq!(leader_metric(&first).await.as_deref(), Some("1"));

    // The leader dies without releasing the lease, in the middle of the failover.
    env.set_site_active("redmond", false).await;
    let e = &env;
    eventually("a step runs", CONVERGE, || async move {
        if step_in_flight(e).await || !e.audit().is_empty() {
            Ok(())
        } else {
            Err("nothing started".into())
        }
    })
    .await;
    first.abort();
    let e = &env;
    eventually(
        "second takes the lease",
        Duration::from_secs(30),
        || async move {
            let holder = e.lease_holder().await;
            if holder == "second" {
                Ok(())
            } else {
                Err(holder)
            }
        },
    )
    .await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    let runs = executions(&audit);
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert!(runs.iter().all(|(_, n)| *n == 1), "each ran once: {runs:?}");
    assert_eq!(leader_metric(&second).await.as_deref(), Some("1"));
    second.shutdown().await;
    let e = &env;
    eventually(
        "the lease is released on shutdown",
        CONVERGE,
        || async move {
            let holder = e.lease_holder().await;
            if holder.is_empty() {
                Ok(())
            } else {
                Err(holder)
            }
        },
    )
    .await;
}

/// The plan the Topology's status holds now, by id ("" for none).
async fn published_plan(env: &Env) -> String {
    env.jsonpath("topology/contoso", "{.status.plan.id}").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_decides_nothing_until_the_sites_have_listed() {
    // Redmond is taken out of service on purpose, under Automatic approval. A restarted operator
    // whose Site cache has not listed yet must not take the missing Site for an active one and
    // fail Redmond's users back.
    let env = Env::contoso().await;
    env.apply_contoso().await;
    let first = env.operator().await;
    env.wait_all_ready().await;
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    first.shutdown().await;
    let commands = env.audit().len();
    let plan = published_plan(&env).await;
    assert!(!plan.is_empty(), "the failover was published");

    let (client, sites) =
        e2e::held::client_holding_lists(env.server.kubeconfig_path(), "sites").await;
    let mut config = env.operator_config("restarted");
    config.client = client;
    let restarted = sfb_dr::controller::start(config)
        .await
        .expect("the operator starts");
    let r = &restarted;
    let held = &sites;
    eventually(
        "a reconcile while the Site list is held",
        CONVERGE,
        || async move {
            let seen = e2e::operator_reconciles(r, None).await;
            if held.held() > 0 && seen >= 1.0 {
                Ok(())
            } else {
                Err(format!("{} lists held, {seen} reconciles", held.held()))
            }
        },
    )
    .await;
    assert_eq!(
        published_plan(&env).await,
        plan,
        "no plan while the Sites are unlisted"
    );
    assert_eq!(
        env.audit().len(),
        commands,
        "no command while the Sites are unlisted"
    );
    assert_eq!(
        e2e::operator_reconciles(&restarted, Some("waiting_for_caches")).await,
        e2e::operator_reconciles(&restarted, None).await,
        "every reconcile before the Sites listed only waited"
    );

    sites.release();
    eventually(
        "a reconcile once every cache has listed",
        CONVERGE,
        || async move {
            let ok = e2e::operator_reconciles(r, Some("ok")).await;
            if ok >= 1.0 {
                Ok(())
            } else {
                Err(format!("{ok} reconciles decided"))
            }
        },
    )
    .await;
    env.wait_all_ready().await;
    assert_eq!(env.audit().len(), commands, "Redmond stays out of service");
    assert_eq!(published_plan(&env).await, plan);
    restarted.shutdown().await;
}
