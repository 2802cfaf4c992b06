//! The protobuf messages the sandbox decodes, with their field numbers from
//! `k8s.io/api/*/generated.proto` and apimachinery's `generated.proto`: what kubectl's typed
//! generators, `kubectl auth` and `kubectl create token` send.

/// How one field's payload becomes JSON.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    Bool,
    Int,
    Time,
    StrMap,
    BytesMap,
    RepeatedStr,
    Message(&'static Message),
    RepeatedMessage(&'static Message),
    /// A field the server computes (a review's or TokenRequest's status): read and dropped.
    Ignored,
}

/// A message's fields: (number, JSON name, kind).
#[derive(Debug)]
pub struct Message {
    /// The message's name, for errors.
    pub name: &'static str,
    /// Its fields.
    pub fields: &'static [(u64, &'static str, Kind)],
}

static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        (1, "kind", Kind::Str),
        (3, "name", Kind::Str),
        (4, "uid", Kind::Str),
        (5, "apiVersion", Kind::Str),
        (6, "controller", Kind::Bool),
        (7, "blockOwnerDeletion", Kind::Bool),
    ],
};

static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        (1, "name", Kind::Str),
        (2, "generateName", Kind::Str),
        (3, "namespace", Kind::Str),
        (4, "selfLink", Kind::Str),
        (5, "uid", Kind::Str),
        (6, "resourceVersion", Kind::Str),
        (7, "generation", Kind::Int),
        (8, "creationTimestamp", Kind::Time),
        (9, "deletionTimestamp", Kind::Time),
        (10, "deletionGracePeriodSeconds", Kind::Int),
        (11, "labels", Kind::StrMap),
        (12, "annotations", Kind::StrMap),
        (
            13,
            "ownerReferences",
            Kind::RepeatedMessage(&OWNER_REFERENCE),
        ),
        (14, "finalizers", Kind::RepeatedStr),
    ],
};

static NAMESPACE_SPEC: Message = Message {
    name: "NamespaceSpec",
    fields: &[(1, "finalizers", Kind::RepeatedStr)],
};

static NAMESPACE_STATUS: Message = Message {
    name: "NamespaceStatus",
    fields: &[(1, "phase", Kind::Str)],
};

static OBJECT_REFERENCE: Message = Message {
    name: "ObjectReference",
    fields: &[
        (1, "kind", Kind::Str),
        (2, "namespace", Kind::Str),
        (3, "name", Kind::Str),
        (4, "uid", Kind::Str),
        (5, "apiVersion", Kind::Str),
        (6, "resourceVersion", Kind::Str),
        (7, "fieldPath", Kind::Str),
    ],
};

static LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "LocalObjectReference",
    fields: &[(1, "name", Kind::Str)],
};

static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&NAMESPACE_SPEC)),
        (3, "status", Kind::Message(&NAMESPACE_STATUS)),
    ],
};

static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "data", Kind::StrMap),
        (3, "binaryData", Kind::BytesMap),
        (4, "immutable", Kind::Bool),
    ],
};

static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "data", Kind::BytesMap),
        (3, "type", Kind::Str),
        (4, "stringData", Kind::StrMap),
        (5, "immutable", Kind::Bool),
    ],
};

static SERVICE_ACCOUNT: Message = Message {
    name: "ServiceAccount",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "secrets", Kind::RepeatedMessage(&OBJECT_REFERENCE)),
        (
            3,
            "imagePullSecrets",
            Kind::RepeatedMessage(&LOCAL_OBJECT_REFERENCE),
        ),
        (4, "automountServiceAccountToken", Kind::Bool),
    ],
};

static SELECTOR_REQUIREMENT: Message = Message {
    name: "SelectorRequirement",
    fields: &[
        (1, "key", Kind::Str),
        (2, "operator", Kind::Str),
        (3, "values", Kind::RepeatedStr),
    ],
};

