//! Reading manifests and observed topologies from files, as `sfb-dr plan` and the simulator do.
//!
//! A manifest is checked the way the API server would check it: known kind, no unknown fields
//! (strict field validation), the CRD's CEL rules, then the typed fields. Every error is one line
//! naming the file, the object and the field. Objects of other API groups (the Namespace, the
//! driver's Secret, its Role, as a GitOps folder holds them) are kept unread and reported as
//! skipped; an `sfbdr.io` object of an unknown version is an error.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::api::{CentralManagementStore, PoolPair, Site, Topology, GROUP, VERSION};
use crate::model::printable::printable;
use crate::model::ObservedTopology;

mod document;
mod schema;

use document::Document;
use schema::checked;

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

/// One line: names and values from the input show their control characters escaped.
impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", printable(&self.file))?;
        if let Some(o) = &self.object {
            write!(f, ": {}", printable(o))?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {}", printable(field))?;
        }
        write!(f, ": {}", printable(&self.message))
    }
}

/// An object and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub source: String,
    pub object: T,
}

/// An object of another kind than sfb-dr's (a Namespace, the driver's Secret, a Role): not
/// read, kept as written so `sfb-dr sandbox` can apply it as `kubectl apply` would.
#[derive(Debug, Clone, PartialEq)]
pub struct Other {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The document as written.
    pub value: Value,
}

/// Every sfb-dr object found in the manifests, in the order read, and the objects of other
/// kinds beside them.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    pub topologies: Vec<Sourced<Topology>>,
    pub sites: Vec<Sourced<Site>>,
    pub pairs: Vec<Sourced<PoolPair>>,
    pub cms: Vec<Sourced<CentralManagementStore>>,
    pub others: Vec<Sourced<Other>>,
}

impl Manifests {
    /// Whether no sfb-dr object was found at all.
    pub fn is_empty(&self) -> bool {
        self.topologies.is_empty()
            && self.sites.is_empty()
            && self.pairs.is_empty()
            && self.cms.is_empty()
    }

    /// The namespaces the objects name (an object without one belongs to whichever is chosen).
    pub fn namespaces(&self) -> BTreeSet<String> {
        fn of<T: kube::ResourceExt>(v: &[Sourced<T>]) -> impl Iterator<Item = String> + '_ {
            v.iter().filter_map(|s| s.object.namespace())
        }
        of(&self.topologies)
            .chain(of(&self.sites))
            .chain(of(&self.pairs))
            .chain(of(&self.cms))
            .collect()
    }

    /// Only the objects of `namespace`, and those that name none.
    pub fn in_namespace(mut self, namespace: &str) -> Manifests {
        fn keep<T: kube::ResourceExt>(v: &mut Vec<Sourced<T>>, ns: &str) {
            v.retain(|s| s.object.namespace().is_none_or(|n| n == ns));
        }
        keep(&mut self.topologies, namespace);
        keep(&mut self.sites, namespace);
        keep(&mut self.pairs, namespace);
        keep(&mut self.cms, namespace);
        self
    }

    /// The namespaces `Namespace` documents declare.
    pub fn declared_namespaces(&self) -> BTreeSet<String> {
        self.others
            .iter()
            .filter(|o| o.object.is_namespace())
            .map(|o| o.object.name.clone())
            .collect()
    }

    /// One line per object of another kind, saying it was skipped (for standard error).
    pub fn skipped(&self) -> Vec<String> {
        self.others
            .iter()
            .map(|o| {
                let other = &o.object;
                let what = if other.name.is_empty() {
                    other.kind.clone()
                } else if other.is_namespace() {
                    format!(
                        "Namespace {} (declares the namespace {})",
                        other.name, other.name
                    )
                } else {
                    match &other.namespace {
                        Some(ns) => format!("{} {ns}/{}", other.kind, other.name),
                        None => format!("{} {}", other.kind, other.name),
                    }
                };
                format!(
                    "{}: skipped {} ({}): not an sfb-dr object",
                    printable(&o.source),
                    printable(&what),
                    printable(&other.api_version)
                )
            })
            .collect()
    }

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

