//! The gate every request passes, in the real server's order: authentication (a bearer token,
//! or anonymous), impersonation (`Impersonate-User`, `-Group`, `-Uid`, `-Extra-*` headers, each
//! checked with the `impersonate` verb), then authorization of the request's attributes.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method};
use chrono::Utc;
use serde_json::Value;

use crate::api_error::ApiError;
use crate::cluster::Cluster;
use crate::identity::Tokens;
use crate::identity::{self, Grant, User, AUTHENTICATED, UNAUTHENTICATED};
use crate::kind::StorageKey;
use crate::rbac::{self, decide, Action, Attributes, Authorization, ResourceAttributes};
use crate::route::Route;
use crate::store::{ObjectKey, Store};
use crate::traffic::{Denial, Verb};

/// Who sent the request: 401 for a token this sandbox did not issue, has expired, or whose
/// ServiceAccount is gone; anonymous without one.
pub fn authenticate(tokens: &Tokens, store: &Store, headers: &HeaderMap) -> Result<User, ApiError> {
    let Some(header) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(User::anonymous());
    };
    let token = identity::bearer(header).ok_or(ApiError::Unauthorized)?;
    match tokens.grant(token).ok_or(ApiError::Unauthorized)? {
        Grant::Admin => Ok(User::admin()),
        Grant::ServiceAccount {
            namespace,
            name,
            uid,
            expires,
        } => {
            let key = ObjectKey {
                storage: StorageKey {
                    group: String::new(),
                    resource: "serviceaccounts".into(),
                },
                namespace: namespace.clone(),
                name: name.clone(),
            };
            let current_uid = store
                .get(&key)
                .and_then(|sa| sa.pointer("/metadata/uid"))
                .and_then(Value::as_str);
            if current_uid != Some(uid.as_str()) || *expires <= Utc::now() {
                return Err(ApiError::Unauthorized);
            }
            Ok(User::service_account(namespace, name, uid))
        }
    }
}

/// The attributes of a request, as the real server's `RequestInfoResolver` derives them:
/// the verb from the method (list and watch for collections, named by a
/// `metadata.name=` field selector when there is one), non-resource paths by URL.
pub fn attributes(
    method: &Method,
    path: &str,
    route: &Route,
    query: &HashMap<String, String>,
) -> Attributes {
    let Route::Object(object) = route else {
        return Attributes {
            verb: method.as_str().to_ascii_lowercase(),
            action: Action::NonResource { path: path.into() },
        };
    };
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    let named = object.name.is_some();
    let verb = match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        Method::GET | Method::HEAD if watching => "watch",
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD => "list",
        _ => {
            return Attributes {
                verb: method.as_str().to_ascii_lowercase(),
                action: Action::NonResource { path: path.into() },
            }
        }
    };
    let mut name = object.name.clone().unwrap_or_default();
    if name.is_empty() && matches!(verb, "list" | "watch") {
        name = query
            .get("fieldSelector")
            .and_then(|selector| name_from_field_selector(selector))
            .unwrap_or_default();
    }
    // A namespace's own path names the namespace as the object, not as the scope.
    let namespace = match (
        &object.namespace,
        object.plural.as_str(),
        object.group.is_empty(),
    ) {
        (None, "namespaces", true) => object.name.clone().unwrap_or_default(),
        (namespace, _, _) => namespace.clone().unwrap_or_default(),
    };
    Attributes {
        verb: verb.into(),
        action: Action::Resource(ResourceAttributes {
            group: object.group.clone(),
            version: object.version.clone(),
            resource: object.plural.clone(),
            subresource: object.subresource.clone().unwrap_or_default(),
            namespace,
            name,
        }),
    }
}

/// The attributes of the create an apply patch performs when its object does not exist yet.
pub fn creating(target: &crate::rest::Target) -> Attributes {
    Attributes {
        verb: "create".into(),
        action: Action::Resource(ResourceAttributes {
            group: target.rt.group.clone(),
            version: target.rt.version.clone(),
            resource: target.rt.plural.clone(),
            subresource: String::new(),
            namespace: target.namespace.clone().unwrap_or_default(),
            name: target.name.clone().unwrap_or_default(),
        }),
    }
}

/// `metadata.name=x` (or `==`) in a field selector, the way list and watch name one object.
fn name_from_field_selector(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let value = term
            .strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))?;
        (!value.contains('!')).then(|| value.to_string())
    })
}

