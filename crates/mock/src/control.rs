//! The control API under `/_mock`: list, show, replace and delete backends,
//! append to scripts, reset counters.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::{BackendConfig, Behavior, validate_name};
use crate::handler::json_error;
use crate::state::{BackendView, Shared, push_script, reset, set_backend};

const CONTROL: &str = "control API";

pub(crate) async fn list_backends(State(shared): State<Arc<Shared>>) -> Response {
    let backends: BTreeMap<String, BackendView> = shared
        .lock()
        .iter()
        .map(|(name, state)| (name.clone(), state.view(false)))
        .collect();
    Json(json!({ "backends": backends })).into_response()
}

pub(crate) async fn get_backend(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    match shared.lock().get(&name) {
        Some(state) => Json(state.view(true)).into_response(),
        None => control_error(StatusCode::NOT_FOUND, format!("no backend named {name:?}")),
    }
}

pub(crate) async fn put_backend(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = validate_name(&name, CONTROL) {
        return control_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let cfg: BackendConfig = match serde_json::from_slice(&body) {
        Ok(cfg) => cfg,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("backend {name:?}: not a backend config: {e}"),
            );
        }
    };
    if let Err(e) = cfg.validate(&name, CONTROL) {
        return control_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    set_backend(&shared, &name, cfg);
    get_backend(State(shared), Path(name)).await
}

pub(crate) async fn delete_backend(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    match shared.lock().remove(&name) {
        Some(state) => Json(state.view(false)).into_response(),
        None => control_error(StatusCode::NOT_FOUND, format!("no backend named {name:?}")),
    }
}

pub(crate) async fn append_script(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = validate_name(&name, CONTROL) {
        return control_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    // One behavior or an array of them.
    let parsed = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => serde_json::from_value::<Vec<Behavior>>(Value::Array(items)),
        Ok(one) => serde_json::from_value::<Behavior>(one).map(|b| vec![b]),
        Err(e) => Err(e),
    };
    let behaviors = match parsed {
        Ok(behaviors) => behaviors,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("backend {name:?}: not a behavior or array of behaviors: {e}"),
            );
        }
    };
    for (i, behavior) in behaviors.iter().enumerate() {
        if let Err(e) = behavior.validate(&name, &format!("script[+{i}]"), CONTROL) {
            return control_error(StatusCode::BAD_REQUEST, e.to_string());
        }
    }
    push_script(&shared, &name, behaviors);
    get_backend(State(shared), Path(name)).await
}

pub(crate) async fn reset_all(State(shared): State<Arc<Shared>>) -> Response {
    reset(&shared);
    list_backends(State(shared)).await
}

pub(crate) fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    json_error(
        status,
        json!({"error": {"message": message.into(), "type": "mock_control_error"}}),
    )
}
