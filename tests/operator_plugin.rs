//! `kubectl sfbdr` through the real kubectl's plugin lookup, and `sfb-dr plan --kubeconfig`
//! planning a pull request's manifests against the live deployment.

mod e2e;

use std::path::Path;
use std::process::{Output, Stdio};

use e2e::{eventually, expect_eq, Env, CONVERGE, NS};

/// A directory holding `kubectl-sfbdr`, a link to the freshly built binary.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a directory");
    std::os::unix::fs::symlink(e2e::sfb_dr_binary(), dir.path().join("kubectl-sfbdr"))
        .expect("symlink");
    dir
}

/// Runs kubectl with the plugin directory first on PATH, as an installed plugin would be.
async fn kubectl(env: &Env, plugins: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        plugins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().expect("a home");
    tokio::time::timeout(
        e2e::KUBECTL_DEADLINE,
        tokio::process::Command::new(e2e::KUBECTL)
            .args(args)
            .env("PATH", path)
            .env("HOME", home.path())
            .env("KUBECONFIG", env.server.kubeconfig_path())
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("kubectl ends in time")
    .expect("kubectl runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sfbdr_shows_approves_pauses_and_moves_sites() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.kubectl(&["create", "namespace", NS]).await.ok();
    env.apply(
        &env.contoso_yaml()
            .replace("approval: Automatic", "approval: Manual"),
    )
    .await;
    env.wait_all_ready().await;
    let plugins = plugin_dir();
    let dir = plugins.path();

    let list = kubectl(&env, dir, &["plugin", "list"]).await;
    assert!(text(&list).contains("kubectl-sfbdr"), "{}", text(&list));
    let help = kubectl(&env, dir, &["sfbdr", "--help"]).await;
    assert!(help.status.success(), "{}", text(&help));
    for command in [
        "status", "plan", "approve", "pause", "resume", "site", "retry",
    ] {
        assert!(
            text(&help).contains(command),
            "{command} in the help:\n{}",
            text(&help)
        );
    }

    let status = kubectl(&env, dir, &["sfbdr", "status", "-n", NS]).await;
    assert_eq!(
        status.status.code(),
        Some(0),
        "Ready exits 0:\n{}",
        text(&status)
    );
    let screen = text(&status);
    for shown in [
        "Topology sfb-contoso/contoso: Ready",
        "redmond",
        "pool1-pool2",
        "pool1.contoso.com",
        "CMS cms: master pool1.contoso.com",
    ] {
        assert!(screen.contains(shown), "{shown} on the screen:\n{screen}");
    }

    let site = kubectl(
        &env,
        dir,
        &["sfbdr", "site", "redmond", "--active=false", "-n", NS],
    )
    .await;
    assert!(site.status.success(), "{}", text(&site));
    // Bad input is exit 2, naming what is wrong: an unknown Site, a namespace that cannot be.
    let unknown = kubectl(
        &env,
        dir,
        &["sfbdr", "site", "nosuch", "--active=false", "-n", NS],
    )
    .await;
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("no Site \"nosuch\""),
        "{}",
        text(&unknown)
    );
    let bad_ns = kubectl(&env, dir, &["sfbdr", "status", "-n", "Bad NS"]).await;
    assert_eq!(bad_ns.status.code(), Some(2), "{}", text(&bad_ns));
    assert!(
        text(&bad_ns).contains("not a Kubernetes namespace name"),
        "{}",
        text(&bad_ns)
    );
    let e = &env;
    eventually("the plan awaits approval", CONVERGE, || async move {
        let r = e
            .jsonpath(
                "topology/contoso",
                "{.status.conditions[?(@.type==\"AwaitingApproval\")].status}",
            )
            .await;
        expect_eq(&r, "True")
    })
    .await;
    let waiting = kubectl(&env, dir, &["sfbdr", "status", "-n", NS]).await;
    assert_eq!(
        waiting.status.code(),
        Some(3),
        "working exits 3:\n{}",
        text(&waiting)
    );
    let plan_id = env.jsonpath("topology/contoso", "{.status.plan.id}").await;
    let plan = kubectl(&env, dir, &["sfbdr", "plan", "-n", NS]).await;
    assert!(
        text(&plan).contains(&format!("Plan {plan_id}: 0/5 steps done")),
        "{}",
        text(&plan)
    );
    let runbook = kubectl(&env, dir, &["sfbdr", "plan", "-n", NS, "-o", "powershell"]).await;
    assert!(
        text(&runbook).contains("Invoke-CsPoolFailOver"),
        "{}",
        text(&runbook)
    );

    let stale = kubectl(
        &env,
        dir,
        &["sfbdr", "approve", "0123456789abcdef", "-n", NS],
    )
    .await;
    assert_eq!(stale.status.code(), Some(2), "{}", text(&stale));
    assert!(env.audit().is_empty(), "nothing ran");
    let approve = kubectl(&env, dir, &["sfbdr", "approve", &plan_id, "-n", NS]).await;
    assert!(approve.status.success(), "{}", text(&approve));
    assert!(
        text(&approve).contains(&format!("approved: plan {plan_id}")),
        "{}",
        text(&approve)
    );
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    assert_eq!(env.audit().len(), 5);

    let pause = kubectl(&env, dir, &["sfbdr", "pause", "-n", NS]).await;
    assert!(pause.status.success(), "{}", text(&pause));
    assert_eq!(
        env.jsonpath("topology/contoso", "{.spec.paused}").await,
        "true"
    );
    let resume = kubectl(&env, dir, &["sfbdr", "resume", "-n", NS]).await;
    assert!(resume.status.success(), "{}", text(&resume));
    assert_eq!(
        env.jsonpath("topology/contoso", "{.spec.paused}").await,
        "false"
    );
    let missing = kubectl(&env, dir, &["sfbdr", "status", "-n", "nowhere"]).await;
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    operator.shutdown().await;
}

fn sfb_dr(args: &[&str]) -> Output {
    std::process::Command::new(e2e::sfb_dr_binary())
        .args(args)
        .output()
        .expect("sfb-dr runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_is_planned_against_the_live_deployment_and_its_ledger() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    let e = &env;
    eventually("the observation is published", CONVERGE, || async move {
        let name = e
            .jsonpath("topology/contoso", "{.status.observation}")
            .await;
        expect_eq(&name, "contoso-observation")
    })
    .await;
    let kubeconfig = env.server.kubeconfig_path().display().to_string();
    let pr = tempfile::tempdir().expect("the pull request's manifests");
    std::fs::write(pr.path().join("contoso.yaml"), env.contoso_yaml()).expect("write");
    std::fs::copy(
        "examples/drills/redmond-inactive.yaml",
        pr.path().join("zz-redmond-inactive.yaml"),
    )
    .expect("copy");
    let dir = pr.path().display().to_string();

    let out = sfb_dr(&[
        "plan",
        "-f",
        &dir,
        "--kubeconfig",
        &kubeconfig,
        "--detailed-exitcode",
    ]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(3),
        "steps to run: {printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("5 steps"), "{printed}");
    let chart = sfb_dr(&[
        "plan",
        "-f",
        &dir,
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        NS,
        "-o",
        "mermaid",
    ]);
    let chart = String::from_utf8_lossy(&chart.stdout).into_owned();
    assert!(chart.starts_with("```mermaid\nflowchart TD"), "{chart}");
    assert!(
        chart.contains("Invoke-CsPoolFailOver<br/>pool1.contoso.com"),
        "{chart}"
    );

    // Merge it: the operator fails redmond over and records it in its ledger. A pull request
    // bringing redmond back is then planned from that ledger: failbacks.
    env.apply(&std::fs::read_to_string("examples/drills/redmond-inactive.yaml").expect("read"))
        .await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let (d, k) = (&dir, &kubeconfig);
    eventually(
        "the observation after the failover is published",
        CONVERGE,
        || async move {
            let out = sfb_dr(&["plan", "-f", d, "--kubeconfig", k]);
            let printed = String::from_utf8_lossy(&out.stdout).into_owned();
            if printed.contains("nothing to do") {
                Ok(())
            } else {
                Err(printed)
            }
        },
    )
    .await;
    std::fs::remove_file(pr.path().join("zz-redmond-inactive.yaml")).expect("remove");
    let back = sfb_dr(&["plan", "-f", &dir, "--kubeconfig", &kubeconfig]);
    let printed = String::from_utf8_lossy(&back.stdout).into_owned();
    assert!(printed.contains("fail back pool1.contoso.com"), "{printed}");

    let nowhere = sfb_dr(&[
        "plan",
        "-f",
        &dir,
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        "nowhere",
    ]);
    assert_eq!(
        nowhere.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&nowhere.stderr)
    );
    operator.shutdown().await;
}

/// `kubectl sfbdr status` exits 4 while a step out of attempts stalls the deployment, and
/// `kubectl sfbdr retry <plan>` grants the round that lets it converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sfbdr_status_exits_4_when_stalled_and_retry_grants_a_round() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso_whose_next_failover_fails().await;
    let plugins = plugin_dir();
    let dir = plugins.path();
    env.set_site_active("redmond", false).await;
    let (e, d) = (&env, dir);
    eventually("status exits 4 on the stall", CONVERGE, || async move {
        let status = kubectl(e, d, &["sfbdr", "status", "-n", NS]).await;
        match status.status.code() {
            Some(4) => Ok(()),
            other => Err(format!("exit {other:?}: {}", text(&status))),
        }
    })
    .await;
    let plan = env.jsonpath("topology/contoso", "{.status.plan.id}").await;
    let stale = kubectl(&env, dir, &["sfbdr", "retry", "0000000000000000", "-n", NS]).await;
    assert_eq!(stale.status.code(), Some(2), "{}", text(&stale));
    let retry = kubectl(&env, dir, &["sfbdr", "retry", &plan, "-n", NS]).await;
    assert!(retry.status.success(), "{}", text(&retry));
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let status = kubectl(&env, dir, &["sfbdr", "status", "-n", NS]).await;
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    e2e::assert_clean(&env.audit());
    operator.shutdown().await;
}

/// A namespace Stalled on an invalid spec is shown as such by `kubectl sfbdr status`, never as
/// an earlier plan's "nothing to do".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sfbdr_status_says_an_invalid_spec_plans_nothing() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    let plugins = plugin_dir();
    let dir = plugins.path();
    env.apply(
        "apiVersion: sfbdr.io/v1alpha1\nkind: PoolPair\nmetadata: {name: pool1-pool4, namespace: sfb-contoso}\nspec:\n  pools:\n    - {fqdn: pool1.contoso.com, site: redmond}\n    - {fqdn: pool4.contoso.com, site: dublin}\n",
    )
    .await;
    let (e, d) = (&env, dir);
    eventually("status shows the invalid spec", CONVERGE, || async move {
        let status = kubectl(e, d, &["sfbdr", "status", "-n", NS]).await;
        let printed = text(&status);
        if status.status.code() == Some(4)
            && printed.contains("the spec is invalid")
            && printed.contains("spec.pools[0].fqdn")
            && !printed.contains("nothing to do")
        {
            Ok(())
        } else {
            Err(format!("exit {:?}: {printed}", status.status.code()))
        }
    })
    .await;
    operator.shutdown().await;
}
