//! The simulator's HTTP API (DESIGN section 9).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::{Fault, Outcome, Simulator};
use crate::planner::Action;

/// The routes: `GET /topology`, `POST /commands`, `GET /audit`, `POST /faults`, `GET /healthz`.
pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/topology", get(topology))
        .route("/commands", post(command))
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

async fn command(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    let action: Action = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a plan step: {e}")),
    };
    let result = sim.execute(action).await;
    let status = match result.outcome {
        Outcome::Succeeded => StatusCode::OK,
        Outcome::Refused => StatusCode::CONFLICT,
        Outcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(result)).into_response()
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
        Err(message) => error(StatusCode::NOT_FOUND, message),
    }
}
