//! What the verbs read from an HTTP request on a resource: query parameters turned into list,
//! write and table options, and the body decoded from JSON or YAML.

use std::collections::HashMap;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Method};
use serde_json::Value;

use crate::api_error::{ApiError, Cause};
use crate::listing::{self, ListOptions};
use crate::patch::PatchType;
use crate::rest::{Target, WriteOptions};
use crate::selector::{FieldSelector, LabelSelector};
use crate::table::{self, IncludeObject};
use crate::traffic::Verb;
use crate::validation::FieldValidation;

/// The longest `fieldManager` the real server accepts.
const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// What is wrong with an explicit `fieldManager` (`ValidateFieldManager`).
fn field_manager_causes(manager: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        causes.push(Cause {
            reason: "FieldValueTooLong".into(),
            message: format!("Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"),
            field: "fieldManager".into(),
        });
    }
    let mut position = 0usize;
    for c in manager.chars() {
        if c.is_control() {
            causes.push(Cause::invalid(
                "fieldManager",
                format!(
                    "Invalid value: {manager:?}: invalid character U+{:04X} (at position {position})",
                    u32::from(c)
                ),
            ));
        }
        position = position.saturating_add(c.len_utf8());
    }
    causes
}

/// Largest request body accepted, as the real server's `MaxRequestBodyBytes` (3 MiB).
const BODY_LIMIT: usize = 3 * 1024 * 1024;
/// How much of an oversized body is read (and dropped) before the 413 is sent.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// The body, refused with 413 past the real server's limit.
pub async fn read_body(headers: &axum::http::HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT) {
        // Read what the client sends (up to a bound) before answering, so it sees the 413
        // rather than a connection closed under its upload.
        use futures::StreamExt;
        let mut stream = body.into_data_stream();
        let mut drained = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            drained = drained.saturating_add(chunk.len());
            if drained > DRAIN_LIMIT {
                break;
            }
        }
        return Err(ApiError::TooLarge(BODY_LIMIT));
    }
    match to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(error) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(e) = source {
                if e.to_string().contains("length limit exceeded") {
                    return Err(ApiError::TooLarge(BODY_LIMIT));
                }
                source = e.source();
            }
            Err(ApiError::BadRequest(format!(
                "could not read the body: {error}"
            )))
        }
    }
}

