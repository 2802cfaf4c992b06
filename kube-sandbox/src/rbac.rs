//! Role-based access control as the real server's RBAC authorizer evaluates it: the
//! ClusterRoleBindings, then the RoleBindings of the request's namespace, each rule matched on
//! verb, API group, resource (`widgets/status` for a subresource, `*/status` for every one),
//! resource name and non-resource URL. Members of `system:masters` are always allowed, as the
//! real server's privileged-group authorizer allows them before RBAC is asked.

use std::str::FromStr;

use serde_json::Value;

use crate::identity::{User, MASTERS};
use crate::kind::StorageKey;
use crate::store::Store;

/// What a resource request asks for, as authorizers see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    /// API group, "" for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Subresource, "" for none.
    pub subresource: String,
    /// Namespace, "" for cluster scope (or all namespaces).
    pub namespace: String,
    /// Object name, "" for collections and creates.
    pub name: String,
}

impl ResourceAttributes {
    /// `widgets/status`: the resource as rules name it.
    pub fn combined(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// A resource or a non-resource (URL) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A request on an API resource.
    Resource(ResourceAttributes),
    /// A request on any other path, such as `/version` or `/apis`.
    NonResource {
        /// The URL path.
        path: String,
    },
}

/// A verb on an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `create`, `impersonate`, ... (the lowercase HTTP method for URLs).
    pub verb: String,
    /// What the verb acts on.
    pub action: Action,
}

impl Attributes {
    /// The sentence the real server puts in a 403 (`forbiddenMessage`).
    pub fn forbidden_message(&self, user: &User) -> String {
        match &self.action {
            Action::NonResource { path } => {
                format!("User {:?} cannot {} path {path:?}", user.name, self.verb)
            }
            Action::Resource(r) if r.namespace.is_empty() => format!(
                "User {:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                user.name,
                self.verb,
                r.combined(),
                r.group
            ),
            Action::Resource(r) => format!(
                "User {:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                user.name,
                self.verb,
                r.combined(),
                r.group,
                r.namespace
            ),
        }
    }
}

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Why, as the real server words it ("RBAC: allowed by ...", or the errors met on the way).
    pub reason: String,
}

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// Verbs, `*` for all.
    pub verbs: Vec<String>,
    /// API groups, `*` for all.
    pub api_groups: Vec<String>,
    /// Resources, `*` for all, `*/status` for a subresource of all.
    pub resources: Vec<String>,
    /// Names the rule is limited to; empty for all.
    pub resource_names: Vec<String>,
    /// URL paths for non-resource requests, a trailing `*` as a prefix match.
    pub non_resource_urls: Vec<String>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

impl Rule {
    fn from_json(rule: &Value) -> Rule {
        Rule {
            verbs: strings(&rule["verbs"]),
            api_groups: strings(&rule["apiGroups"]),
            resources: strings(&rule["resources"]),
            resource_names: strings(&rule["resourceNames"]),
            non_resource_urls: strings(&rule["nonResourceURLs"]),
        }
    }

    /// Whether this rule allows `attributes` (`RuleAllows` in the real authorizer).
    pub fn allows(&self, attributes: &Attributes) -> bool {
        let any = |list: &[String], wanted: &str| list.iter().any(|v| v == "*" || v == wanted);
        if !any(&self.verbs, &attributes.verb) {
            return false;
        }
        match &attributes.action {
            Action::Resource(r) => {
                let combined = r.combined();
                let resource_matches = self.resources.iter().any(|rule| {
                    rule == "*"
                        || *rule == combined
                        || (!r.subresource.is_empty()
                            && rule.strip_prefix("*/") == Some(r.subresource.as_str()))
                });
                any(&self.api_groups, &r.group)
                    && resource_matches
                    && (self.resource_names.is_empty() || self.resource_names.contains(&r.name))
            }
            Action::NonResource { path } => self.non_resource_urls.iter().any(|url| {
                url == "*"
                    || url == path
                    || url
                        .strip_suffix('*')
                        .is_some_and(|prefix| path.starts_with(prefix))
            }),
        }
    }
}

