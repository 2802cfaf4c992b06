//! Access and identity reviews. The sandbox has no authentication or authorization, so every
//! review answers "allowed" for an anonymous user; serving them keeps `kubectl auth can-i`,
//! `kubectl auth whoami` and operators that check their permissions at start-up working.

use serde_json::{json, Value};

use crate::registry::ResourceType;

/// The review as the server would return it: the request echoed with its status filled in.
pub fn answer(rt: &ResourceType, mut review: Value) -> Value {
    if !review.is_object() {
        review = json!({});
    }
    review["apiVersion"] = json!(rt.api_version());
    review["kind"] = json!(rt.kind);
    review["status"] = match rt.kind.as_str() {
        "SelfSubjectReview" => {
            json!({"userInfo": {"username": "system:anonymous", "groups": ["system:unauthenticated"]}})
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        _ => json!({"allowed": true, "reason": "kube-sandbox authorizes every request"}),
    };
    review
}
