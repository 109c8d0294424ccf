//! [`CityData`] over the Parquet history, with SQL through `aqstream_query::QueryEngine`.
//!
//! Every query is bounded in event time around the newest data ("as of"), found from the
//! newest `date=` partition of `aggregates`, so the cost does not grow with the history.
//! Aggregates may hold several revisions of a window (late data); the highest wins.

use crate::data::{CityData, Step};
use crate::error::WebError;
use crate::model::{CityNow, DistrictNow, HourlyHistory, SensorNow, Series, Time, WindView};
use aqstream_core::alert::{Alert, AlertState, SourceEstimate, SourceType, Wind};
use aqstream_core::aqi::{Pollutant, us};
use aqstream_core::time::{DAY_MS, EpochMillis, HOUR_MS, utc_date};
use aqstream_query::QueryEngine;
use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use std::collections::{BTreeMap, HashMap};

/// Sensors whose latest data are older than this before "as of" show no value.
pub const STALE_AFTER_MS: EpochMillis = 3 * HOUR_MS;

/// The history as the pages' data source.
#[derive(Debug, Clone)]
pub struct HistoryCityData {
    engine: QueryEngine,
}

impl HistoryCityData {
    /// Reads through `engine`, which must have the history tables and `sensors`.
    pub fn new(engine: QueryEngine) -> HistoryCityData {
        HistoryCityData { engine }
    }

    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, WebError> {
        tracing::trace!(sql, "web query");
        Ok(self.engine.sql(sql).await?.1)
    }

    fn require(&self, table: &str) -> Result<(), WebError> {
        if self.engine.tables().iter().any(|t| t == table) {
            Ok(())
        } else {
            Err(WebError::Unavailable(format!(
                "the query engine has no `{table}` table (configure the history and the sensor registry)"
            )))
        }
    }

    /// The end of the newest 5-minute sensor window in the history.
    pub async fn as_of(&self) -> Result<Option<EpochMillis>, WebError> {
        self.require("aggregates")?;
        let b = self.query("SELECT max(date) AS d FROM aggregates").await?;
        let Some(date) = Rows::new(&b).str("d")?.into_iter().flatten().next() else {
            return Ok(None);
        };
        // the day before too: a new partition may hold only the first minutes' rows
        let sql = format!(
            "SELECT max(window_end) AS t FROM aggregates WHERE date >= {} \
             AND scope = 'sensor' AND \"window\" = '5m'",
            sql_str(&previous_date(&date))
        );
        let b = self.query(&sql).await?;
        Ok(Rows::new(&b).i64("t")?.into_iter().flatten().next())
    }

    async fn sensors(&self) -> Result<Vec<SensorNow>, WebError> {
        self.require("sensors")?;
        let b = self
            .query("SELECT sensor_id, district, kind, lat, lon FROM sensors ORDER BY sensor_id")
            .await?;
        let r = Rows::new(&b);
        let (ids, districts, kinds) = (r.str("sensor_id")?, r.str("district")?, r.str("kind")?);
        let (lats, lons) = (r.f64("lat")?, r.f64("lon")?);
        Ok((0..ids.len())
            .filter_map(|i| {
                Some(SensorNow {
                    id: ids[i].clone()?,
                    district: districts[i].clone().unwrap_or_default(),
                    kind: kinds[i].clone().unwrap_or_default(),
                    lat: lats[i]?,
                    lon: lons[i]?,
                    pm25: None,
                    pm25_1h: None,
                    aqi_cn: None,
                    aqi_us: None,
                    updated_at: None,
                    wind: None,
                })
            })
            .collect())
    }
}

/// `'text'` with quotes doubled.
pub fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A timestamp literal of the history's type (milliseconds, UTC).
pub fn sql_ts(ms: EpochMillis) -> String {
    format!("arrow_cast({ms}, 'Timestamp(Millisecond, Some(\"UTC\"))')")
}

fn previous_date(date: &str) -> String {
    match aqstream_core::time::parse_rfc3339(&format!("{date}T00:00:00Z")) {
        Ok(ms) => utc_date(ms - DAY_MS),
        Err(_) => date.to_string(),
    }
}

