//! Failures: a step that fails is retried under a new operation key after a back-off; one that
//! fails `maxAttempts` times leaves its pair Stalled until a person annotates `sfbdr.io/retry`.

mod e2e;

use e2e::{assert_clean, eventually, executions, expect_eq, Env, CONVERGE, NS};
use sfb_dr::model::ActionKind;
use sfb_dr::simulator::{Fault, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_is_retried_under_a_new_key_and_the_plan_converges() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    env.fault(Fault::FailNext {
        action: ActionKind::FailOverPool,
        count: 1,
    });
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    let failed: Vec<_> = audit
        .iter()
        .filter(|a| a.outcome == Outcome::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{audit:#?}");
    let retried = audit
        .iter()
        .find(|a| a.outcome == Outcome::Succeeded && a.command == failed[0].command)
        .expect("the failed step ran again and succeeded");
    assert!(
        retried.key.as_deref().is_some_and(|k| k.ends_with("-2")),
        "the second attempt runs under its own key: {retried:?}"
    );
    assert!(executions(&audit).iter().all(|(_, n)| *n == 1));
    let described = env
        .kubectl(&["describe", "topology", "contoso", "-n", NS])
        .await
        .ok();
    assert!(described.contains("StepFailed"), "{described}");
    operator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_out_of_attempts_stalls_its_pair_until_retry_is_annotated() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso_whose_next_failover_fails().await;
    env.set_site_active("redmond", false).await;
    let e = &env;
    eventually(
        "the Topology is stalled on the failed step",
        CONVERGE,
        || async move {
            let reason = e
                .jsonpath(
                    "topology/contoso",
                    "{.status.conditions[?(@.type==\"Stalled\")].reason}",
                )
                .await;
            expect_eq(&reason, "StepFailed")
        },
    )
    .await;
    let message = env
        .jsonpath(
            "topology/contoso",
            "{.status.conditions[?(@.type==\"Stalled\")].message}",
        )
        .await;
    let plan = env.jsonpath("topology/contoso", "{.status.plan.id}").await;
    assert!(
        message.contains(&format!("sfbdr.io/retry={plan}")),
        "{message}"
    );
    let failed = env
        .audit()
        .into_iter()
        .find(|a| a.outcome == Outcome::Failed)
        .expect("a failover failed");
    let pool = match &failed.command {
        sfb_dr::model::Action::FailOverPool { pool, .. } => pool.clone(),
        other => panic!("{other:?}"),
    };
    let pair = match pool.as_str() {
        "pool1.contoso.com" => "pool1-pool2",
        "pool3.contoso.com" => "pool3-pool4",
        _ => "pool5-pool6",
    };
    let stalled = env
        .jsonpath(
            &format!("poolpair/{pair}"),
            "{.status.conditions[?(@.type==\"Stalled\")].reason}",
        )
        .await;
    assert_eq!(stalled, "StepFailed", "{pair} is stalled on {pool}");
    let attempts = env
        .audit()
        .iter()
        .filter(|a| a.command == failed.command)
        .count();
    assert_eq!(attempts, 1, "no more attempts without a person");

    env.annotate_topology(&format!("sfbdr.io/retry={plan}"))
        .await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    assert!(audit
        .iter()
        .any(|a| a.outcome == Outcome::Succeeded && a.command == failed.command));
    operator.shutdown().await;
}