/// The path that means standard input, as `-f -` and `--observed -` take it.
pub const STDIN: &str = "-";

/// Whether `path` means standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// Reads a file, or standard input for [`STDIN`]; returns the name to report and the text.
fn read_source(path: &Path) -> Result<(String, String), ManifestError> {
    let (name, text) = if is_stdin(path) {
        let mut text = String::new();
        let read = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
        ("<stdin>".to_owned(), read.map(|_| text))
    } else {
        (path.display().to_string(), std::fs::read_to_string(path))
    };
    let text = text.map_err(|e| ManifestError {
        file: name.clone(),
        object: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    Ok((name, text))
}

/// Reads manifests from files and directories (`.yaml`, `.yml`, `.json`, not recursing) and
/// standard input ([`STDIN`], once), skipping `skip` (the observed topology may sit beside the
/// manifests). An object given twice in one namespace replaces the earlier one, as a second
/// `kubectl apply` would.
pub fn load(paths: &[PathBuf], skip: Option<&Path>) -> Result<Manifests, ManifestError> {
    let skip = skip.and_then(|p| p.canonicalize().ok());
    let mut manifests = Manifests::default();
    let mut stdin_read = false;
    for path in paths {
        let files = if is_stdin(path) {
            if std::mem::replace(&mut stdin_read, true) {
                return Err(ManifestError {
                    file: "<stdin>".into(),
                    object: None,
                    field: None,
                    message: "standard input (-) can be read once only".into(),
                });
            }
            vec![path.clone()]
        } else {
            files(path)?
        };
        for file in files {
            if skip.is_some() && file.canonicalize().ok() == skip {
                continue;
            }
            let (name, text) = read_source(&file)?;
            parse_into(&mut manifests, &text, &name)?;
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
fn documents(text: &str, file: &str) -> Result<Vec<Document>, ManifestError> {
    if let Some(line) = kube_sandbox::nesting::too_deep(text) {
        return Err(ManifestError {
            file: file.to_owned(),
            object: None,
            field: None,
            message: format!(
                "line {line}: nested more than {} levels deep; no manifest needs that",
                kube_sandbox::nesting::MAX_DEPTH
            ),
        });
    }
    let mut out = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let doc = document::read(de).map_err(|e| ManifestError {
            file: file.to_owned(),
            object: None,
            field: None,
            message: format!("document {}: not valid YAML or JSON: {e}", i + 1),
        })?;
        if !doc.value.is_null() || !doc.out_of_range.is_empty() {
            out.push(doc);
        }
    }
    Ok(out)
}

/// The error for the first number no field can hold, once the object is known.
fn out_of_range(doc: &Document) -> Option<(String, String)> {
    let (path, text) = doc.out_of_range.first()?;
    Some((
        path.clone(),
        format!("{text} is out of range: sfb-dr's numbers fit in 64 bits"),
    ))
}

impl Other {
    fn is_namespace(&self) -> bool {
        self.kind == "Namespace" && self.api_version == "v1"
    }
}

fn add_object(m: &mut Manifests, doc: Document, source: String) -> Result<(), ManifestError> {
    let mut error = ManifestError {
        file: source,
        object: None,
        field: None,
        message: String::new(),
    };
    let (kind, name) = match identify(&doc.value) {
        Ok(Identified::Ours { kind, name }) => (kind, name),
        Ok(Identified::Other(other)) => {
            // Another kind is kept as written; a second copy replaces the first, as a second
            // `kubectl apply` would.
            m.others.retain(|o| {
                (
                    &o.object.api_version,
                    &o.object.kind,
                    &o.object.name,
                    &o.object.namespace,
                ) != (
                    &other.api_version,
                    &other.kind,
                    &other.name,
                    &other.namespace,
                )
            });
            m.others.push(Sourced {
                source: error.file,
                object: other,
            });
            return Ok(());
        }
        Err((object, field, message)) => {
            error.object = object;
            error.field = Some(field.into());
            error.message = message;
            return Err(error);
        }
    };
    error.object = Some(format!("{kind} {name}"));
    if let Some((field, message)) = out_of_range(&doc) {
        error.field = Some(field);
        error.message = message;
        return Err(error);
    }
    let doc = doc.value;
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

/// sfb-dr's kinds.
const KINDS: [&str; 4] = ["Topology", "Site", "PoolPair", "CentralManagementStore"];

/// What a document is: one of sfb-dr's objects (kind and name), or an object of another API
/// group, skipped.
enum Identified {
    Ours { kind: String, name: String },
    Other(Other),
}

/// The document's kind and name. An object of another API group is skipped; one of sfb-dr's
/// group in an unknown version is an error, as a misspelt version must not pass unread.
fn identify(doc: &Value) -> Result<Identified, Unidentified> {
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
    let ours = api_version == expected;
    // Another API group is skipped; anything that may be a misspelt sfb-dr object (one of its
    // kinds, its group in any spelling, a version without a group other than core's `v1`) is
    // an error, so it never passes unread.
    let maybe_ours = KINDS.contains(&kind)
        || api_version.to_ascii_lowercase().contains("sfbdr")
        || (!api_version.contains('/') && api_version != "v1");
    if !ours && !maybe_ours {
        if kind == "List" {
            return Err((
                Some(kind.to_owned()),
                "kind",
                "a List is not read: give its items as documents of their own".into(),
            ));
        }
        let name = doc.pointer("/metadata/name").and_then(Value::as_str);
        let annotations = doc.pointer("/metadata/annotations");
        if annotations.is_some_and(|a| !a.is_object() && !a.is_null()) {
            return Err((
                Some(kind.to_owned()),
                "metadata.annotations",
                "must be a map of strings".into(),
            ));
        }
        return Ok(Identified::Other(Other {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            // A Kustomization and other files a GitOps folder holds may have no name.
            name: name.unwrap_or_default().to_owned(),
            namespace: doc
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            value: doc.clone(),
        }));
    }
    if !ours {
        return Err((
            Some(kind.to_owned()),
            "apiVersion",
            format!("unknown apiVersion {api_version} (sfb-dr reads {expected})"),
        ));
    }
    let Some(name) = doc.pointer("/metadata/name").and_then(Value::as_str) else {
        return Err((Some(kind.to_owned()), "metadata.name", "missing".into()));
    };
    // What the API server would refuse: names are DNS subdomains, namespaces DNS labels.
    if !crate::api::names::is_subdomain(name) {
        return Err((
            Some(kind.to_owned()),
            "metadata.name",
            format!("must be {}", crate::api::names::SUBDOMAIN_RULE),
        ));
    }
    if let Some(ns) = doc.pointer("/metadata/namespace").and_then(Value::as_str) {
        if !crate::api::names::is_label(ns) {
            return Err((
                Some(kind.to_owned()),
                "metadata.namespace",
                format!("must be {}", crate::api::names::LABEL_RULE),
            ));
        }
    }
    Ok(Identified::Ours {
        kind: kind.to_owned(),
        name: name.to_owned(),
    })
}

fn replace<T: kube::ResourceExt>(list: &mut Vec<Sourced<T>>, source: String, object: T) {
    let (name, namespace) = (object.name_any(), object.namespace());
    list.retain(|s| s.object.name_any() != name || s.object.namespace() != namespace);
    list.push(Sourced { source, object });
}

/// Reads an observed topology (JSON or YAML) from a file or standard input ([`STDIN`]), naming
/// the field at fault.
pub fn load_observed(path: &Path) -> Result<ObservedTopology, ManifestError> {
    let (source, text) = read_source(path)?;
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
    if let Some((field, message)) = out_of_range(&doc) {
        return Err(error(Some(field), message));
    }
    serde_path_to_error::deserialize(&doc.value).map_err(|e| {
        let path = e.path().to_string();
        error((path != ".").then_some(path), e.into_inner().to_string())
    })
}