/// The latest revision of each window: `sql` selects aggregates rows; this keeps the
/// highest `revision` per (`key`, `window`, `window_start`).
fn latest_revision(columns: &str, filter: &str) -> String {
    format!(
        "SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER \
         (PARTITION BY key, \"window\", window_start ORDER BY revision DESC) AS rn \
         FROM aggregates WHERE {filter}) AS a WHERE rn = 1"
    )
}

#[async_trait]
impl CityData for HistoryCityData {
    async fn now(&self) -> Result<CityNow, WebError> {
        let mut sensors = self.sensors().await?;
        let as_of = self.as_of().await?;
        let mut district_pm25: HashMap<String, f64> = HashMap::new();
        if let Some(t) = as_of {
            let filter = format!(
                "\"window\" IN ('5m', '1h') AND window_start >= {} AND window_start < {}",
                sql_ts(t - STALE_AFTER_MS - HOUR_MS),
                sql_ts(t)
            );
            let cols = "scope, key, \"window\", window_start, window_end, pm25_mean, aqi_cn, \
                        aqi_us, nowcast_pm25, wind_speed_mean, wind_from_deg";
            let sql = format!("{} ORDER BY window_start", latest_revision(cols, &filter));
            let b = self.query(&sql).await?;
            let r = Rows::new(&b);
            let (scope, key, window) = (r.str("scope")?, r.str("key")?, r.str("window")?);
            let end = r.i64("window_end")?;
            let (pm25, nowcast) = (r.f64("pm25_mean")?, r.f64("nowcast_pm25")?);
            let (aqi_cn, aqi_us) = (r.i64("aqi_cn")?, r.i64("aqi_us")?);
            let (ws, wd) = (r.f64("wind_speed_mean")?, r.f64("wind_from_deg")?);
            let index: HashMap<String, usize> = sensors
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect();
            // rows come oldest first: later rows overwrite earlier ones
            for i in 0..key.len() {
                let (Some(k), Some(w)) = (&key[i], &window[i]) else {
                    continue;
                };
                if scope[i].as_deref() == Some("district") {
                    if w == "5m"
                        && let Some(v) = pm25[i]
                    {
                        district_pm25.insert(k.clone(), v);
                    }
                    continue;
                }
                let Some(&si) = index.get(k) else { continue };
                let s = &mut sensors[si];
                if w == "5m" {
                    s.pm25 = pm25[i];
                    s.updated_at = end[i].map(Time);
                    s.wind = match (ws[i], wd[i]) {
                        (Some(speed_ms), Some(from_deg)) => Some(WindView { speed_ms, from_deg }),
                        _ => None,
                    };
                } else {
                    s.pm25_1h = pm25[i];
                    s.aqi_cn = aqi_cn[i].and_then(|v| u32::try_from(v).ok());
                    s.aqi_us = nowcast[i]
                        .and_then(|c| us::aqi(Pollutant::Pm25, None, c).ok())
                        .or_else(|| aqi_us[i].and_then(|v| u32::try_from(v).ok()));
                }
            }
        }
        let districts = districts_of(&sensors, &district_pm25);
        let wind = mean_wind(sensors.iter().filter_map(|s| s.wind));
        Ok(CityNow {
            as_of: as_of.map(Time),
            as_of_ms: as_of,
            sensors,
            districts,
            wind,
        })
    }

