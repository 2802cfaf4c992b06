//! What keeps the operator from acting: manual approval naming the plan id, `paused`, and specs
//! that are wrong across objects (reported as Stalled/InvalidSpec with zero commands) or within
//! one object (refused by the CRD's rules at `kubectl apply`).

mod e2e;

use e2e::{assert_clean, eventually, expect_eq, Env, CONVERGE, NS};

fn condition(kind_name: &str, type_: &str, field: &str) -> (String, String) {
    (
        kind_name.to_owned(),
        format!("{{.status.conditions[?(@.type==\"{type_}\")].{field}}}"),
    )
}

async fn get(env: &Env, (what, path): (String, String)) -> String {
    env.jsonpath(&what, &path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_approval_runs_nothing_until_the_annotation_names_the_plan() {
    let (env, operator) = manual_contoso().await;

    env.set_site_active("redmond", false).await;
    let message = awaiting_approval(&env).await;
    let plan = env.jsonpath("topology/contoso", "{.status.plan.id}").await;
    assert_eq!(plan.len(), 16, "a plan id: {plan}");
    assert!(
        message.contains(&plan),
        "the condition says how to approve: {message}"
    );
    // A stale id approves nothing.
    env.annotate_topology("sfbdr.io/approve-plan=0123456789abcdef")
        .await;
    let e = &env;
    eventually("the stale approval is reported", CONVERGE, || async move {
        let m = get(
            e,
            condition("topology/contoso", "AwaitingApproval", "message"),
        )
        .await;
        if m.contains("names 0123456789abcdef, which is not the current plan") {
            Ok(())
        } else {
            Err(m)
        }
    })
    .await;
    assert!(
        env.audit().is_empty(),
        "nothing runs without approval: {:?}",
        env.audit()
    );

    env.annotate_topology(&format!("sfbdr.io/approve-plan={plan}"))
        .await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    assert_eq!(
        env.audit().len(),
        5,
        "the approved plan ran: {:?}",
        env.audit()
    );
    assert_clean(&env.audit());
    operator.shutdown().await;
}

/// The example deployment under `approval: Manual`, applied and Ready, with its operator.
async fn manual_contoso() -> (Env, sfb_dr::controller::Operator) {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    let manual = env
        .contoso_yaml()
        .replace("approval: Automatic", "approval: Manual");
    env.kubectl(&["create", "namespace", NS]).await.ok();
    env.apply(&manual).await;
    env.wait_all_ready().await;
    (env, operator)
}

/// Waits until the Topology awaits approval, and returns the condition's message.
async fn awaiting_approval(env: &Env) -> String {
    eventually("the Topology awaits approval", CONVERGE, || async move {
        expect_eq(
            &get(
                env,
                condition("topology/contoso", "AwaitingApproval", "status"),
            )
            .await,
            "True",
        )
    })
    .await;
    get(
        env,
        condition("topology/contoso", "AwaitingApproval", "message"),
    )
    .await
}

async fn set_approval(env: &Env, mode: &str) {
    let patch = format!("{{\"spec\":{{\"approval\":\"{mode}\"}}}}");
    env.kubectl(&[
        "patch", "-n", NS, "topology", "contoso", "--type", "merge", "-p", &patch,
    ])
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_left_from_an_earlier_run_of_a_plan_starts_nothing() {
    let (env, operator) = manual_contoso().await;
    // A failover, approved and run.
    env.set_site_active("redmond", false).await;
    awaiting_approval(&env).await;
    let failover = env.jsonpath("topology/contoso", "{.status.plan.id}").await;
    env.annotate_topology(&format!("sfbdr.io/approve-plan={failover}"))
        .await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    // Its failback, approved and run.
    env.set_site_active("redmond", true).await;
    awaiting_approval(&env).await;
    let failback = env.jsonpath("topology/contoso", "{.status.plan.id}").await;
    env.annotate_topology(&format!("sfbdr.io/approve-plan={failback}"))
        .await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    // Failed over again under Automatic, then back to Manual.
    set_approval(&env, "Automatic").await;
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    set_approval(&env, "Manual").await;
    let ran = env.audit().len();
    // The same failback is needed again; the annotation still names its id.
    env.set_site_active("redmond", true).await;
    let message = awaiting_approval(&env).await;
    assert_eq!(
        env.jsonpath("topology/contoso", "{.status.plan.id}").await,
        failback,
        "the same plan, published again"
    );
    let prefix = env
        .jsonpath("topology/contoso", "{.status.plan.keyPrefix}")
        .await;
    assert!(
        prefix.starts_with(&failback) && prefix != failback,
        "{prefix}"
    );
    assert!(
        message.contains(&format!(
            "sfbdr.io/approve-plan={failback} approved an earlier run of this plan, not this one"
        )) && message.contains(&format!("sfbdr.io/approve-plan={prefix} --overwrite")),
        "{message}"
    );
    assert_eq!(env.audit().len(), ran, "nothing ran unreviewed");
    // The value the condition gives approves it.
    env.annotate_topology(&format!("sfbdr.io/approve-plan={prefix}"))
        .await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    assert!(env.audit().len() > ran, "the reviewed failback ran");
    assert_clean(&env.audit());
    operator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_stops_every_step_until_resumed() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    env.kubectl(&[
        "patch",
        "-n",
        NS,
        "topology",
        "contoso",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"paused":true}}"#,
    ])
    .await
    .ok();
    env.set_site_active("redmond", false).await;
    let e = &env;
    eventually(
        "the Topology says it is paused with work waiting",
        CONVERGE,
        || async move {
            expect_eq(
                &get(e, condition("topology/contoso", "Paused", "status")).await,
                "True",
            )?;
            expect_eq(
                &get(e, condition("topology/contoso", "Ready", "reason")).await,
                "Paused",
            )?;
            expect_eq(
                &get(e, condition("site/redmond", "Ready", "reason")).await,
                "Paused",
            )
        },
    )
    .await;
    assert!(
        env.audit().is_empty(),
        "paused runs nothing: {:?}",
        env.audit()
    );

    env.kubectl(&[
        "patch",
        "-n",
        NS,
        "topology",
        "contoso",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"paused":false}}"#,
    ])
    .await
    .ok();
    env.wait_ready("topology/contoso").await;
    env.wait_all_ready().await;
    assert_eq!(env.audit().len(), 5);
    operator.shutdown().await;
}

