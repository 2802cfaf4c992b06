//! deploy/gitops/argocd's health checks, taken from the argocd-cm that `kubectl kustomize`
//! renders, run in a real Lua 5.1 (the language of Argo CD's gopher-lua) with only the base
//! library, against the statuses the operator writes: Healthy, Progressing, Degraded and
//! Suspended, and Progressing whenever the conditions speak of an older generation; then on
//! what the operator itself wrote, on kube-sandbox.

mod e2e;
mod kustomize;

use e2e::{eventually, Env, CONVERGE, NS};
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib, Table};
use serde_json::{json, Value};

/// The four kinds, as Argo CD's keys name them.
const KINDS: [&str; 4] = ["Topology", "Site", "PoolPair", "CentralManagementStore"];

/// The health script argocd-cm holds for `kind`.
fn script(kind: &str) -> String {
    let objects = kustomize::build("deploy/gitops/argocd");
    let cm = kustomize::find(&objects, "ConfigMap", "argocd-cm");
    assert_eq!(cm["metadata"]["namespace"], "argocd");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/part-of"], "argocd",
        "Argo CD reads only its own labelled ConfigMap"
    );
    let key = format!("resource.customizations.health.sfbdr.io_{kind}");
    cm["data"][&key]
        .as_str()
        .unwrap_or_else(|| panic!("argocd-cm has no {key}"))
        .to_owned()
}

/// What Argo CD would make of `obj`: (status, message).
fn health(kind: &str, obj: &Value) -> (String, String) {
    // Base functions only: whatever else Argo CD offers, the script must not need it.
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).expect("a Lua state");
    let options = mlua::serde::SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
        .set_array_metatable(false);
    let value = lua.to_value_with(obj, options).expect("obj as Lua");
    lua.globals().set("obj", value).expect("obj set");
    let result: Table = lua
        .load(script(kind))
        .set_name("health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("the {kind} health script failed on {obj}: {e}"));
    let status: String = result.get("status").expect("hs.status");
    let message: String = result.get("message").unwrap_or_default();
    assert!(
        ["Healthy", "Progressing", "Degraded", "Suspended"].contains(&status.as_str()),
        "not an Argo CD health: {status}"
    );
    (status, message)
}

/// An sfb-dr object of `kind` at `generation`, with the conditions added by the builder.
struct Object {
    kind: &'static str,
    generation: i64,
    observed: i64,
    paused: bool,
    conditions: Vec<Value>,
    status: bool,
}

impl Object {
    fn new(kind: &'static str) -> Self {
        Object {
            kind,
            generation: 3,
            observed: 3,
            paused: false,
            conditions: vec![],
            status: true,
        }
    }

    /// No status at all (just created).
    fn without_status(mut self) -> Self {
        self.status = false;
        self
    }

    /// The operator last saw generation `observed` (status and every condition).
    fn observed(mut self, observed: i64) -> Self {
        self.observed = observed;
        self
    }

    fn paused(mut self) -> Self {
        self.paused = true;
        self
    }