    async fn hourly(&self, hours: u32) -> Result<HourlyHistory, WebError> {
        let as_of = self.as_of().await?;
        let hi = as_of.map_or(0, |t| t - t.rem_euclid(HOUR_MS));
        let len = hours as usize;
        let lo = hi - i64::from(hours) * HOUR_MS;
        let mut sensors: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        let mut aqi_cn: BTreeMap<String, Vec<Option<u32>>> = BTreeMap::new();
        let mut aqi_us: BTreeMap<String, Vec<Option<u32>>> = BTreeMap::new();
        if as_of.is_some() {
            let filter = format!(
                "scope = 'sensor' AND \"window\" = '1h' AND window_start >= {} AND window_start < {}",
                sql_ts(lo),
                sql_ts(hi)
            );
            let cols = "key, \"window\", window_start, pm25_mean, aqi_cn, aqi_us";
            let b = self.query(&latest_revision(cols, &filter)).await?;
            fill_series(&b, lo, HOUR_MS, len, &mut sensors)?;
            let r = Rows::new(&b);
            let (key, ws) = (r.str("key")?, r.i64("window_start")?);
            for (col, out) in [("aqi_cn", &mut aqi_cn), ("aqi_us", &mut aqi_us)] {
                let v = r.i64(col)?;
                for i in 0..key.len() {
                    let (Some(k), Some(t)) = (&key[i], ws[i]) else {
                        continue;
                    };
                    let slot = usize::try_from((t - lo).div_euclid(HOUR_MS)).unwrap_or(len);
                    if slot < len {
                        out.entry(k.clone()).or_insert_with(|| vec![None; len])[slot] =
                            v[i].and_then(|x| u32::try_from(x).ok());
                    }
                }
            }
        }
        let city = (0..len)
            .map(|i| {
                let v: Vec<f64> = sensors.values().filter_map(|s| s[i]).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            })
            .collect();
        Ok(HourlyHistory {
            start_ms: lo,
            step_s: 3600,
            len,
            sensors,
            aqi_cn,
            aqi_us,
            city,
        })
    }

    async fn alerts(&self, days: u32) -> Result<Vec<Alert>, WebError> {
        self.require("alerts")?;
        let Some(t) = self.as_of().await? else {
            // no aggregates yet: every alert there is
            return self.alerts_where("TRUE").await;
        };
        let lo = t - i64::from(days) * DAY_MS;
        self.alerts_where(&format!("detected_at >= {}", sql_ts(lo)))
            .await
    }

    async fn alert(&self, alert_id: &str) -> Result<Vec<Alert>, WebError> {
        self.require("alerts")?;
        self.alerts_where(&format!("alert_id = {}", sql_str(alert_id)))
            .await
    }

    async fn series(
        &self,
        sensors: &[String],
        from: EpochMillis,
        to: EpochMillis,
        step: Step,
    ) -> Result<Series, WebError> {
        let step_ms = i64::from(step.seconds()) * 1000;
        let from = from - from.rem_euclid(step_ms);
        let len = usize::try_from((to - from + step_ms - 1).max(0) / step_ms).unwrap_or(0);
        let mut out: BTreeMap<String, Vec<Option<f64>>> = sensors
            .iter()
            .map(|s| (s.clone(), vec![None; len]))
            .collect();
        if !sensors.is_empty() && len > 0 {
            let ids: Vec<String> = sensors.iter().map(|s| sql_str(s)).collect();
            let filter = format!(
                "scope = 'sensor' AND \"window\" = {} AND key IN ({}) AND window_start >= {} \
                 AND window_start < {}",
                sql_str(step.window()),
                ids.join(", "),
                sql_ts(from),
                sql_ts(to)
            );
            let b = self
                .query(&latest_revision(
                    "key, \"window\", window_start, pm25_mean",
                    &filter,
                ))
                .await?;
            fill_series(&b, from, step_ms, len, &mut out)?;
        }
        Ok(Series {
            start_ms: from,
            step_s: step.seconds(),
            len,
            sensors: out,
        })
    }
}

impl HistoryCityData {
    async fn alerts_where(&self, filter: &str) -> Result<Vec<Alert>, WebError> {
        let sql = format!(
            "SELECT alert_id, state, pollutant, district, started_at, detected_at, resolved_at, \
             source_lat, source_lon, uncertainty_m, source_type, confidence, peak_ugm3, sensors, \
             wind_speed_ms, wind_from_deg FROM alerts WHERE {filter} ORDER BY detected_at, alert_id"
        );
        let b = self.query(&sql).await?;
        alerts_of(&b)
    }
}

/// Puts `key`/`window_start`/`pm25_mean` rows into regular series starting at `start`.
fn fill_series(
    batches: &[RecordBatch],
    start: EpochMillis,
    step_ms: i64,
    len: usize,
    out: &mut BTreeMap<String, Vec<Option<f64>>>,
) -> Result<(), WebError> {
    let r = Rows::new(batches);
    let (key, ws, pm) = (r.str("key")?, r.i64("window_start")?, r.f64("pm25_mean")?);
    for i in 0..key.len() {
        let (Some(k), Some(t)) = (&key[i], ws[i]) else {
            continue;
        };
        let Ok(slot) = usize::try_from((t - start).div_euclid(step_ms)) else {
            continue;
        };
        if slot < len {
            out.entry(k.clone()).or_insert_with(|| vec![None; len])[slot] = pm[i];
        }
    }
    Ok(())
}

