//! Watches: a chunked body of JSON lines (`{"type": ..., "object": ...}`), replaying history
//! from a resourceVersion, answering 410 Gone (as an in-stream ERROR event, like the real
//! server) for compacted versions, with bookmarks, streaming initial events and timeouts.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures::channel::mpsc;
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::time::{interval, sleep, Instant};

use crate::api_error::{ApiError, Cause};
use crate::cluster::Cluster;
use crate::crd;
use crate::listing::ListOptions;
use crate::rest::{present, Target};
use crate::state::crd_storage;
use crate::store::{Change, ChangeKind, ObjectKey};
use crate::table::{self, IncludeObject};

/// How often an idle watch checks for a departed client and, if asked, sends a bookmark.
const TICK: Duration = Duration::from_secs(1);
/// How many changes a watch takes from history at a time.
const BATCH: usize = 64;
/// Bookmarks are sent at most this often.
const BOOKMARK_EVERY: Duration = Duration::from_secs(2);

/// Everything a watch request asked for.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// What to watch.
    pub target: Target,
    /// Label and field filters.
    pub options: ListOptions,
    /// `resourceVersion`; `None` for "" or "0" (start with the current state).
    pub resource_version: Option<u64>,
    /// `sendInitialEvents`: `Some(true)` streams the current state, then an initial-events-end
    /// bookmark; `Some(false)` streams none; `None` is the legacy behaviour.
    pub send_initial_events: Option<bool>,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// `timeoutSeconds`, or the server default.
    pub timeout: Duration,
    /// `Some` when the client asked for Table rows.
    pub table: Option<IncludeObject>,
    /// Whether the client asked for `PartialObjectMetadata` (kube-rs's metadata watcher does).
    pub partial_metadata: bool,
}

impl WatchRequest {
    fn selects(&self, key: &ObjectKey, served: &Value) -> bool {
        let rt = &self.target.rt;
        key.storage == rt.storage
            && (!rt.namespaced
                || self
                    .target
                    .namespace
                    .as_ref()
                    .is_none_or(|ns| *ns == key.namespace))
            && self.options.labels.matches(served)
            && self.options.fields.matches(served)
    }

    fn line(&self, kind: &str, served: Value) -> Bytes {
        let object = match self.table {
            Some(include) => {
                let rv = served
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                table::table(
                    &self.target.rt,
                    &[served],
                    json!({"resourceVersion": rv}),
                    include,
                )
            }
            None if self.partial_metadata => table::partial_metadata(&served),
            None => served,
        };
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    }

    fn bookmark(&self, revision: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.target.rt.kind,
            "apiVersion": self.target.rt.api_version(),
            "metadata": metadata,
        });
        let mut line = json!({"type": "BOOKMARK", "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    }
}

fn forbidden(field: &str, message: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {message}"),
        field: field.into(),
    }
}

