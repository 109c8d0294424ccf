//! The order of rows in an epoch's files, computed without moving the rows.
//!
//! Every file is sorted by a key that starts with a string (sensor id or district
//! name). Sorting rows by it directly compares strings pair by pair and moves rows of
//! a few hundred bytes; this was a quarter of the history writer's time. Instead each
//! distinct string gets its rank in sorted order, the whole key (rank, times, index)
//! is packed into one `u128` whose integer order is the key's order, and only the
//! packed keys are sorted. The writer then gathers the rows in that order into Arrow
//! builders. Keys whose fields do not fit their bits (an epoch spanning years, a
//! window revised 65 536 times) fall back to sorting the unpacked tuples: same order,
//! only slower.

use crate::archive::LedgerEntry;
use crate::rows::AggregateRow;
use aqstream_core::time::{DAY_MS, EpochMillis};
use rustc_hash::FxHashMap;

/// The rank of each item's string among the distinct strings in sorted order
/// (sorting by rank is sorting by the string), for strings shared through `Arc`s.
///
/// Strings are told apart by address first: the rows of one sensor share one
/// `Arc<str>`, so an item costs one hash of an address instead of a hash and a
/// compare of its bytes, and only the distinct addresses are sorted by content.
/// Equal strings at different addresses get the same rank.
pub(crate) fn shared_ranks<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<u32> {
    ranks_by(keys, |k| (k.as_ptr() as usize, k.len()))
}

/// [`shared_ranks`] for strings that share no storage: one hash of each item's
/// bytes.
pub(crate) fn ranks<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<u32> {
    ranks_by(keys, |k| k)
}

/// The rank of each item's string in sorted order, the items told apart by
/// `identity` (equal strings of different identities get the same rank).
fn ranks_by<'a, K: std::hash::Hash + Eq>(
    keys: impl Iterator<Item = &'a str>,
    identity: impl Fn(&'a str) -> K,
) -> Vec<u32> {
    let mut slot_of: FxHashMap<K, u32> = FxHashMap::default();
    let mut distinct: Vec<&str> = Vec::new();
    let mut items: Vec<u32> = Vec::with_capacity(keys.size_hint().0);
    for k in keys {
        let next = distinct.len() as u32;
        let slot = *slot_of.entry(identity(k)).or_insert_with(|| {
            distinct.push(k);
            next
        });
        items.push(slot);
    }
    let mut sorted: Vec<u32> = (0..distinct.len() as u32).collect();
    sorted.sort_unstable_by_key(|&d| distinct[d as usize]);
    let mut rank_of = vec![0u32; distinct.len()];
    let mut rank = 0u32;
    for (i, &d) in sorted.iter().enumerate() {
        if i > 0 && distinct[sorted[i - 1] as usize] != distinct[d as usize] {
            rank += 1;
        }
        rank_of[d as usize] = rank;
    }
    for item in &mut items {
        *item = rank_of[*item as usize];
    }
    items
}

/// Packs fields into a `u128`, most significant first; `None` when a field does
/// not fit its width.
#[derive(Default)]
struct Packer {
    acc: u128,
    used: u32,
    overflow: bool,
}

impl Packer {
    fn put(mut self, value: u64, bits: u32) -> Packer {
        debug_assert!(self.used + bits <= 128);
        if bits < 64 && value >> bits != 0 {
            self.overflow = true;
        }
        self.acc = (self.acc << bits) | u128::from(value);
        self.used += bits;
        self
    }

    fn done(self) -> Option<u128> {
        (!self.overflow).then_some(self.acc << (128 - self.used))
    }
}

/// The indices `0..n` ordered by the packed keys (index in the low 32 bits, so equal
/// keys keep their order), or by `key` when some key does not pack.
fn order<K: Ord>(
    n: usize,
    packed: impl Fn(usize) -> Option<u128>,
    key: impl Fn(usize) -> K,
) -> Vec<usize> {
    if n <= u32::MAX as usize {
        let keys: Option<Vec<u128>> = (0..n).map(|i| packed(i).map(|k| k | i as u128)).collect();
        if let Some(mut keys) = keys {
            keys.sort_unstable();
            return keys.into_iter().map(|k| (k as u32) as usize).collect();
        }
    }
    let mut keys: Vec<(K, usize)> = (0..n).map(|i| (key(i), i)).collect();
    keys.sort_unstable();
    keys.into_iter().map(|(_, i)| i).collect()
}

