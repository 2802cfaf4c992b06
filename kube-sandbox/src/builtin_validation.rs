//! The validation the real server runs on the built-in kinds an operator and its deployment
//! touch (`pkg/apis/*/validation`): Events (events.k8s.io's strict rules, so a Recorder note
//! over 1 KiB fails here too), Leases, Deployments, and the size of ConfigMap and Secret data.
//! Failures are 422 with the real field paths and wording; Go's rendering of whole structs in
//! a few messages is approximated by JSON.

use serde_json::Value;

use crate::api_error::{ApiError, Cause};
use crate::kind::ResourceType;
use crate::names;

/// The longest Event note (`message`), reason, action and reporting instance.
const NOTE_MAX: usize = 1024;
const REASON_MAX: usize = 128;
const ACTION_MAX: usize = 128;
const REPORTING_INSTANCE_MAX: usize = 128;
/// The most a ConfigMap's or Secret's data may hold (`MaxSecretSize`, 1 MiB).
const DATA_MAX_BYTES: usize = 1024 * 1024;

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn present(object: &Value, pointer: &str) -> bool {
    object.pointer(pointer).is_some_and(|v| !v.is_null())
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    }
}

fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause::invalid(field, format!("Invalid value: {value:?}: {detail}"))
}

fn immutable(field: &str, value: Option<&Value>) -> Cause {
    let shown = match value {
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
        None => "null".into(),
    };
    Cause::invalid(field, format!("Invalid value: {shown}: field is immutable"))
}

/// Validates a write of a built-in kind; `old` is the stored object for updates. Objects are
/// in the form the request used (events.k8s.io Events use that API's field names).
pub fn check(rt: &ResourceType, object: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    if rt.custom {
        return Ok(());
    }
    let causes = match (rt.group.as_str(), rt.plural.as_str()) {
        ("events.k8s.io", "events") => event_causes(object, old, true),
        ("", "events") => event_causes(&crate::events::to_events_v1(object.clone()), None, false),
        ("coordination.k8s.io", "leases") => lease_causes(object),
        ("apps", "deployments") => deployment_causes(object, old),
        ("", "configmaps") => {
            data_size_causes(object, &[("data", false), ("binaryData", true)], "[]")
        }
        ("", "secrets") => data_size_causes(object, &[("data", true)], "data"),
        _ => Vec::new(),
    };
    if causes.is_empty() {
        return Ok(());
    }
    // Events through either API are one internal kind, reported without a group.
    let kind = if rt.plural == "events" {
        rt.kind.clone()
    } else {
        rt.qualified_kind()
    };
    Err(ApiError::Invalid {
        kind,
        name: text(object, "/metadata/name").to_string(),
        causes,
    })
}

