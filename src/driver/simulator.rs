//! The driver for `sfb-dr simulator`: its HTTP API (docs/simulator-api.md).

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use super::{Driver, DriverError, DriverFuture, OperationKey};
use crate::model::Action;
use crate::model::ObservedTopology;

/// Talks to a simulator at a base URL such as `http://127.0.0.1:7070`.
#[derive(Clone, Debug)]
pub struct SimulatorDriver {
    base: String,
    http: reqwest::Client,
    /// Bounds a step's request; `None` leaves the client's timeout.
    step_timeout: Option<Duration>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    message: String,
}

impl SimulatorDriver {
    /// A driver for the simulator at `base`; `timeout` bounds every request.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, DriverError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| DriverError::Unreachable(format!("cannot build an HTTP client: {e}")))?;
        Ok(SimulatorDriver {
            base: base.trim_end_matches('/').to_owned(),
            http,
            step_timeout: None,
        })
    }

    /// Bounds each step's request by `timeout` instead (steps take minutes in real time; an
    /// observation should not).
    pub fn with_step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = Some(timeout);
        self
    }

    async fn message(response: reqwest::Response) -> String {
        let status = response.status();
        match response.json::<Answer>().await {
            Ok(a) if !a.message.is_empty() => a.message,
            _ => format!("HTTP {status}"),
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> DriverError {
        DriverError::Unreachable(format!("simulator at {}: {e}", self.base))
    }

    /// A command whose request failed: unreachable only when no connection was made; a
    /// timeout means it may still run (ask again under its key); a dropped connection, that it
    /// may have run.
    fn lost(&self, e: reqwest::Error, action: &Action) -> DriverError {
        if e.is_connect() {
            self.unreachable(e)
        } else if e.is_timeout() {
            DriverError::Timeout {
                what: format!("{action} at the simulator {}", self.base),
                // Rounded up: a 400 ms bound is "1 s", never "0 s".
                seconds: self.step_timeout.map_or(0, |t| {
                    u64::try_from(t.as_millis().div_ceil(1000)).unwrap_or(u64::MAX)
                }),
            }
        } else {
            DriverError::OutcomeUnknown(format!("simulator at {}: {e}", self.base))
        }
    }
}

impl Driver for SimulatorDriver {
    fn observe(&self) -> DriverFuture<'_, ObservedTopology> {
        Box::pin(async move {
            let response = self
                .http
                .get(format!("{}/topology", self.base))
                .send()
                .await
                .map_err(|e| self.unreachable(e))?;
            if !response.status().is_success() {
                return Err(DriverError::Unreachable(Self::message(response).await));
            }
            let body = response.bytes().await.map_err(|e| self.unreachable(e))?;
            serde_json::from_slice(&body)
                .map_err(|e| DriverError::BadOutput(format!("GET /topology: {e}")))
        })
    }

    fn execute<'a>(&'a self, key: &'a OperationKey, action: &'a Action) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let mut body = serde_json::to_value(action)
                .map_err(|e| DriverError::Refused(format!("cannot encode {action}: {e}")))?;
            if let Some(fields) = body.as_object_mut() {
                fields.insert("key".into(), key.as_str().into());
            }
            let mut request = self
                .http
                .post(format!("{}/commands", self.base))
                .json(&body);
            if let Some(t) = self.step_timeout {
                request = request.timeout(t);
            }
            let response = request.send().await.map_err(|e| self.lost(e, action))?;
            match response.status() {
                s if s.is_success() => Ok(()),
                // 409: SfB would refuse it; 422: the key names another command. Nothing ran.
                StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => {
                    Err(DriverError::Refused(Self::message(response).await))
                }
                _ => Err(DriverError::Failed(Self::message(response).await)),
            }
        })
    }
}
