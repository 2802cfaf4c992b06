//! The checks a write must pass before anything else, because the object it names or the
//! version it expects is not the stored one: a create carrying a resourceVersion, an update
//! with another uid, name or namespace, a stale resourceVersion, and new finalizers on an
//! object being deleted. Each fails with the real server's code and wording.

use serde_json::{Map, Value};

use crate::api_error::{ApiError, Cause};
use crate::kind::ResourceType;
use crate::meta::{finalizer_names, name_of};

/// A create may not carry a resourceVersion: the real storage layer refuses it with an
/// unclassified 500 ("0" and unparsable values pass, as there).
pub fn refuse_resource_version_on_create(meta: &Map<String, Value>) -> Result<(), ApiError> {
    let version = meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse::<u64>().ok());
    if version.is_some_and(|v| v != 0) {
        return Err(ApiError::Unclassified {
            code: 500,
            message: "resourceVersion should not be set on objects to be created".into(),
        });
    }
    Ok(())
}

/// Refuses finalizers added to an object being deleted (`ValidateNoNewFinalizers`).
pub fn check_no_new_finalizers(
    rt: &ResourceType,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if old.pointer("/metadata/deletionTimestamp").is_none() {
        return Ok(());
    }
    let before = finalizer_names(old);
    let mut added: Vec<&str> = finalizer_names(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    added.sort();
    added.dedup();
    let quoted: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
    let cause = Cause {
        reason: "FieldValueForbidden".into(),
        message: format!(
            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
            quoted.join(", ")
        ),
        field: "metadata.finalizers".into(),
    };
    // kube-apiserver checks this twice (the object-meta update validation and the generic
    // registry's), so the cause comes twice; its message, like every aggregate, names it once.
    Err(ApiError::Invalid {
        kind: rt.qualified_kind(),
        name: name_of(old),
        causes: vec![cause.clone(), cause],
    })
}

/// A uid in an update is a precondition: another object's uid is a 409, as on the real server.
pub fn check_uid(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), ApiError> {
    let uid = |v: &Value| {
        v.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (requested, stored) = (uid(new), uid(old));
    if requested.is_empty() || requested == stored {
        return Ok(());
    }
    Err(ApiError::Conflict {
        resource: rt.qualified_resource(),
        name: name_of(old),
        detail: format!(
            "Precondition failed: UID in precondition: {requested}, UID in object meta: {stored}"
        ),
    })
}

pub fn name_mismatch(object: &Value, url_name: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "the name of the object ({}) does not match the name on the URL ({url_name})",
        name_of(object)
    ))
}

/// Refuses a body that names another object than the URL, as the real server's `checkName`
/// does: a name or (for namespaced types) a namespace given in the body must be the URL's.
pub fn check_identity(
    rt: &ResourceType,
    url_name: &str,
    url_namespace: Option<&str>,
    object: &Value,
) -> Result<(), ApiError> {
    let given = |field: &str| {
        object
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    if given("name").is_some_and(|name| name != url_name) {
        return Err(name_mismatch(object, url_name));
    }
    if rt.namespaced
        && given("namespace").is_some_and(|ns| Some(ns) != url_namespace.filter(|u| !u.is_empty()))
    {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    Ok(())
}

/// The optimistic-concurrency precondition: a resourceVersion in the request must be the
/// stored one, or the write is a 409 Conflict.
pub fn check_resource_version(
    rt: &ResourceType,
    old: &Value,
    requested: &Value,
) -> Result<(), ApiError> {
    let version = |v: &Value| {
        v.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match version(requested) {
        Some(rv) if !rv.is_empty() && Some(&rv) != version(old).as_ref() => Err(ApiError::Conflict {
            resource: rt.qualified_resource(),
            name: name_of(old),
            detail: "the object has been modified; please apply your changes to the latest version and try again".into(),
        }),
        _ => Ok(()),
    }
}
