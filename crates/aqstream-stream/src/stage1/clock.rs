//! The event-time clock of one partition: a robust frontier of its sensors' latest
//! event times, and the watermark trailing it.
//!
//! * Every sensor's latest event time is tracked. The **frontier** is the k-th largest
//!   of them over the active sensors, `k = ⌊n·(1 − q)⌋ + 1` (q = 0.5: just over half
//!   the sensors have reached it), so a minority of sensors with clocks running ahead
//!   cannot drag it forward.
//! * The **watermark** is `frontier − out_of_orderness`, never moving backwards.
//! * A sensor whose latest event time is more than `fast_clock` ahead of the frontier
//!   is flagged (with at least 3 active sensors; with fewer, "ahead of the others" has
//!   no meaning).
//! * A sensor more than `inactive` behind the newest event time seen stops counting
//!   (it went offline), so a mass outage cannot stall the partition.
//!
//! The watermark only matters when it crosses a **boundary**: a minute (windows end on
//! minutes) or a minute plus the allowed lateness (windows close then). The clock keeps
//! the number of active sensors at or past the frontier needed for the next crossing
//! and counts them as records arrive (O(1) per record); only at a crossing does it
//! recompute the frontier exactly (O(sensors), about once per minute of event time).
//! The result is the same as recomputing after every record, which makes the
//! operator's output independent of how records were batched.

use crate::config::MIN;
use aqstream_core::time::EpochMillis;

/// Outcome of a recomputation.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Advance {
    /// The new watermark, when it moved.
    pub watermark: Option<EpochMillis>,
    /// Sensors (slots) newly flagged as fast, and newly cleared.
    pub fast_raised: Vec<u32>,
    /// Sensors whose fast-clock flag was cleared.
    pub fast_cleared: Vec<u32>,
}

/// The clock of one partition.
#[derive(Debug, Clone)]
pub struct Clock {
    ooo: i64,
    lateness: i64,
    quantile: f64,
    inactive: i64,
    fast: i64,
    pub(crate) max_ts: Vec<EpochMillis>,
    pub(crate) active: Vec<bool>,
    pub(crate) is_fast: Vec<bool>,
    n_active: usize,
    pub(crate) frontier: EpochMillis,
    pub(crate) watermark: EpochMillis,
    threshold: EpochMillis,
    above: usize,
    pub(crate) newest: EpochMillis,
    next_inactivity_check: EpochMillis,
    scratch: Vec<EpochMillis>,
}

/// "Never": the watermark before any record.
pub const NEVER: EpochMillis = i64::MIN / 4;

impl Clock {
    /// A clock with no sensors yet.
    pub fn new(cfg: &crate::StreamConfig) -> Clock {
        Clock {
            ooo: cfg.ooo_ms(),
            lateness: cfg.lateness_ms(),
            quantile: cfg.watermark_quantile,
            inactive: i64::try_from(cfg.inactive_sensor_s).unwrap_or(i64::MAX / 4000) * 1000,
            fast: i64::try_from(cfg.fast_clock_s).unwrap_or(i64::MAX / 4000) * 1000,
            max_ts: Vec::new(),
            active: Vec::new(),
            is_fast: Vec::new(),
            n_active: 0,
            frontier: NEVER,
            watermark: NEVER,
            threshold: NEVER,
            above: 0,
            newest: NEVER,
            next_inactivity_check: i64::MAX,
            scratch: Vec::new(),
        }
    }

    /// The current watermark ([`NEVER`] before the first record).
    pub fn watermark(&self) -> EpochMillis {
        self.watermark
    }

    /// The current frontier.
    pub fn frontier(&self) -> EpochMillis {
        self.frontier
    }

    /// Is this sensor flagged as running ahead?
    pub fn is_fast(&self, slot: u32) -> bool {
        self.is_fast.get(slot as usize).copied().unwrap_or(false)
    }