/// Districts of the registry with the centroid of their sensors.
fn districts_of(sensors: &[SensorNow], pm25: &HashMap<String, f64>) -> Vec<DistrictNow> {
    let mut acc: BTreeMap<&str, (f64, f64, usize)> = BTreeMap::new();
    for s in sensors {
        let e = acc.entry(s.district.as_str()).or_insert((0.0, 0.0, 0));
        e.0 += s.lat;
        e.1 += s.lon;
        e.2 += 1;
    }
    acc.into_iter()
        .map(|(name, (lat, lon, n))| DistrictNow {
            name: name.to_string(),
            lat: lat / n as f64,
            lon: lon / n as f64,
            pm25: pm25.get(name).copied(),
            sensors: n,
        })
        .collect()
}

/// Speed-weighted vector mean of winds (directions the wind blows from).
pub fn mean_wind(winds: impl Iterator<Item = WindView>) -> Option<WindView> {
    let (mut u, mut v, mut speed, mut n) = (0.0, 0.0, 0.0, 0usize);
    for w in winds {
        let r = w.from_deg.to_radians();
        u += w.speed_ms * r.sin();
        v += w.speed_ms * r.cos();
        speed += w.speed_ms;
        n += 1;
    }
    if n == 0 {
        return None;
    }
    let from_deg = if u == 0.0 && v == 0.0 {
        0.0
    } else {
        u.atan2(v).to_degrees().rem_euclid(360.0)
    };
    Some(WindView {
        speed_ms: speed / n as f64,
        from_deg,
    })
}

fn alerts_of(batches: &[RecordBatch]) -> Result<Vec<Alert>, WebError> {
    let r = Rows::new(batches);
    let (id, state, pollutant, district) = (
        r.str("alert_id")?,
        r.str("state")?,
        r.str("pollutant")?,
        r.str("district")?,
    );
    let (started, detected, resolved) = (
        r.i64("started_at")?,
        r.i64("detected_at")?,
        r.i64("resolved_at")?,
    );
    let (lat, lon, unc) = (
        r.f64("source_lat")?,
        r.f64("source_lon")?,
        r.f64("uncertainty_m")?,
    );
    let (stype, conf, peak, sensors) = (
        r.str("source_type")?,
        r.f64("confidence")?,
        r.f64("peak_ugm3")?,
        r.str("sensors")?,
    );
    let (wsp, wdir) = (r.f64("wind_speed_ms")?, r.f64("wind_from_deg")?);
    let mut out = Vec::with_capacity(id.len());
    for i in 0..id.len() {
        let (Some(alert_id), Some(st)) = (&id[i], &state[i]) else {
            continue;
        };
        let Ok(state) = st.parse::<AlertState>() else {
            tracing::debug!("alert {alert_id}: unknown state `{st}`");
            continue;
        };
        out.push(Alert {
            alert_id: alert_id.clone(),
            state,
            pollutant: pollutant[i].clone().unwrap_or_default(),
            district: district[i].clone().unwrap_or_default(),
            started_at: started[i].unwrap_or_default(),
            detected_at: detected[i].unwrap_or_default(),
            resolved_at: resolved[i],
            source: match (lat[i], lon[i]) {
                (Some(lat), Some(lon)) => Some(SourceEstimate {
                    lat,
                    lon,
                    uncertainty_m: unc[i].unwrap_or(0.0),
                }),
                _ => None,
            },
            source_type: stype[i]
                .as_deref()
                .and_then(|s| s.parse::<SourceType>().ok())
                .unwrap_or(SourceType::Unknown),
            confidence: conf[i].unwrap_or(0.0),
            peak_ugm3: peak[i].unwrap_or(0.0),
            sensors: sensors[i]
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            wind: match (wsp[i], wdir[i]) {
                (Some(speed_ms), Some(from_deg)) => Some(Wind { speed_ms, from_deg }),
                _ => None,
            },
        });
    }
    Ok(out)
}

/// Columns of a query result by name, cast to what the caller wants.
struct Rows<'a> {
    batches: &'a [RecordBatch],
}

