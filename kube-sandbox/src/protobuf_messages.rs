//! The protobuf messages the sandbox decodes, with their field numbers from
//! `k8s.io/api/*/generated.proto` and apimachinery's `generated.proto`: what kubectl's typed
//! generators (`kubectl create namespace|configmap|secret|serviceaccount|service|deployment|
//! poddisruptionbudget|role|rolebinding|clusterrole|clusterrolebinding`, `kubectl run`),
//! `kubectl auth` and `kubectl create token` send.

/// How one field's payload becomes JSON.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    /// A pointer bool (`*bool`): written only when set, kept when false.
    Bool,
    /// A plain `bool` Go always writes: omitted when false, as its JSON `omitempty` does.
    Flag,
    /// A pointer integer (`*int32`, `*int64`): written only when set, kept when 0.
    Int,
    /// A plain integer Go always writes: omitted when 0, as its JSON `omitempty` does.
    Count,
    /// `intstr.IntOrString`: a number or a string, as its `type` says.
    IntOrString,
    /// `map[string]resource.Quantity`: each value a message holding the quantity's text.
    QuantityMap,
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
        (7, "generation", Kind::Count),
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

static LABEL_SELECTOR_REQUIREMENT: Message = Message {
    name: "LabelSelectorRequirement",
    fields: &[
        (1, "key", Kind::Str),
        (2, "operator", Kind::Str),
        (3, "values", Kind::RepeatedStr),
    ],
};

static LABEL_SELECTOR: Message = Message {
    name: "LabelSelector",
    fields: &[
        (1, "matchLabels", Kind::StrMap),
        (
            2,
            "matchExpressions",
            Kind::RepeatedMessage(&LABEL_SELECTOR_REQUIREMENT),
        ),
    ],
};

static POLICY_RULE: Message = Message {
    name: "PolicyRule",
    fields: &[
        (1, "verbs", Kind::RepeatedStr),
        (2, "apiGroups", Kind::RepeatedStr),
        (3, "resources", Kind::RepeatedStr),
        (4, "resourceNames", Kind::RepeatedStr),
        (5, "nonResourceURLs", Kind::RepeatedStr),
    ],
};

static ROLE: Message = Message {
    name: "Role",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "rules", Kind::RepeatedMessage(&POLICY_RULE)),
    ],
};

static AGGREGATION_RULE: Message = Message {
    name: "AggregationRule",
    fields: &[(
        1,
        "clusterRoleSelectors",
        Kind::RepeatedMessage(&LABEL_SELECTOR),
    )],
};

static CLUSTER_ROLE: Message = Message {
    name: "ClusterRole",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "rules", Kind::RepeatedMessage(&POLICY_RULE)),
        (3, "aggregationRule", Kind::Message(&AGGREGATION_RULE)),
    ],
};

static SUBJECT: Message = Message {
    name: "Subject",
    fields: &[
        (1, "kind", Kind::Str),
        (2, "apiGroup", Kind::Str),
        (3, "name", Kind::Str),
        (4, "namespace", Kind::Str),
    ],
};

static ROLE_REF: Message = Message {
    name: "RoleRef",
    fields: &[
        (1, "apiGroup", Kind::Str),
        (2, "kind", Kind::Str),
        (3, "name", Kind::Str),
    ],
};

/// RoleBinding and ClusterRoleBinding share their fields.
static ROLE_BINDING: Message = Message {
    name: "RoleBinding",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "subjects", Kind::RepeatedMessage(&SUBJECT)),
        (3, "roleRef", Kind::Message(&ROLE_REF)),
    ],
};

static CONTAINER_PORT: Message = Message {
    name: "ContainerPort",
    fields: &[
        (1, "name", Kind::Str),
        (2, "hostPort", Kind::Count),
        // Required and without omitempty: a 0 is kept, for validation to refuse.
        (3, "containerPort", Kind::Int),
        (4, "protocol", Kind::Str),
        (5, "hostIP", Kind::Str),
    ],
};

static ENV_VAR: Message = Message {
    name: "EnvVar",
    fields: &[(1, "name", Kind::Str), (2, "value", Kind::Str)],
};

