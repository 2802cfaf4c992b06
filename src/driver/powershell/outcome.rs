//! What a script printed: every script ends by printing exactly one JSON line, either its
//! result or `{"error":{"cmdlet":...,"message":...,"acted":...}}`. Cmdlets may print warnings
//! before it; the result is the last line that starts with `{`. Remote text read here is
//! escaped and bounded ([`RemoteText`]) before anything shows it.

use serde::de::{self, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::driver::DriverError;

use super::remote_text::RemoteText;

/// A script's result line, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The script finished; its document.
    Succeeded(serde_json::Value),
    /// A command threw; its name (or the script's label) and its own message, both escaped
    /// and bounded. `acted` says whether the state-changing cmdlet had been started: false when
    /// a check before it failed (nothing happened), None when the script does not say.
    Failed {
        cmdlet: String,
        message: String,
        acted: Option<bool>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Failure {
    cmdlet: String,
    message: String,
    #[serde(default)]
    acted: Option<bool>,
}

/// Finds and reads the result line of `stdout`; `host` names the server in errors.
pub fn parse_outcome(host: &str, stdout: &str) -> Result<Outcome, DriverError> {
    let Some(line) = stdout
        .lines()
        .map(|l| l.trim().trim_start_matches('\u{feff}'))
        .rev()
        .find(|l| l.starts_with('{'))
    else {
        let shown = if stdout.trim().is_empty() {
            "nothing".to_owned()
        } else {
            format!("no JSON result line (last line: \"{}\")", last_line(stdout))
        };
        return Err(DriverError::BadOutput(format!(
            "{host}: the script printed {shown}"
        )));
    };
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
        let what = if e.is_eof() {
            "is cut short (truncated output)"
        } else {
            "is not valid JSON"
        };
        // serde_json's message names a position, never the text itself.
        DriverError::BadOutput(format!("{host}: the script's result line {what}: {e}"))
    })?;
    // A step's error line may also say whether its operation record was rewritten.
    let only_error = value
        .as_object()
        .is_some_and(|o| o.keys().all(|k| k == "error" || k == "recorded"));
    match value.get("error") {
        Some(error) if only_error => {
            let f: Failure = serde_json::from_value(error.clone()).map_err(|e| {
                DriverError::BadOutput(format!(
                    "{host}: the script's error object is malformed: {}",
                    RemoteText::excerpt(&e.to_string())
                ))
            })?;
            Ok(Outcome::Failed {
                cmdlet: RemoteText::excerpt(f.cmdlet.trim()).into_string(),
                message: RemoteText::message(f.message.trim()).into_string(),
                acted: f.acted,
            })
        }
        _ => Ok(Outcome::Succeeded(value)),
    }
}

/// The last line with something on it, escaped and bounded, to show what came instead of a
/// result.
pub fn last_line(text: &str) -> RemoteText {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    RemoteText::excerpt(line.trim())
}

/// A list as `ConvertTo-Json` prints it: PowerShell unrolls one-element arrays into the element
/// and empty ones into `null`, and Windows PowerShell 5.1 may print a wrapped array as
/// `{"value":[...],"Count":n}`, so all four shapes are read as a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    /// The items.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads the three shapes without going through an intermediate value, so that a wrong item
/// deep inside is reported at its path (`Pools[0].Probe[1]`), not at the list.
struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
    type Value = OneOrMany<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list, a single item or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(OneOrMany(Vec::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(OneOrMany(Vec::new()))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // No capacity from the size hint: a hostile length must not reserve memory.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OneOrMany(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        // Windows PowerShell 5.1 writes an array it holds wrapped (as a PSObject) as
        // `{"value":[...],"Count":n}`; read that as the list it is. Any other map is one item.
        let value = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let wrapped = value.as_object().filter(|o| {
            o.len() == 2
                && o.get("value").is_some_and(serde_json::Value::is_array)
                && o.contains_key("Count")
        });
        let value = match wrapped.and_then(|o| o.get("value")) {
            Some(list) => list.clone(),
            None => serde_json::Value::Array(vec![value]),
        };
        Vec::<T>::deserialize(value.into_deserializer())
            .map(OneOrMany)
            .map_err(de::Error::custom)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(|t| OneOrMany(vec![t]))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(|t| OneOrMany(vec![t]))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(|t| OneOrMany(vec![t]))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(|t| OneOrMany(vec![t]))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(|t| OneOrMany(vec![t]))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(|t| OneOrMany(vec![t]))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}
