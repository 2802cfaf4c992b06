//! Events are one set of objects seen through two APIs: kube-rs's Recorder writes
//! `events.k8s.io/v1` (`regarding`, `note`), while `kubectl describe` reads core/v1
//! (`involvedObject`, `message`). They are stored in the core/v1 form and converted at the edge.

use serde_json::{Map, Value};

/// Field pairs that differ only in name: (events.k8s.io/v1, core/v1).
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Converts an `events.k8s.io/v1` Event into the stored core/v1 form.
pub fn to_core(event: Value) -> Value {
    let Value::Object(mut map) = event else {
        return event;
    };
    for (v1, core) in RENAMED {
        if let Some(value) = map.remove(*v1) {
            map.insert((*core).to_string(), value);
        }
    }
    // describe's "From" column reads source.component; the Recorder only sets reportingController.
    if !map.contains_key("source") {
        if let Some(component) = map.get("reportingComponent").cloned() {
            let mut source = Map::new();
            source.insert("component".into(), component);
            map.insert("source".into(), Value::Object(source));
        }
    }
    map.insert("apiVersion".into(), Value::String("v1".into()));
    Value::Object(map)
}

/// Converts a stored core/v1 Event into the `events.k8s.io/v1` form.
pub fn to_events_v1(event: Value) -> Value {
    let Value::Object(mut map) = event else {
        return event;
    };
    for (v1, core) in RENAMED {
        if let Some(value) = map.remove(*core) {
            map.insert((*v1).to_string(), value);
        }
    }
    map.insert(
        "apiVersion".into(),
        Value::String("events.k8s.io/v1".into()),
    );
    Value::Object(map)
}

/// Field-selector fields the core/v1 events API indexes (what `kubectl describe` asks for).
pub const CORE_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// Field-selector fields the events.k8s.io/v1 API indexes.
pub const V1_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "reason",
    "reportingController",
    "type",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_recorder_event_reads_as_a_core_event_with_involved_object_and_message() {
        let v1 =
            json!({"regarding": {"name": "p1"}, "note": "hello", "reportingController": "ctl"});
        let core = to_core(v1.clone());
        assert_eq!(core["involvedObject"]["name"], "p1");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["source"]["component"], "ctl");
        let back = to_events_v1(core);
        assert_eq!(back["regarding"], v1["regarding"]);
        assert_eq!(back["note"], "hello");
    }
}