    fn k(&self) -> usize {
        let n = self.n_active;
        if n == 0 {
            return 1;
        }
        (((n as f64) * (1.0 - self.quantile)).floor() as usize + 1).clamp(1, n)
    }

    /// Records an event time of sensor `slot`. Returns `true` when the frontier must
    /// be recomputed (call [`Clock::recompute`]).
    pub fn observe(&mut self, slot: u32, ts: EpochMillis) -> bool {
        let i = slot as usize;
        if i >= self.max_ts.len() {
            self.max_ts.resize(i + 1, NEVER);
            self.active.resize(i + 1, false);
            self.is_fast.resize(i + 1, false);
        }
        let old = self.max_ts[i];
        if ts > old {
            self.max_ts[i] = ts;
            if !self.active[i] {
                self.active[i] = true;
                self.n_active += 1;
                if ts >= self.threshold {
                    self.above += 1;
                }
            } else if old < self.threshold && ts >= self.threshold {
                self.above += 1;
            }
        }
        if ts > self.newest {
            self.newest = ts;
        }
        self.above >= self.k() || self.newest >= self.next_inactivity_check
    }

    /// Recomputes the frontier, the watermark and the fast-clock flags.
    pub fn recompute(&mut self) -> Advance {
        let mut adv = Advance::default();
        let cutoff = self.newest.saturating_sub(self.inactive);
        self.scratch.clear();
        for i in 0..self.max_ts.len() {
            if !self.active[i] {
                continue;
            }
            if self.max_ts[i] < cutoff {
                self.active[i] = false;
                self.n_active -= 1;
                if self.is_fast[i] {
                    self.is_fast[i] = false;
                    adv.fast_cleared.push(i as u32);
                }
                continue;
            }
            self.scratch.push(self.max_ts[i]);
        }
        if self.scratch.is_empty() {
            return adv;
        }
        let k = self.k();
        let idx = k - 1;
        let (_, kth, _) = self.scratch.select_nth_unstable_by(idx, |a, b| b.cmp(a));
        self.frontier = *kth;
        let w = self.frontier.saturating_sub(self.ooo);
        if w > self.watermark {
            self.watermark = w;
            adv.watermark = Some(w);
        }
        self.threshold = next_boundary(self.watermark, self.lateness).saturating_add(self.ooo);
        self.above = 0;
        let check_fast = self.n_active >= 3;
        for i in 0..self.max_ts.len() {
            if !self.active[i] {
                continue;
            }
            if self.max_ts[i] >= self.threshold {
                self.above += 1;
            }
            let fast = check_fast && self.max_ts[i] > self.frontier.saturating_add(self.fast);
            if fast != self.is_fast[i] {
                self.is_fast[i] = fast;
                if fast {
                    adv.fast_raised.push(i as u32);
                } else {
                    adv.fast_cleared.push(i as u32);
                }
            }
        }
        self.next_inactivity_check = self
            .frontier
            .saturating_add(self.inactive)
            .max(self.newest.saturating_add(MIN));
        adv
    }

    /// Moves the watermark to `w` (end of input, or a restored checkpoint).
    pub fn force(&mut self, w: EpochMillis) {
        self.watermark = self.watermark.max(w);
        self.threshold = next_boundary(self.watermark, self.lateness).saturating_add(self.ooo);
        self.above = (0..self.max_ts.len())
            .filter(|&i| self.active[i] && self.max_ts[i] >= self.threshold)
            .count();
    }

    /// Restores the clock's scalar state (the per-sensor vectors are set directly).
    pub(crate) fn restore(
        &mut self,
        frontier: EpochMillis,
        watermark: EpochMillis,
        newest: EpochMillis,
    ) {
        self.n_active = self.active.iter().filter(|a| **a).count();
        self.frontier = frontier;
        self.newest = newest;
        self.watermark = NEVER;
        self.force(watermark);
        self.next_inactivity_check = if frontier == NEVER {
            i64::MAX
        } else {
            frontier
                .saturating_add(self.inactive)
                .max(newest.saturating_add(MIN))
        };
    }
}