/// Each invalid spec is reported on the objects at fault, names the field, and runs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_wrong_across_objects_are_stalled_and_run_nothing() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    // Paused, then redmond inactive: any slip would show as a command in the audit.
    env.kubectl(&[
        "patch",
        "-n",
        NS,
        "topology",
        "contoso",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"paused":true}}"#,
    ])
    .await
    .ok();
    env.set_site_active("redmond", false).await;
    let e = &env;
    eventually("paused", CONVERGE, || async move {
        expect_eq(
            &get(e, condition("topology/contoso", "Paused", "status")).await,
            "True",
        )
    })
    .await;

    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "a pool in two pairs",
            "apiVersion: sfbdr.io/v1alpha1\nkind: PoolPair\nmetadata: {name: pool1-pool4, namespace: sfb-contoso}\nspec:\n  pools:\n    - {fqdn: pool1.contoso.com, site: redmond}\n    - {fqdn: pool4.contoso.com, site: dublin}\n",
            "poolpair/pool1-pool4",
            "spec.pools[0].fqdn",
        ),
        (
            "a pair naming a site the pool is not in",
            "apiVersion: sfbdr.io/v1alpha1\nkind: PoolPair\nmetadata: {name: pool3-pool4, namespace: sfb-contoso}\nspec:\n  pools:\n    - {fqdn: pool3.contoso.com, site: paris}\n    - {fqdn: pool4.contoso.com, site: dublin}\n",
            "poolpair/pool3-pool4",
            "spec.pools[0].site",
        ),
        (
            "a second Topology",
            "apiVersion: sfbdr.io/v1alpha1\nkind: Topology\nmetadata: {name: fabrikam, namespace: sfb-contoso}\nspec:\n  driver: {simulator: {url: \"http://127.0.0.1:1\"}}\n",
            "topology/contoso",
            "metadata.name",
        ),
        (
            "a CMS preferring a pool outside its pair",
            "apiVersion: sfbdr.io/v1alpha1\nkind: CentralManagementStore\nmetadata: {name: cms, namespace: sfb-contoso}\nspec: {pair: pool1-pool2, preferredPool: pool3.contoso.com}\n",
            "centralmanagementstore/cms",
            "spec.preferredPool",
        ),
    ];
    for (what, yaml, at_fault, field) in cases {
        env.apply(yaml).await;
        let e = &env;
        eventually(what, CONVERGE, || async move {
            expect_eq(
                &get(e, condition(at_fault, "Stalled", "reason")).await,
                "InvalidSpec",
            )?;
            let m = get(e, condition(at_fault, "Stalled", "message")).await;
            if !m.contains(field) {
                return Err(format!("the message does not name {field}: {m}"));
            }
            expect_eq(
                &get(e, condition("topology/contoso", "Stalled", "reason")).await,
                "InvalidSpec",
            )
        })
        .await;
        // The gauge the SfbDrTopologyStalled alert reads says so too.
        let op = &operator;
        eventually("sfbdr_topology_condition Stalled", CONVERGE, || async move {
            let addr = op.metrics_addr().expect("metrics served");
            let text = e2e::get(&format!("http://{addr}/metrics")).await.1;
            let line = r#"sfbdr_topology_condition{namespace="sfb-contoso",topology="contoso",condition="Stalled"} 1"#;
            if text.lines().any(|l| l == line) {
                Ok(())
            } else {
                Err(format!("{line} missing"))
            }
        })
        .await;
        // Undo: the original objects, and no extra ones.
        env.kubectl(&[
            "delete",
            "-n",
            NS,
            "poolpair",
            "pool1-pool4",
            "--ignore-not-found",
        ])
        .await
        .ok();
        env.kubectl(&[
            "delete",
            "-n",
            NS,
            "topology",
            "fabrikam",
            "--ignore-not-found",
        ])
        .await
        .ok();
        let original = env
            .contoso_yaml()
            .replace("paused: false", "paused: true")
            .replace(
                "name: redmond\n  namespace: sfb-contoso\nspec:\n  active: true",
                "name: redmond\n  namespace: sfb-contoso\nspec:\n  active: false",
            );
        env.apply(&original).await;
        let e = &env;
        eventually("valid again", CONVERGE, || async move {
            let r = get(e, condition("topology/contoso", "Ready", "message")).await;
            expect_eq(
                &get(e, condition("topology/contoso", "Ready", "reason")).await,
                "Paused",
            )
            .map_err(|seen| format!("{what}: {seen}: {r}"))
        })
        .await;
    }
    assert!(
        env.audit().is_empty(),
        "an invalid spec runs nothing: {:?}",
        env.audit()
    );
    operator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_wrong_within_one_object_are_refused_by_kubectl_apply() {
    let env = Env::contoso().await;
    env.kubectl(&["create", "namespace", NS]).await.ok();
    for (yaml, says) in [
        (
            "apiVersion: sfbdr.io/v1alpha1\nkind: PoolPair\nmetadata: {name: p, namespace: sfb-contoso}\nspec:\n  pools:\n    - {fqdn: pool1.contoso.com, site: redmond}\n    - {fqdn: pool2.contoso.com, site: Redmond}\n",
            "different sites",
        ),
        (
            "apiVersion: sfbdr.io/v1alpha1\nkind: Topology\nmetadata: {name: t, namespace: sfb-contoso}\nspec:\n  maxParallelSteps: 0\n  driver: {simulator: {url: \"http://127.0.0.1:1\"}}\n",
            "between 1 and 64",
        ),
        (
            "apiVersion: sfbdr.io/v1alpha1\nkind: Topology\nmetadata: {name: t, namespace: sfb-contoso}\nspec:\n  driver: {}\n",
            "exactly one driver",
        ),
    ] {
        let stderr = env
            .kubectl_with_input(&["apply", "-f", "-"], Some(yaml))
            .await
            .failed();
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
}
