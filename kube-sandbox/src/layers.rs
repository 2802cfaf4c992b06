//! The crate's layers, bottom to top. A module imports only modules listed before it (in its
//! own layer or below), so the crate reads from the bottom up and has no import cycles; the
//! test below fails when a module reaches up, or when a new module is not placed here.

/// Each layer's name and modules, bottom first.
pub const LAYERS: &[(&str, &[&str])] = &[
    (
        "shared metadata types",
        &[
            "api_error",
            "meta",
            "selector",
            "jsonpath",
            "protobuf_messages",
            "protobuf",
            "identity",
            "traffic",
            "events",
            "merge_strategy",
            "nesting",
        ],
    ),
    (
        "kinds and CRDs",
        &[
            "kind",
            "names",
            "builtins",
            "crd",
            "schema",
            "builtin_schemas",
            "table",
        ],
    ),
    ("registry and store", &["registry", "store", "state"]),
    (
        "validation, apply and patch",
        &[
            "validation",
            "managed_fields",
            "apply",
            "patch",
            "config_data",
            "builtin_validation",
            "defaults",
            "preconditions",
        ],
    ),
    ("admission", &["admission"]),
    (
        "cluster-level behaviour",
        &[
            "termination",
            "rest",
            "listing",
            "scale",
            "garbage",
            "deletion",
            "rbac",
            "token_request",
            "review",
            "bootstrap",
            "cluster",
            "controllers",
            "watch",
        ],
    ),
    (
        "HTTP handlers",
        &[
            "route",
            "request",
            "access",
            "discovery",
            "openapi",
            "tls",
            "kubeconfig",
        ],
    ),
    ("server", &["server", "sandbox"]),
];

#[cfg(test)]
mod tests {
    use super::LAYERS;

    /// Every module's source, so the test reads what each one imports.
    const SOURCES: &[(&str, &str)] = &[
        ("access", include_str!("access.rs")),
        ("admission", include_str!("admission.rs")),
        ("api_error", include_str!("api_error.rs")),
        ("apply", include_str!("apply.rs")),
        ("bootstrap", include_str!("bootstrap.rs")),
        ("builtin_schemas", include_str!("builtin_schemas.rs")),
        ("builtin_validation", include_str!("builtin_validation.rs")),
        ("builtins", include_str!("builtins.rs")),
        ("cluster", include_str!("cluster.rs")),
        ("config_data", include_str!("config_data.rs")),
        ("controllers", include_str!("controllers.rs")),
        ("crd", include_str!("crd.rs")),
        ("defaults", include_str!("defaults.rs")),
        ("deletion", include_str!("deletion.rs")),
        ("discovery", include_str!("discovery.rs")),
        ("events", include_str!("events.rs")),
        ("garbage", include_str!("garbage.rs")),
        ("identity", include_str!("identity.rs")),
        ("jsonpath", include_str!("jsonpath.rs")),
        ("kind", include_str!("kind.rs")),
        ("kubeconfig", include_str!("kubeconfig.rs")),
        ("listing", include_str!("listing.rs")),
        ("managed_fields", include_str!("managed_fields.rs")),
        ("merge_strategy", include_str!("merge_strategy.rs")),
        ("nesting", include_str!("nesting.rs")),
        ("meta", include_str!("meta.rs")),
        ("names", include_str!("names.rs")),
        ("openapi", include_str!("openapi.rs")),
        ("patch", include_str!("patch.rs")),
        ("preconditions", include_str!("preconditions.rs")),
        ("protobuf", include_str!("protobuf.rs")),
        ("protobuf_messages", include_str!("protobuf_messages.rs")),
        ("rbac", include_str!("rbac.rs")),
        ("registry", include_str!("registry.rs")),
        ("request", include_str!("request.rs")),
        ("rest", include_str!("rest.rs")),
        ("review", include_str!("review.rs")),
        ("route", include_str!("route.rs")),
        ("sandbox", include_str!("sandbox.rs")),
        ("scale", include_str!("scale.rs")),
        ("schema", include_str!("schema.rs")),
        ("selector", include_str!("selector.rs")),
        ("server", include_str!("server.rs")),
        ("state", include_str!("state.rs")),
        ("store", include_str!("store.rs")),
        ("table", include_str!("table.rs")),
        ("termination", include_str!("termination.rs")),
        ("tls", include_str!("tls.rs")),
        ("token_request", include_str!("token_request.rs")),
        ("traffic", include_str!("traffic.rs")),
        ("validation", include_str!("validation.rs")),
        ("watch", include_str!("watch.rs")),
    ];

    fn order() -> Vec<&'static str> {
        LAYERS
            .iter()
            .flat_map(|(_, modules)| modules.iter().copied())
            .collect()
    }

    /// The module name `text` starts with.
    fn leading_name(text: &str) -> &str {
        let end = text
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(text.len());
        &text[..end]
    }

    /// The crate modules a source names through `crate::`, grouped imports
    /// (`use crate::{a, b::c}`) included.
    fn imports(source: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for (at, _) in source.match_indices("crate::") {
            let rest = &source[at + "crate::".len()..];
            let Some(group) = rest.strip_prefix('{') else {
                out.push(leading_name(rest));
                continue;
            };
            // The names at the group's top level, up to its closing brace.
            let (mut depth, mut start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(leading_name(group[start..i].trim_start()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(leading_name(group[start..i].trim_start()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        }
        out.retain(|name| !name.is_empty());
        out
    }

    #[test]
    fn grouped_imports_name_each_module() {
        assert_eq!(
            imports(
                "use crate::{rest::Handler, store::{Store, Key},\n    kinds};\nuse crate::gate;"
            ),
            ["rest", "store", "kinds", "gate"]
        );
    }

    #[test]
    fn every_module_is_placed_in_exactly_one_layer() {
        let declared: Vec<&str> = include_str!("lib.rs")
            .lines()
            .filter_map(|line| {
                let line = line.strip_prefix("pub ").unwrap_or(line);
                line.strip_prefix("mod ")?.strip_suffix(';')
            })
            .filter(|name| *name != "layers")
            .collect();
        let mut placed = order();
        placed.sort_unstable();
        let mut declared_sorted = declared.clone();
        declared_sorted.sort_unstable();
        assert_eq!(placed, declared_sorted);
        let mut sourced: Vec<&str> = SOURCES.iter().map(|(name, _)| *name).collect();
        sourced.sort_unstable();
        assert_eq!(sourced, declared_sorted);
    }

    #[test]
    fn no_module_imports_one_above_it() {
        let order = order();
        let position = |name: &str| order.iter().position(|m| *m == name);
        let mut violations = Vec::new();
        for (module, source) in SOURCES {
            let Some(mine) = position(module) else {
                continue;
            };
            for imported in imports(source) {
                match position(imported) {
                    Some(theirs) if theirs > mine => {
                        violations.push(format!("{module} imports {imported}"))
                    }
                    _ => {}
                }
            }
        }
        violations.sort();
        violations.dedup();
        assert!(violations.is_empty(), "{violations:#?}");
    }
}
