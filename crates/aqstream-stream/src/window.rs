//! Event-time windows: the four tumbling window lengths and the cells readings fall in.
//!
//! A reading covers the period `(ts − period_s, ts]`. It lands in one **cell** — the
//! minute, hour or day containing the start of its period — and contributes to every
//! window at least as long as its period: a minute reading (or a real-time sample) to
//! the 1 min, 5 min, 1 h and 24 h windows, an hourly reading to the 1 h and 24 h
//! windows, a daily reading to the 24 h window only.

use aqstream_core::time::{DAY_MS, EpochMillis, HOUR_MS, MINUTE_MS};
use std::fmt;
use std::str::FromStr;

/// A tumbling window length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum WindowKind {
    /// One minute.
    M1 = 0,
    /// Five minutes.
    M5 = 1,
    /// One hour.
    H1 = 2,
    /// One day (UTC).
    D1 = 3,
}

impl WindowKind {
    /// Every window kind, shortest first.
    pub const ALL: [WindowKind; 4] = [
        WindowKind::M1,
        WindowKind::M5,
        WindowKind::H1,
        WindowKind::D1,
    ];

    /// Length in milliseconds.
    pub const fn len_ms(self) -> i64 {
        match self {
            WindowKind::M1 => MINUTE_MS,
            WindowKind::M5 => 5 * MINUTE_MS,
            WindowKind::H1 => HOUR_MS,
            WindowKind::D1 => DAY_MS,
        }
    }

    /// Length in minutes.
    pub const fn minutes(self) -> u32 {
        (self.len_ms() / MINUTE_MS) as u32
    }

    /// The `window` column's name: `1m`, `5m`, `1h`, `24h`.
    pub const fn name(self) -> &'static str {
        match self {
            WindowKind::M1 => "1m",
            WindowKind::M5 => "5m",
            WindowKind::H1 => "1h",
            WindowKind::D1 => "24h",
        }
    }

    /// Start of the window of this kind containing `t`.
    pub const fn start_of(self, t: EpochMillis) -> EpochMillis {
        t - t.rem_euclid(self.len_ms())
    }

    /// The kind with this index (`as u8`).
    pub const fn from_index(i: u8) -> Option<WindowKind> {
        match i {
            0 => Some(WindowKind::M1),
            1 => Some(WindowKind::M5),
            2 => Some(WindowKind::H1),
            3 => Some(WindowKind::D1),
            _ => None,
        }
    }
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WindowKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WindowKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown window `{s}` (expected 1m, 5m, 1h or 24h)"))
    }
}

/// The granularity of the cell a reading lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum CellKind {
    /// Minute readings and real-time samples (`period_s` ≤ 60).
    Minute = 0,
    /// Hourly readings (`period_s` ≤ 3600).
    Hour = 1,
    /// Daily readings (longer periods).
    Day = 2,
}

impl CellKind {
    /// The cell kind of a reading with this period.
    pub const fn of_period(period_s: u32) -> CellKind {
        if period_s <= 60 {
            CellKind::Minute
        } else if period_s <= 3600 {
            CellKind::Hour
        } else {
            CellKind::Day
        }
    }

    /// The window kind with the cell's length (the smallest window it feeds).
    pub const fn window(self) -> WindowKind {
        match self {
            CellKind::Minute => WindowKind::M1,
            CellKind::Hour => WindowKind::H1,
            CellKind::Day => WindowKind::D1,
        }
    }

    /// The windows a cell of this kind contributes to.
    pub const fn windows(self) -> &'static [WindowKind] {
        match self {
            CellKind::Minute => &WindowKind::ALL,
            CellKind::Hour => &[WindowKind::H1, WindowKind::D1],
            CellKind::Day => &[WindowKind::D1],
        }
    }

    /// The kind with this index (`as u8`).
    pub const fn from_index(i: u8) -> Option<CellKind> {
        match i {
            0 => Some(CellKind::Minute),
            1 => Some(CellKind::Hour),
            2 => Some(CellKind::Day),
            _ => None,
        }
    }
}

