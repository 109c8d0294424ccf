//! Per-sensor quality assurance of stage 1, one reading at a time (in arrival order).
//!
//! * Sentinel and out-of-range values: flagged at ingest already; re-checked here with
//!   the same rules (`validate::apply_quality_flags`), and values outside the hard
//!   limits — rejected at ingest, so only from other producers — are flagged instead of
//!   dropped.
//! * Stuck values: a pollutant value unchanged, bit for bit, for `stuck_after` of event
//!   time is flagged `stuck_value` from then on, until it changes.
//! * Health: each problem is raised on its first reading and cleared when the sensor
//!   has been free of it for `problem_clear` (stuck: as soon as the value moves).

use crate::config::QaConfig;
use crate::health::Problem;
use aqstream_core::Measure;
use aqstream_core::reading::{FlagKind, Reading};
use aqstream_core::time::EpochMillis;
use aqstream_core::validate::{ValidationPolicy, apply_quality_flags};

/// The stuck-value tracker of one measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// The repeated value (bits of the f64).
    pub value: u64,
    /// Event time of the first reading with it.
    pub since: EpochMillis,
    /// Event time of the latest reading seen.
    pub last: EpochMillis,
}

/// QA state of one sensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SensorQa {
    /// Stuck trackers of the six pollutants.
    pub runs: [Option<Run>; 6],
    /// Last event time each per-reading problem was seen ([`Problem`] index).
    pub last_seen: [EpochMillis; 3],
    /// Problems currently raised (bits of [`Problem`]).
    pub active: u8,
}

/// A change of a problem's state caused by one reading.
pub type Change = (Problem, bool);

/// Applies QA to an accepted, in-order reading; returns the problems the reading itself
/// shows (for the window's problem mask) and pushes state changes to `changes`.
pub fn check(qa: &mut SensorQa, r: &mut Reading, cfg: &QaConfig, changes: &mut Vec<Change>) -> u8 {
    recheck_flags(r);
    check_rechecked(qa, r, cfg, changes)
}

/// [`check`] of a reading whose flags [`recheck_flags`] has already applied (stage 1
/// does that first, for the late path too).
pub(crate) fn check_rechecked(
    qa: &mut SensorQa,
    r: &mut Reading,
    cfg: &QaConfig,
    changes: &mut Vec<Change>,
) -> u8 {
    let stuck_after = cfg.stuck_after_ms();
    let mut any_stuck = false;
    for (i, m) in Measure::POLLUTANTS.into_iter().enumerate() {
        let Some(v) = r.get(m) else { continue };
        let bits = v.to_bits();
        let run = &mut qa.runs[i];
        match run {
            Some(run) if r.ts < run.last => {} // out of order: leave the run alone
            Some(run) if run.value == bits => {
                run.last = r.ts;
                if r.ts - run.since >= stuck_after {
                    r.flags.set(m, FlagKind::StuckValue);
                    any_stuck = true;
                }
            }
            _ => {
                *run = Some(Run {
                    value: bits,
                    since: r.ts,
                    last: r.ts,
                });
            }
        }
    }
    let seen = problems_of(r);
    // Per-reading problems: raise on sight, clear after a quiet period.
    for p in [Problem::Sentinel, Problem::OutOfRange] {
        let idx = p as usize - 1;
        if seen & p.bit() != 0 {
            qa.last_seen[idx] = qa.last_seen[idx].max(r.ts);
            if qa.active & p.bit() == 0 {
                qa.active |= p.bit();
                changes.push((p, true));
            }
        } else if qa.active & p.bit() != 0 && r.ts - qa.last_seen[idx] >= cfg.problem_clear_ms() {
            qa.active &= !p.bit();
            changes.push((p, false));
        }
    }
    let stuck_now = any_stuck || still_stuck(qa, r.ts, stuck_after);
    if stuck_now != (qa.active & Problem::Stuck.bit() != 0) {
        qa.active ^= Problem::Stuck.bit();
        changes.push((Problem::Stuck, stuck_now));
    }
    seen
}

/// Is any pollutant run (not updated by this reading) still stuck?
fn still_stuck(qa: &SensorQa, _ts: EpochMillis, stuck_after: i64) -> bool {
    qa.runs
        .iter()
        .flatten()
        .any(|run| run.last - run.since >= stuck_after)
}

