//! The controllers a cluster runs beside its API server that clients rely on: the garbage
//! collector and the ServiceAccount controller (every namespace gets a `default` account).
//! Like kube-controller-manager's, they act asynchronously, after the write that calls for
//! them, woken by the store's revision.

use std::sync::{Arc, Weak};

use serde_json::Value;

use crate::bootstrap;
use crate::cluster::Cluster;
use crate::garbage;
use crate::kind::StorageKey;
use crate::meta;
use crate::state::State;
use crate::store::ObjectKey;
use crate::termination;

/// How many passes one wake-up may take: chains of owners settle in a few; the bound keeps a
/// bug from spinning the task.
const MAX_PASSES: usize = 64;

/// Starts the controllers on the current tokio runtime; they stop with the cluster.
pub fn spawn(cluster: &Arc<Cluster>) {
    let weak: Weak<Cluster> = Arc::downgrade(cluster);
    let mut changes = cluster.lock().store.subscribe();
    tokio::spawn(async move {
        loop {
            {
                let Some(cluster) = weak.upgrade() else {
                    return;
                };
                let mut state = cluster.lock();
                for _ in 0..MAX_PASSES {
                    let collected = garbage::collect(&mut state);
                    let accounts = default_service_accounts(&mut state);
                    termination::settle(&mut state);
                    if !collected && !accounts {
                        break;
                    }
                }
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
}

/// Creates the `default` ServiceAccount of every active namespace that lacks one.
fn default_service_accounts(state: &mut State) -> bool {
    let accounts = StorageKey {
        group: String::new(),
        resource: "serviceaccounts".into(),
    };
    let missing: Vec<String> = state
        .store
        .list(&StorageKey::namespaces(), None)
        .into_iter()
        .filter(|(_, ns)| ns.pointer("/metadata/deletionTimestamp").is_none())
        .map(|(k, _)| k.name.clone())
        .filter(|ns| {
            let key = ObjectKey {
                storage: accounts.clone(),
                namespace: ns.clone(),
                name: "default".into(),
            };
            state.store.get(&key).is_none()
        })
        .collect();
    for namespace in &missing {
        let mut account = bootstrap::default_service_account(namespace);
        account["metadata"]["uid"] = Value::String(uuid::Uuid::new_v4().to_string());
        account["metadata"]["creationTimestamp"] = Value::String(meta::now());
        let key = ObjectKey {
            storage: accounts.clone(),
            namespace: namespace.clone(),
            name: "default".into(),
        };
        state.store.put(key, account);
    }
    !missing.is_empty()
}