impl<'a> Rows<'a> {
    fn new(batches: &'a [RecordBatch]) -> Rows<'a> {
        Rows { batches }
    }

    fn column(
        &self,
        name: &str,
        to: &DataType,
    ) -> Result<Vec<datafusion::arrow::array::ArrayRef>, WebError> {
        self.batches
            .iter()
            .map(|b| {
                let c = b
                    .column_by_name(name)
                    .ok_or_else(|| WebError::Data(format!("column `{name}` is missing")))?;
                // timestamps of any unit become epoch milliseconds
                let c = match c.data_type() {
                    DataType::Timestamp(..) if to == &DataType::Int64 => cast(
                        c,
                        &DataType::Timestamp(
                            datafusion::arrow::datatypes::TimeUnit::Millisecond,
                            None,
                        ),
                    )
                    .map_err(|e| WebError::Data(format!("column `{name}`: {e}")))?,
                    _ => c.clone(),
                };
                cast(&c, to).map_err(|e| WebError::Data(format!("column `{name}`: {e}")))
            })
            .collect()
    }

    fn f64(&self, name: &str) -> Result<Vec<Option<f64>>, WebError> {
        Ok(self
            .column(name, &DataType::Float64)?
            .iter()
            .flat_map(|c| c.as_primitive::<Float64Type>().iter().collect::<Vec<_>>())
            .map(|v| v.filter(|x| x.is_finite()))
            .collect())
    }

    fn i64(&self, name: &str) -> Result<Vec<Option<i64>>, WebError> {
        Ok(self
            .column(name, &DataType::Int64)?
            .iter()
            .flat_map(|c| c.as_primitive::<Int64Type>().iter().collect::<Vec<_>>())
            .collect())
    }

    fn str(&self, name: &str) -> Result<Vec<Option<String>>, WebError> {
        Ok(self
            .column(name, &DataType::Utf8)?
            .iter()
            .flat_map(|c| {
                let s = c.as_string::<i32>();
                (0..s.len())
                    .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqstream_core::time::MINUTE_MS;

    #[test]
    fn wind_mean_is_a_vector_mean() {
        let w = |speed_ms, from_deg| WindView { speed_ms, from_deg };
        let m = mean_wind([w(2.0, 350.0), w(2.0, 10.0)].into_iter()).unwrap();
        assert!(
            m.from_deg.abs() < 1e-9 || (m.from_deg - 360.0).abs() < 1e-9,
            "{m:?}"
        );
        assert!((m.speed_ms - 2.0).abs() < 1e-12);
        let m = mean_wind([w(1.0, 90.0), w(3.0, 180.0)].into_iter()).unwrap();
        assert!((m.from_deg - (180.0 - (1.0f64 / 3.0).atan().to_degrees())).abs() < 1e-9);
        assert!(mean_wind(std::iter::empty()).is_none());
    }

    #[test]
    fn sql_literals_escape_quotes() {
        assert_eq!(sql_str("a'b"), "'a''b'");
        assert_eq!(previous_date("2026-03-01"), "2026-02-28");
        assert_eq!(
            sql_ts(1),
            "arrow_cast(1, 'Timestamp(Millisecond, Some(\"UTC\"))')"
        );
    }

    #[test]
    fn series_slots_rows_by_window_start() {
        use datafusion::arrow::array::{Float64Array, StringArray, TimestampMillisecondArray};
        use datafusion::arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("window_start", aqstream_core::arrow::ts_type(), false),
            Field::new("pm25_mean", DataType::Float64, true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["A", "A", "B", "B"])),
                Arc::new(
                    TimestampMillisecondArray::from(vec![
                        0,
                        2 * MINUTE_MS,
                        MINUTE_MS,
                        9 * MINUTE_MS,
                    ])
                    .with_timezone("UTC"),
                ),
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    Some(3.0),
                    None,
                    Some(9.0),
                ])),
            ],
        )
        .unwrap();
        let mut out = BTreeMap::new();
        fill_series(&[b], 0, MINUTE_MS, 3, &mut out).unwrap();
        assert_eq!(out["A"], vec![Some(1.0), None, Some(3.0)]);
        assert_eq!(out["B"], vec![None, None, None]);
    }
}
