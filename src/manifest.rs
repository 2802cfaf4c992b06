//! Reading manifests and observed topologies from files, as `sfb-dr plan` and the simulator do.
//!
//! A manifest is checked the way the API server would check it: known kind, no unknown fields
//! (strict field validation), the CRD's CEL rules, then the typed fields. Every error is one line
//! naming the file, the object and the field.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{CentralManagementStore, PoolPair, Site, Topology, GROUP, VERSION};
use crate::model::ObservedTopology;

/// A bad input file, with where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The file, and the document within it when the file has several.
    pub file: String,
    /// `Kind name`, when the object got that far.
    pub object: Option<String>,
    /// The field path, when one field is at fault.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(o) = &self.object {
            write!(f, ": {o}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// An object and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub source: String,
    pub object: T,
}

/// Every sfb-dr object found in the manifests, in the order read.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    pub topologies: Vec<Sourced<Topology>>,
    pub sites: Vec<Sourced<Site>>,
    pub pairs: Vec<Sourced<PoolPair>>,
    pub cms: Vec<Sourced<CentralManagementStore>>,
}

impl Manifests {
    /// Where the object `kind`/`name` was read from, for error messages.
    pub fn source_of(&self, kind: &str, name: &str) -> Option<&str> {
        fn find<'a, T: kube::ResourceExt>(v: &'a [Sourced<T>], name: &str) -> Option<&'a str> {
            v.iter()
                .rev()
                .find(|s| s.object.name_any() == name)
                .map(|s| s.source.as_str())
        }
        match kind {
            "Topology" => find(&self.topologies, name),
            "Site" => find(&self.sites, name),
            "PoolPair" => find(&self.pairs, name),
            "CentralManagementStore" => find(&self.cms, name),
            _ => None,
        }
    }
}

/// Reads manifests from files and directories (`.yaml`, `.yml`, `.json`, not recursing), skipping
/// `skip` (the observed topology may sit beside the manifests). An object given twice replaces
/// the earlier one, as a second `kubectl apply` would.
pub fn load(paths: &[PathBuf], skip: Option<&Path>) -> Result<Manifests, ManifestError> {
    let skip = skip.and_then(|p| p.canonicalize().ok());
    let mut manifests = Manifests::default();
    for path in paths {
        for file in files(path)? {
            if skip.is_some() && file.canonicalize().ok() == skip {
                continue;
            }
            let text = std::fs::read_to_string(&file).map_err(|e| ManifestError {
                file: file.display().to_string(),
                object: None,
                field: None,
                message: format!("cannot read: {e}"),
            })?;
            parse_into(&mut manifests, &text, &file.display().to_string())?;
        }
    }
    Ok(manifests)
}

fn files(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let error = |message: String| ManifestError {
        file: path.display().to_string(),
        object: None,
        field: None,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| error(format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| error(format!("cannot list: {e}")))? {
        let p = entry
            .map_err(|e| error(format!("cannot list: {e}")))?
            .path();
        let manifest_ext = matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        if manifest_ext && p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(error(
            "no .yaml, .yml or .json files in this directory".into(),
        ));
    }
    Ok(out)
}

/// Parses one file's text (YAML stream or JSON) into `manifests`.
pub fn parse_into(manifests: &mut Manifests, text: &str, file: &str) -> Result<(), ManifestError> {
    let docs = documents(text, file)?;
    let many = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let source = if many {
            format!("{file} (document {})", i + 1)
        } else {
            file.to_owned()
        };
        add_object(manifests, doc, source)?;
    }
    Ok(())
}

/// Splits a YAML stream (JSON is YAML) into JSON values, dropping empty documents.
fn documents(text: &str, file: &str) -> Result<Vec<Value>, ManifestError> {
    let error = |message: String| ManifestError {
        file: file.to_owned(),
        object: None,
        field: None,
        message,
    };
    let mut out = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(de)
            .map_err(|e| error(format!("document {}: not valid YAML or JSON: {e}", i + 1)))?;
        if value.is_null() {
            continue;
        }
        let json = serde_json::to_value(&value)
            .map_err(|e| error(format!("document {}: cannot be read as JSON: {e}", i + 1)))?;
        out.push(json);
    }
    Ok(out)
}

fn add_object(m: &mut Manifests, doc: Value, source: String) -> Result<(), ManifestError> {
    let mut error = ManifestError {
        file: source,
        object: None,
        field: None,
        message: String::new(),
    };
    let (kind, name) = match identify(&doc) {
        Ok(id) => id,
        Err((object, field, message)) => {
            error.object = object;
            error.field = Some(field.into());
            error.message = message;
            return Err(error);
        }
    };
    error.object = Some(format!("{kind} {name}"));
    let source = error.file.clone();
    let result = match kind.as_str() {
        "Topology" => checked(&doc).map(|o| replace(&mut m.topologies, source, o)),
        "Site" => checked(&doc).map(|o| replace(&mut m.sites, source, o)),
        "PoolPair" => checked(&doc).map(|o| replace(&mut m.pairs, source, o)),
        "CentralManagementStore" => checked(&doc).map(|o| replace(&mut m.cms, source, o)),
        other => Err((
            Some("kind".into()),
            format!(
                "unknown kind {other} (sfb-dr reads Topology, Site, PoolPair and CentralManagementStore)"
            ),
        )),
    };
    result.map_err(|(field, message)| {
        error.field = field;
        error.message = message;
        error
    })
}

