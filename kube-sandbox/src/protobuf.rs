//! Decoding the Kubernetes protobuf encoding for the few built-in kinds kubectl's typed
//! generators send that way (`kubectl create namespace|configmap|secret|serviceaccount`, and
//! the reviews behind `kubectl auth`).
//! Everything else stays JSON; an unknown kind or field is refused rather than guessed at.
//! Field numbers follow `k8s.io/api/core/v1/generated.proto` and apimachinery's `generated.proto`.

use serde_json::{json, Map, Value};

/// The 4-byte prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The bytes are not well-formed protobuf.
    #[error("malformed protobuf body: {0}")]
    Malformed(&'static str),
    /// The kind is not one the sandbox decodes.
    #[error("protobuf bodies are only understood for Namespace, ConfigMap, Secret, ServiceAccount, TokenRequest and the access reviews, not {0}")]
    UnsupportedKind(String),
    /// A field the decoder does not know, which it refuses to drop silently.
    #[error("unknown protobuf field {field} in {message}")]
    UnknownField {
        /// The message being decoded.
        message: &'static str,
        /// The unknown field number.
        field: u64,
    },
}

/// How one field's payload becomes JSON.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
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
struct Message {
    name: &'static str,
    fields: &'static [(u64, &'static str, Kind)],
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
        (7, "generation", Kind::Int),
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

static TIME: Message = Message {
    name: "Time",
    fields: &[(1, "seconds", Kind::Int), (2, "nanos", Kind::Int)],
};

/// A cursor over protobuf bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

/// One field's payload.
enum Payload<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self
                .bytes
                .split_first()
                .ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if n > self.bytes.len() {
            return Err(ProtobufError::Malformed("truncated field"));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    /// The next (field number, payload), or `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Payload<'a>)>, ProtobufError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let payload = match key & 7 {
            0 => Payload::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtobufError::Malformed("length"))?;
                Payload::Bytes(self.take(len)?)
            }
            1 => Payload::Bytes(self.take(8)?),
            5 => Payload::Bytes(self.take(4)?),
            _ => return Err(ProtobufError::Malformed("unsupported wire type")),
        };
        Ok(Some((key >> 3, payload)))
    }
}

fn text(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed("invalid UTF-8"))
}

/// Standard base64 with padding, as Kubernetes encodes `[]byte` fields in JSON.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A map entry message: key = 1, value = 2.
fn map_entry(bytes: &[u8]) -> Result<(String, &[u8]), ProtobufError> {
    let mut reader = Reader { bytes };
    let (mut key, mut value) = (String::new(), &[][..]);
    while let Some((number, payload)) = reader.field()? {
        match (number, payload) {
            (1, Payload::Bytes(b)) => key = text(b)?,
            (2, Payload::Bytes(b)) => value = b,
            _ => return Err(ProtobufError::Malformed("map entry")),
        }
    }
    Ok((key, value))
}

fn decode(message: &'static Message, bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut out = Map::new();
    let mut reader = Reader { bytes };
    while let Some((number, payload)) = reader.field()? {
        let Some((_, name, kind)) = message.fields.iter().find(|(n, _, _)| *n == number) else {
            return Err(ProtobufError::UnknownField {
                message: message.name,
                field: number,
            });
        };
        let name = (*name).to_string();
        match (kind, payload) {
            // Go writes unset optional strings as ""; JSON omits them, and so do we.
            (Kind::Str, Payload::Bytes(b)) => {
                let value = text(b)?;
                if !value.is_empty() {
                    out.insert(name, json!(value));
                }
            }
            (Kind::Bool, Payload::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Kind::Int, Payload::Varint(v)) => {
                out.insert(name, json!(v as i64));
            }
            (Kind::Time, Payload::Bytes(b)) => {
                let time = decode(&TIME, b)?;
                let seconds = time["seconds"].as_i64().unwrap_or(0);
                // An empty Time is the zero value, which JSON writes as null.
                if seconds != 0 {
                    if let Some(t) = chrono::DateTime::from_timestamp(seconds, 0) {
                        out.insert(
                            name,
                            json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                        );
                    }
                }
            }
            (Kind::StrMap, Payload::Bytes(b)) => {
                let (key, value) = map_entry(b)?;
                let entry = out.entry(name).or_insert_with(|| json!({}));
                entry[key] = json!(text(value)?);
            }
            (Kind::BytesMap, Payload::Bytes(b)) => {
                let (key, value) = map_entry(b)?;
                let entry = out.entry(name).or_insert_with(|| json!({}));
                entry[key] = json!(base64(value));
            }
            (Kind::RepeatedStr, Payload::Bytes(b)) => {
                let entry = out.entry(name).or_insert_with(|| json!([]));
                if let Some(list) = entry.as_array_mut() {
                    list.push(json!(text(b)?));
                }
            }
            (Kind::Ignored, _) => {}
            (Kind::Message(inner), Payload::Bytes(b)) => {
                out.insert(name, decode(inner, b)?);
            }
            (Kind::RepeatedMessage(inner), Payload::Bytes(b)) => {
                let item = decode(inner, b)?;
                let entry = out.entry(name).or_insert_with(|| json!([]));
                if let Some(list) = entry.as_array_mut() {
                    list.push(item);
                }
            }
            _ => {
                return Err(ProtobufError::Malformed(
                    "wire type does not match the field",
                ))
            }
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a `k8s\0`-prefixed `runtime.Unknown` envelope into the JSON object it carries.
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::Malformed("missing the k8s protobuf prefix"))?;
    let mut reader = Reader { bytes: envelope };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((number, payload)) = reader.field()? {
        match (number, payload) {
            (1, Payload::Bytes(type_meta)) => {
                let mut meta = Reader { bytes: type_meta };
                while let Some((n, p)) = meta.field()? {
                    match (n, p) {
                        (1, Payload::Bytes(b)) => api_version = text(b)?,
                        (2, Payload::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Payload::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let message = match (api_version.as_str(), kind.as_str()) {
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
        _ => {
            return Err(ProtobufError::UnsupportedKind(format!(
                "{api_version}/{kind}"
            )))
        }
    };
    let mut object = decode(message, raw)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_configmap_envelope_decodes_to_json() {
        let entry = [field(1, b"a"), field(2, b"b")].concat();
        let meta = field(1, b"cm");
        let raw = [field(1, &meta), field(2, &entry)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let object = decode_object(&body).expect("decodes");
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}})
        );
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi!"), "aGkh");
    }
}
