//! Decoding the Kubernetes protobuf encoding for the built-in kinds kubectl's typed
//! generators send that way (`kubectl create namespace|configmap|secret|serviceaccount|
//! service|deployment|pdb|role|rolebinding|clusterrole|clusterrolebinding`, `kubectl run`),
//! and the reviews behind `kubectl auth`.
//! Everything else stays JSON; an unknown kind or field is refused rather than guessed at.
//! Field numbers follow `k8s.io/api/core/v1/generated.proto` and apimachinery's `generated.proto`.

use serde_json::{json, Map, Value};

use crate::protobuf_messages::{self, Kind, Message, INT_OR_STRING, QUANTITY, TIME};

/// The 4-byte prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The bytes are not well-formed protobuf.
    #[error("malformed protobuf body: {0}")]
    Malformed(&'static str),
    /// The kind is not one the sandbox decodes.
    #[error("protobuf bodies are only understood for the kinds kubectl's generators send (Namespace, ConfigMap, Secret, ServiceAccount, Service, Pod, Deployment, PodDisruptionBudget, Role, ClusterRole, RoleBinding, ClusterRoleBinding), TokenRequest and the access reviews, not {0}; send JSON")]
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
            (Kind::Flag, Payload::Varint(v)) => {
                if v != 0 {
                    out.insert(name, json!(true));
                }
            }
            (Kind::Int, Payload::Varint(v)) => {
                out.insert(name, json!(v as i64));
            }
            (Kind::Count, Payload::Varint(v)) => {
                if v != 0 {
                    out.insert(name, json!(v as i64));
                }
            }
            (Kind::IntOrString, Payload::Bytes(b)) => {
                let value = decode(&INT_OR_STRING, b)?;
                let chosen = if value["type"].as_i64() == Some(1) {
                    json!(value["strVal"].as_str().unwrap_or_default())
                } else {
                    json!(value["intVal"].as_i64().unwrap_or(0))
                };
                out.insert(name, chosen);
            }
            (Kind::QuantityMap, Payload::Bytes(b)) => {
                let (key, value) = map_entry(b)?;
                let quantity = decode(&QUANTITY, value)?;
                let entry = out.entry(name).or_insert_with(|| json!({}));
                entry[key] = json!(quantity["string"].as_str().unwrap_or_default());
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
    let message = protobuf_messages::message_for(&api_version, &kind)
        .ok_or_else(|| ProtobufError::UnsupportedKind(format!("{api_version}/{kind}")))?;
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
