//! What the verbs read from an HTTP request on a resource: query parameters turned into list,
//! write and table options, and the body decoded from JSON or YAML.

use std::collections::HashMap;

use axum::http::{header, HeaderMap, Method};
use serde_json::Value;

use crate::api_error::ApiError;
use crate::rest::{self, ListOptions, Target, WriteOptions};
use crate::selector::{FieldSelector, LabelSelector};
use crate::table::{self, IncludeObject};
use crate::validation::FieldValidation;

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
        serde_json::from_slice(&self.body).or_else(|json_error| {
            serde_yaml::from_slice(&self.body).map_err(|_| {
                ApiError::BadRequest(format!(
                    "the request body is neither JSON nor YAML: {json_error}"
                ))
            })
        })
    }

    /// `fieldManager`, `fieldValidation`, `dryRun` and `force`.
    pub fn write_options(&self) -> WriteOptions {
        let explicit = self.param("fieldManager");
        let user_agent = header_value(&self.headers, header::USER_AGENT);
        let derived = user_agent
            .split('/')
            .next()
            .unwrap_or("unknown")
            .to_string();
        WriteOptions {
            field_manager: explicit.map(str::to_string).unwrap_or(derived),
            explicit_manager: explicit.is_some(),
            validation: FieldValidation::parse(self.param("fieldValidation")),
            dry_run: self.param("dryRun") == Some("All"),
            force: self.flag("force"),
        }
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
            fields: FieldSelector::parse(&fields, &rest::selectable_fields(&target.rt))?,
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
