//! Errors of the web API.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The query over the history failed.
    #[error("history query failed: {source}")]
    Query {
        /// The engine's error.
        #[source]
        source: aqstream_query::QueryError,
        /// Worth asking again (a file replaced by compaction, a storage hiccup)?
        retryable: bool,
    },
    /// The data have an unexpected shape (a column missing or of another type).
    #[error("unexpected data: {0}")]
    Data(String),
    /// The data source is not configured for this (no sensor registry, no history).
    #[error("not available: {0}")]
    Unavailable(String),
    /// No such alert.
    #[error("no alert `{0}`")]
    NoSuchAlert(String),
    /// A request parameter is out of range.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl From<aqstream_query::QueryError> for WebError {
    fn from(source: aqstream_query::QueryError) -> Self {
        let retryable = source.is_retryable();
        WebError::Query { source, retryable }
    }
}

impl WebError {
    /// Is the same request worth repeating later?
    pub fn is_retryable(&self) -> bool {
        match self {
            WebError::Query { retryable, .. } => *retryable,
            WebError::Unavailable(_) => true,
            _ => false,
        }
    }

    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NoSuchAlert(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Query { .. } | WebError::Data(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!("web API: {self}");
        }
        let body = serde_json::json!({
            "error": self.to_string(),
            "retryable": self.is_retryable(),
        });
        (self.status(), axum::Json(body)).into_response()
    }
}