/// `ValidateEventCreate`/`ValidateEventUpdate`, on an Event in the events.k8s.io form. `strict`
/// is a write through events.k8s.io/v1, which adds the rules core/v1 writes are spared.
fn event_causes(event: &Value, old: Option<&Value>, strict: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let namespace = text(event, "/metadata/namespace");
    let regarding_namespace = text(event, "/regarding/namespace");
    if present(event, "/eventTime") {
        if regarding_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            causes.push(invalid(
                "involvedObject.namespace",
                regarding_namespace,
                "does not match event.namespace",
            ));
        }
        let controller = text(event, "/reportingController");
        if controller.is_empty() {
            causes.push(required("reportingController"));
        }
        for problem in names::qualified_name_problems(controller) {
            causes.push(invalid("reportingController", controller, problem));
        }
        let limits = [
            (
                "/reportingInstance",
                "reportingInstance",
                REPORTING_INSTANCE_MAX,
            ),
            ("/action", "action", ACTION_MAX),
            ("/reason", "reason", REASON_MAX),
        ];
        for (pointer, field, max) in limits {
            let value = text(event, pointer);
            if value.is_empty() {
                causes.push(required(field));
            }
            if value.len() > max {
                causes.push(invalid(
                    field,
                    "",
                    &format!("can have at most {max} characters"),
                ));
            }
        }
        if text(event, "/note").len() > NOTE_MAX {
            causes.push(invalid(
                "message",
                "",
                &format!("can have at most {NOTE_MAX} characters"),
            ));
        }
    } else if namespace != regarding_namespace
        && !(regarding_namespace.is_empty() && namespace == "default")
    {
        causes.push(invalid(
            "involvedObject.namespace",
            regarding_namespace,
            "does not match event.namespace",
        ));
    }
    if !strict {
        return causes;
    }
    let series_changed = old.is_none_or(|old| old.get("series") != event.get("series"));
    if present(event, "/series") && series_changed {
        if event
            .pointer("/series/count")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            < 2
        {
            causes.push(invalid("series.count", "", "should be at least 2"));
        }
        if !present(event, "/series/lastObservedTime") {
            causes.push(required("series.lastObservedTime"));
        }
    }
    match old {
        None => {
            if !present(event, "/eventTime") {
                causes.push(required("eventTime"));
            }
            let kind = text(event, "/type");
            if kind != "Normal" && kind != "Warning" {
                causes.push(invalid("type", "", &format!("has invalid value: {kind}")));
            }
            for (v1, core) in [
                ("/deprecatedFirstTimestamp", "firstTimestamp"),
                ("/deprecatedLastTimestamp", "lastTimestamp"),
                ("/deprecatedCount", "count"),
                ("/deprecatedSource", "source"),
            ] {
                let set = event.pointer(v1).is_some_and(|v| match v {
                    Value::Null => false,
                    Value::Number(n) => n.as_i64() != Some(0),
                    Value::Object(map) => !map.is_empty(),
                    _ => true,
                });
                if set {
                    causes.push(invalid(core, "", "needs to be unset"));
                }
            }
        }
        Some(old) => {
            for (field, core) in [
                ("regarding", "involvedObject"),
                ("reason", "reason"),
                ("note", "message"),
                ("type", "type"),
                ("eventTime", "eventTime"),
                ("action", "action"),
                ("related", "related"),
                ("reportingController", "reportingController"),
                ("reportingInstance", "reportingInstance"),
            ] {
                if event.get(field) != old.get(field) {
                    causes.push(immutable(core, event.get(field)));
                }
            }
        }
    }
    causes
}

/// `ValidateLeaseSpec`.
fn lease_causes(lease: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let number = |field: &str| {
        lease
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_i64)
    };
    if let Some(duration) = number("leaseDurationSeconds").filter(|d| *d <= 0) {
        causes.push(Cause::invalid(
            "spec.leaseDurationSeconds",
            format!("Invalid value: {duration}: must be greater than 0"),
        ));
    }
    if let Some(transitions) = number("leaseTransitions").filter(|t| *t < 0) {
        causes.push(Cause::invalid(
            "spec.leaseTransitions",
            format!("Invalid value: {transitions}: must be greater than or equal to 0"),
        ));
    }
    let strategy = text(lease, "/spec/strategy");
    if !strategy.is_empty() && strategy != "OldestEmulationVersion" {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {strategy:?}: supported values: \"OldestEmulationVersion\""
            ),
            field: "spec.strategy".into(),
        });
    }
    if !text(lease, "/spec/preferredHolder").is_empty() && strategy.is_empty() {
        causes.push(Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: may only be specified if `strategy` is defined".into(),
            field: "spec.preferredHolder".into(),
        });
    }
    causes
}

/// Go's `%v` of a string map, as validation messages show labels.
fn go_map(map: Option<&Value>) -> String {
    let entries: Vec<String> = map
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default()))
        .collect();
    format!("map[string]string{{{}}}", entries.join(", "))
}

