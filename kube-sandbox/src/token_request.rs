//! The TokenRequest API (`POST .../serviceaccounts/{name}/token`), behind
//! `kubectl create token`: a token bound to the ServiceAccount's uid, valid for the requested
//! time (an hour by default, ten minutes at least), refused with 401 once it expires or the
//! ServiceAccount is deleted.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::api_error::{ApiError, Cause};
use crate::identity::Grant;
use crate::kind::StorageKey;
use crate::state::State;
use crate::store::ObjectKey;

/// The lifetime a token gets when the request names none.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime the real server grants.
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest lifetime the real server accepts (2^32 seconds).
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// The audience tokens are issued for when the request names none, as on kubeadm clusters.
const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

fn invalid(name: &str, field: &str, message: String) -> ApiError {
    ApiError::Invalid {
        kind: "TokenRequest.authentication.k8s.io".into(),
        name: name.into(),
        causes: vec![Cause::invalid(field, message)],
    }
}

/// Issues a token for the ServiceAccount `namespace/name` lasting `seconds`; 404 when there is
/// no such ServiceAccount.
pub fn issue(
    state: &mut State,
    namespace: &str,
    name: &str,
    seconds: i64,
) -> Result<(String, String), ApiError> {
    let key = ObjectKey {
        storage: StorageKey {
            group: String::new(),
            resource: "serviceaccounts".into(),
        },
        namespace: namespace.into(),
        name: name.into(),
    };
    let uid = state
        .store
        .get(&key)
        .and_then(|sa| sa.pointer("/metadata/uid"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::NotFound {
            resource: "serviceaccounts".into(),
            name: name.into(),
        })?;
    let expires = Utc::now() + Duration::seconds(seconds);
    let token = state.tokens.issue(Grant::ServiceAccount {
        namespace: namespace.into(),
        name: name.into(),
        uid,
        expires,
    });
    Ok((token, expires.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

/// Serves a TokenRequest for the ServiceAccount `namespace/name`.
pub fn create(
    state: &mut State,
    namespace: &str,
    name: &str,
    mut request: Value,
) -> Result<Value, ApiError> {
    if !request.is_object() {
        request = json!({});
    }
    let spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));
    // Refusals name the TokenRequest (kubectl sends it nameless), not the ServiceAccount.
    let request_name = request
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let seconds = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION_SECONDS,
        value => value.as_i64().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: spec.expirationSeconds: expected an integer, got {value}"
            ))
        })?,
    };
    if seconds < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            &request_name,
            "spec.expirationSeconds",
            format!("Invalid value: {seconds}: may not specify a duration less than 10 minutes"),
        ));
    }
    if seconds > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            &request_name,
            "spec.expirationSeconds",
            format!(
                "Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds"
            ),
        ));
    }
    let (token, expires) = issue(state, namespace, name, seconds)?;
    let audiences = match spec["audiences"].as_array() {
        Some(list) if !list.is_empty() => json!(list),
        _ => json!([DEFAULT_AUDIENCE]),
    };
    Ok(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {"name": name, "namespace": namespace,
                     "creationTimestamp": crate::meta::now()},
        "spec": {"audiences": audiences, "expirationSeconds": seconds,
                 "boundObjectRef": spec.get("boundObjectRef").cloned().unwrap_or(Value::Null)},
        "status": {"token": token, "expirationTimestamp": expires},
    }))
}