/// The user a request acts as: itself, or the one its impersonation headers name once every
/// part of the impersonation is authorized.
pub fn impersonate(
    mode: Authorization,
    store: &Store,
    user: User,
    headers: &HeaderMap,
) -> Result<User, Box<(Attributes, String)>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    };
    let Some(name) = values("impersonate-user").into_iter().next() else {
        return Ok(user);
    };
    let groups = values("impersonate-group");
    let uid = values("impersonate-uid").into_iter().next();
    let mut extra = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (header, value) in headers {
        if let Some(key) = header.as_str().strip_prefix("impersonate-extra-") {
            if let Ok(value) = value.to_str() {
                extra
                    .entry(key.to_string())
                    .or_default()
                    .push(value.to_string());
            }
        }
    }
    let check = |verb_on: ResourceAttributes| -> Result<(), Box<(Attributes, String)>> {
        let attributes = Attributes {
            verb: "impersonate".into(),
            action: Action::Resource(verb_on),
        };
        let decision = decide(mode, store, &user, &attributes);
        if decision.allowed {
            Ok(())
        } else {
            Err(Box::new((attributes, decision.reason)))
        }
    };
    let core = |resource: &str, namespace: &str, name: &str| ResourceAttributes {
        resource: resource.into(),
        namespace: namespace.into(),
        name: name.into(),
        ..ResourceAttributes::default()
    };
    match identity::service_account_of(&name) {
        Some((namespace, account)) => check(core("serviceaccounts", namespace, account))?,
        None => check(core("users", "", &name))?,
    }
    for group in &groups {
        check(core("groups", "", group))?;
    }
    if let Some(uid) = &uid {
        check(ResourceAttributes {
            group: "authentication.k8s.io".into(),
            ..core("uids", "", uid)
        })?;
    }
    for (key, values) in &extra {
        for value in values {
            check(ResourceAttributes {
                group: "authentication.k8s.io".into(),
                subresource: key.clone(),
                ..core("userextras", "", value)
            })?;
        }
    }
    let mut groups = groups;
    if groups.is_empty() {
        if let Some((namespace, _)) = identity::service_account_of(&name) {
            groups = identity::service_account_groups(namespace);
        }
    }
    let marker = if name == identity::ANONYMOUS {
        UNAUTHENTICATED
    } else {
        AUTHENTICATED
    };
    if !groups.iter().any(|g| g == marker) {
        groups.push(marker.into());
    }
    Ok(User {
        name,
        uid: uid.unwrap_or_default(),
        groups,
        extra,
    })
}

/// The 403 the real server answers for a denied request.
pub fn forbidden(user: &User, attributes: &Attributes, reason: &str) -> ApiError {
    let mut message = attributes.forbidden_message(user);
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    let (resource, name) = match &attributes.action {
        Action::Resource(r) if r.group.is_empty() => (r.resource.clone(), r.name.clone()),
        Action::Resource(r) => (format!("{}.{}", r.resource, r.group), r.name.clone()),
        Action::NonResource { .. } => (String::new(), String::new()),
    };
    ApiError::Denied {
        resource,
        name,
        message,
    }
}

/// Records a refused request where tests can read it, and counts it like any other.
fn refuse(
    cluster: &Cluster,
    user: Option<&User>,
    attributes: &Attributes,
    path: &str,
    error: ApiError,
) -> ApiError {
    let (group, resource, namespace, name) = match &attributes.action {
        Action::Resource(r) => {
            if let Ok(verb) = attributes.verb.parse::<Verb>() {
                cluster.traffic.count_request(verb, &r.combined());
            }
            (
                r.group.clone(),
                r.combined(),
                r.namespace.clone(),
                r.name.clone(),
            )
        }
        Action::NonResource { .. } => Default::default(),
    };
    cluster.traffic.deny(Denial {
        code: error.code(),
        user: user.map(|u| u.name.clone()),
        verb: attributes.verb.clone(),
        group,
        resource,
        namespace,
        name,
        path: path.to_string(),
        message: error.to_string(),
    });
    error
}

/// Authentication, impersonation and authorization, in the real server's order.
pub fn admit(
    cluster: &Cluster,
    headers: &axum::http::HeaderMap,
    attributes: &Attributes,
    path: &str,
) -> Result<User, ApiError> {
    let state = cluster.lock();
    let user = authenticate(&state.tokens, &state.store, headers)
        .map_err(|e| refuse(cluster, None, attributes, path, e))?;
    let mode = cluster.authorization;
    let user = match impersonate(mode, &state.store, user.clone(), headers) {
        Ok(acting) => acting,
        Err(refused) => {
            let (denied, reason) = *refused;
            let error = forbidden(&user, &denied, &reason);
            return Err(refuse(cluster, Some(&user), &denied, path, error));
        }
    };
    let decision = rbac::decide(mode, &state.store, &user, attributes);
    if !decision.allowed {
        let error = forbidden(&user, attributes, &decision.reason);
        return Err(refuse(cluster, Some(&user), attributes, path, error));
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, uri: &str) -> Attributes {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let query: HashMap<String, String> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attributes(&method, path, &crate::route::parse(path), &query)
    }

    #[test]
    fn a_status_patch_is_the_patch_verb_on_the_status_subresource() {
        let a = parse(
            Method::PATCH,
            "/apis/sandbox.test/v1/namespaces/default/widgets/w1/status",
        );
        assert_eq!(a.verb, "patch");
        let Action::Resource(r) = a.action else {
            panic!("a resource request")
        };
        assert_eq!(r.combined(), "widgets/status");
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("default", "w1"));
    }

    #[test]
    fn a_watch_narrowed_to_one_name_is_authorized_for_that_name() {
        let a = parse(
            Method::GET,
            "/api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name=c1",
        );
        assert_eq!(a.verb, "watch");
        let Action::Resource(r) = a.action else {
            panic!("a resource request")
        };
        assert_eq!(r.name, "c1");
    }

    #[test]
    fn discovery_paths_are_non_resource_requests() {
        let a = parse(Method::GET, "/apis/apps/v1");
        assert_eq!(
            a.action,
            Action::NonResource {
                path: "/apis/apps/v1".into()
            }
        );
    }
}
