//! Failures as the apiserver reports them: a `metav1.Status` body with a reason and an HTTP code,
//! because kubectl and kube-rs decide what to do (retry, relist, print help) from those two fields.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One field-level problem inside an `Invalid` or apply-conflict failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Machine-readable reason, such as `FieldValueInvalid` or `FieldManagerConflict`.
    pub reason: String,
    /// Human-readable text; for CEL rules, the rule's message.
    pub message: String,
    /// Dotted path of the field, such as `spec.replicas`.
    pub field: String,
}

impl Cause {
    /// A `FieldValueInvalid` cause, the common case for schema and CEL failures.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Cause {
            reason: "FieldValueInvalid".into(),
            message: message.into(),
            field: field.into(),
        }
    }
}

/// Everything a request can fail with, each mapping to the reason and code the real server uses.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The object (or resource type) does not exist.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// Qualified resource, such as `widgets.sandbox.test`.
        resource: String,
        /// Object name.
        name: String,
    },
    /// The path names no served resource.
    #[error("the server could not find the requested resource")]
    NoRoute,
    /// A create named an object that already exists.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// Qualified resource, such as `widgets.sandbox.test`.
        resource: String,
        /// Object name.
        name: String,
    },
    /// An optimistic-concurrency precondition failed, or the object is being deleted.
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {detail}")]
    Conflict {
        /// Qualified resource, such as `widgets.sandbox.test`.
        resource: String,
        /// Object name.
        name: String,
        /// What failed, as the real server words it.
        detail: String,
    },
    /// Server-side apply found fields owned by other managers.
    #[error("{message}")]
    ApplyConflict {
        /// One `FieldManagerConflict` per contested field.
        causes: Vec<Cause>,
        /// The whole message, grouped by manager as the real server words it.
        message: String,
    },
    /// The object breaks its schema or a validation rule.
    #[error("{kind} \"{name}\" is invalid: {}", render_causes(causes))]
    Invalid {
        /// Qualified kind, such as `Widget.sandbox.test`.
        kind: String,
        /// Object name.
        name: String,
        /// The failing fields and why.
        causes: Vec<Cause>,
    },
    /// The request itself is malformed (bad body, bad selector, unknown field under Strict).
    #[error("{0}")]
    BadRequest(String),
    /// The request is not allowed in the current state (e.g. a terminating namespace).
    #[error("{0}")]
    Forbidden(String),
    /// The request carries credentials this server did not issue (or that expired).
    #[error("Unauthorized")]
    Unauthorized,
    /// Authorization refused the request (`NewForbidden` with the authorizer's sentence).
    #[error("{}", forbidden_text(resource, name, message))]
    Denied {
        /// Qualified resource (`widgets.sandbox.test`), empty for a non-resource path.
        resource: String,
        /// Object name, empty for collections and creates.
        name: String,
        /// `User "..." cannot ...`, with the authorizer's reason.
        message: String,
    },
    /// The request body is larger than the server accepts.
    #[error("Request entity too large: limit is {0}")]
    TooLarge(usize),
    /// The verb is not supported on that path.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The requested resourceVersion has been compacted away: etcd's words, which
    /// kube-apiserver passes on for a watch it serves from etcd.
    #[error("The resourceVersion for the provided watch is too old.")]
    Gone {
        /// The version asked for.
        requested: u64,
        /// The oldest version still available.
        oldest: u64,
    },
    /// A paged list's continue token is older than the history that would make it consistent.
    #[error("{message}")]
    ContinueExpired {
        /// The real server's long explanation.
        message: String,
        /// A token that goes on, inconsistently, from where the old one stopped.
        token: String,
    },
    /// The body's content type is not one the verb understands.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: {0}"
    )]
    UnsupportedMediaType(String),
    /// A failure injected by the test through `Sandbox::fail_next`.
    #[error("{}", injected_text(*.0))]
    Injected(u16),
    /// A failure the real server reports without classifying it (`StatusReasonUnknown`), such
    /// as a create carrying a resourceVersion (500).
    #[error("{message}")]
    Unclassified {
        /// The HTTP status code.
        code: u16,
        /// The message.
        message: String,
    },
    /// A JSON patch that cannot be applied (a failed `test`, a missing path): kube-apiserver
    /// answers a bare 422 and keeps the patch library's reason to itself, so does the sandbox.
    #[error("the server rejected our request due to an error in our request")]
    PatchRejected,
    /// A bug or unexpected state inside the sandbox.
    #[error("internal error: {0}")]
    Internal(String),
}

