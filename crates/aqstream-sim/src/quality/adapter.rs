//! A small stand-in for the stream worker's minute aggregation, so the benchmark can
//! drive the detector from raw simulated readings:
//!
//! 1. each reading gets the ingest's quality flags (`validate::apply_quality_flags`:
//!    999 sentinels, negatives, PM2.5 ≫ PM10) — nothing from the simulator's list of
//!    faulty sensors is used;
//! 2. duplicates by the contract's key (`sensor_id`, `ts`, `period_s`) are dropped;
//! 3. valid values are averaged per sensor and minute (`ts` rounded up to the minute);
//! 4. the watermark is the largest `min(ts, received_at)` seen minus the allowed
//!    lateness (capping `ts` by the arrival time keeps a sensor with a fast clock from
//!    dragging the watermark ahead of everyone else); a reading for a minute already
//!    closed is counted as late and dropped.
//!
//! `excluded` is always false: the detector's own robustness (gain tracking, stuck
//! values, hysteresis) must cope with faulty sensors.

use aqstream_core::measure::N_MEASURES;
use aqstream_core::reading::Reading;
use aqstream_core::time::MINUTE_MS;
use aqstream_core::validate::{ValidationPolicy, apply_quality_flags};
use aqstream_locate::SensorMinute;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Sums of one sensor-minute.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    sum: [f64; N_MEASURES],
    n: [u32; N_MEASURES],
}

/// Readings in, closed sensor-minutes out.
#[derive(Debug)]
pub struct MinuteAdapter {
    lateness_ms: i64,
    policy: ValidationPolicy,
    seen: HashSet<(String, i64, u32)>,
    seen_order: VecDeque<(i64, (String, i64, u32))>,
    open: BTreeMap<i64, BTreeMap<String, Acc>>,
    max_time: i64,
    closed_until: i64,
    /// Readings for minutes already closed.
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
}

impl MinuteAdapter {
    /// An adapter allowing readings `lateness_ms` behind the newest event time.
    pub fn new(lateness_ms: i64) -> MinuteAdapter {
        MinuteAdapter {
            lateness_ms,
            policy: ValidationPolicy::default(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            open: BTreeMap::new(),
            max_time: i64::MIN,
            closed_until: i64::MIN,
            late: 0,
            duplicates: 0,
        }
    }

    /// The current watermark (event time up to which minutes are complete).
    pub fn watermark(&self) -> i64 {
        self.max_time.saturating_sub(self.lateness_ms)
    }

    /// Takes one reading as it arrives.
    pub fn push(&mut self, reading: &Reading) {
        let key = (reading.sensor_id.clone(), reading.ts, reading.period_s);
        if !self.seen.insert(key.clone()) {
            self.duplicates += 1;
            return;
        }
        self.seen_order.push_back((reading.ts, key));
        let minute = (reading.ts + MINUTE_MS - 1).div_euclid(MINUTE_MS) * MINUTE_MS;
        let t = reading
            .received_at
            .map_or(reading.ts, |r| r.min(reading.ts));
        self.max_time = self.max_time.max(t);
        if minute <= self.closed_until {
            self.late += 1;
            return;
        }
        let mut r = reading.clone();
        apply_quality_flags(&mut r, &self.policy);
        let acc = self
            .open
            .entry(minute)
            .or_default()
            .entry(r.sensor_id.clone())
            .or_default();
        for (k, (s, n)) in acc.sum.iter_mut().zip(acc.n.iter_mut()).enumerate() {
            if let Some(v) = aqstream_core::Measure::from_index(k).and_then(|m| r.valid(m)) {
                *s += v;
                *n += 1;
            }
        }
    }

    /// Closes every open minute (the end of the input).
    pub fn drain_all(&mut self) -> Vec<SensorMinute> {
        self.max_time = i64::MAX / 2;
        self.drain()
    }

    /// Closes every minute ending at or before the watermark and returns its means.
    pub fn drain(&mut self) -> Vec<SensorMinute> {
        let wm = self.watermark();
        let mut out = Vec::new();
        while let Some((&minute, _)) = self.open.first_key_value() {
            if minute > wm {
                break;
            }
            let (_, sensors) = self.open.pop_first().expect("non-empty");
            for (id, acc) in sensors {
                let values =
                    std::array::from_fn(|k| (acc.n[k] > 0).then(|| acc.sum[k] / acc.n[k] as f64));
                out.push(SensorMinute {
                    sensor_id: id,
                    minute_end: minute,
                    values,
                    excluded: false,
                });
            }
        }
        if wm > self.closed_until {
            self.closed_until = wm.div_euclid(MINUTE_MS) * MINUTE_MS;
        }
        // Forget duplicate keys far behind the watermark (bounded memory).
        while let Some((ts, _)) = self.seen_order.front() {
            if *ts >= wm - 60 * MINUTE_MS {
                break;
            }
            let (_, key) = self.seen_order.pop_front().expect("non-empty");
            self.seen.remove(&key);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqstream_core::Measure;

    fn r(id: &str, ts_s: i64, pm: f64, arrive_s: i64) -> Reading {
        let mut r = Reading::new(id, ts_s * 1000, 60).with(Measure::Pm25, pm);
        r.received_at = Some(arrive_s * 1000);
        r
    }

    #[test]
    fn dedups_flags_averages_and_closes_minutes() {
        let mut a = MinuteAdapter::new(120_000);
        a.push(&r("A", 60, 10.0, 61));
        a.push(&r("A", 60, 10.0, 62)); // duplicate
        a.push(&r("B", 60, 999.0, 61)); // sentinel: flagged, not averaged
        a.push(&r("A", 120, 20.0, 121));
        assert_eq!(a.duplicates, 1);
        assert!(a.drain().is_empty(), "nothing is 2 minutes old yet");
        a.push(&r("A", 200, 30.0, 200)); // not aligned: minute ending at 240
        a.push(&r("A", 300, 30.0, 300));
        let out = a.drain();
        assert_eq!(out.len(), 3, "minutes ending at 60 s and 120 s: {out:?}");
        assert_eq!(
            (out[0].sensor_id.as_str(), out[0].minute_end),
            ("A", 60_000)
        );
        assert_eq!(out[0].values[0], Some(10.0));
        assert_eq!((out[1].sensor_id.as_str(), out[1].values[0]), ("B", None));
        assert_eq!((out[2].minute_end, out[2].values[0]), (120_000, Some(20.0)));
        a.push(&r("C", 60, 5.0, 301)); // late
        assert_eq!(a.late, 1);
    }

    #[test]
    fn a_fast_clock_does_not_move_the_watermark() {
        let mut a = MinuteAdapter::new(60_000);
        a.push(&r("A", 600, 10.0, 400)); // ts 200 s ahead of its arrival
        assert_eq!(a.watermark(), 340_000);
    }
}
