//! Access and identity reviews, answered by the same authorizer that guards requests, so
//! `kubectl auth can-i` (with `--as` too), `kubectl auth whoami` and controllers that check
//! their permissions at start-up see what the sandbox will actually do.

use serde_json::{json, Value};

use crate::api_error::{ApiError, Cause};
use crate::identity::User;
use crate::kind::ResourceType;
use crate::rbac::Authorization;
use crate::rbac::{self, Action, Attributes, ResourceAttributes};
use crate::store::Store;

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_string()
}

/// The attributes a review's spec asks about, or the 422 the real server gives when it names
/// neither a resource nor a URL.
fn asked(kind: &str, spec: &Value) -> Result<Attributes, ApiError> {
    if let Some(resource) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        return Ok(Attributes {
            verb: text(resource, "verb"),
            action: Action::Resource(ResourceAttributes {
                group: text(resource, "group"),
                version: text(resource, "version"),
                resource: text(resource, "resource"),
                subresource: text(resource, "subresource"),
                namespace: text(resource, "namespace"),
                name: text(resource, "name"),
            }),
        });
    }
    if let Some(url) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        return Ok(Attributes {
            verb: text(url, "verb"),
            action: Action::NonResource {
                path: text(url, "path"),
            },
        });
    }
    Err(ApiError::Invalid {
        kind: format!("{kind}.authorization.k8s.io"),
        name: String::new(),
        causes: vec![Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
            field: "spec.resourceAttributes".into(),
        }],
    })
}

/// The user a `SubjectAccessReview` names.
fn subject(spec: &Value) -> User {
    User {
        name: text(spec, "user"),
        uid: text(spec, "uid"),
        groups: spec["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        extra: Default::default(),
    }
}

fn rule_json(rule: &rbac::Rule) -> Value {
    json!({
        "verbs": rule.verbs, "apiGroups": rule.api_groups,
        "resources": rule.resources, "resourceNames": rule.resource_names,
    })
}

/// Answers a review created by `user`: the request echoed with its status filled in.
/// `namespace` is the path's, for `LocalSubjectAccessReview`.
pub fn answer(
    mode: Authorization,
    store: &Store,
    user: &User,
    rt: &ResourceType,
    namespace: Option<&str>,
    mut review: Value,
) -> Result<Value, ApiError> {
    if !review.is_object() {
        review = json!({});
    }
    review["apiVersion"] = json!(rt.api_version());
    review["kind"] = json!(rt.kind);
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match rt.kind.as_str() {
        "SelfSubjectReview" => json!({"userInfo": {
            "username": user.name, "uid": user.uid, "groups": user.groups,
        }}),
        "SelfSubjectRulesReview" => {
            let namespace = text(&spec, "namespace");
            let (rules, errors) = match mode {
                Authorization::AlwaysAllow => (
                    rbac::rules_for(store, &User::admin(), &namespace).0,
                    Vec::new(),
                ),
                Authorization::Rbac => rbac::rules_for(store, user, &namespace),
            };
            let resource_rules: Vec<Value> = rules
                .iter()
                .filter(|r| !r.resources.is_empty())
                .map(rule_json)
                .collect();
            let url_rules: Vec<Value> = rules
                .iter()
                .filter(|r| !r.non_resource_urls.is_empty())
                .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
                .collect();
            let mut status = json!({
                "resourceRules": resource_rules, "nonResourceRules": url_rules,
                "incomplete": !errors.is_empty(),
            });
            if !errors.is_empty() {
                status["evaluationError"] = json!(errors.join(", "));
            }
            status
        }
        kind => {
            let mut attributes = asked(kind, &spec)?;
            let asking = match kind {
                "SelfSubjectAccessReview" => user.clone(),
                _ => subject(&spec),
            };
            if kind == "LocalSubjectAccessReview" {
                let path_namespace = namespace.unwrap_or_default();
                match &mut attributes.action {
                    Action::Resource(r) if r.namespace.is_empty() => {
                        r.namespace = path_namespace.to_string();
                        review["spec"]["resourceAttributes"]["namespace"] = json!(path_namespace);
                    }
                    Action::Resource(r) if r.namespace == path_namespace => {}
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                        "spec.resourceAttributes.namespace must match namespace: {path_namespace}"
                    )))
                    }
                }
            }
            let decision = rbac::decide(mode, store, &asking, &attributes);
            let mut status = json!({"allowed": decision.allowed});
            if !decision.reason.is_empty() {
                status["reason"] = json!(decision.reason);
            }
            status
        }
    };
    review["status"] = status;
    Ok(review)
}
