//! A linear bound on how deeply a YAML text nests, checked before the YAML parser sees it: for
//! some shapes (`{? {? ...`, deep `[`) the parser's cost grows with the square of the depth, up
//! to minutes for a few hundred kilobytes, and no Kubernetes object or sfb-dr manifest nests
//! beyond a few dozen levels. Both kube-sandbox's YAML bodies and sfb-dr's manifests use it.

/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 100;

/// The first line whose nesting may exceed [`MAX_DEPTH`], counting open flow collections
/// (`[`, `{`) and, at the start of a line, compact block entries (`- - -`, `? ? `). Quoting is
/// not followed, so a text with many unbalanced brackets inside strings is refused too: an
/// over-estimate, never an under-estimate.
pub fn too_deep(text: &str) -> Option<usize> {
    let mut flow: usize = 0;
    for (i, line) in text.lines().enumerate() {
        let rest = line.trim_start_matches(' ');
        let mut compact = 0;
        let mut tail = rest;
        while let Some(after) = tail.strip_prefix("- ").or_else(|| tail.strip_prefix("? ")) {
            compact += 1;
            tail = after.trim_start_matches(' ');
        }
        if flow.saturating_add(compact) > MAX_DEPTH {
            return Some(i + 1);
        }
        for c in line.bytes() {
            match c {
                b'[' | b'{' => {
                    flow += 1;
                    if flow > MAX_DEPTH {
                        return Some(i + 1);
                    }
                }
                b']' | b'}' => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_and_compact_nesting_are_found_and_manifests_pass() {
        assert_eq!(too_deep(&"[".repeat(400_000)), Some(1));
        assert_eq!(
            too_deep(&format!("a: 1\nb: {}", "{x: ".repeat(101))),
            Some(2)
        );
        assert_eq!(too_deep(&"- ".repeat(101)), Some(1));
        assert_eq!(too_deep(&"[".repeat(100)), None);
        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {x: y}}\n\
                        data:\n  list: |\n    - [a, {b: c}]\n";
        assert_eq!(too_deep(manifest), None);
    }
}
