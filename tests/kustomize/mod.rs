//! deploy/ as kubectl renders it: `kubectl kustomize <dir>` with the real kubectl, parsed into
//! the objects it prints, and the lookups the deploy tests make on them.
#![allow(dead_code)] // Each test crate uses a different subset.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The real kubectl.
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// The objects `kubectl kustomize dir` prints, in its order; panics with kubectl's error when
/// the build fails.
pub fn build(dir: &str) -> Vec<Value> {
    let out = Command::new(KUBECTL)
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8_lossy(&out.stdout))
}

/// Every YAML document of `text`, skipping empty ones.
pub fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("a YAML document"))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// The documents of a YAML file in the repository.
pub fn file(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    documents(&text)
}

/// The one object of `kind` named `name`.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} {name}, found {}",
        found.len()
    );
    found[0]
}

/// Every object of `kind`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The strings of a YAML list (empty when absent).
pub fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