static RESOURCE_REQUIREMENTS: Message = Message {
    name: "ResourceRequirements",
    fields: &[
        (1, "limits", Kind::QuantityMap),
        (2, "requests", Kind::QuantityMap),
    ],
};

/// The fields of a container kubectl's generators can fill; the rest are refused by number.
static CONTAINER: Message = Message {
    name: "Container",
    fields: &[
        (1, "name", Kind::Str),
        (2, "image", Kind::Str),
        (3, "command", Kind::RepeatedStr),
        (4, "args", Kind::RepeatedStr),
        (5, "workingDir", Kind::Str),
        (6, "ports", Kind::RepeatedMessage(&CONTAINER_PORT)),
        (7, "env", Kind::RepeatedMessage(&ENV_VAR)),
        (8, "resources", Kind::Message(&RESOURCE_REQUIREMENTS)),
        (13, "terminationMessagePath", Kind::Str),
        (14, "imagePullPolicy", Kind::Str),
        (16, "stdin", Kind::Flag),
        (17, "stdinOnce", Kind::Flag),
        (18, "tty", Kind::Flag),
        (20, "terminationMessagePolicy", Kind::Str),
        (24, "restartPolicy", Kind::Str),
    ],
};

/// A pod spec's scalar fields (Go writes every plain one) and its containers.
static POD_SPEC: Message = Message {
    name: "PodSpec",
    fields: &[
        (2, "containers", Kind::RepeatedMessage(&CONTAINER)),
        (3, "restartPolicy", Kind::Str),
        (4, "terminationGracePeriodSeconds", Kind::Int),
        (5, "activeDeadlineSeconds", Kind::Int),
        (6, "dnsPolicy", Kind::Str),
        (7, "nodeSelector", Kind::StrMap),
        (8, "serviceAccountName", Kind::Str),
        (9, "serviceAccount", Kind::Str),
        (10, "nodeName", Kind::Str),
        (11, "hostNetwork", Kind::Flag),
        (12, "hostPID", Kind::Flag),
        (13, "hostIPC", Kind::Flag),
        (
            15,
            "imagePullSecrets",
            Kind::RepeatedMessage(&LOCAL_OBJECT_REFERENCE),
        ),
        (16, "hostname", Kind::Str),
        (17, "subdomain", Kind::Str),
        (19, "schedulerName", Kind::Str),
        (20, "initContainers", Kind::RepeatedMessage(&CONTAINER)),
        (21, "automountServiceAccountToken", Kind::Bool),
        (24, "priorityClassName", Kind::Str),
        (25, "priority", Kind::Int),
        (27, "shareProcessNamespace", Kind::Bool),
        (29, "runtimeClassName", Kind::Str),
        (30, "enableServiceLinks", Kind::Bool),
        (31, "preemptionPolicy", Kind::Str),
        (35, "setHostnameAsFQDN", Kind::Bool),
        (37, "hostUsers", Kind::Bool),
        (41, "hostnameOverride", Kind::Str),
    ],
};

static POD_TEMPLATE_SPEC: Message = Message {
    name: "PodTemplateSpec",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&POD_SPEC)),
    ],
};

static POD: Message = Message {
    name: "Pod",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&POD_SPEC)),
        (3, "status", Kind::Ignored),
    ],
};

static ROLLING_UPDATE_DEPLOYMENT: Message = Message {
    name: "RollingUpdateDeployment",
    fields: &[
        (1, "maxUnavailable", Kind::IntOrString),
        (2, "maxSurge", Kind::IntOrString),
    ],
};

static DEPLOYMENT_STRATEGY: Message = Message {
    name: "DeploymentStrategy",
    fields: &[
        (1, "type", Kind::Str),
        (
            2,
            "rollingUpdate",
            Kind::Message(&ROLLING_UPDATE_DEPLOYMENT),
        ),
    ],
};