/// Offset of `v` from `base` as an unsigned field value (`u64::MAX`, which fits no
/// field, when negative).
fn offset(v: i64, base: i64) -> u64 {
    u64::try_from(v.wrapping_sub(base)).unwrap_or(u64::MAX)
}

/// Aggregate rows in file order: by date, then scope, key, window start, window
/// length, revision; ties in arrival order.
pub(crate) fn row_order(rows: &[AggregateRow]) -> Vec<usize> {
    let rank = shared_ranks(rows.iter().map(|r| &*r.key));
    let min_day = rows
        .iter()
        .map(|r| r.window.start.div_euclid(DAY_MS))
        .min()
        .unwrap_or(0);
    let key = |i: usize| {
        let r = &rows[i];
        let w = r.window;
        (
            w.start.div_euclid(DAY_MS),
            r.scope,
            rank[i],
            w.start,
            w.kind,
            r.revision,
        )
    };
    let packed = |i: usize| {
        let (day, scope, rank, start, kind, revision) = key(i);
        Packer::default()
            .put(offset(day, min_day), 16)
            .put(scope as u64, 1)
            .put(u64::from(rank), 32)
            .put(offset(start, day * DAY_MS), 27)
            .put(kind as u64, 4)
            .put(u64::try_from(revision).unwrap_or(u64::MAX), 16)
            .put(0, 32)
            .done()
    };
    order(rows.len(), packed, key)
}

/// Ledger entries in file order: by date, then in arrival order (which is version
/// order: stage 2 numbers the entries as it finalises them).
///
/// The ledger is stage 2's private record, read back only by district and date (late
/// data, recovery) and resolved by version, so no order within a date helps a reader;
/// sorting it by sensor and minute, as it was, took 7 % of the history writer's CPU
/// time (3 M readings, 10 000 sensors), and the files are about as large without
/// it (+1.4 % on a simulated city).
pub(crate) fn ledger_order(ledger: &[LedgerEntry]) -> Vec<usize> {
    let day = |i: usize| ledger[i].minute_start.div_euclid(DAY_MS);
    let mut order: Vec<usize> = (0..ledger.len()).collect();
    if (1..ledger.len()).any(|i| day(i) != day(0)) {
        // Stable: arrival order within a date.
        order.sort_by_key(|&i| day(i));
    }
    order
}