static SELECTOR_ATTRIBUTES: Message = Message {
    name: "SelectorAttributes",
    fields: &[
        (1, "rawSelector", Kind::Str),
        (
            2,
            "requirements",
            Kind::RepeatedMessage(&SELECTOR_REQUIREMENT),
        ),
    ],
};

static RESOURCE_ATTRIBUTES: Message = Message {
    name: "ResourceAttributes",
    fields: &[
        (1, "namespace", Kind::Str),
        (2, "verb", Kind::Str),
        (3, "group", Kind::Str),
        (4, "version", Kind::Str),
        (5, "resource", Kind::Str),
        (6, "subresource", Kind::Str),
        (7, "name", Kind::Str),
        (8, "fieldSelector", Kind::Message(&SELECTOR_ATTRIBUTES)),
        (9, "labelSelector", Kind::Message(&SELECTOR_ATTRIBUTES)),
    ],
};

static NON_RESOURCE_ATTRIBUTES: Message = Message {
    name: "NonResourceAttributes",
    fields: &[(1, "path", Kind::Str), (2, "verb", Kind::Str)],
};

/// The spec of every access review (the self reviews use only the first two fields).
static ACCESS_REVIEW_SPEC: Message = Message {
    name: "SubjectAccessReviewSpec",
    fields: &[
        (1, "resourceAttributes", Kind::Message(&RESOURCE_ATTRIBUTES)),
        (
            2,
            "nonResourceAttributes",
            Kind::Message(&NON_RESOURCE_ATTRIBUTES),
        ),
        (3, "user", Kind::Str),
        (4, "groups", Kind::RepeatedStr),
        (6, "uid", Kind::Str),
    ],
};

static ACCESS_REVIEW: Message = Message {
    name: "SubjectAccessReview",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&ACCESS_REVIEW_SPEC)),
        (3, "status", Kind::Ignored),
    ],
};

static RULES_REVIEW_SPEC: Message = Message {
    name: "SelfSubjectRulesReviewSpec",
    fields: &[(1, "namespace", Kind::Str)],
};

static RULES_REVIEW: Message = Message {
    name: "SelfSubjectRulesReview",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&RULES_REVIEW_SPEC)),
        (3, "status", Kind::Ignored),
    ],
};

static SELF_SUBJECT_REVIEW: Message = Message {
    name: "SelfSubjectReview",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "status", Kind::Ignored),
    ],
};

static BOUND_OBJECT_REFERENCE: Message = Message {
    name: "BoundObjectReference",
    fields: &[
        (1, "kind", Kind::Str),
        (2, "apiVersion", Kind::Str),
        (3, "name", Kind::Str),
        (4, "uid", Kind::Str),
    ],
};

static TOKEN_REQUEST_SPEC: Message = Message {
    name: "TokenRequestSpec",
    fields: &[
        (1, "audiences", Kind::RepeatedStr),
        (3, "boundObjectRef", Kind::Message(&BOUND_OBJECT_REFERENCE)),
        (4, "expirationSeconds", Kind::Int),
    ],
};

static TOKEN_REQUEST: Message = Message {
    name: "TokenRequest",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&TOKEN_REQUEST_SPEC)),
        (3, "status", Kind::Ignored),
    ],
};

/// `metav1.Time`: seconds and nanoseconds since the epoch.
pub static TIME: Message = Message {
    name: "Time",
    fields: &[(1, "seconds", Kind::Int), (2, "nanos", Kind::Int)],
};

/// The message a `runtime.Unknown` envelope of this type carries, if the sandbox decodes it.
pub fn message_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    let message = match (api_version, kind) {
        (
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview",
        ) => &ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => &RULES_REVIEW,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => &SELF_SUBJECT_REVIEW,
        ("authentication.k8s.io/v1", "TokenRequest") => &TOKEN_REQUEST,
        ("v1", "Namespace") => &NAMESPACE,
        ("v1", "ConfigMap") => &CONFIG_MAP,
        ("v1", "Secret") => &SECRET,
        ("v1", "ServiceAccount") => &SERVICE_ACCOUNT,
        _ => return None,
    };
    Some(message)
}
