//! The RBAC of deploy/ proven, not guessed: the operator runs under RBAC (kube-sandbox's, or a
//! real kube-apiserver's with `SFB_DR_TEST_SERVER=kube-apiserver`) with the
//! token of the ServiceAccount deploy/ binds, drives a site failover and failback and reads a
//! PowerShell Topology's Secret, and is refused nothing; then, for each rule of its ClusterRole,
//! its Lease Role and the example Secret Role in turn, the rule is removed and the operator hits
//! a 403 on exactly what the rule granted: no rule is unused.

mod e2e;

use std::sync::Arc;
use std::time::Duration;

use e2e::server::{Denial, Denials};
use e2e::{contoso_observed, eventually, expect_eq, Env, CONVERGE, NS};
use serde_json::Value;
use sfb_dr::controller::{self, LeaseConfig, Operator};

/// The YAML documents of `kubectl kustomize <dir>` (or of a file), as JSON.
async fn documents(env: &Env, args: &[&str]) -> Vec<Value> {
    let yaml = env.kubectl(args).await.ok();
    serde_yaml::Deserializer::from_str(&yaml)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} is not in the rendered YAML"))
}

/// The operator under the token of the ServiceAccount deploy/ makes; its refusals go to
/// `refused`, as its client meets them.
async fn operator(env: &Env, refused: &Denials) -> Result<Operator, controller::StartError> {
    let token = env.server.token_for("sfb-dr-system", "sfb-dr", env).await;
    let client = env
        .server
        .client_with_token(&token, "sfb-dr-system", Arc::clone(refused))
        .await;
    let mut config = env.operator_config("proof");
    config.client = client;
    config.election = Some(LeaseConfig::new("sfb-dr-leader", "sfb-dr-system", "proof"));
    controller::start(config).await
}

fn denials(refused: &Denials) -> Vec<Denial> {
    refused.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

async fn set_driver(env: &Env, powershell: bool) {
    let driver = if powershell {
        serde_json::json!({"simulator": null, "powershell": {"host": "sfbmgmt.invalid", "user": "svc-sfbdr", "credentialsSecretRef": {"name": "sfb-mgmt-ssh"}}})
    } else {
        serde_json::json!({"powershell": null, "simulator": {"url": env.sim_url}})
    };
    let patch = serde_json::json!({"spec": {"driver": driver}}).to_string();
    env.kubectl(&[
        "patch", "-n", NS, "topology", "contoso", "--type", "merge", "-p", &patch,
    ])
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_rbac_is_all_the_operator_needs_and_every_rule_is_used() {
    let env = Env::start_rbac(contoso_observed()).await;
    env.kubectl(&["apply", "-k", "deploy/"]).await.ok();
    env.apply_contoso().await;
    env.kubectl(&[
        "apply",
        "-f",
        "deploy/examples/powershell-credentials-rbac.yaml",
    ])
    .await
    .ok();
    env.kubectl(&[
        "create",
        "secret",
        "generic",
        "sfb-mgmt-ssh",
        "-n",
        NS,
        "--from-literal=ssh-privatekey=not-a-real-key",
        "--from-literal=known_hosts=sfbmgmt.invalid ssh-ed25519 AAAA",
    ])
    .await
    .ok();

    // Everything the operator does, under the deploy/ RBAC: not one refusal.
    let refused: Denials = Arc::default();
    let op = operator(&env, &refused)
        .await
        .expect("the operator starts under its RBAC");
    env.wait_all_ready().await;
    for active in [false, true] {
        env.set_site_active("redmond", active).await;
        env.wait_ready("site/redmond").await;
        env.wait_all_ready().await;
    }
    let e = &env;
    eventually("the observation is published", CONVERGE, || async move {
        expect_eq(
            &e.jsonpath("topology/contoso", "{.status.observation}")
                .await,
            "contoso-observation",
        )
    })
    .await;
    set_driver(&env, true).await;
    eventually(
        "the PowerShell driver read its Secret and tried to connect",
        CONVERGE,
        || async move {
            let message = e
                .jsonpath(
                    "topology/contoso",
                    "{.status.conditions[?(@.type==\"Ready\")].message}",
                )
                .await;
            if message.contains("sfbmgmt.invalid") {
                Ok(())
            } else {
                Err(message)
            }
        },
    )
    .await;
    set_driver(&env, false).await;
    let seen = denials(&refused);
    assert!(seen.is_empty(), "the operator was refused: {seen:#?}");
    op.shutdown().await;
    assert_eq!(
        env.audit().len(),
        11,
        "the failover and failback ran: {:?}",
        env.audit()
    );

    // Each rule removed in turn must show: the operator meets a 403 on what it granted.
    let rendered = documents(&env, &["kustomize", "deploy/"]).await;
    let example = documents(
        &env,
        &[
            "create",
            "--dry-run=client",
            "-o",
            "yaml",
            "-f",
            "deploy/examples/powershell-credentials-rbac.yaml",
        ],
    )
    .await;
    let roles = [
        named(&rendered, "ClusterRole", "sfb-dr-operator").clone(),
        named(&rendered, "Role", "sfb-dr-leader-election").clone(),
        named(&example, "Role", "sfb-dr-credentials").clone(),
    ];
    let mut proven = 0;
    for role in &roles {
        let rules = role["rules"].as_array().expect("rules").clone();
        for (i, rule) in rules.iter().enumerate() {
            let mut without = role.clone();
            without["rules"].as_array_mut().expect("rules").remove(i);
            env.apply(&without.to_string()).await;
            env.kubectl(&[
                "delete",
                "lease",
                "sfb-dr-leader",
                "-n",
                "sfb-dr-system",
                "--ignore-not-found",
            ])
            .await
            .ok();
            let secrets = rule["resources"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == "secrets"));
            set_driver(&env, secrets).await;
            let before = denials(&refused).len();
            let started = operator(&env, &refused).await.ok();
            // A change to act on: status to write, Events to publish, an observation to publish.
            let site = env.jsonpath("site/redmond", "{.spec.active}").await == "true";
            env.set_site_active("redmond", !site).await;
            let resources: Vec<String> = rule["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect();
            let what = format!("a 403 without rule {rule} of {}", role["metadata"]["name"]);
            let r = &refused;
            let wanted = &resources;
            eventually(&what, Duration::from_secs(60), || async move {
                let hit = denials(r)
                    .into_iter()
                    .skip(before)
                    .any(|d| d.code == 403 && wanted.contains(&d.resource));
                if hit {
                    Ok(())
                } else {
                    Err(format!(
                        "{:?}",
                        denials(r).into_iter().skip(before).collect::<Vec<_>>()
                    ))
                }
            })
            .await;
            if let Some(op) = started {
                op.abort();
            }
            env.apply(&role.to_string()).await;
            proven += 1;
        }
    }
    set_driver(&env, false).await;
    assert_eq!(
        proven, 8,
        "five ClusterRole rules, two Lease rules and the Secret rule"
    );
}