fn forbidden_text(resource: &str, name: &str, message: &str) -> String {
    match (resource.is_empty(), name.is_empty()) {
        (true, _) => format!("forbidden: {message}"),
        (false, true) => format!("{resource} is forbidden: {message}"),
        (false, false) => format!("{resource} {name:?} is forbidden: {message}"),
    }
}

/// How long a 429 asks clients to wait, as the real server's priority and fairness answers.
pub const RETRY_AFTER_SECONDS: u64 = 1;

fn injected_text(code: u16) -> String {
    match code {
        409 => "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected)".into(),
        429 => "Too many requests, please try again later.".into(),
        500 => "Internal error occurred: injected failure".into(),
        _ => format!("injected failure with status {code}"),
    }
}

fn render_causes(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .collect();
    // As apimachinery's aggregate does, a repeated error is named once.
    let mut parts = parts;
    let mut seen = std::collections::HashSet::new();
    parts.retain(|p| seen.insert(p.clone()));
    if parts.len() == 1 {
        parts.join("")
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    /// The HTTP status code the real apiserver uses for this failure.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::ApplyConflict { .. } => 409,
            ApiError::Invalid { .. } | ApiError::PatchRejected => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Forbidden(_) | ApiError::Denied { .. } => 403,
            ApiError::Unauthorized => 401,
            ApiError::TooLarge(_) => 413,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Gone { .. } | ApiError::ContinueExpired { .. } => 410,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Injected(code) => *code,
            ApiError::Unclassified { code, .. } => *code,
            ApiError::Internal(_) => 500,
        }
    }

    /// The `reason` field clients switch on.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } | ApiError::PatchRejected => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Forbidden(_) | ApiError::Denied { .. } => "Forbidden",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::Gone { .. } | ApiError::ContinueExpired { .. } => "Expired",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Injected(code) => reason_for_code(*code),
            ApiError::Unclassified { .. } => "",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `metav1.Status` body describing this failure.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        // An unclassified failure has no reason at all, as on a real server.
        if self.reason().is_empty() {
            if let Some(map) = status.as_object_mut() {
                map.remove("reason");
            }
        }
        let details = match self {
            ApiError::NotFound { resource, name }
            | ApiError::AlreadyExists { resource, name }
            | ApiError::Conflict { resource, name, .. } => Some(details_for(resource, name, &[])),
            ApiError::Invalid { kind, name, causes } => Some(details_for(kind, name, causes)),
            ApiError::ApplyConflict { causes, .. } => {
                Some(json!({ "causes": causes_json(causes) }))
            }
            ApiError::Denied { resource, name, .. } if !resource.is_empty() => {
                let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
                Some(json!({ "name": name, "group": group, "kind": kind }))
            }
            ApiError::Injected(429) => Some(json!({ "retryAfterSeconds": RETRY_AFTER_SECONDS })),
            ApiError::PatchRejected => Some(json!({})),
            _ => None,
        };
        if let Some(details) = details {
            status["details"] = details;
        }
        if let ApiError::ContinueExpired { token, .. } = self {
            status["metadata"] = json!({ "continue": token });
        }
        status
    }
}

/// Splits `foos.sandbox.test` into the kind/resource and group parts of `StatusDetails`.
fn details_for(qualified: &str, name: &str, causes: &[Cause]) -> Value {
    let (kind, group) = qualified.split_once('.').unwrap_or((qualified, ""));
    let mut details = json!({ "name": name, "group": group, "kind": kind });
    if !causes.is_empty() {
        details["causes"] = causes_json(causes);
    }
    details
}

fn causes_json(causes: &[Cause]) -> Value {
    Value::Array(
        causes
            .iter()
            .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
            .collect(),
    )
}

fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        413 => "RequestEntityTooLarge",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            self.to_status().to_string(),
        )
            .into_response();
        if code == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}