/// Re-applies the ingest flags and flags values outside the hard limits.
pub fn recheck_flags(r: &mut Reading) {
    apply_quality_flags(r, &ValidationPolicy::default());
    for m in Measure::ALL {
        if let Some(v) = r.get(m) {
            let (lo, hi) = m.hard_range();
            if !v.is_finite() || v < lo || v > hi {
                r.flags.set(m, FlagKind::ImplausibleValue);
            }
        }
    }
}

/// The per-reading problems a reading's flags show.
pub fn problems_of(r: &Reading) -> u8 {
    let mut p = 0;
    for (_, k) in r.flags.iter() {
        p |= match k {
            FlagKind::SentinelValue => Problem::Sentinel.bit(),
            FlagKind::NegativeValue | FlagKind::ImplausibleValue | FlagKind::Pm25ExceedsPm10 => {
                Problem::OutOfRange.bit()
            }
            FlagKind::StuckValue => Problem::Stuck.bit(),
            FlagKind::DeviceFlag | FlagKind::Drift => 0,
        };
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqstream_core::time::MINUTE_MS;

    const T0: i64 = 1_795_334_400_000;

    fn reading(m: i64, pm: f64) -> Reading {
        Reading::new("S", T0 + m * MINUTE_MS, 60)
            .with(Measure::Pm25, pm)
            .with(Measure::Pm10, 80.0 + (m % 7) as f64)
    }

    #[test]
    fn a_value_unchanged_for_hours_is_stuck_until_it_moves() {
        let cfg = QaConfig {
            stuck_after_s: 3600,
            ..QaConfig::default()
        };
        let mut qa = SensorQa::default();
        let mut changes = Vec::new();
        for m in 0..60 {
            let mut r = reading(m, 42.0);
            check(&mut qa, &mut r, &cfg, &mut changes);
            assert!(r.flags.is_clean(Measure::Pm25), "minute {m}");
        }
        assert!(changes.is_empty());
        let mut r = reading(60, 42.0);
        let p = check(&mut qa, &mut r, &cfg, &mut changes);
        assert!(r.flags.has(Measure::Pm25, FlagKind::StuckValue));
        assert!(r.flags.is_clean(Measure::Pm10), "PM10 keeps changing");
        assert_eq!(p, Problem::Stuck.bit());
        assert_eq!(changes, vec![(Problem::Stuck, true)]);
        // A duplicate-free out-of-order reading does not disturb the run.
        let mut old = reading(10, 41.0);
        check(&mut qa, &mut old, &cfg, &mut changes);
        assert!(old.flags.is_clean(Measure::Pm25));
        let mut r = reading(61, 43.5);
        check(&mut qa, &mut r, &cfg, &mut changes);
        assert!(r.flags.is_clean(Measure::Pm25));
        assert_eq!(changes.last(), Some(&(Problem::Stuck, false)));
    }

    #[test]
    fn sentinels_raise_and_clear_after_a_quiet_period() {
        let cfg = QaConfig::default(); // clear after 10 min
        let mut qa = SensorQa::default();
        let mut changes = Vec::new();
        let mut r = reading(0, 999.0);
        let p = check(&mut qa, &mut r, &cfg, &mut changes);
        assert!(r.flags.has(Measure::Pm25, FlagKind::SentinelValue));
        assert_eq!(p & Problem::Sentinel.bit(), Problem::Sentinel.bit());
        for m in 1..10 {
            check(
                &mut qa,
                &mut reading(m, 20.0 + m as f64),
                &cfg,
                &mut changes,
            );
        }
        assert_eq!(changes.len(), 2, "{changes:?}"); // sentinel + pm25 > pm10 (999 ≫ 80)
        check(&mut qa, &mut reading(10, 30.0), &cfg, &mut changes);
        assert!(changes.contains(&(Problem::Sentinel, false)), "{changes:?}");
        // Outside the hard limits: flagged, not dropped.
        let mut r = Reading::new("S", T0, 60).with(Measure::Pm25, 50_000.0);
        recheck_flags(&mut r);
        assert!(r.flags.has(Measure::Pm25, FlagKind::ImplausibleValue));
    }
}
