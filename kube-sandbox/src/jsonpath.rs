//! The Kubernetes JSONPath dialect used by `additionalPrinterColumns`: dotted fields,
//! `[n]`, `[*]`, `['key']` and filters such as `[?(@.type=="Ready")]`.

use serde_json::Value;

/// A path that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath {path:?}: {reason}")]
pub struct PathError {
    path: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    path: Vec<Step>,
    comparison: Option<(Op, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses `.a.b[0]`, optionally wrapped in `{ }` and prefixed with `$`.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        let trimmed = path.trim();
        let trimmed = trimmed
            .strip_prefix('{')
            .and_then(|p| p.strip_suffix('}'))
            .unwrap_or(trimmed);
        let trimmed = trimmed.strip_prefix('$').unwrap_or(trimmed);
        let steps = parse_steps(trimmed).map_err(|reason| PathError {
            path: path.to_string(),
            reason,
        })?;
        Ok(JsonPath { steps })
    }

    /// Every value the path selects, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        evaluate(&self.steps, vec![root])
    }
}

fn parse_steps(input: &str) -> Result<Vec<Step>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let name: String = chars[start..i.min(chars.len())].iter().collect();
                let name = name.replace("\\.", ".");
                if name == "*" {
                    steps.push(Step::Wildcard);
                } else if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
            }
            '[' => {
                let end = find_closing(&chars, i).ok_or("unterminated [")?;
                let inner: String = chars[i + 1..end].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = end + 1;
            }
            c if c.is_whitespace() => i += 1,
            _ => {
                // A leading bare field name, as in `metadata.name`.
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                steps.push(Step::Field(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(steps)
}

/// Finds the `]` matching the `[` at `open`, skipping quoted strings and nested brackets.
fn find_closing(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, &c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(filter) = inner.strip_prefix('?') {
        let filter = filter.trim();
        let body = filter
            .strip_prefix('(')
            .and_then(|f| f.strip_suffix(')'))
            .unwrap_or(filter)
            .trim();
        return parse_filter(body).map(Step::Filter);
    }
    if let Some(quoted) = unquote(inner) {
        return Ok(Step::Field(quoted));
    }
    inner
        .parse::<i64>()
        .map(Step::Index)
        .map_err(|_| format!("unsupported subscript [{inner}]"))
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    ['"', '\''].iter().find_map(|q| {
        s.strip_prefix(*q)
            .and_then(|r| r.strip_suffix(*q))
            .map(str::to_string)
    })
}

fn parse_filter(body: &str) -> Result<Filter, String> {
    const OPS: &[(&str, Op)] = &[
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let found = OPS
        .iter()
        .find_map(|(text, op)| body.find(text).map(|at| (at, *text, *op)));
    let (left, comparison) = match found {
        Some((at, text, op)) => {
            let literal = body[at + text.len()..].trim();
            let value = unquote(literal)
                .map(Value::String)
                .or_else(|| serde_json::from_str(literal).ok())
                .ok_or_else(|| format!("unsupported literal {literal}"))?;
            (body[..at].trim(), Some((op, value)))
        }
        None => (body, None),
    };
    let relative = left.strip_prefix('@').ok_or("filters must start with @")?;
    Ok(Filter {
        path: parse_steps(relative)?,
        comparison,
    })
}

fn evaluate<'a>(steps: &[Step], mut current: Vec<&'a Value>) -> Vec<&'a Value> {
    for step in steps {
        let mut next = Vec::new();
        for value in current {
            match step {
                Step::Field(name) => next.extend(value.get(name)),
                Step::Index(i) => {
                    if let Some(items) = value.as_array() {
                        let index = if *i < 0 { items.len() as i64 + i } else { *i };
                        next.extend(usize::try_from(index).ok().and_then(|i| items.get(i)));
                    }
                }
                Step::Wildcard => match value {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
                Step::Filter(filter) => {
                    if let Some(items) = value.as_array() {
                        next.extend(items.iter().filter(|item| filter.accepts(item)));
                    }
                }
            }
        }
        current = next;
    }
    current
}

impl Filter {
    fn accepts(&self, item: &Value) -> bool {
        let found = evaluate(&self.path, vec![item]);
        match &self.comparison {
            None => !found.is_empty(),
            Some((op, literal)) => found.iter().any(|v| compare(v, *op, literal)),
        }
    }
}

fn compare(left: &Value, op: Op, right: &Value) -> bool {
    match op {
        Op::Eq => left == right,
        Op::Ne => left != right,
        _ => match (left.as_f64(), right.as_f64()) {
            (Some(l), Some(r)) => match op {
                Op::Lt => l < r,
                Op::Le => l <= r,
                Op::Gt => l > r,
                _ => l >= r,
            },
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ready_filter_selects_the_ready_conditions_status() {
        let obj = json!({"status": {"conditions": [
            {"type": "Synced", "status": "True"},
            {"type": "Ready", "status": "False"}
        ]}});
        let path =
            JsonPath::parse(r#".status.conditions[?(@.type=="Ready")].status"#).expect("parses");
        assert_eq!(path.find(&obj), vec![&json!("False")]);
    }

    #[test]
    fn braces_indexes_and_quoted_keys_are_understood() {
        let obj =
            json!({"metadata": {"labels": {"app.kubernetes.io/name": "web"}}, "items": [1, 2, 3]});
        let label =
            JsonPath::parse("{.metadata.labels['app.kubernetes.io/name']}").expect("parses");
        assert_eq!(label.find(&obj), vec![&json!("web")]);
        let last = JsonPath::parse(".items[-1]").expect("parses");
        assert_eq!(last.find(&obj), vec![&json!(3)]);
    }
}
