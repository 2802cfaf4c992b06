//! The simulator's HTTP API (docs/simulator-api.md).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use serde::Deserialize;

use super::{CommandResult, Fault, FaultError, Outcome, Simulator};
use crate::driver::OperationKey;
use crate::model::Action;

/// The routes: `GET /topology`, `POST /commands`, `GET /operations/<key>`, `GET /audit`,
/// `POST /faults`, `GET /healthz`.
pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/topology", get(topology))
        .route("/commands", post(command))
        .route("/operations/{key}", get(operation))
        .route("/audit", get(audit))
        .route("/faults", post(fault))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(sim)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

async fn topology(State(sim): State<Arc<Simulator>>) -> Response {
    match sim.observe() {
        Ok(t) => Json(t).into_response(),
        Err(message) => error(StatusCode::SERVICE_UNAVAILABLE, message),
    }
}

/// A plan step (its other fields, such as `id` and `dependsOn`, are ignored) with an optional
/// operation key.
#[derive(Deserialize)]
struct Command {
    #[serde(flatten)]
    action: Action,
    #[serde(default)]
    key: Option<String>,
}

async fn command(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    let command: Command = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a plan step: {e}")),
    };
    let result = match command.key {
        Some(key) => {
            if let Err(e) = OperationKey::parse(&key) {
                return error(StatusCode::BAD_REQUEST, e);
            }
            match sim.execute_keyed(key, command.action).await {
                Ok(r) => r,
                Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            }
        }
        // Run in a task of its own: a client that hangs up does not stop the command half-way.
        None => {
            let sim = Arc::clone(&sim);
            match tokio::spawn(async move { sim.execute(command.action).await }).await {
                Ok(r) => r,
                Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
    };
    answer(result)
}

fn answer(result: CommandResult) -> Response {
    let status = match result.outcome {
        Outcome::Succeeded => StatusCode::OK,
        Outcome::Refused => StatusCode::CONFLICT,
        Outcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(result)).into_response()
}

async fn operation(State(sim): State<Arc<Simulator>>, Path(key): Path<String>) -> Response {
    match sim.operation(&key) {
        Some(record) => Json(record).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!(
                "no operation with key {:?}",
                key.chars().take(200).collect::<String>()
            ),
        ),
    }
}

async fn audit(State(sim): State<Arc<Simulator>>) -> Response {
    Json(sim.audit()).into_response()
}

async fn fault(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a fault: {e}")),
    };
    match sim.inject(&fault) {
        Ok(()) => Json(json!({ "applied": fault })).into_response(),
        Err(FaultError::NotFound(message)) => error(StatusCode::NOT_FOUND, message),
        Err(FaultError::Refused(message)) => error(StatusCode::CONFLICT, message),
    }
}
