//! Parsing the Kubernetes URL space, which is dynamic (it grows with every CRD), so it is
//! parsed by hand rather than declared as fixed routes.

/// The parts of an object or collection path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    /// API group ("" for `/api/v1`).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace segment, if the path has one.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub plural: String,
    /// Object name, if addressed.
    pub name: Option<String>,
    /// Subresource, such as `status`.
    pub subresource: Option<String>,
}

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`
    Version,
    /// `/healthz`, `/readyz`, `/livez`
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    Resources(String, String),
    /// `/openapi/v3`
    OpenApiRoot,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`
    OpenApiDocument(String, String),
    /// Anything under a group-version.
    Object(ObjectPath),
    /// Not a path the sandbox serves.
    Unknown,
}

/// Parses a request path.
pub fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group((*group).into()),
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", "api", version] => {
            Route::OpenApiDocument(String::new(), (*version).into())
        }
        ["openapi", "v3", "apis", group, version] => {
            Route::OpenApiDocument((*group).into(), (*version).into())
        }
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::Unknown,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    if rest.is_empty() {
        return Route::Resources(group.into(), version.into());
    }
    let owned = |s: Option<&&str>| s.map(|s| s.to_string());
    let namespaced = rest[0] == "namespaces"
        && rest.len() >= 3
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"));
    let (namespace, tail) = if namespaced {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    if tail.len() > 3 {
        return Route::Unknown;
    }
    Route::Object(ObjectPath {
        group: group.into(),
        version: version.into(),
        namespace,
        plural: tail[0].into(),
        name: owned(tail.get(1)),
        subresource: owned(tail.get(2)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaces_status_is_a_subresource_not_a_resource_named_status() {
        let Route::Object(path) = parse("/api/v1/namespaces/team/status") else {
            panic!("expected an object route");
        };
        assert_eq!(path.plural, "namespaces");
        assert_eq!(path.name.as_deref(), Some("team"));
        assert_eq!(path.subresource.as_deref(), Some("status"));
    }

    #[test]
    fn namespaced_custom_object_status_paths_parse() {
        let Route::Object(path) =
            parse("/apis/sandbox.test/v1/namespaces/default/widgets/w1/status")
        else {
            panic!("expected an object route");
        };
        assert_eq!(path.namespace.as_deref(), Some("default"));
        assert_eq!(path.plural, "widgets");
        assert_eq!(path.subresource.as_deref(), Some("status"));
    }
}