    fn condition(mut self, type_: &str, status: &str, reason: &str, message: &str) -> Self {
        self.conditions.push(json!({
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": self.observed,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }));
        self
    }

    /// Ready, Reconciling and Stalled as the operator writes them for one verdict.
    fn verdict(self, ready: Option<(&str, &str)>, reconciling: bool, stalled: bool) -> Self {
        let with_ready = match ready {
            None => self.condition("Ready", "True", "Converged", "as declared"),
            Some((reason, message)) => self.condition("Ready", "False", reason, message),
        };
        let with_reconciling = if reconciling {
            with_ready.condition("Reconciling", "True", "Executing", "2/5 steps done")
        } else {
            with_ready.condition("Reconciling", "False", "Idle", "")
        };
        if stalled {
            with_reconciling.condition(
                "Stalled",
                "True",
                "TargetDown",
                "pool2.contoso.com is down: pool1.contoso.com cannot fail over to it",
            )
        } else {
            with_reconciling.condition("Stalled", "False", "Progressing", "")
        }
    }

    fn json(&self) -> Value {
        let mut spec = json!({});
        if self.kind == "Topology" {
            spec["paused"] = json!(self.paused);
            spec["approval"] = json!("Automatic");
        }
        let mut obj = json!({
            "apiVersion": "sfbdr.io/v1alpha1",
            "kind": self.kind,
            "metadata": {"name": "x", "namespace": "sfb-contoso", "generation": self.generation},
            "spec": spec,
        });
        if self.status {
            obj["status"] = json!({
                "observedGeneration": self.observed,
                "conditions": self.conditions,
            });
        }
        obj
    }

    fn health(&self) -> (String, String) {
        health(self.kind, &self.json())
    }
}

#[test]
fn a_converged_object_is_healthy() {
    for kind in KINDS {
        let (status, message) = Object::new(kind).verdict(None, false, false).health();
        assert_eq!(status, "Healthy", "{kind}: {message}");
        assert_eq!(message, "Converged: as declared");
    }
}

#[test]
fn an_object_being_moved_is_progressing() {
    for kind in KINDS {
        let (status, message) = Object::new(kind)
            .verdict(Some(("Executing", "2/5 steps done")), true, false)
            .health();
        assert_eq!(status, "Progressing", "{kind}");
        assert_eq!(message, "Executing: 2/5 steps done");
    }
}

#[test]
fn an_object_with_no_status_yet_is_progressing() {
    for kind in KINDS {
        let (status, _) = Object::new(kind).without_status().health();
        assert_eq!(status, "Progressing", "{kind}");
    }
}

#[test]
fn conditions_of_an_older_generation_are_progressing_whatever_they_say() {
    for kind in KINDS {
        for object in [
            Object::new(kind).observed(2).verdict(None, false, false),
            Object::new(kind)
                .observed(2)
                .verdict(Some(("TargetDown", "")), false, true),
            Object::new(kind)
                .observed(2)
                .verdict(Some(("ObserveFailed", "")), false, false),
        ] {
            let (status, message) = object.health();
            assert_eq!(status, "Progressing", "{kind}: {}", object.json());
            assert!(message.contains("generation 3"), "{message}");
        }
    }
}

#[test]
fn a_stalled_object_is_degraded_with_the_reason() {
    for kind in KINDS {
        let (status, message) = Object::new(kind)
            .verdict(Some(("TargetDown", "blocked")), false, true)
            .health();
        assert_eq!(status, "Degraded", "{kind}");
        assert!(
            message.starts_with("TargetDown: pool2.contoso.com is down"),
            "{message}"
        );
    }
}

#[test]
fn a_topology_whose_driver_cannot_observe_is_degraded() {
    // What the operator writes when observing fails: Ready False and Reconciling True, both
    // ObserveFailed (it retries, but it is blind until the driver answers).
    let (status, message) = Object::new("Topology")
        .condition("Ready", "False", "ObserveFailed", "connection refused")
        .condition(
            "Reconciling",
            "True",
            "ObserveFailed",
            "observing the deployment failed; retrying: connection refused",
        )
        .condition("Stalled", "False", "Progressing", "")
        .health();
    assert_eq!(status, "Degraded");
    assert!(message.contains("connection refused"), "{message}");
}

#[test]
fn a_paused_topology_is_suspended_even_when_converged() {
    for ready in [None, Some(("Paused", "spec.paused is true"))] {
        let (status, message) = Object::new("Topology")
            .paused()
            .verdict(ready, false, false)
            .condition(
                "Paused",
                "True",
                "Paused",
                "spec.paused is true: no step starts",
            )
            .health();
        assert_eq!(status, "Suspended");
        assert!(message.contains("spec.paused"), "{message}");
    }
}

#[test]
fn a_stalled_topology_is_degraded_even_when_paused() {
    let (status, _) = Object::new("Topology")
        .paused()
        .verdict(Some(("StepFailed", "")), false, true)
        .health();
    assert_eq!(status, "Degraded");
}

#[test]
fn a_plan_awaiting_approval_is_suspended_with_the_command_that_approves_it() {
    let approve = "approve with: kubectl annotate topology contoso sfbdr.io/approve-plan=5c586d6c5b88c790 --overwrite";
    let (status, message) = Object::new("Topology")
        .verdict(Some(("AwaitingApproval", "")), false, false)
        .condition("AwaitingApproval", "True", "AwaitingApproval", approve)
        .health();
    assert_eq!(status, "Suspended");
    assert_eq!(message, format!("AwaitingApproval: {approve}"));
    // The other kinds carry it in their Ready reason.
    for kind in ["Site", "PoolPair", "CentralManagementStore"] {
        for reason in ["AwaitingApproval", "Paused"] {
            let (status, _) = Object::new(kind)
                .verdict(Some((reason, "the Topology holds it")), false, false)
                .health();
            assert_eq!(status, "Suspended", "{kind} {reason}");
        }
    }
}

#[test]
fn a_superseded_approval_condition_does_not_suspend() {
    // AwaitingApproval from an older generation, and the new spec is being executed.
    let mut object = Object::new("Topology").observed(2);
    object = object.condition("AwaitingApproval", "True", "AwaitingApproval", "old plan");
    object.observed = 3;
    let (status, _) = object
        .verdict(Some(("Executing", "1/2")), true, false)
        .health();
    assert_eq!(status, "Progressing");
}

#[test]
fn not_ready_with_nothing_moving_is_degraded() {
    for kind in KINDS {
        let (status, message) = Object::new(kind)
            .verdict(
                Some(("InvalidSpec", "PoolPair b: pools[0].fqdn: in two pairs")),
                false,
                false,
            )
            .health();
        assert_eq!(status, "Degraded", "{kind}");
        assert!(message.contains("in two pairs"), "{message}");
    }
}

#[test]
fn the_four_kinds_share_one_script_file() {
    let file = std::fs::read_to_string("deploy/gitops/argocd/health.lua").expect("health.lua");
    for kind in KINDS {
        assert_eq!(script(kind), file, "{kind}");
    }
}

/// Every object of the four kinds in the example namespace, as kubectl prints them.
async fn live(env: &Env) -> Vec<(String, Value)> {
    let mut out = vec![];
    for (kind, plural) in [
        ("Topology", "topologies"),
        ("Site", "sites"),
        ("PoolPair", "poolpairs"),
        ("CentralManagementStore", "centralmanagementstores"),
    ] {
        let list: Value = serde_json::from_str(
            &env.kubectl(&["get", plural, "-n", NS, "-o", "json"])
                .await
                .ok(),
        )
        .expect("a JSON list");
        for item in list["items"].as_array().expect("items") {
            out.push((kind.to_owned(), item.clone()));
        }
    }
    assert!(out.len() >= 4, "{out:?}");
    out
}

/// `kubectl patch --type merge` of the example Topology.
async fn patch_topology(env: &Env, patch: &str) {
    env.kubectl(&[
        "patch", "topology", "contoso", "-n", NS, "--type", "merge", "-p", patch,
    ])
    .await
    .ok();
}

/// Argo CD's health of the example Topology as it stands.
async fn topology_health(env: &Env) -> Result<(String, String), String> {
    let text = env
        .kubectl(&["get", "topology", "contoso", "-n", NS, "-o", "json"])
        .await
        .ok();
    let obj: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(health("Topology", &obj))
}

/// Polls until the example Topology's health is `wanted` (a state that then holds), and
/// returns its message.
async fn topology_becomes(env: &Env, wanted: &str) -> String {
    eventually(&format!("the Topology is {wanted}"), CONVERGE, || async {
        let (status, message) = topology_health(env).await?;
        e2e::expect_eq(&status, wanted).map_err(|e| format!("{e}: {message}"))
    })
    .await;
    topology_health(env).await.expect("health").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_own_statuses_read_healthy_suspended_and_degraded() {
    let env = Env::contoso().await;
    let _operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    for (kind, obj) in live(&env).await {
        let (status, message) = health(&kind, &obj);
        assert_eq!(
            status, "Healthy",
            "{kind} {}: {message}",
            obj["metadata"]["name"]
        );
    }

    // Paused: Suspended. A spec change the operator has not yet written about is Progressing
    // in between, which the poll passes through.
    patch_topology(&env, r#"{"spec":{"paused":true}}"#).await;
    topology_becomes(&env, "Suspended").await;

    // Manual approval of a site failover: Suspended with the command that approves it.
    patch_topology(&env, r#"{"spec":{"paused":false,"approval":"Manual"}}"#).await;
    env.set_site_active("redmond", false).await;
    let message = topology_becomes(&env, "Suspended").await;
    assert!(message.contains("sfbdr.io/approve-plan="), "{message}");
    let pairs: Vec<(String, Value)> = live(&env)
        .await
        .into_iter()
        .filter(|(k, _)| k == "PoolPair")
        .collect();
    assert!(
        pairs.iter().any(|(k, o)| health(k, o).0 == "Suspended"),
        "a pair waiting for the approval is Suspended"
    );

    // The driver unreachable: Degraded, saying so.
    patch_topology(
        &env,
        r#"{"spec":{"approval":"Automatic","driver":{"simulator":{"url":"http://127.0.0.1:9"}}}}"#,
    )
    .await;
    let message = topology_becomes(&env, "Degraded").await;
    assert!(message.starts_with("ObserveFailed"), "{message}");
}