/// The watch-option rules of the real server's `ValidateListOptions`: `sendInitialEvents`
/// (true or false) needs `resourceVersionMatch=NotOlderThan` and that match needs it (1.35 no
/// longer demands `allowWatchBookmarks`). Failures are 422 Invalid on `ListOptions`.
pub fn check_options(
    send_initial_events: Option<bool>,
    resource_version_match: Option<&str>,
) -> Result<(), ApiError> {
    const NOT_OLDER_THAN: &str = "NotOlderThan";
    let mut causes = Vec::new();
    if send_initial_events.is_some() && resource_version_match != Some(NOT_OLDER_THAN) {
        causes.push(forbidden(
            "resourceVersionMatch",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    if let Some(matching) = resource_version_match {
        if send_initial_events.is_none() {
            causes.push(forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if matching != NOT_OLDER_THAN {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {matching:?}: supported values: \"{NOT_OLDER_THAN}\""
                ),
                field: "resourceVersionMatch".into(),
            });
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        kind: "ListOptions.meta.k8s.io".into(),
        name: String::new(),
        causes,
    })
}

/// The list-option rules of the real server's `ValidateListOptions` for a list (not a watch):
/// `resourceVersionMatch` needs a `resourceVersion` and no `continue`, and `sendInitialEvents`
/// is for watches only. Failures are 422 Invalid on `ListOptions`.
pub fn check_list_options(
    send_initial_events: bool,
    resource_version_match: Option<&str>,
    resource_version: Option<&str>,
    continuing: bool,
) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if let Some(matching) = resource_version_match {
        if resource_version.is_none() {
            causes.push(forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if continuing {
            causes.push(forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if matching != "Exact" && matching != "NotOlderThan" {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {matching:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
                ),
                field: "resourceVersionMatch".into(),
            });
        }
        if matching == "Exact" && resource_version == Some("0") {
            causes.push(forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if send_initial_events {
        causes.push(forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        kind: "ListOptions.meta.k8s.io".into(),
        name: String::new(),
        causes,
    })
}

/// A watch's `resourceVersion`: `None` for "" and "0"; a value that is not a number is refused
/// as the real storage layer's `ParseResourceVersion` refuses it (an unclassified 500).
pub fn resource_version(value: Option<&str>) -> Result<Option<u64>, ApiError> {
    match value {
        None | Some("") | Some("0") => Ok(None),
        Some(text) => match text.parse::<u64>() {
            Ok(version) => Ok(Some(version)),
            Err(error) => Err(ApiError::Unclassified {
                code: 500,
                message: format!("resourceVersion: Invalid value: {text:?}: strconv.ParseUint: parsing {text:?}: {}", go_parse_error(&error)),
            }),
        },
    }
}

/// Go's wording of a failed `strconv.ParseUint`.
fn go_parse_error(error: &std::num::ParseIntError) -> &'static str {
    match error.kind() {
        std::num::IntErrorKind::PosOverflow => "value out of range",
        _ => "invalid syntax",
    }
}

/// Starts a watch and returns its streaming body.
pub fn start(cluster: Arc<Cluster>, request: WatchRequest) -> Result<Body, ApiError> {
    let mut initial = Vec::new();
    let drops = cluster.watch_drops();
    let (since, latest) = {
        let state = cluster.lock();
        let current = state.store.revision();
        // sendInitialEvents defaults to true for "" and "0" (the legacy synthetic ADDED
        // events) and to false otherwise; false for "" starts at the most recent version.
        let streams_state = request
            .send_initial_events
            .unwrap_or(request.resource_version.is_none());
        let since = match request.resource_version {
            Some(rv) if !streams_state => rv,
            None if !streams_state => current,
            _ => {
                for (key, object) in state.store.list(&request.target.rt.storage, None) {
                    let served = present(&request.target.rt, object);
                    if request.selects(key, &served) {
                        initial.push(request.line("ADDED", served));
                    }
                }
                if request.send_initial_events == Some(true) {
                    initial.push(request.bookmark(current, true));
                }
                current
            }
        };
        match state.store.check_resumable(since) {
            Ok(()) => (since, Some(state.store.subscribe())),
            Err(compacted) => {
                let gone = ApiError::Gone {
                    requested: compacted.requested,
                    oldest: compacted.oldest,
                };
                let line = format!("{}\n", json!({"type": "ERROR", "object": gone.to_status()}));
                initial.push(Bytes::from(line));
                (since, None)
            }
        }
    };

    let (mut tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        for line in initial {
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        let Some(mut latest) = latest else { return };
        let mut drops = drops;
        let mut last_revision = since;
        let deadline = sleep(request.timeout);
        tokio::pin!(deadline);
        let mut ticker = interval(TICK);
        let mut last_bookmark = Instant::now();
        loop {
            // Replay what this watch has not seen yet, a batch at a time from the store's
            // history, so nothing is buffered beyond one batch.
            loop {
                // A dropped watch must deliver nothing more, or its client would resume from
                // a version newer than the drop.
                if drops.has_changed().unwrap_or(true) {
                    return;
                }
                let batch = cluster.lock().store.changes_after(last_revision, BATCH);
                // Fell behind what history keeps: end, and the client's resume gets 410 Gone.
                let Some(batch) = batch else { return };
                if batch.is_empty() {
                    break;
                }
                for change in batch {
                    // The type is no longer served: the real server ends such watches too.
                    if removes_watched_type(&request, &change) {
                        return;
                    }
                    last_revision = change.revision;
                    if let Some(line) = render(&request, &change) {
                        if tx.send(Ok(line)).await.is_err() {
                            return;
                        }
                    }
                }
            }
            tokio::select! {
                biased;
                _ = drops.changed() => return,
                changed = latest.changed() => if changed.is_err() {
                    return;
                },
                _ = &mut deadline => return,
                _ = ticker.tick() => {
                    if tx.is_closed() {
                        return;
                    }
                    if request.bookmarks && last_bookmark.elapsed() >= BOOKMARK_EVERY {
                        last_bookmark = Instant::now();
                        if tx.send(Ok(request.bookmark(last_revision, false))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    Ok(Body::from_stream(rx))
}

/// Whether a change removes the CRD whose objects this watch follows.
fn removes_watched_type(request: &WatchRequest, change: &Change) -> bool {
    change.kind == ChangeKind::Deleted
        && change.key.storage == crd_storage()
        && request.target.rt.custom
        && crd::storage_of(&change.object) == request.target.rt.storage
}

/// The event a change becomes for this watch: objects entering the selection are ADDED and
/// objects leaving it DELETED, as the real server reports them.
fn render(request: &WatchRequest, change: &Change) -> Option<Bytes> {
    let rt = &request.target.rt;
    let served = present(rt, &change.object);
    let selected_now = request.selects(&change.key, &served);
    let selected_before = change
        .previous
        .as_ref()
        .map(|previous| request.selects(&change.key, &present(rt, previous)));
    let kind = match (change.kind, selected_before, selected_now) {
        (ChangeKind::Modified, Some(false), true) => "ADDED",
        (ChangeKind::Modified, Some(true), false) => "DELETED",
        (kind, _, true) => kind.as_str(),
        _ => return None,
    };
    Some(request.line(kind, served))
}