fn rbac_storage(resource: &str) -> StorageKey {
    StorageKey {
        group: "rbac.authorization.k8s.io".into(),
        resource: resource.into(),
    }
}

/// A binding's subject, described as the real server's allow reasons describe it.
fn describe_subject(subject: &Value, binding_namespace: &str) -> String {
    let kind = subject["kind"].as_str().unwrap_or_default();
    let name = subject["name"].as_str().unwrap_or_default();
    if kind == "ServiceAccount" {
        let namespace = subject["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(binding_namespace);
        return format!("{kind} {:?}", format!("{namespace}/{name}"));
    }
    format!("{kind} {name:?}")
}

/// Whether a binding's subject is this user (`appliesToUser`).
fn applies_to(user: &User, subject: &Value, binding_namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str() {
        Some("User") => user.name == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let namespace = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            !namespace.is_empty()
                && user.name == format!("system:serviceaccount:{namespace}:{name}")
        }
        _ => false,
    }
}

/// The rules a binding grants, or why they could not be read.
fn role_rules(store: &Store, role_ref: &Value, namespace: &str) -> Result<Vec<Rule>, String> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    let (storage, namespace, what) = match role_ref["kind"].as_str() {
        Some("ClusterRole") => (rbac_storage("clusterroles"), "", "clusterrole"),
        Some("Role") => (rbac_storage("roles"), namespace, "role"),
        other => return Err(format!("unsupported role reference kind: {other:?}")),
    };
    let key = crate::store::ObjectKey {
        storage,
        namespace: namespace.into(),
        name: name.into(),
    };
    let role = store
        .get(&key)
        .ok_or_else(|| format!("{what}.rbac.authorization.k8s.io {name:?} not found"))?;
    Ok(role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Rule::from_json)
        .collect())
}

/// Every binding that applies to `user` in `namespace`: (description, rules or error).
fn grants(store: &Store, user: &User, namespace: &str) -> Vec<(String, Result<Vec<Rule>, String>)> {
    let mut out = Vec::new();
    let mut visit = |binding: &Value, kind: &str, binding_namespace: &str| {
        let subjects = binding["subjects"].as_array().into_iter().flatten();
        for subject in subjects {
            if !applies_to(user, subject, binding_namespace) {
                continue;
            }
            let name = binding
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let shown = if binding_namespace.is_empty() {
                name.to_string()
            } else {
                format!("{name}/{binding_namespace}")
            };
            let role_ref = &binding["roleRef"];
            let description = format!(
                "{kind} {shown:?} of {} {:?} to {}",
                role_ref["kind"].as_str().unwrap_or_default(),
                role_ref["name"].as_str().unwrap_or_default(),
                describe_subject(subject, binding_namespace)
            );
            out.push((description, role_rules(store, role_ref, binding_namespace)));
            return;
        }
    };
    for (_, binding) in store.list(&rbac_storage("clusterrolebindings"), None) {
        visit(binding, "ClusterRoleBinding", "");
    }
    if !namespace.is_empty() {
        for (_, binding) in store.list(&rbac_storage("rolebindings"), Some(namespace)) {
            visit(binding, "RoleBinding", namespace);
        }
    }
    out
}

/// Decides a request as `system:masters` plus RBAC do on a real server.
pub fn authorize(store: &Store, user: &User, attributes: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let namespace = match &attributes.action {
        Action::Resource(r) => r.namespace.as_str(),
        Action::NonResource { .. } => "",
    };
    let mut errors = Vec::new();
    for (description, rules) in grants(store, user, namespace) {
        match rules {
            Ok(rules) if rules.iter().any(|rule| rule.allows(attributes)) => {
                return Decision {
                    allowed: true,
                    reason: format!("RBAC: allowed by {description}"),
                }
            }
            Ok(_) => {}
            Err(error) => errors.push(error),
        }
    }
    let reason = match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    };
    Decision {
        allowed: false,
        reason,
    }
}

