//! Errors raised outside the handlers (unknown path, wrong method, …) answered as JSON.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;

use super::dto::DetailBody;

/// Turns any framework error into `{"detail": …}` with its status; internals are logged, not sent.
pub async fn error_response(err: poem::Error) -> Response {
    let status = err.status();
    let detail = if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        "internal error".to_owned()
    } else {
        status.canonical_reason().unwrap_or("error").to_owned()
    };
    let status = if status == StatusCode::OK { StatusCode::INTERNAL_SERVER_ERROR } else { status };
    Json(DetailBody::new(detail)).with_status(status).into_response()
}
