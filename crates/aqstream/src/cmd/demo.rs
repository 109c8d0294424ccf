//! The simulated city of `aqstream run --demo`: the `demo` preset of `aqstream-sim`
//! (a Tongzhou-like network, a day of wind and recurring episodes of every source
//! type, a few faulty sensors), placed on the wall clock.
//!
//! The first run starts `backfill_hours` back on a whole hour, so the pages have a
//! history at once; the simulation then catches up with the clock and goes live. The
//! start is kept in `DATA_DIR/demo-start`: a restart regenerates the same city and
//! resumes just before the newest reading of the history (the few minutes sent twice
//! are counted once by the worker). After most of a simulated day, a new day starts
//! after the newest reading.

use aqstream_core::SensorRegistry;
use aqstream_core::time::{HOUR_MS, MINUTE_MS, format_rfc3339};
use aqstream_query::QueryEngine;
use aqstream_sim::scenario::DEMO_DURATION_MIN;
use aqstream_sim::{Simulation, preset};
use datafusion::arrow::array::{Array as _, AsArray as _};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use serde::Deserialize;
use std::path::Path;

/// `[demo]`: the simulated city of `--demo`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Seed of the simulated city (sensor layout, sources, noise).
    pub seed: u64,
    /// How many hours of history a fresh demo starts with (simulated at once, then
    /// live).
    pub backfill_hours: u32,
    /// What the terminals send over MQTT: `json` or `hj212`.
    pub format: String,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 7,
            backfill_hours: 3,
            format: "json".into(),
        }
    }
}

const START_FILE: &str = "demo-start";

/// Minutes sent again before the newest stored reading on a restart (readings still
/// in flight when the previous run stopped).
const RESEND_MIN: i64 = 5;

fn scenario_at(cfg: &DemoConfig, start: i64) -> anyhow::Result<aqstream_sim::Scenario> {
    let mut sc = preset("demo", cfg.seed)?;
    sc.start = format_rfc3339(start);
    Ok(sc)
}

/// The demo city's sensor registry (it does not depend on the start).
pub fn registry(cfg: &DemoConfig) -> anyhow::Result<SensorRegistry> {
    Ok(Simulation::new(&scenario_at(cfg, 0)?)?.registry())
}

/// Where the simulation starts: the saved start while most of its day is left,
/// otherwise `backfill_hours` before `now` on a whole hour, but never before the
/// newest stored reading (a new day must not rewrite stored minutes).
pub fn choose_start(cfg: &DemoConfig, saved: Option<i64>, now: i64, newest: Option<i64>) -> i64 {
    let day = i64::from(DEMO_DURATION_MIN) * MINUTE_MS;
    if let Some(s) = saved
        && s <= now
        && now - s < day - HOUR_MS
    {
        return s;
    }
    let fresh = (now - i64::from(cfg.backfill_hours) * HOUR_MS).div_euclid(HOUR_MS) * HOUR_MS;
    match newest {
        Some(t) if t >= fresh => (t.div_euclid(MINUTE_MS) + 1) * MINUTE_MS,
        _ => fresh,
    }
}

/// The simulation to publish: started per [`choose_start`] (saved to the data
/// directory), advanced to a few minutes before `newest`.
pub fn resume(
    data_dir: &Path,
    cfg: &DemoConfig,
    now: i64,
    newest: Option<i64>,
) -> anyhow::Result<Simulation> {
    let file = data_dir.join(START_FILE);
    let saved = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok());
    let start = choose_start(cfg, saved, now, newest);
    std::fs::write(&file, format!("{start}\n"))?;
    let mut sim = Simulation::new(&scenario_at(cfg, start)?)?;
    if let Some(t) = newest {
        let mut skipped = 0u32;
        while !sim.done() && sim.next_minute_end() <= t - RESEND_MIN * MINUTE_MS {
            sim.next_minute();
            skipped += 1;
        }
        tracing::info!(
            skipped_minutes = skipped,
            "demo resumes after the stored history"
        );
    }
    tracing::info!(start = %format_rfc3339(start), "demo city simulated from");
    Ok(sim)
}

/// The newest reading's event time in the history, if any.
pub async fn newest_reading(engine: &QueryEngine) -> anyhow::Result<Option<i64>> {
    let (_, batches) = engine.sql("SELECT max(ts) AS newest FROM readings").await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let ms = cast(
        b.column(0),
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )?;
    let ts = ms.as_primitive::<TimestampMillisecondType>();
    Ok((!ts.is_null(0)).then(|| ts.value(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_450_000_123;

    #[test]
    fn a_fresh_demo_starts_backfill_hours_back_on_a_whole_hour() {
        let cfg = DemoConfig::default();
        let s = choose_start(&cfg, None, NOW, None);
        assert_eq!(s % HOUR_MS, 0);
        assert!(s <= NOW - 3 * HOUR_MS && s > NOW - 4 * HOUR_MS);
    }

    #[test]
    fn a_restart_keeps_the_start_and_a_new_day_never_rewrites_stored_minutes() {
        let cfg = DemoConfig::default();
        let s = choose_start(&cfg, None, NOW, None);
        assert_eq!(choose_start(&cfg, Some(s), NOW + 2 * HOUR_MS, Some(NOW)), s);
        // most of the day gone: a new day, after the newest reading
        let later = s + 23 * HOUR_MS + 30 * MINUTE_MS;
        let newest = later - 10 * MINUTE_MS + 17;
        let n = choose_start(&cfg, Some(s), later, Some(newest));
        assert!(n > newest && n % MINUTE_MS == 0 && n - newest <= MINUTE_MS);
        // stopped for days: a fresh backfill
        let f = choose_start(&cfg, Some(s), NOW + 72 * HOUR_MS, Some(NOW));
        assert_eq!(f, choose_start(&cfg, None, NOW + 72 * HOUR_MS, None));
    }

    #[test]
    fn resume_skips_the_stored_minutes_and_keeps_the_city() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DemoConfig::default();
        let first = resume(dir.path(), &cfg, NOW, None).unwrap();
        let start = first.next_minute_end() - MINUTE_MS;
        let newest = start + 90 * MINUTE_MS;
        let again = resume(dir.path(), &cfg, NOW + HOUR_MS, Some(newest)).unwrap();
        assert_eq!(
            again.next_minute_end(),
            newest - (RESEND_MIN - 1) * MINUTE_MS
        );
        assert_eq!(again.registry().to_csv(), registry(&cfg).unwrap().to_csv());
    }
}
