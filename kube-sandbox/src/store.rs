//! The object store: every object as JSON under one global, monotonically increasing
//! resourceVersion, plus a bounded history of changes so watches can resume from a version.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::registry::StorageKey;

/// How many changes are kept for watch resumption before the oldest are compacted away.
const HISTORY_LIMIT: usize = 10_000;

/// Identifies one stored object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Where the type is stored.
    pub storage: StorageKey,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

/// What happened to an object, in watch-event terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The object was created.
    Added,
    /// The object was written.
    Modified,
    /// The object is gone.
    Deleted,
}

impl ChangeKind {
    /// The `type` of the corresponding watch event.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One change, as replayed to watches.
#[derive(Debug, Clone)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// Which object.
    pub key: ObjectKey,
    /// The object after the change (before it, for deletions, with the deletion's version).
    pub object: Value,
    /// The object before a modification, so watches can tell when it enters or leaves a selector.
    pub previous: Option<Value>,
    /// The resourceVersion the change produced.
    pub revision: u64,
}

/// Changes already recorded, plus a receiver for the ones still to come.
pub type Subscription = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>);

/// Why a watch cannot start at the version it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// The version that was asked for.
    pub requested: u64,
    /// The oldest version still replayable.
    pub oldest: u64,
}

/// All objects and their history.
#[derive(Debug)]
pub struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    revision: u64,
    history: VecDeque<Arc<Change>>,
    compacted: u64,
    changes: broadcast::Sender<Arc<Change>>,
}

impl Default for Store {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(HISTORY_LIMIT);
        Store {
            objects: BTreeMap::new(),
            revision: 1,
            history: VecDeque::new(),
            compacted: 0,
            changes,
        }
    }
}

impl Store {
    /// The latest resourceVersion.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// One object, if present.
    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one stored type, in one namespace or all, ordered by namespace then name.
    pub fn list(&self, storage: &StorageKey, namespace: Option<&str>) -> Vec<(&ObjectKey, &Value)> {
        self.objects
            .iter()
            .filter(|(k, _)| &k.storage == storage)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .collect()
    }

    /// Every key, for sweeping a namespace.
    pub fn list_all(&self) -> Vec<ObjectKey> {
        self.objects.keys().cloned().collect()
    }

    /// Writes an object (new or changed), stamping the next resourceVersion, and records the change.
    pub fn put(&mut self, key: ObjectKey, mut object: Value) -> Value {
        self.revision += 1;
        set_revision(&mut object, self.revision);
        let previous = self.objects.insert(key.clone(), object.clone());
        let kind = if previous.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.record(kind, key, object.clone(), previous);
        object
    }

    /// Removes an object, recording a deletion at a new resourceVersion.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        self.revision += 1;
        set_revision(&mut object, self.revision);
        self.record(ChangeKind::Deleted, key.clone(), object.clone(), None);
        Some(object)
    }

    fn record(&mut self, kind: ChangeKind, key: ObjectKey, object: Value, previous: Option<Value>) {
        let change = Arc::new(Change {
            kind,
            key,
            object,
            previous,
            revision: self.revision,
        });
        self.history.push_back(change.clone());
        while self.history.len() > HISTORY_LIMIT {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.revision;
            }
        }
        // No receivers is normal: nobody is watching.
        let _ = self.changes.send(change);
    }

    /// Forgets all history and makes every version issued so far too old, so the next watch
    /// resuming from any of them gets 410 Gone and must relist (which then returns a fresh,
    /// watchable version). Deterministic on purpose: tests call it to force a relist.
    pub fn compact(&mut self) {
        self.history.clear();
        self.revision += 1;
        self.compacted = self.revision;
    }

    /// Changes after `since`, plus a receiver for later ones, taken atomically so none is missed.
    pub fn changes_since(&self, since: u64) -> Result<Subscription, Compacted> {
        if since < self.compacted {
            return Err(Compacted {
                requested: since,
                oldest: self.compacted,
            });
        }
        let past = self
            .history
            .iter()
            .filter(|c| c.revision > since)
            .cloned()
            .collect();
        Ok((past, self.changes.subscribe()))
    }
}

fn set_revision(object: &mut Value, revision: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}