/// A header's value as text, empty when absent.
pub fn header_value(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A request on a resource path, with what the verbs need from it.
pub struct ResourceRequest {
    /// HTTP method.
    pub method: Method,
    /// Request headers.
    pub headers: HeaderMap,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// The Accept header.
    pub accept: String,
    /// The raw body.
    pub body: Vec<u8>,
}

impl ResourceRequest {
    /// A non-empty query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A boolean query parameter (`true` or `1`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    /// The body as JSON (or YAML, for apply); protobuf and CBOR are refused with 415.
    pub fn body_json(&self) -> Result<Value, ApiError> {
        let content_type = header_value(&self.headers, header::CONTENT_TYPE);
        if content_type.starts_with("application/vnd.kubernetes.protobuf") {
            return crate::protobuf::decode_object(&self.body).map_err(|e| {
                ApiError::UnsupportedMediaType(format!("application/json, application/yaml ({e})"))
            });
        }
        if content_type.contains("cbor") {
            return Err(ApiError::UnsupportedMediaType(
                "application/json, application/yaml".into(),
            ));
        }
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        // YAML only where the content type says so, as the real server decodes by media type
        // (and the YAML parser's cost grows with the square of a hostile body's nesting).
        let yaml = content_type.contains("yaml");
        serde_json::from_slice(&self.body).or_else(|json_error| {
            if !yaml {
                return Err(ApiError::BadRequest(format!(
                    "the request body is not valid JSON: {json_error}"
                )));
            }
            let text = String::from_utf8_lossy(&self.body);
            if let Some(line) = crate::nesting::too_deep(&text) {
                return Err(ApiError::BadRequest(format!(
                    "the YAML body nests more than {} levels deep (line {line})",
                    crate::nesting::MAX_DEPTH
                )));
            }
            serde_yaml::from_slice(&self.body).map_err(|_| {
                ApiError::BadRequest(format!(
                    "the request body is neither JSON nor YAML: {json_error}"
                ))
            })
        })
    }

    /// `fieldManager`, `fieldValidation`, `dryRun` and `force`, validated as the real server's
    /// `Validate{Create,Update,Patch}Options` do (422 on `CreateOptions.meta.k8s.io` and so on).
    /// `patch` is the patch type of a PATCH, `None` for a create or an update.
    pub fn write_options(
        &self,
        verb: Verb,
        patch: Option<PatchType>,
    ) -> Result<WriteOptions, ApiError> {
        let explicit = self.param("fieldManager");
        let mut causes = Vec::new();
        let kind = match verb {
            Verb::Create => "CreateOptions",
            Verb::Patch => "PatchOptions",
            _ => "UpdateOptions",
        };
        if verb == Verb::Patch {
            let apply = patch == Some(PatchType::Apply);
            if !apply && self.query.contains_key("force") {
                causes.push(Cause {
                    reason: "FieldValueForbidden".into(),
                    message: "Forbidden: may not be specified for non-apply patch".into(),
                    field: "force".into(),
                });
            }
            if apply && explicit.is_none() {
                causes.push(Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: is required for apply patch".into(),
                    field: "fieldManager".into(),
                });
            }
        }
        if let Some(manager) = explicit {
            causes.extend(field_manager_causes(manager));
        }
        if let Some(dry_run) = self.query.get("dryRun").filter(|d| d.as_str() != "All") {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!("Unsupported value: [{dry_run:?}]: supported values: \"All\""),
                field: "dryRun".into(),
            });
        }
        if let Some(validation) = self
            .query
            .get("fieldValidation")
            .filter(|v| !matches!(v.as_str(), "" | "Ignore" | "Strict" | "Warn"))
        {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!("Unsupported value: {validation:?}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""),
                field: "fieldValidation".into(),
            });
        }
        if !causes.is_empty() {
            return Err(ApiError::Invalid {
                kind: format!("{kind}.meta.k8s.io"),
                name: String::new(),
                causes,
            });
        }
        let user_agent = header_value(&self.headers, header::USER_AGENT);
        // As the real server does, a manager taken from the User-Agent is cut to the limit.
        let derived: String = user_agent
            .split('/')
            .next()
            .unwrap_or("unknown")
            .chars()
            .take(FIELD_MANAGER_MAX_LENGTH)
            .collect();
        Ok(WriteOptions {
            field_manager: explicit.map(str::to_string).unwrap_or(derived),
            validation: FieldValidation::parse(self.param("fieldValidation")),
            dry_run: self.param("dryRun") == Some("All"),
            force: self.flag("force"),
        })
    }

    /// Selectors and paging; a name in the path becomes a `metadata.name` selector.
    pub fn list_options(&self, target: &Target) -> Result<ListOptions, ApiError> {
        let mut fields = self.param("fieldSelector").unwrap_or_default().to_string();
        if let Some(name) = &target.name {
            // Watching a single object by path is a field selector on its name.
            fields = [fields, format!("metadata.name={name}")]
                .into_iter()
                .filter(|f| !f.is_empty())
                .collect::<Vec<_>>()
                .join(",");
        }
        Ok(ListOptions {
            labels: LabelSelector::parse(self.param("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(
                &fields,
                &listing::selectable_fields(&target.rt),
                target.rt.custom,
            )?,
            limit: self
                .param("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0),
            continue_from: self.param("continue").map(str::to_string),
        })
    }

    /// `Some` when the client wants a Table, with what rows carry.
    pub fn table(&self) -> Option<IncludeObject> {
        table::wants_table(&self.accept).then(|| IncludeObject::parse(self.param("includeObject")))
    }

    /// Whether the client wants `PartialObjectMetadata`.
    pub fn partial_metadata(&self) -> bool {
        self.accept
            .split(',')
            .next()
            .is_some_and(|first| first.contains("as=PartialObjectMetadata"))
    }
}