/// Readings in file order: by sensor, time, period; ties in arrival order.
pub(crate) fn readings_order(sensor: &[&str], ts: &[EpochMillis], period: &[i32]) -> Vec<usize> {
    let rank = ranks(sensor.iter().copied());
    let min_ts = ts.iter().copied().min().unwrap_or(0);
    let key = |i: usize| (rank[i], ts[i], period[i]);
    let packed = |i: usize| {
        let (rank, ts, period) = key(i);
        Packer::default()
            .put(u64::from(rank), 32)
            .put(offset(ts, min_ts), 44)
            // Order-preserving map of the signed period onto 20 bits.
            .put(offset(i64::from(period), -(1 << 19)), 20)
            .put(0, 32)
            .done()
    };
    order(sensor.len(), packed, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partial::{MinuteValues, Partial, Stats};
    use crate::rows::Scope;
    use crate::window::{WindowId, WindowKind};
    use std::sync::Arc;

    /// xorshift64*: deterministic test data.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> i64 {
            (self.next() % n) as i64
        }
    }

    fn row(r: &mut Rng, names: &[Arc<str>], spread_days: i64, max_rev: u64) -> AggregateRow {
        let kind = WindowKind::ALL[r.below(4) as usize];
        let day = 20_000 + r.below(spread_days as u64);
        let start = day * DAY_MS + r.below(1440) * 60_000;
        AggregateRow {
            scope: if r.below(5) == 0 {
                Scope::District
            } else {
                Scope::Sensor
            },
            // Mostly the shared `Arc` of the name, sometimes a copy at another
            // address: both must rank the same.
            key: match &names[r.below(names.len() as u64) as usize] {
                n if r.below(3) == 0 => Arc::from(&**n),
                n => Arc::clone(n),
            },
            district: Arc::from("d"),
            window: WindowId { kind, start },
            stats: Stats::of(&Partial::default(), kind, 0.0),
            nowcast_pm25: None,
            revision: r.below(max_rev) as i32,
            emitted_at: 0,
        }
    }

    fn names(n: usize) -> Vec<Arc<str>> {
        // Ids of several lengths so that byte order and length order disagree.
        (0..n)
            .map(|i| Arc::from(format!("S{}", i * 7919 % 1000).as_str()))
            .collect()
    }

    fn expected_rows(rows: &[AggregateRow]) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..rows.len()).collect();
        idx.sort_by(|&a, &b| {
            let k = |r: &AggregateRow| {
                (
                    r.window.start.div_euclid(DAY_MS),
                    r.scope,
                    r.key.to_string(),
                    r.window.start,
                    r.window.kind,
                    r.revision,
                )
            };
            k(&rows[a]).cmp(&k(&rows[b]))
        });
        idx
    }

    #[test]
    fn rows_are_ordered_as_by_the_string_key_packed_or_not() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let ids = names(300);
        // Packed: a few days, small revisions. Fallback: a 200-year span and
        // revisions beyond 16 bits. Both must give the stable string-key order.
        for (days, max_rev) in [(3, 3), (1, 1), (73_000, 3), (2, 200_000)] {
            let rows: Vec<AggregateRow> = (0..4000)
                .map(|_| row(&mut r, &ids, days, max_rev))
                .collect();
            assert_eq!(
                row_order(&rows),
                expected_rows(&rows),
                "days {days} rev {max_rev}"
            );
        }
        assert!(row_order(&[]).is_empty());
    }

    #[test]
    fn shared_ranks_are_by_content_whatever_the_address() {
        let (b1, b2): (Arc<str>, Arc<str>) = (Arc::from("b"), Arc::from("b"));
        let (a, ab, empty): (Arc<str>, Arc<str>, Arc<str>) =
            (Arc::from("a"), Arc::from("ab"), Arc::from(""));
        let items = [&*b1, &*a, &*b2, &*ab, &*b1, &*empty, &*a];
        assert_eq!(
            shared_ranks(items.iter().copied()),
            vec![3, 1, 3, 2, 3, 0, 1]
        );
        assert_eq!(
            shared_ranks(items.iter().copied()),
            ranks(items.iter().copied())
        );
        assert!(ranks(std::iter::empty()).is_empty());
        assert!(shared_ranks(std::iter::empty()).is_empty());
    }

    #[test]
    fn packing_refuses_what_does_not_fit() {
        assert_eq!(
            Packer::default().put(3, 2).put(1, 1).done(),
            Some(0b111 << 125)
        );
        assert_eq!(Packer::default().put(4, 2).done(), None);
        assert_eq!(
            Packer::default().put(u64::MAX, 64).done(),
            Some(u128::from(u64::MAX) << 64)
        );
        assert_eq!(offset(5, 7), u64::MAX);
        assert_eq!(offset(7, 5), 2);
    }

    #[test]
    fn ledger_entries_are_ordered_by_day_then_arrival() {
        let mut r = Rng(42);
        let ids = names(50);
        for (days, versions) in [(2, 1_000), (1, 1 << 30), (10_000, 10)] {
            let ledger: Vec<LedgerEntry> = (0..3000)
                .map(|_| LedgerEntry {
                    sensor_id: Arc::clone(&ids[r.below(50) as usize]),
                    district: Arc::from("d"),
                    minute_start: (19_000 + r.below(days)) * DAY_MS + r.below(1440) * 60_000,
                    excluded: false,
                    version: r.below(versions),
                    values: MinuteValues::default(),
                })
                .collect();
            let mut want: Vec<usize> = (0..ledger.len()).collect();
            want.sort_by_key(|&i| (ledger[i].minute_start.div_euclid(DAY_MS), i));
            assert_eq!(
                ledger_order(&ledger),
                want,
                "days {days} versions {versions}"
            );
        }
    }

    #[test]
    fn readings_are_ordered_by_sensor_time_period() {
        let mut r = Rng(7);
        let ids = names(40);
        for (span, periods) in [(600_000u64, [60, 60, 3600]), (1 << 50, [60, -5, 3600])] {
            let n = 5000;
            let sensor: Vec<&str> = (0..n).map(|_| &*ids[r.below(40) as usize]).collect();
            let ts: Vec<i64> = (0..n).map(|_| 1_700_000_000_000 + r.below(span)).collect();
            let period: Vec<i32> = (0..n).map(|_| periods[r.below(3) as usize]).collect();
            let mut want: Vec<usize> = (0..n).collect();
            want.sort_by_key(|&i| (sensor[i], ts[i], period[i]));
            assert_eq!(readings_order(&sensor, &ts, &period), want);
        }
    }
}