/// The rules `user` holds in `namespace` (for `SelfSubjectRulesReview`), with the errors met.
pub fn rules_for(store: &Store, user: &User, namespace: &str) -> (Vec<Rule>, Vec<String>) {
    if user.groups.iter().any(|g| g == MASTERS) {
        let all = vec!["*".to_string()];
        return (
            vec![
                Rule {
                    verbs: all.clone(),
                    api_groups: all.clone(),
                    resources: all.clone(),
                    ..Rule::default()
                },
                Rule {
                    verbs: all.clone(),
                    non_resource_urls: all,
                    ..Rule::default()
                },
            ],
            Vec::new(),
        );
    }
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (_, granted) in grants(store, user, namespace) {
        match granted {
            Ok(found) => rules.extend(found),
            Err(error) => errors.push(error),
        }
    }
    (rules, errors)
}

/// How requests are authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authorization {
    /// Every request is allowed, anonymous ones included (tokens are still checked).
    #[default]
    AlwaysAllow,
    /// Roles, ClusterRoles and their bindings decide, as on a real cluster.
    Rbac,
}

/// Authorization names a `--authorization` value does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown authorization mode {0:?}: expected always-allow or rbac")]
pub struct UnknownAuthorization(String);

impl FromStr for Authorization {
    type Err = UnknownAuthorization;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "always-allow" | "alwaysallow" => Ok(Authorization::AlwaysAllow),
            "rbac" => Ok(Authorization::Rbac),
            _ => Err(UnknownAuthorization(s.to_string())),
        }
    }
}

/// Decides one request for `user` under `mode`.
pub fn decide(
    mode: Authorization,
    store: &Store,
    user: &User,
    attributes: &Attributes,
) -> Decision {
    match mode {
        Authorization::AlwaysAllow => Decision {
            allowed: true,
            reason: String::new(),
        },
        Authorization::Rbac => authorize(store, user, attributes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(verb: &str, resource: &str, subresource: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            action: Action::Resource(ResourceAttributes {
                group: "sandbox.test".into(),
                version: "v1".into(),
                resource: resource.into(),
                subresource: subresource.into(),
                namespace: "default".into(),
                name: name.into(),
            }),
        }
    }

    fn rule(verbs: &[&str], resources: &[&str], names: &[&str]) -> Rule {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Rule {
            verbs: owned(verbs),
            api_groups: owned(&["sandbox.test"]),
            resources: owned(resources),
            resource_names: owned(names),
            non_resource_urls: Vec::new(),
        }
    }

    #[test]
    fn a_rule_on_the_resource_does_not_grant_its_status() {
        let widgets = rule(&["patch"], &["widgets"], &[]);
        assert!(widgets.allows(&on("patch", "widgets", "", "w1")));
        assert!(!widgets.allows(&on("patch", "widgets", "status", "w1")));
        let status = rule(&["patch"], &["widgets/status"], &[]);
        assert!(status.allows(&on("patch", "widgets", "status", "w1")));
        let every_status = rule(&["patch"], &["*/status"], &[]);
        assert!(every_status.allows(&on("patch", "widgets", "status", "w1")));
        assert!(!every_status.allows(&on("patch", "widgets", "scale", "w1")));
    }

    #[test]
    fn resource_names_limit_a_rule_and_never_match_a_create() {
        let named = rule(&["get", "create"], &["widgets"], &["w1"]);
        assert!(named.allows(&on("get", "widgets", "", "w1")));
        assert!(!named.allows(&on("get", "widgets", "", "w2")));
        assert!(!named.allows(&on("create", "widgets", "", "")));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_a_trailing_star() {
        let discovery = Rule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/apis".into(), "/apis/*".into()],
            ..Rule::default()
        };
        let get = |path: &str| Attributes {
            verb: "get".into(),
            action: Action::NonResource { path: path.into() },
        };
        assert!(discovery.allows(&get("/apis")));
        assert!(discovery.allows(&get("/apis/apps/v1")));
        assert!(!discovery.allows(&get("/version")));
    }
}
