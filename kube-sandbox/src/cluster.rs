//! The whole in-memory cluster: store and registry under one lock (so a CRD write and the
//! types it serves change together), the request traffic, and the signal that drops watches.

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::json;
use tokio::sync::watch;

use crate::admission;
use crate::crd;
use crate::registry::{Registry, StorageKey};
use crate::store::{ObjectKey, Store};
use crate::traffic::Traffic;

/// Namespaces a fresh cluster has, as kubeadm clusters do.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Store plus registry: everything guarded by the one lock.
#[derive(Debug, Default)]
pub struct State {
    /// All objects.
    pub store: Store,
    /// All served types.
    pub registry: Registry,
}

impl State {
    /// Re-derives the custom types from the stored CRDs.
    pub fn sync_crds(&mut self) {
        let storage = crd_storage();
        let types = self
            .store
            .list(&storage, None)
            .into_iter()
            // Terminating CRDs stay served so controllers can remove their objects' finalizers.
            .flat_map(|(_, crd)| crd::resource_types(crd))
            .collect();
        self.registry.set_custom(types);
    }
}

/// Where CRDs themselves are stored.
pub fn crd_storage() -> StorageKey {
    StorageKey {
        group: "apiextensions.k8s.io".into(),
        resource: "customresourcedefinitions".into(),
    }
}

/// The shared server state.
#[derive(Debug)]
pub struct Cluster {
    state: Mutex<State>,
    /// Request counters and injected failures.
    pub traffic: Traffic,
    drops: watch::Sender<u64>,
}

impl Default for Cluster {
    fn default() -> Self {
        let mut state = State::default();
        let storage = StorageKey::namespaces();
        for name in INITIAL_NAMESPACES {
            let key = ObjectKey {
                storage: storage.clone(),
                namespace: String::new(),
                name: (*name).into(),
            };
            let namespace = json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": uuid::Uuid::new_v4().to_string(),
                             "creationTimestamp": admission::now()},
                "status": {"phase": "Active"},
            });
            state.store.put(key, namespace);
        }
        let (drops, _) = watch::channel(0);
        Cluster {
            state: Mutex::new(state),
            traffic: Traffic::default(),
            drops,
        }
    }
}

impl Cluster {
    /// Locks the state; never held across an await. A panic in an earlier request does not
    /// make the sandbox unusable: writes happen last, so the state is consistent anyway.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