static DEPLOYMENT_SPEC: Message = Message {
    name: "DeploymentSpec",
    fields: &[
        (1, "replicas", Kind::Int),
        (2, "selector", Kind::Message(&LABEL_SELECTOR)),
        (3, "template", Kind::Message(&POD_TEMPLATE_SPEC)),
        (4, "strategy", Kind::Message(&DEPLOYMENT_STRATEGY)),
        (5, "minReadySeconds", Kind::Count),
        (6, "revisionHistoryLimit", Kind::Int),
        (7, "paused", Kind::Flag),
        (9, "progressDeadlineSeconds", Kind::Int),
    ],
};

static DEPLOYMENT: Message = Message {
    name: "Deployment",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&DEPLOYMENT_SPEC)),
        (3, "status", Kind::Ignored),
    ],
};

static SERVICE_PORT: Message = Message {
    name: "ServicePort",
    fields: &[
        (1, "name", Kind::Str),
        (2, "protocol", Kind::Str),
        (3, "port", Kind::Int),
        (4, "targetPort", Kind::IntOrString),
        (5, "nodePort", Kind::Count),
        (6, "appProtocol", Kind::Str),
    ],
};

static SERVICE_SPEC: Message = Message {
    name: "ServiceSpec",
    fields: &[
        (1, "ports", Kind::RepeatedMessage(&SERVICE_PORT)),
        (2, "selector", Kind::StrMap),
        (3, "clusterIP", Kind::Str),
        (4, "type", Kind::Str),
        (5, "externalIPs", Kind::RepeatedStr),
        (7, "sessionAffinity", Kind::Str),
        (8, "loadBalancerIP", Kind::Str),
        (9, "loadBalancerSourceRanges", Kind::RepeatedStr),
        (10, "externalName", Kind::Str),
        (11, "externalTrafficPolicy", Kind::Str),
        (12, "healthCheckNodePort", Kind::Count),
        (13, "publishNotReadyAddresses", Kind::Flag),
        (17, "ipFamilyPolicy", Kind::Str),
        (18, "clusterIPs", Kind::RepeatedStr),
        (19, "ipFamilies", Kind::RepeatedStr),
        (20, "allocateLoadBalancerNodePorts", Kind::Bool),
        (21, "loadBalancerClass", Kind::Str),
        (22, "internalTrafficPolicy", Kind::Str),
        (23, "trafficDistribution", Kind::Str),
    ],
};

static SERVICE: Message = Message {
    name: "Service",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&SERVICE_SPEC)),
        (3, "status", Kind::Ignored),
    ],
};

static POD_DISRUPTION_BUDGET_SPEC: Message = Message {
    name: "PodDisruptionBudgetSpec",
    fields: &[
        (1, "minAvailable", Kind::IntOrString),
        (2, "selector", Kind::Message(&LABEL_SELECTOR)),
        (3, "maxUnavailable", Kind::IntOrString),
        (4, "unhealthyPodEvictionPolicy", Kind::Str),
    ],
};

static POD_DISRUPTION_BUDGET: Message = Message {
    name: "PodDisruptionBudget",
    fields: &[
        (1, "metadata", Kind::Message(&OBJECT_META)),
        (2, "spec", Kind::Message(&POD_DISRUPTION_BUDGET_SPEC)),
        (3, "status", Kind::Ignored),
    ],
};

/// `intstr.IntOrString`: `type` 0 is the number, 1 the string.
pub static INT_OR_STRING: Message = Message {
    name: "IntOrString",
    fields: &[
        (1, "type", Kind::Int),
        (2, "intVal", Kind::Int),
        (3, "strVal", Kind::Str),
    ],
};

/// `resource.Quantity`: its canonical text.
pub static QUANTITY: Message = Message {
    name: "Quantity",
    fields: &[(1, "string", Kind::Str)],
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
        ("v1", "Service") => &SERVICE,
        ("v1", "Pod") => &POD,
        ("apps/v1", "Deployment") => &DEPLOYMENT,
        ("policy/v1", "PodDisruptionBudget") => &POD_DISRUPTION_BUDGET,
        ("rbac.authorization.k8s.io/v1", "Role") => &ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => &CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => &ROLE_BINDING,
        _ => return None,
    };
    Some(message)
}