/// The parts of `ValidateDeployment` a manifest most often gets wrong: the selector (required,
/// non-empty, matching the template's labels, immutable), the containers, the restart policy.
fn deployment_causes(deployment: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(replicas) = deployment.pointer("/spec/replicas").and_then(Value::as_i64) {
        if replicas < 0 {
            causes.push(Cause::invalid(
                "spec.replicas",
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            ));
        }
    }
    let selector = deployment
        .pointer("/spec/selector")
        .filter(|s| !s.is_null());
    let labels = deployment.pointer("/spec/template/metadata/labels");
    match selector {
        None => causes.push(required("spec.selector")),
        Some(selector) => {
            let match_labels = selector.get("matchLabels").and_then(Value::as_object);
            let expressions = selector
                .get("matchExpressions")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if match_labels.is_none_or(|m| m.is_empty()) && expressions == 0 {
                causes.push(Cause::invalid(
                    "spec.selector",
                    format!("Invalid value: {selector}: empty selector is invalid for deployment"),
                ));
            } else {
                let mismatched = match_labels
                    .into_iter()
                    .flatten()
                    .any(|(k, v)| labels.and_then(|l| l.get(k)) != Some(v));
                if mismatched {
                    causes.push(Cause::invalid(
                        "spec.template.metadata.labels",
                        format!(
                            "Invalid value: {}: `selector` does not match template `labels`",
                            go_map(labels)
                        ),
                    ));
                }
            }
            if let Some(old) = old {
                if old.pointer("/spec/selector") != Some(selector) {
                    causes.push(immutable("spec.selector", Some(selector)));
                }
            }
        }
    }
    let containers = deployment
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array);
    match containers {
        Some(list) if !list.is_empty() => {
            for (i, container) in list.iter().enumerate() {
                for field in ["name", "image"] {
                    if text(container, &format!("/{field}")).is_empty() {
                        causes.push(required(&format!(
                            "spec.template.spec.containers[{i}].{field}"
                        )));
                    }
                }
            }
        }
        _ => causes.push(required("spec.template.spec.containers")),
    }
    let restart = text(deployment, "/spec/template/spec/restartPolicy");
    if !restart.is_empty() && restart != "Always" {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!("Unsupported value: {restart:?}: supported values: \"Always\""),
            field: "spec.template.spec.restartPolicy".into(),
        });
    }
    causes
}

/// The total size of a ConfigMap's or Secret's data, at most 1 MiB; `fields` says which
/// hold base64 (whose size is the decoded one).
fn data_size_causes(object: &Value, fields: &[(&str, bool)], reported_as: &str) -> Vec<Cause> {
    let mut total = 0usize;
    for (field, base64) in fields {
        for (key, value) in object
            .get(*field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let len = value.as_str().map_or(0, str::len);
            let len = if *base64 {
                len.saturating_mul(3) / 4
            } else {
                len
            };
            total = total.saturating_add(key.len()).saturating_add(len);
        }
    }
    if total <= DATA_MAX_BYTES {
        return Vec::new();
    }
    vec![Cause {
        reason: "FieldValueTooLong".into(),
        message: format!("Too long: may not be more than {DATA_MAX_BYTES} bytes"),
        field: reported_as.into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recorder_event(note: &str) -> Value {
        json!({"metadata": {"name": "w1.1", "namespace": "default"},
               "eventTime": "2026-01-01T00:00:00.000000Z", "type": "Normal",
               "reason": "Resized", "action": "Reconcile", "note": note,
               "reportingController": "sfbdr.io/operator", "reportingInstance": "op-1",
               "regarding": {"kind": "Widget", "namespace": "default", "name": "w1"}})
    }

    #[test]
    fn an_event_note_over_one_kibibyte_is_invalid() {
        assert!(event_causes(&recorder_event(&"x".repeat(1024)), None, true).is_empty());
        let causes = event_causes(&recorder_event(&"x".repeat(1025)), None, true);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "message");
        assert_eq!(
            causes[0].message,
            "Invalid value: \"\": can have at most 1024 characters"
        );
    }

    #[test]
    fn a_series_needs_a_count_of_two_and_a_last_observed_time() {
        let mut event = recorder_event("n");
        event["series"] = json!({"count": 1});
        let old = recorder_event("n");
        let fields: Vec<String> = event_causes(&event, Some(&old), true)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, ["series.count", "series.lastObservedTime"]);
    }

    #[test]
    fn a_deployment_selector_must_match_its_template_labels() {
        let deployment = json!({"spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}},
                         "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let causes = deployment_causes(&deployment, None);
        assert_eq!(causes.len(), 1);
        assert_eq!(
            causes[0].message,
            "Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"
        );
    }
}
