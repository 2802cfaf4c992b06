//! The whole in-memory cluster: the state under one lock, seeded with what a fresh cluster
//! holds, how requests are authorized, the request traffic, and the signal that drops watches.

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::bootstrap;
use crate::kind::StorageKey;
use crate::meta;
use crate::rbac::Authorization;
use crate::state::State;
use crate::store::ObjectKey;
use crate::traffic::Traffic;

/// Stores a bootstrap object under `resource` of `group`, with the metadata the server owns.
fn seed(state: &mut State, group: &str, resource: &str, mut object: Value) {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
    object["metadata"]["creationTimestamp"] = json!(meta::now());
    let key = ObjectKey {
        storage: StorageKey {
            group: group.into(),
            resource: resource.into(),
        },
        namespace,
        name,
    };
    state.store.put(key, object);
}

/// The shared server state.
#[derive(Debug)]
pub struct Cluster {
    state: Mutex<State>,
    /// How requests are authorized.
    pub authorization: Authorization,
    /// Request counters and injected failures.
    pub traffic: Traffic,
    drops: watch::Sender<u64>,
}

impl Cluster {
    /// A cluster holding what a fresh kubeadm cluster holds, authorizing as `authorization` says.
    pub fn new(authorization: Authorization) -> Self {
        let mut state = State::default();
        for name in bootstrap::NAMESPACES {
            let namespace = json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name},
                "status": {"phase": "Active"},
            });
            seed(&mut state, "", "namespaces", namespace);
            seed(
                &mut state,
                "",
                "serviceaccounts",
                bootstrap::default_service_account(name),
            );
        }
        seed(&mut state, "", "services", bootstrap::kubernetes_service());
        for object in bootstrap::rbac_objects() {
            let resource = match object["kind"].as_str() {
                Some("ClusterRole") => "clusterroles",
                _ => "clusterrolebindings",
            };
            seed(&mut state, "rbac.authorization.k8s.io", resource, object);
        }
        let (drops, _) = watch::channel(0);
        Cluster {
            state: Mutex::new(state),
            authorization,
            traffic: Traffic::default(),
            drops,
        }
    }

    /// Locks the state; never held across an await. A panic in an earlier request does not
    /// make the sandbox unusable: writes happen last, so the state is consistent anyway.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps at most `bytes` of changes for watches to resume from (older versions are 410).
    pub fn set_history_limit(&self, bytes: usize) {
        self.lock().store.set_history_limit(bytes);
    }

    /// Ends every open watch, as an apiserver restart or a load balancer timeout would.
    pub fn drop_watches(&self) {
        self.drops.send_modify(|epoch| *epoch += 1);
    }

    /// A receiver that changes whenever `drop_watches` is called.
    pub fn watch_drops(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    /// Forgets history so watches resuming from older versions get 410 Gone.
    pub fn compact(&self) {
        self.lock().store.compact();
    }
}
