//! Everything guarded by the one lock: the store, the registry derived from it (so a CRD
//! write and the types it serves change together) and the tokens issued so far.

use crate::crd;
use crate::identity::Tokens;
use crate::kind::StorageKey;
use crate::registry::Registry;
use crate::store::Store;

/// Store, registry and issued tokens: everything guarded by the one lock.
#[derive(Debug, Default)]
pub struct State {
    /// All objects.
    pub store: Store,
    /// All served types.
    pub registry: Registry,
    /// The bearer tokens this sandbox issued.
    pub tokens: Tokens,
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
