//! `POST /sql`: one statement in the body (plain text, or JSON `{"sql": "…"}`), the
//! result in the format the `Accept` header asks for:
//!
//! | `Accept` | body |
//! |---|---|
//! | `application/json` (default) | one JSON array of row objects |
//! | `application/x-ndjson` | one JSON object per line |
//! | `text/csv` | CSV with a header row |
//! | `application/vnd.apache.arrow.stream` | Arrow IPC stream |
//! | `application/vnd.apache.parquet` | a Parquet file |
//!
//! `?format=csv|json|ndjson|arrow|parquet` overrides `Accept`. Authentication is HTTP
//! Basic against the same users as the PostgreSQL surface; with no users configured (the
//! one-machine default, loopback only) requests need none. Errors are JSON
//! `{"error": "...", "sqlstate": "..."}` with a 4xx/5xx status.

use crate::auth::{Principal, UserDb};
use crate::engine::{QueryEngine, QueryError, QueryOutput, Surface};
use crate::format::{OutputFormat, write_batches};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
struct AppState {
    engine: QueryEngine,
    users: Arc<UserDb>,
}

/// The `/sql` route, to merge with the metrics router.
pub fn router(engine: QueryEngine, users: Arc<UserDb>) -> Router {
    Router::new()
        .route("/sql", post(sql_handler))
        .with_state(AppState { engine, users })
}

#[derive(Deserialize)]
struct JsonBody {
    sql: String,
}

fn error(status: StatusCode, msg: &str, sqlstate: &str) -> Response {
    let body = serde_json::json!({ "error": msg, "sqlstate": sqlstate });
    (status, axum::Json(body)).into_response()
}

fn status_of(e: &QueryError) -> StatusCode {
    match e {
        QueryError::Refused(_) | QueryError::PermissionDenied { .. } => StatusCode::FORBIDDEN,
        QueryError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        QueryError::MemoryLimit { .. } | QueryError::TooManyRows(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        QueryError::Internal(_) | QueryError::History(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The format asked for by `?format=` or `Accept`.
pub fn negotiate(query: Option<&str>, accept: Option<&str>) -> Result<OutputFormat, String> {
    if let Some(f) = query {
        return f.parse();
    }
    let Some(accept) = accept else {
        return Ok(OutputFormat::JsonArray);
    };
    for part in accept.split(',') {
        let media = part
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let f = match media.as_str() {
            "application/json" | "*/*" | "application/*" => OutputFormat::JsonArray,
            "application/x-ndjson" | "application/jsonl" => OutputFormat::Json,
            "text/csv" | "text/*" => OutputFormat::Csv,
            "text/plain" => OutputFormat::Table,
            "application/vnd.apache.arrow.stream" => OutputFormat::ArrowIpc,
            "application/vnd.apache.parquet" => OutputFormat::Parquet,
            _ => continue,
        };
        return Ok(f);
    }
    Err(format!("cannot produce any of `{accept}`"))
}

fn principal(users: &UserDb, headers: &HeaderMap) -> Result<Principal, Box<Response>> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    match basic {
        Some(pair) => {
            let (user, pw) = pair.split_once(':').unwrap_or((pair.as_str(), ""));
            users
                .authenticate(user, pw)
                .ok_or_else(|| Box::new(unauthorized("wrong user or password")))
        }
        None if users.is_builtin() => Ok(Principal::local()),
        None => Err(Box::new(unauthorized("authentication required"))),
    }
}

fn unauthorized(msg: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, msg, "28P01");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"aqstream\""),
    );
    r
}

async fn sql_handler(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let who = match principal(&app.users, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let format = match negotiate(
        params.get("format").map(String::as_str),
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
    ) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::NOT_ACCEPTABLE, &e, "0A000"),
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let sql = if is_json {
        match serde_json::from_slice::<JsonBody>(&body) {
            Ok(b) => b.sql,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("body: {e} (expected {{\"sql\": \"...\"}})"),
                    "22P02",
                );
            }
        }
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => s,
            Err(_) => return error(StatusCode::BAD_REQUEST, "body is not UTF-8", "22021"),
        }
    };
    match app.engine.run_one(&who, Surface::Http, &sql).await {
        Ok(QueryOutput::Rows { schema, batches }) => {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let mut buf = Vec::new();
            if let Err(e) = write_batches(&mut buf, &schema, &batches, format) {
                return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), "XX000");
            }
            let mut r = (StatusCode::OK, buf).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            if let Ok(v) = HeaderValue::from_str(&rows.to_string()) {
                h.insert("x-aqstream-rows", v);
            }
            r
        }
        Ok(QueryOutput::Command(tag)) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "command": tag })),
        )
            .into_response(),
        Err(e) => error(status_of(&e), &e.to_string(), e.sqlstate()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_picks_the_format() {
        assert_eq!(negotiate(None, None), Ok(OutputFormat::JsonArray));
        assert_eq!(negotiate(None, Some("text/csv")), Ok(OutputFormat::Csv));
        assert_eq!(
            negotiate(None, Some("application/vnd.apache.arrow.stream, */*;q=0.1")),
            Ok(OutputFormat::ArrowIpc)
        );
        assert_eq!(
            negotiate(Some("csv"), Some("application/json")),
            Ok(OutputFormat::Csv)
        );
        assert!(negotiate(None, Some("image/png")).is_err());
    }
}
