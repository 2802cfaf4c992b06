//! The object store: every object as JSON under one global, monotonically increasing
//! resourceVersion, plus a bounded history of changes so watches can resume from a version.
//! Watches read that history themselves, woken by the latest revision, so no change is held
//! anywhere else.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;

use crate::kind::StorageKey;

/// How many changes are kept for watch resumption before the oldest are compacted away.
const HISTORY_LIMIT: usize = 10_000;
/// How many bytes of objects (as JSON) the history may hold before the oldest are compacted.
pub const HISTORY_BYTES: usize = 32 * 1024 * 1024;

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
    /// The object before a modification or deletion, so watches can tell when it enters or
    /// leaves a selector and paged lists can rebuild an earlier state.
    pub previous: Option<Value>,
    /// The resourceVersion the change produced.
    pub revision: u64,
    /// Roughly how much memory the change holds: its objects' JSON length.
    size: usize,
}

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
    history_bytes: usize,
    /// The most bytes the history may hold.
    history_limit: usize,
    /// Every change after this revision is in `history`.
    history_start: u64,
    /// Resuming from a version older than this is 410 Gone.
    compacted: u64,
    latest: watch::Sender<u64>,
}

impl Store {
    /// Keeps at most `bytes` of changes (as JSON) for watches to resume from.
    pub fn set_history_limit(&mut self, bytes: usize) {
        self.history_limit = bytes.max(1);
    }
}

impl Default for Store {
    fn default() -> Self {
        Store {
            objects: BTreeMap::new(),
            revision: 1,
            history: VecDeque::new(),
            history_bytes: 0,
            history_limit: HISTORY_BYTES,
            history_start: 0,
            compacted: 0,
            latest: watch::Sender::new(1),
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

    /// Every object, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &Value)> {
        self.objects.iter()
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
        let previous = self.objects.remove(key)?;
        let mut object = previous.clone();
        self.revision += 1;
        set_revision(&mut object, self.revision);
        self.record(
            ChangeKind::Deleted,
            key.clone(),
            object.clone(),
            Some(previous),
        );
        Some(object)
    }

    /// Objects of one stored type as they stood at `revision` (in one namespace or all, in
    /// key order), rebuilt by undoing the later changes; `None` once history no longer
    /// reaches back that far. Paged lists read their later pages from this snapshot.
    pub fn list_at(
        &self,
        storage: &StorageKey,
        namespace: Option<&str>,
        revision: u64,
    ) -> Option<Vec<(ObjectKey, Value)>> {
        if revision < self.history_start || revision > self.revision {
            return None;
        }
        let wanted =
            |k: &ObjectKey| &k.storage == storage && namespace.is_none_or(|ns| k.namespace == ns);
        let mut view: BTreeMap<ObjectKey, Value> = self
            .objects
            .iter()
            .filter(|(k, _)| wanted(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for change in self
            .history
            .iter()
            .rev()
            .take_while(|c| c.revision > revision)
        {
            if !wanted(&change.key) {
                continue;
            }
            match (&change.kind, &change.previous) {
                (ChangeKind::Added, _) => {
                    view.remove(&change.key);
                }
                (ChangeKind::Modified | ChangeKind::Deleted, Some(previous)) => {
                    view.insert(change.key.clone(), previous.clone());
                }
                (ChangeKind::Modified | ChangeKind::Deleted, None) => {}
            }
        }
        Some(view.into_iter().collect())
    }

    fn record(&mut self, kind: ChangeKind, key: ObjectKey, object: Value, previous: Option<Value>) {
        let json_len = |v: &Value| serde_json::to_vec(v).map_or(0, |bytes| bytes.len());
        let size = json_len(&object) + previous.as_ref().map_or(0, json_len);
        self.history.push_back(Arc::new(Change {
            kind,
            key,
            object,
            previous,
            revision: self.revision,
            size,
        }));
        self.history_bytes += size;
        while self.history.len() > HISTORY_LIMIT || self.history_bytes > self.history_limit {
            let Some(old) = self.history.pop_front() else {
                break;
            };
            self.history_bytes -= old.size;
            self.history_start = old.revision;
            self.compacted = old.revision;
        }
        // No receivers is normal: nobody is watching.
        self.latest.send_replace(self.revision);
    }

    /// Forgets all history and makes every version issued so far too old, so the next watch
    /// resuming from any of them gets 410 Gone and must relist (which then returns a fresh,
    /// watchable version). Deterministic on purpose: tests call it to force a relist.
    /// Watches already open and caught up keep going, as they do across a real compaction.
    pub fn compact(&mut self) {
        self.history = VecDeque::new();
        self.history_bytes = 0;
        self.history_start = self.revision;
        self.revision += 1;
        self.compacted = self.revision;
    }

    /// A receiver of the latest revision, which changes after every write; watches wake on
    /// it and read what they missed with `changes_since`.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Whether a watch may resume from `since`; `Compacted` answers with 410 Gone.
    pub fn check_resumable(&self, since: u64) -> Result<(), Compacted> {
        if since < self.compacted {
            return Err(Compacted {
                requested: since,
                oldest: self.compacted,
            });
        }
        Ok(())
    }

    /// Up to `limit` changes after `since`, oldest first, for a watch that has seen
    /// everything up to `since`; `None` when history no longer reaches back that far.
    pub fn changes_after(&self, since: u64, limit: usize) -> Option<Vec<Arc<Change>>> {
        if since < self.history_start {
            return None;
        }
        let start = self.history.partition_point(|c| c.revision <= since);
        Some(self.history.range(start..).take(limit).cloned().collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            storage: StorageKey::namespaces(),
            namespace: String::new(),
            name: name.into(),
        }
    }

    #[test]
    fn compacting_frees_every_recorded_change() {
        let mut store = Store::default();
        let _watching = store.subscribe();
        store.put(key("a"), json!({"metadata": {"name": "a"}}));
        let change = store
            .changes_after(0, 1)
            .expect("not compacted")
            .pop()
            .expect("the write");
        store.compact();
        assert_eq!(
            Arc::strong_count(&change),
            1,
            "only this test still holds it"
        );
        assert!(store.check_resumable(change.revision).is_err());
        let caught_up = store.changes_after(change.revision, 1);
        assert!(
            caught_up.is_some_and(|c| c.is_empty()),
            "an open, caught-up watch goes on"
        );
    }

    #[test]
    fn history_is_bounded_by_size_as_well_as_count() {
        let mut store = Store::default();
        let big = "x".repeat(1024 * 1024);
        let writes = HISTORY_BYTES / big.len() + 8;
        for i in 0..writes {
            let name = format!("o{i}");
            store.put(key(&name), json!({"metadata": {"name": name}, "data": big}));
        }
        assert!(store.history_bytes <= HISTORY_BYTES);
        assert!(store.history.len() < writes);
        assert!(
            store.check_resumable(1).is_err(),
            "the oldest writes are compacted"
        );
        assert!(store.changes_after(1, 1).is_none());
        let last = store.revision() - 1;
        assert_eq!(store.changes_after(last, 10).expect("recent").len(), 1);
    }
}