/// The first instant after `w` at which a window ends (a minute) or closes (a minute
/// plus the lateness).
pub fn next_boundary(w: EpochMillis, lateness: i64) -> EpochMillis {
    if w <= NEVER {
        return NEVER;
    }
    let b1 = (w.div_euclid(MIN) + 1) * MIN;
    let b2 = ((w - lateness).div_euclid(MIN) + 1) * MIN + lateness;
    b1.min(b2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamConfig;

    const T0: i64 = 1_795_334_400_000; // 2026-11-22T08:00:00Z

    fn cfg() -> StreamConfig {
        StreamConfig {
            out_of_orderness_s: 60,
            allowed_lateness_s: 90,
            fast_clock_s: 120,
            inactive_sensor_s: 3600,
            ..StreamConfig::default()
        }
    }

    /// Recomputing after every record: the reference the incremental clock must match.
    fn naive(records: &[(u32, i64)], c: &StreamConfig) -> Vec<i64> {
        let mut out = Vec::new();
        let mut clock = Clock::new(c);
        let mut w = NEVER;
        for &(s, ts) in records {
            clock.observe(s, ts);
            let a = clock.recompute();
            if let Some(nw) = a.watermark {
                w = nw;
            }
            out.push(w);
        }
        out
    }

    #[test]
    fn boundaries_are_minutes_and_closing_times() {
        assert_eq!(next_boundary(T0, 90_000), T0 + 30_000); // T0 − 90 s + 2 min
        assert_eq!(next_boundary(T0 + 30_000, 90_000), T0 + MIN);
        assert_eq!(next_boundary(T0, 0), T0 + MIN);
        assert_eq!(next_boundary(T0 - 1, 120_000), T0);
    }

    #[test]
    fn crossings_match_recomputing_after_every_record() {
        let c = cfg();
        // 7 sensors reporting every minute with jitter; sensor 6 runs 5 minutes fast.
        let mut recs = Vec::new();
        for m in 0..30i64 {
            for s in 0..7u32 {
                let skew = if s == 6 {
                    5 * MIN
                } else {
                    (i64::from(s) * 7919 + m * 104_729) % 40_000
                };
                recs.push((s, T0 + m * MIN + skew));
            }
        }
        let expected = naive(&recs, &c);
        let mut clock = Clock::new(&c);
        let mut got = Vec::new();
        let mut raised = Vec::new();
        for &(s, ts) in &recs {
            if clock.observe(s, ts) {
                let a = clock.recompute();
                raised.extend(a.fast_raised);
            }
            got.push(clock.watermark());
        }
        // The incremental clock moves at the same boundary crossings; between them it
        // may lag the naive one, but never within a minute or closing boundary.
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!(g <= e, "record {i}: {g} > {e}");
            assert!(
                next_boundary(*g, c.lateness_ms()) > *e,
                "record {i}: watermark {g} missed a boundary before {e}"
            );
        }
        assert_eq!(raised, vec![6], "the fast sensor is flagged, nobody else");
        // The frontier is the median sensor, not the fast one.
        assert!(clock.frontier() < T0 + 30 * MIN);
        assert!(clock.is_fast(6) && !clock.is_fast(0));
    }

    #[test]
    fn offline_sensors_stop_holding_the_partition_back() {
        let c = cfg();
        let mut clock = Clock::new(&c);
        for s in 0..10u32 {
            clock.observe(s, T0);
        }
        clock.recompute();
        // Only 3 of 10 sensors keep reporting, for two hours.
        for m in 1..=120i64 {
            for s in 0..3u32 {
                if clock.observe(s, T0 + m * MIN) {
                    clock.recompute();
                }
            }
        }
        assert!(
            clock.watermark() >= T0 + 119 * MIN - MIN - c.ooo_ms(),
            "watermark stalled at {}",
            clock.watermark() - T0
        );
    }
}
