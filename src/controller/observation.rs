//! The last observation, published for people and pipelines that plan against the live
//! deployment (`sfb-dr plan --kubeconfig`): a ConfigMap `<topology>-observation` in the
//! Topology's namespace, owned by the Topology, that `status.observation` names.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::Topology;
use crate::model::{Ledger, ObservedTopology};

/// The ConfigMap key holding the observed topology, as JSON.
pub const DATA_KEY: &str = "observed.json";
/// The ConfigMap key holding when that observation was made (RFC 3339).
pub const OBSERVED_AT_KEY: &str = "observedAt";
/// The ConfigMap key holding the operator's ledger at that moment, as JSON: planning against the
/// observation needs the ledger of the same moment, not one that moved on mid-plan.
pub const LEDGER_KEY: &str = "ledger.json";

/// The name of a Topology's observation ConfigMap.
pub fn config_map_name(topology: &str) -> String {
    format!("{topology}-observation")
}

/// The observation as published: without the Backup Service's sync ages and the simulator's
/// data-loss total, which change at every look and say nothing the planner uses, so the
/// ConfigMap is rewritten only when the deployment changed.
pub fn published(observed: &ObservedTopology) -> ObservedTopology {
    let mut out = observed.clone();
    for b in &mut out.backup {
        b.last_sync_age_seconds = None;
    }
    out.data_loss = None;
    out
}

/// Writes each Topology's observation when it changed since this process last wrote it.
#[derive(Default)]
pub struct Publisher {
    written: Mutex<HashMap<(String, String), String>>,
}

impl Publisher {
    /// Publishes `observed` for `topology`; returns the ConfigMap's name once it holds it.
    pub async fn publish(
        &self,
        client: &Client,
        topology: &Topology,
        observed: &ObservedTopology,
        ledger: &Ledger,
        observed_at: &str,
    ) -> Result<String, kube::Error> {
        let ns = topology.namespace().unwrap_or_default();
        let name = config_map_name(&topology.name_any());
        let observed = serde_json::to_string_pretty(&published(observed)).unwrap_or_default();
        let ledger = serde_json::to_string_pretty(ledger).unwrap_or_default();
        // What was last written, to tell whether anything changed.
        let text = format!("{observed}\n{ledger}");
        let key = (ns.clone(), name.clone());
        if self.lock().get(&key) == Some(&text) {
            return Ok(name);
        }
        let owner = topology.controller_owner_ref(&());
        let body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": {"app.kubernetes.io/managed-by": "sfb-dr"},
                "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
            },
            "data": {
                DATA_KEY: observed,
                LEDGER_KEY: ledger,
                OBSERVED_AT_KEY: observed_at,
            },
        });
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        api.patch(
            &name,
            &PatchParams::apply(super::FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await?;
        self.lock().insert(key, text);
        Ok(name)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }
}
