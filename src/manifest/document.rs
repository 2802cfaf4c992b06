//! One YAML (or JSON) document as a JSON value, with the path of every number no field can hold.
//!
//! A YAML library rejects an integer beyond 64 bits as "not valid YAML" before anything knows which
//! object it belongs to. Reading the document ourselves keeps such a number as a null and records
//! where it was, so the error can name the object and the field like any other bad value.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A document and the numbers in it that no field can hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Value,
    /// (field path, what was written there), in document order.
    pub out_of_range: Vec<(String, String)>,
}

/// Reads one document from a YAML deserializer.
pub fn read<'de, D: Deserializer<'de>>(de: D) -> Result<Document, D::Error> {
    let mut out_of_range = Vec::new();
    let value = Node {
        at: At::Root,
        out_of_range: &mut out_of_range,
    }
    .deserialize(de)?;
    Ok(Document {
        value,
        out_of_range,
    })
}

/// Where a value sits in the document: a chain back to the root, written out as a path
/// (`spec.pools[0].fqdn`) only when an error or an out-of-range number needs it. Writing every
/// value's path as it is read would cost the document's depth times its length: a deep chain of
/// long keys above many small values made a few hundred kilobytes take seconds.
#[derive(Clone, Copy)]
enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl At<'_> {
    fn path(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            At::Root => {}
            At::Key(parent, key) => {
                parent.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            At::Index(parent, i) => {
                parent.write(out);
                out.push_str(&format!("[{i}]"));
            }
        }
    }

    /// The path, or `document` where it is empty, for an error message.
    fn named(&self) -> String {
        let path = self.path();
        if path.is_empty() {
            "document".to_owned()
        } else {
            path
        }
    }
}

/// The value at `at`, recording numbers out of range into `out_of_range`.
struct Node<'a, 'p> {
    at: At<'p>,
    out_of_range: &'a mut Vec<(String, String)>,
}

impl Node<'_, '_> {
    fn out_of_range(self, text: String) -> Value {
        self.out_of_range.push((self.at.path(), text));
        Value::Null
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(n) => Value::Number(n.into()),
            Err(_) => self.out_of_range(v.to_string()),
        })
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(match u64::try_from(v) {
            Ok(n) => Value::Number(n.into()),
            Err(_) => self.out_of_range(v.to_string()),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(match Number::from_f64(v) {
            Some(n) => Value::Number(n),
            None => self.out_of_range(v.to_string()),
        })
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let child = Node {
                at: At::Index(&self.at, items.len()),
                out_of_range: &mut *self.out_of_range,
            };
            match seq.next_element_seed(child)? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<Key>()? {
            let Key(Some(key)) = key else {
                return Err(de::Error::custom(format!(
                    "{}: a key that is not a string",
                    self.at.named()
                )));
            };
            let child = Node {
                at: At::Key(&self.at, &key),
                out_of_range: &mut *self.out_of_range,
            };
            let value = map.next_value_seed(child)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(de::Error::custom(format!(
            "{}: YAML tags (!...) are not supported",
            self.at.named()
        )))
    }
}

/// A mapping key: a string, or `None` for any other kind of key (which JSON cannot hold).
struct Key(Option<String>);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }

            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(Some(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Key, E> {
                Ok(Key(Some(v)))
            }

            fn visit_bool<E>(self, _: bool) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_i64<E>(self, _: i64) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_u64<E>(self, _: u64) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_i128<E>(self, _: i128) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_u128<E>(self, _: u128) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_f64<E>(self, _: f64) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Key(None))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Key(None))
            }
        }
        de.deserialize_any(KeyVisitor)
    }
}
