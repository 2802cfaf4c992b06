//! What a script printed: every script ends by printing exactly one JSON line, either its
//! result or `{"error":{"cmdlet":...,"message":...}}`. Cmdlets may print warnings before it;
//! the result is the last line that starts with `{`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::driver::DriverError;

/// A script's result line, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The script finished; its document.
    Succeeded(serde_json::Value),
    /// A cmdlet threw; its name (or the script's label) and its own message.
    Failed { cmdlet: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Failure {
    cmdlet: String,
    message: String,
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
            format!("no JSON result line (last line: {:?})", last_line(stdout))
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
        DriverError::BadOutput(format!("{host}: the script's result line {what}: {e}"))
    })?;
    match value.get("error") {
        Some(error) if value.as_object().is_some_and(|o| o.len() == 1) => {
            let f: Failure = serde_json::from_value(error.clone()).map_err(|e| {
                DriverError::BadOutput(format!(
                    "{host}: the script's error object is malformed: {e}"
                ))
            })?;
            Ok(Outcome::Failed {
                cmdlet: f.cmdlet,
                message: f.message.trim().to_owned(),
            })
        }
        _ => Ok(Outcome::Succeeded(value)),
    }
}

fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    line.chars().take(120).collect()
}

/// A list as `ConvertTo-Json` prints it: PowerShell unrolls one-element arrays into the element
/// and empty ones into `null`, so all three shapes are read as a list.
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

impl<'de, T: DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        let items = match value {
            None => Ok(Vec::new()),
            Some(v @ serde_json::Value::Array(_)) => serde_json::from_value::<Vec<T>>(v),
            Some(v) => serde_json::from_value::<T>(v).map(|item| vec![item]),
        };
        items.map(OneOrMany).map_err(serde::de::Error::custom)
    }
}