/// The cell of a reading: its kind and start (event time, ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// Granularity.
    pub kind: CellKind,
    /// Start of the cell.
    pub start: EpochMillis,
}

impl Cell {
    /// The cell of a reading ending at `ts` after a period of `period_s` seconds.
    pub fn of(ts: EpochMillis, period_s: u32) -> Cell {
        let kind = CellKind::of_period(period_s);
        let begin = ts - i64::from(period_s) * 1000;
        Cell {
            kind,
            start: kind.window().start_of(begin),
        }
    }

    /// End of the cell (exclusive).
    pub fn end(&self) -> EpochMillis {
        self.start + self.kind.window().len_ms()
    }

    /// Start of the window of `kind` containing this cell.
    pub fn window_start(&self, kind: WindowKind) -> EpochMillis {
        kind.start_of(self.start)
    }

    /// Packs (sensor index, cell) into the single integer group key of the segment
    /// aggregation: sensor in the high 32 bits, kind in bits 30–31, the cell start in
    /// minutes since the epoch in bits 0–29 (valid until the year 4011). `None` for
    /// event times before 1970 or after that.
    pub fn pack(&self, sensor: u32) -> Option<u64> {
        let minute = self.start.div_euclid(MINUTE_MS);
        if !(0..(1 << 30)).contains(&minute) {
            return None;
        }
        Some((u64::from(sensor) << 32) | ((self.kind as u64) << 30) | minute as u64)
    }

    /// Inverse of [`Cell::pack`].
    pub fn unpack(key: u64) -> (u32, Cell) {
        let sensor = (key >> 32) as u32;
        let kind = CellKind::from_index(((key >> 30) & 3) as u8).unwrap_or(CellKind::Day);
        let start = (key & ((1 << 30) - 1)) as i64 * MINUTE_MS;
        (sensor, Cell { kind, start })
    }
}

/// The set of minutes of a window that have a valid PM2.5 value (for `valid_fraction`).
///
/// Windows of up to an hour keep their bits inline; a day's 1 440 minutes live on the
/// heap. Every sensor holds about a dozen open windows, nearly all short, so this is
/// 16 bytes and no allocation for most of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MinuteSet {
    /// Up to 64 minutes.
    Small(u64),
    /// Up to [`MinuteSet::BIG_WORDS`] × 64 minutes.
    Big(Box<[u64; MinuteSet::BIG_WORDS]>),
}

impl Default for MinuteSet {
    fn default() -> Self {
        MinuteSet::Small(0)
    }
}

impl MinuteSet {
    /// Words of a large set: enough for the longest window (a day).
    pub const BIG_WORDS: usize = 23;

    /// An empty set for a window of `kind`.
    pub fn new(kind: WindowKind) -> MinuteSet {
        if kind.minutes() <= 64 {
            MinuteSet::Small(0)
        } else {
            MinuteSet::Big(Box::new([0; MinuteSet::BIG_WORDS]))
        }
    }

    /// Marks minutes `from .. from + n` (indices within the window; minutes beyond
    /// the set's capacity are ignored).
    pub fn insert_range(&mut self, from: u32, n: u32) {
        let words = self.words_mut();
        let cap = (words.len() * 64) as u32;
        for m in from..from.saturating_add(n).min(cap) {
            words[(m / 64) as usize] |= 1 << (m % 64);
        }
    }

    /// Adds every minute of `other` (that fits).
    pub fn union(&mut self, other: &MinuteSet) {
        for (a, b) in self.words_mut().iter_mut().zip(other.words()) {
            *a |= *b;
        }
    }

    /// Number of minutes in the set.
    pub fn count(&self) -> u32 {
        self.words().iter().map(|w| w.count_ones()).sum()
    }

    /// The raw words (for checkpoints).
    pub fn words(&self) -> &[u64] {
        match self {
            MinuteSet::Small(w) => std::slice::from_ref(w),
            MinuteSet::Big(b) => &b[..],
        }
    }

