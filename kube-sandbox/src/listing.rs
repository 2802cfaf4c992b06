//! Lists: selectors, the fields each type can be selected by, and paging, with later pages
//! read from the snapshot at the first page's resourceVersion as etcd serves them.

use serde_json::{json, Value};

use crate::api_error::ApiError;
use crate::events;
use crate::kind::ResourceType;
use crate::rest::{present, Target};
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::State;

/// Parameters of a list (and of a watch's filter).
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit`, 0 for no limit.
    pub limit: usize,
    /// `continue` token from a previous page.
    pub continue_from: Option<String>,
}

/// The field-selector fields a type supports.
pub fn selectable_fields(rt: &ResourceType) -> Vec<String> {
    let mut fields = vec![
        "metadata.name".to_string(),
        "metadata.namespace".to_string(),
    ];
    fields.extend(rt.selectable_fields.iter().cloned());
    let extra: &[&str] = match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "events") => events::CORE_FIELDS,
        ("events.k8s.io", "events") => events::V1_FIELDS,
        ("", "namespaces") => &["status.phase"],
        ("", "secrets") => &["type"],
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        _ => &[],
    };
    fields.extend(extra.iter().map(|s| s.to_string()));
    fields
}

/// Where a paged list goes on: the revision its first page read, and the last key it served.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    start: (String, String),
}

/// The message of a 410 for a continue token whose snapshot history no longer holds.
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// Lists objects (one page), returning the items and the list metadata. Later pages are read
/// from the snapshot at the first page's resourceVersion, as etcd serves them; a `continue`
/// token this server did not issue is a 400 and one older than history a 410, as on the real
/// server.
pub fn list(
    state: &State,
    target: &Target,
    options: &ListOptions,
) -> Result<(Vec<Value>, Value), ApiError> {
    let namespace = target.namespace.as_deref().filter(|_| target.rt.namespaced);
    let token = options
        .continue_from
        .as_deref()
        .map(|text| {
            serde_json::from_str::<ContinueToken>(text)
                .map_err(|e| ApiError::BadRequest(format!("invalid continue token: {e}")))
        })
        .transpose()?;
    let (revision, objects) = match &token {
        None => (
            state.store.revision(),
            state
                .store
                .list(&target.rt.storage, namespace)
                .into_iter()
                .map(|(k, o)| (k.clone(), o.clone()))
                .collect::<Vec<_>>(),
        ),
        Some(token) => {
            let snapshot = state
                .store
                .list_at(&target.rt.storage, namespace, token.rv)
                .ok_or_else(|| {
                    let fresh = ContinueToken {
                        rv: state.store.revision(),
                        start: token.start.clone(),
                    };
                    ApiError::ContinueExpired {
                        message: CONTINUE_EXPIRED.into(),
                        token: serde_json::to_string(&fresh).unwrap_or_default(),
                    }
                })?;
            (token.rv, snapshot)
        }
    };
    // Positions are (namespace, name), the store's order; the continue token holds the last.
    // Pages are cut as etcd cuts them: over every stored object, the selectors filtering what
    // a page returns, so a page ends with a continue token whenever any object (matching or
    // not) lies beyond its last item, and `remainingItemCount` is given only without selectors.
    let mut stored: Vec<((String, String), Value)> = objects
        .into_iter()
        .map(|(k, o)| ((k.namespace, k.name), present(&target.rt, &o)))
        .collect();
    if let Some(token) = &token {
        stored.retain(|(position, _)| *position > token.start);
    }
    let total = stored.len();
    let mut items = Vec::new();
    let mut beyond = 0;
    for (index, (position, object)) in stored.into_iter().enumerate() {
        if !(options.labels.matches(&object) && options.fields.matches(&object)) {
            continue;
        }
        items.push((position, object));
        if options.limit > 0 && items.len() == options.limit {
            beyond = total - index - 1;
            break;
        }
    }
    let mut metadata = json!({ "resourceVersion": revision.to_string() });
    if beyond > 0 {
        if let Some((last, _)) = items.last() {
            let next = ContinueToken {
                rv: revision,
                start: last.clone(),
            };
            metadata["continue"] = json!(serde_json::to_string(&next).unwrap_or_default());
            if options.labels.is_empty() && options.fields.is_empty() {
                metadata["remainingItemCount"] = json!(beyond);
            }
        }
    }
    Ok((items.into_iter().map(|(_, o)| o).collect(), metadata))
}

/// Wraps list items in a `<Kind>List`.
pub fn list_object(rt: &ResourceType, items: Vec<Value>, metadata: Value) -> Value {
    json!({
        "apiVersion": rt.api_version(),
        "kind": format!("{}List", rt.kind),
        "metadata": metadata,
        "items": items,
    })
}
