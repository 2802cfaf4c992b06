//! `kubectl sfbdr status`: one screen that says where a deployment stands.

use std::fmt::Write;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, Client, ResourceExt};

use sfb_dr::api::{CentralManagementStore, PlanStatus, PoolPair, Site, StepState, Topology};
use sfb_dr::controller::journal::step_action;

use super::super::{live, Failure};

/// The deployment's resources, read once.
pub struct Screen {
    topology: Topology,
    sites: Vec<Site>,
    pairs: Vec<PoolPair>,
    cms: Vec<CentralManagementStore>,
}

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// `Ready` as a short verdict: `Ready` or `NotReady (Reason)`, `Unknown` before any status.
fn verdict(conditions: &[Condition]) -> String {
    match condition(conditions, "Ready") {
        Some(c) if c.status == "True" => "Ready".into(),
        Some(c) => format!("NotReady ({})", c.reason),
        None => "Unknown (no status yet)".into(),
    }
}

impl Screen {
    /// Reads the namespace's resources.
    pub async fn read(client: &Client, ns: &str, topology: &Topology) -> Result<Screen, Failure> {
        async fn all<K>(client: &Client, ns: &str, what: &str) -> Result<Vec<K>, Failure>
        where
            K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
                + Clone
                + serde::de::DeserializeOwned
                + std::fmt::Debug,
        {
            let api: Api<K> = Api::namespaced(client.clone(), ns);
            let mut items = api
                .list(&Default::default())
                .await
                .map_err(|e| live::api_error(&format!("listing {what} in {ns}"), e))?
                .items;
            items.sort_by_key(|o| o.name_any());
            Ok(items)
        }
        Ok(Screen {
            topology: topology.clone(),
            sites: all(client, ns, "Sites").await?,
            pairs: all(client, ns, "PoolPairs").await?,
            cms: all(client, ns, "CentralManagementStores").await?,
        })
    }

    /// 0 when the Topology is Ready for its generation, 4 when Stalled, 3 otherwise.
    pub fn exit_code(&self) -> u8 {
        let conditions = self
            .topology
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default();
        let generation = self.topology.metadata.generation;
        let current = |c: &&Condition| c.observed_generation >= generation;
        if condition(conditions, "Stalled")
            .filter(current)
            .is_some_and(|c| c.status == "True")
        {
            4
        } else if condition(conditions, "Ready")
            .filter(current)
            .is_some_and(|c| c.status == "True")
        {
            0
        } else {
            3
        }
    }