    fn words_mut(&mut self) -> &mut [u64] {
        match self {
            MinuteSet::Small(w) => std::slice::from_mut(w),
            MinuteSet::Big(b) => &mut b[..],
        }
    }

    /// A set from raw words (for checkpoints): one word makes a small set, more a
    /// large one (words beyond [`MinuteSet::BIG_WORDS`] are dropped).
    pub fn from_words(words: Vec<u64>) -> MinuteSet {
        match words.as_slice() {
            [] => MinuteSet::Small(0),
            [w] => MinuteSet::Small(*w),
            ws => {
                let mut b = Box::new([0; MinuteSet::BIG_WORDS]);
                for (a, w) in b.iter_mut().zip(ws) {
                    *a = *w;
                }
                MinuteSet::Big(b)
            }
        }
    }
}

/// A window of one key: its kind and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowId {
    /// Length.
    pub kind: WindowKind,
    /// Start (event time, ms).
    pub start: EpochMillis,
}

impl WindowId {
    /// End of the window (exclusive).
    pub fn end(&self) -> EpochMillis {
        self.start + self.kind.len_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_334_580_000; // 2026-11-22T08:03:00Z, a minute boundary

    #[test]
    fn cells_follow_the_period() {
        // A minute reading ending at 08:03 covers 08:02–08:03.
        let c = Cell::of(T, 60);
        assert_eq!(
            (c.kind, c.start, c.end()),
            (CellKind::Minute, T - MINUTE_MS, T)
        );
        // A real-time sample at 08:03:00 belongs to the minute starting then.
        assert_eq!(Cell::of(T, 0).start, T);
        assert_eq!(Cell::of(T + 30_000, 60).start, T - MINUTE_MS);
        // An hourly reading ending at 10:00 covers the hour 09:00–10:00.
        let h = Cell::of(WindowKind::H1.start_of(T) + 2 * HOUR_MS, 3600);
        assert_eq!(h.kind, CellKind::Hour);
        assert_eq!(h.start, WindowKind::H1.start_of(T) + HOUR_MS);
        assert_eq!(h.kind.windows(), &[WindowKind::H1, WindowKind::D1]);
        assert_eq!(Cell::of(T, 86_400).kind, CellKind::Day);
        assert_eq!(
            c.window_start(WindowKind::M5),
            WindowKind::M5.start_of(T - MINUTE_MS)
        );
    }

    #[test]
    fn keys_pack_and_unpack() {
        for cell in [Cell::of(T, 60), Cell::of(T, 3600), Cell::of(T, 86_400)] {
            let k = cell.pack(123_456).unwrap();
            assert_eq!(Cell::unpack(k), (123_456, cell));
        }
        assert_eq!(Cell::of(-120_000, 60).pack(1), None);
    }

    #[test]
    fn minute_sets_count_distinct_minutes() {
        let mut s = MinuteSet::new(WindowKind::D1);
        s.insert_range(0, 1);
        s.insert_range(0, 1);
        s.insert_range(1430, 10); // the day's last 10 minutes
        assert_eq!(s.count(), 11);
        let mut t = MinuteSet::new(WindowKind::D1);
        t.insert_range(5, 2);
        s.union(&t);
        assert_eq!(s.count(), 13);
        assert_eq!(MinuteSet::from_words(s.words().to_vec()), s);
        // Short windows keep their minutes inline, and count the same way.
        let mut h = MinuteSet::new(WindowKind::H1);
        assert!(matches!(h, MinuteSet::Small(0)));
        h.insert_range(58, 2); // the last two minutes of the hour
        h.insert_range(0, 1);
        assert_eq!(h.count(), 3);
        assert_eq!(MinuteSet::from_words(h.words().to_vec()), h);
        assert_eq!(std::mem::size_of::<MinuteSet>(), 16);
        assert_eq!("24h".parse::<WindowKind>().unwrap(), WindowKind::D1);
        assert_eq!(WindowKind::H1.minutes(), 60);
    }
}