type Unidentified = (Option<String>, &'static str, String);

/// The document's kind and name, once its apiVersion is ours.
fn identify(doc: &Value) -> Result<(String, String), Unidentified> {
    if !doc.is_object() {
        return Err((
            None,
            "document",
            "expected an object with apiVersion and kind".into(),
        ));
    }
    let Some(api_version) = doc.get("apiVersion").and_then(Value::as_str) else {
        return Err((
            None,
            "apiVersion",
            "missing: this is not a Kubernetes manifest (expected apiVersion sfbdr.io/v1alpha1)"
                .into(),
        ));
    };
    let Some(kind) = doc.get("kind").and_then(Value::as_str) else {
        return Err((None, "kind", "missing".into()));
    };
    let expected = format!("{GROUP}/{VERSION}");
    if api_version != expected {
        return Err((
            Some(kind.to_owned()),
            "apiVersion",
            format!("unknown apiVersion {api_version} (sfb-dr reads {expected})"),
        ));
    }
    let Some(name) = doc.pointer("/metadata/name").and_then(Value::as_str) else {
        return Err((Some(kind.to_owned()), "metadata.name", "missing".into()));
    };
    Ok((kind.to_owned(), name.to_owned()))
}

fn replace<T: kube::ResourceExt>(list: &mut Vec<Sourced<T>>, source: String, object: T) {
    let name = object.name_any();
    list.retain(|s| s.object.name_any() != name);
    list.push(Sourced { source, object });
}

/// A kind's openAPIV3Schema and its compiled CEL rules, built once per process.
struct KindSchema {
    schema: Value,
    compiled: kube::core::cel::CompiledSchema,
}

fn kind_schema<K: kube::CustomResourceExt>() -> &'static KindSchema {
    static SCHEMAS: OnceLock<Mutex<HashMap<String, &'static KindSchema>>> = OnceLock::new();
    let mut map = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(K::crd_name().to_owned()).or_insert_with(|| {
        let schema = serde_json::to_value(K::crd())
            .ok()
            .and_then(|crd| {
                crd.pointer("/spec/versions/0/schema/openAPIV3Schema")
                    .cloned()
            })
            .unwrap_or(Value::Null);
        let compiled = kube::core::cel::compile_schema(&schema);
        // Leaked once per kind: four small schemas for the life of the process.
        Box::leak(Box::new(KindSchema { schema, compiled }))
    })
}

/// Checks a document as the API server would: unknown fields, required fields and types, then
/// the CEL rules.
fn checked<K>(doc: &Value) -> Result<K, (Option<String>, String)>
where
    K: kube::CustomResourceExt + DeserializeOwned,
{
    let KindSchema { schema, compiled } = kind_schema::<K>();
    for key in ["spec", "status"] {
        if let (Some(v), Some(s)) = (doc.get(key), schema.pointer(&format!("/properties/{key}"))) {
            if let Some(path) = unknown_field(v, s, key.to_owned()) {
                return Err((Some(path), "unknown field".into()));
            }
        }
    }
    if let Some(top) = doc.as_object() {
        if let Some(k) = top
            .keys()
            .find(|k| !["apiVersion", "kind", "metadata", "spec", "status"].contains(&k.as_str()))
        {
            return Err((Some(k.clone()), "unknown field".into()));
        }
    }
    let object = serde_path_to_error::deserialize::<_, K>(doc).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        (field, e.into_inner().to_string())
    })?;
    if let Err(errors) = kube::core::cel::Validator::new().validate_compiled(compiled, doc, None) {
        if let Some(e) = errors.iter().next() {
            let field = (!e.field_path.is_empty()).then(|| e.field_path.clone());
            return Err((field, e.message.clone()));
        }
    }
    Ok(object)
}

/// The path of the first field the schema does not declare, if any.
pub(crate) fn unknown_field(value: &Value, schema: &Value, path: String) -> Option<String> {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return None;
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, v) in map {
                let child = format!("{path}.{k}");
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) | (None, Some(s)) => {
                        if let Some(found) = unknown_field(v, s, child) {
                            return Some(found);
                        }
                    }
                    (None, None) if props.is_some() => return Some(child),
                    (None, None) => {}
                }
            }
            None
        }
        Value::Array(items) => {
            let item_schema = schema.get("items")?;
            items
                .iter()
                .enumerate()
                .find_map(|(i, v)| unknown_field(v, item_schema, format!("{path}[{i}]")))
        }
        _ => None,
    }
}

/// Reads an observed topology (JSON or YAML), naming the field at fault.
pub fn load_observed(path: &Path) -> Result<ObservedTopology, ManifestError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
        file: source.clone(),
        object: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    parse_observed(&text, &source)
}

/// Parses an observed topology from text (JSON or YAML).
pub fn parse_observed(text: &str, source: &str) -> Result<ObservedTopology, ManifestError> {
    let error = |field: Option<String>, message: String| ManifestError {
        file: source.to_owned(),
        object: Some("observed topology".into()),
        field,
        message,
    };
    let mut docs = documents(text, source)?;
    if docs.len() != 1 {
        return Err(error(
            None,
            format!("expected one document, found {}", docs.len()),
        ));
    }
    let doc = docs.remove(0);
    serde_path_to_error::deserialize(&doc).map_err(|e| {
        let path = e.path().to_string();
        error((path != ".").then_some(path), e.into_inner().to_string())
    })
}
