//! The JSON API of the pages. No call takes a position: the citizen page downloads the
//! city and works out "the air where I stand" on the device.
//!
//! | call | answer |
//! |---|---|
//! | `GET /api/v1/city` | [`CityNow`]: every sensor's position and latest PM2.5 / AQI (CN, US), districts, wind |
//! | `GET /api/v1/history?hours=24` | [`HourlyHistory`]: hourly PM2.5 per sensor and for the city (1–168 h) |
//! | `GET /api/v1/alerts?days=30` | `{as_of, active: [..], history: [..]}`: episodes (contract alert objects of their latest state, plus `active`, `changes`) |
//! | `GET /api/v1/alerts/{id}` | `{alert, changes: [..], evidence}`: one episode, its state changes and its sensors' series ([`Evidence`]) |
//! | `GET /api/v1/aqi` | the AQI categories of HJ 633 and the US EPA with their colours and health texts (`aqstream_core::aqi`) |
//!
//! Errors are `{"error": "...", "retryable": bool}` with a 4xx/5xx status.

use crate::WebState;
use crate::alerts::{alert_json, episodes, evidence_plan, order_changes};
use crate::error::WebError;
use crate::model::{CityNow, Evidence, EvidenceSensor, HourlyHistory};
use aqstream_core::aqi::{cn, us};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Longest history the API serves, hours.
pub const MAX_HOURS: u32 = 168;
/// Longest alert history the API serves, days.
pub const MAX_DAYS: u32 = 366;

/// The `/api/v1` routes.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/api/v1/city", get(city))
        .route("/api/v1/history", get(history))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{id}", get(alert))
        .route("/api/v1/aqi", get(aqi))
        .with_state(state)
}

/// A JSON answer that browsers and proxies may reuse for a few seconds.
fn fresh<T: serde::Serialize>(v: T, max_age_s: u32) -> Response {
    let mut r = Json(v).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("public, max-age={max_age_s}")) {
        r.headers_mut().insert(header::CACHE_CONTROL, h);
    }
    r
}

async fn city(State(s): State<WebState>) -> Result<Response, WebError> {
    let c: CityNow = s.data.now().await?;
    Ok(fresh(c, 15))
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    hours: Option<u32>,
}

async fn history(
    State(s): State<WebState>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, WebError> {
    let hours = q.hours.unwrap_or(24);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(WebError::BadRequest(format!(
            "hours must be 1..={MAX_HOURS}"
        )));
    }
    let h: HourlyHistory = s.data.hourly(hours).await?;
    Ok(fresh(h, 60))
}

#[derive(Debug, Deserialize)]
struct AlertsQuery {
    days: Option<u32>,
}

async fn alerts(
    State(s): State<WebState>,
    Query(q): Query<AlertsQuery>,
) -> Result<Response, WebError> {
    let days = q.days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(WebError::BadRequest(format!("days must be 1..={MAX_DAYS}")));
    }
    let changes = s.data.alerts(days).await?;
    let as_of = s.data.now().await?.as_of;
    let all = episodes(&changes);
    let active: Vec<Value> = all
        .iter()
        .filter(|e| e.is_active())
        .map(|e| e.to_json())
        .collect();
    let history: Vec<Value> = all.iter().map(|e| e.to_json()).collect();
    Ok(fresh(
        json!({ "as_of": as_of, "active": active, "history": history }),
        15,
    ))
}

/// Is `id` shaped like an alert id (`a-20261122-0007`)?
pub fn valid_alert_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

async fn alert(State(s): State<WebState>, Path(id): Path<String>) -> Result<Response, WebError> {
    if !valid_alert_id(&id) {
        return Err(WebError::BadRequest(format!("`{id}` is not an alert id")));
    }
    let mut changes = s.data.alert(&id).await?;
    if changes.is_empty() {
        return Err(WebError::NoSuchAlert(id));
    }
    order_changes(&mut changes);
    let episode = episodes(&changes)
        .into_iter()
        .next()
        .ok_or_else(|| WebError::NoSuchAlert(id.clone()))?;
    let city = s.data.now().await?;
    let plan = evidence_plan(&episode.latest, &city.sensors, city.as_of_ms);
    let ids: Vec<String> = plan.sensors.iter().map(|s| s.0.clone()).collect();
    let mut series = s.data.series(&ids, plan.from, plan.to, plan.step).await?;
    let evidence = Evidence {
        start_ms: series.start_ms,
        step_s: series.step_s,
        len: series.len,
        sensors: plan
            .sensors
            .into_iter()
            .map(|(id, role, distance_m)| EvidenceSensor {
                values: series
                    .sensors
                    .remove(&id)
                    .unwrap_or_else(|| vec![None; series.len]),
                id,
                role,
                distance_m: if distance_m.is_finite() {
                    distance_m.round()
                } else {
                    -1.0
                },
            })
            .collect(),
    };
    Ok(fresh(
        json!({
            "alert": episode.to_json(),
            "changes": changes.iter().map(alert_json).collect::<Vec<_>>(),
            "evidence": evidence,
        }),
        15,
    ))
}

/// The category tables of both standards, with their texts (`GET /api/v1/aqi`).
pub fn aqi_tables() -> Value {
    let cn: Vec<Value> = cn::CATEGORIES
        .iter()
        .map(|c| {
            json!({
                "slug": c.slug(), "level": c.level, "level_zh": c.level_zh(), "roman": c.roman(),
                "aqi_min": c.aqi_min, "aqi_max": c.aqi_max, "color": c.color,
                "name_zh": c.name_zh, "name_en": c.name_en,
                "health_effect_zh": c.health_effect_zh, "health_effect_en": c.health_effect_en,
                "advice_zh": c.advice_zh, "advice_en": c.advice_en,
            })
        })
        .collect();
    let us: Vec<Value> = us::CATEGORIES
        .iter()
        .map(|c| {
            json!({
                "slug": c.slug(), "aqi_min": c.aqi_min, "aqi_max": c.aqi_max, "color": c.color,
                "name_en": c.name, "name_zh": c.name_zh, "cautionary_en": c.cautionary,
            })
        })
        .collect();
    json!({ "cn": cn, "us": us })
}

async fn aqi() -> Response {
    fresh(aqi_tables(), 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_are_checked() {
        assert!(valid_alert_id("a-20261122-0007"));
        assert!(!valid_alert_id(""));
        assert!(!valid_alert_id("a'; DROP"));
        assert!(!valid_alert_id("../etc"));
    }

    #[test]
    fn aqi_tables_come_from_the_core() {
        let t = aqi_tables();
        assert_eq!(t["cn"].as_array().unwrap().len(), 6);
        assert_eq!(t["cn"][2]["name_zh"], "轻度污染");
        assert_eq!(t["cn"][5]["aqi_max"], Value::Null);
        assert_eq!(t["us"][2]["name_en"], "Unhealthy for Sensitive Groups");
        assert_eq!(t["us"][4]["color"], "#8F3F97");
    }
}