    /// The screen.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let t = &self.topology;
        let status = t.status.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "Topology {}/{}: {}{}{}",
            t.namespace().unwrap_or_default(),
            t.name_any(),
            verdict(&status.conditions),
            if t.spec.paused { ", paused" } else { "" },
            match t.spec.approval {
                sfb_dr::api::Approval::Manual => ", approval Manual",
                sfb_dr::api::Approval::Automatic => "",
            }
        );
        for type_ in ["Ready", "Stalled", "AwaitingApproval"] {
            if let Some(c) = condition(&status.conditions, type_) {
                if (type_ == "Ready" && c.status != "True"
                    || type_ != "Ready" && c.status == "True")
                    && !c.message.is_empty()
                {
                    let _ = writeln!(out, "  {type_}: {}", c.message);
                }
            }
        }
        if let Some(at) = &status.observed_at {
            let _ = writeln!(out, "  last change observed at {at}");
        }
        out.push('\n');
        let invalid = condition(&status.conditions, "Stalled")
            .is_some_and(|c| c.status == "True" && c.reason == "InvalidSpec");
        if invalid {
            // An earlier plan (often an empty one) says nothing about a spec that cannot be
            // planned at all.
            let _ = writeln!(
                out,
                "No plan: the spec is invalid (Stalled above names what to fix); nothing is planned or run until it is fixed."
            );
        } else {
            out.push_str(&plan_lines(status.plan.as_ref()));
        }
        out.push('\n');
        let _ = writeln!(out, "Sites:");
        for s in &self.sites {
            let st = s.status.clone().unwrap_or_default();
            let pools: Vec<String> = st
                .pools
                .iter()
                .map(|p| format!("{} {:?}", p.fqdn, p.health))
                .collect();
            let edges: Vec<String> = st
                .edges
                .iter()
                .map(|e| format!("{} {:?} -> {}", e.fqdn, e.health, e.next_hop))
                .collect();
            let _ = writeln!(
                out,
                "  {:<12} active={:<5} {}",
                s.name_any(),
                s.spec.active,
                verdict(&st.conditions)
            );
            if !pools.is_empty() {
                let _ = writeln!(out, "      pools: {}", pools.join(", "));
            }
            if !edges.is_empty() {
                let _ = writeln!(out, "      Edge pools: {}", edges.join(", "));
            }
        }
        out.push('\n');
        let rpo = t.spec.objectives.rpo_seconds;
        let _ = writeln!(out, "Pairs (backup lag against the RPO of {rpo} s):");
        let _ = writeln!(
            out,
            "  {:<16} {:<24} {:<8} {:<24} {:<24} BACKUP FROM THIS POOL",
            "PAIR", "POOL", "HEALTH", "SERVED BY", "SHOULD BE SERVED BY"
        );
        for p in &self.pairs {
            let st = p.status.clone().unwrap_or_default();
            let _ = writeln!(out, "  {:<16} {}", p.name_any(), verdict(&st.conditions));
            for pool in &st.pools {
                let backup = st
                    .backup
                    .iter()
                    .find(|b| b.from == pool.fqdn)
                    .map(|b| {
                        let age = b
                            .last_sync_age_seconds
                            .map_or("age unknown".to_owned(), |a| {
                                let late = if a > u64::from(rpo) { " OVER RPO" } else { "" };
                                format!("{a} s ago{late}")
                            });
                        format!("{:?}/{:?}, {age}", b.export_state, b.import_state)
                    })
                    .unwrap_or_else(|| "not observed".into());
                let _ = writeln!(
                    out,
                    "  {:<16} {:<24} {:<8} {:<24} {:<24} {backup}",
                    "",
                    pool.fqdn,
                    format!("{:?}", pool.health),
                    pool.served_by.as_deref().unwrap_or("?"),
                    pool.desired_served_by
                        .as_deref()
                        .unwrap_or("(no active site)"),
                );
            }
        }
        for c in &self.cms {
            let st = c.status.clone().unwrap_or_default();
            out.push('\n');
            let _ = writeln!(
                out,
                "CMS {}: master {}, database on {}, replicas {}; {}",
                c.name_any(),
                st.active_master.as_deref().unwrap_or("NONE (unavailable)"),
                st.pool.as_deref().unwrap_or("unknown"),
                match st.replicas_up_to_date {
                    Some(true) => "up to date",
                    Some(false) => "NOT up to date",
                    None => "unknown",
                },
                verdict(&st.conditions)
            );
        }
        out
    }
}

/// The journalled plan, a line per step with its state, and what is blocked.
pub fn plan_lines(plan: Option<&PlanStatus>) -> String {
    let mut out = String::new();
    let Some(plan) = plan else {
        let _ = writeln!(out, "No plan yet.");
        return out;
    };
    let done = plan
        .steps
        .iter()
        .filter(|s| s.state == StepState::Succeeded)
        .count();
    if plan.steps.is_empty() {
        let _ = writeln!(out, "Plan {}: nothing to do.", plan.id);
    } else {
        let _ = writeln!(
            out,
            "Plan {}: {done}/{} steps done",
            plan.id,
            plan.steps.len()
        );
    }
    for s in &plan.steps {
        let what = step_action(s).map_or_else(|e| e, |a| a.to_string());
        let after = if s.depends_on.is_empty() {
            String::new()
        } else {
            format!("  (after {})", s.depends_on.join(", "))
        };
        let _ = writeln!(
            out,
            "  [{}] {:<9} {what}{after}",
            s.id,
            format!("{:?}", s.state)
        );
        if let Some(m) = s
            .message
            .as_deref()
            .filter(|_| s.state != StepState::Succeeded)
        {
            let _ = writeln!(out, "        {m}");
        }
    }
    if !plan.blocked.is_empty() {
        let _ = writeln!(out, "Blocked, nothing will be done for:");
        for b in &plan.blocked {
            let _ = writeln!(out, "  - pair {}: {}: {}", b.pair, b.reason, b.message);
        }
    }
    out
}
