//! Episodes: spatial grouping of hot sensors and the alert lifecycle.
//!
//! A sensor is **hot** when its CUSUM alarms and its two-minute mean excess reaches
//! the on-threshold, **warm** while that excess stays above the off-threshold (a
//! fraction of it): the two thresholds are the hysteresis. Each minute:
//!
//! 1. a hot sensor that is a member of an open episode, and was warm in it within the
//!    last three minutes, stays with it (the oldest episode wins); one within
//!    `group_link_m` of a sensor hot in an episode this minute joins it (repeatedly, so a
//!    plume spreading downwind links up); the rest are grouped by single linkage into
//!    new, *pending* episodes. An episode that has had no warm sensor for three minutes
//!    takes no sensors at all (what follows such a lull is a new episode);
//! 2. a pending episode **fires** after `confirm_minutes` consecutive hot minutes, when
//!    at least two sensors are hot or a lone sensor's excess reaches
//!    `single_sensor_factor` × the threshold; a pending episode that goes three minutes
//!    without a hot sensor is dropped silently;
//! 3. a firing episode is **updated** when the located source moves by `update_move_m`
//!    or its uncertainty radius halves, the peak grows by `update_peak_ratio`, or the
//!    type is first determined — at most once every `update_min_interval_minutes`;
//! 4. it **resolves** after `resolve_after_minutes` without a warm member.
//!
//! One episode carries one `alert_id` (`a-YYYYMMDD-NNNN`, the date of `detected_at`
//! and a per-day sequence), from `firing` to `resolved`.

use crate::classify::RatioAccumulator;
use crate::invert::Localization;
use crate::wind::WindSample;
use aqstream_core::alert::SourceType;
use std::collections::BTreeMap;

/// Where an episode is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending,
    Firing,
}

/// What the last emitted transition said, to decide whether a change is material.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Emitted {
    pub minute: i64,
    pub xy: Option<(f64, f64)>,
    pub uncertainty_m: f64,
    pub peak: f64,
    pub source_type: SourceType,
}

/// One episode, pending or firing.
#[derive(Debug, Clone)]
pub(crate) struct Episode {
    #[allow(dead_code)]
    pub seq: u64,
    pub phase: Phase,
    pub alert_id: String,
    /// Member sensor → end of the minute it was first hot in this episode.
    pub members: BTreeMap<usize, i64>,
    /// Member sensor → end of the last minute it was warm.
    pub recent: BTreeMap<usize, i64>,
    /// Members hot in the current minute.
    pub hot: Vec<usize>,
    pub hot_streak: u32,
    pub cold: u32,
    pub quiet: u32,
    pub onset: i64,
    pub first_hot: i64,
    pub last_warm: i64,
    pub primary: usize,
    pub peak: [f64; 5],
    pub ratios: RatioAccumulator,
    pub loc: Option<Localization>,
    /// Sum of the positive sensors' excess behind the best-supported localization.
    pub support: f64,
    /// The first confident location `(x, y, radius)`: a later confident location far
    /// from it is another source.
    pub anchor: Option<(f64, f64, f64)>,
    pub source_type: SourceType,
    pub type_confidence: f64,
    pub wind: Option<WindSample>,
    pub detected_at: i64,
    pub started_at: i64,
    pub last_locate: i64,
    pub emitted: Option<Emitted>,
}

impl Episode {
    pub fn new(seq: u64, minute: i64, onset: i64) -> Episode {
        Episode {
            seq,
            phase: Phase::Pending,
            alert_id: String::new(),
            members: BTreeMap::new(),
            recent: BTreeMap::new(),
            hot: Vec::new(),
            hot_streak: 0,
            cold: 0,
            quiet: 0,
            onset,
            first_hot: minute,
            last_warm: minute,
            primary: 0,
            peak: [f64::NEG_INFINITY; 5],
            ratios: RatioAccumulator::default(),
            loc: None,
            support: 0.0,
            anchor: None,
            source_type: SourceType::Unknown,
            type_confidence: 0.0,
            wind: None,
            detected_at: minute,
            started_at: onset,
            last_locate: i64::MIN,
            emitted: None,
        }
    }
}

/// An episode without a warm sensor for this many minutes takes no new sensors: a
/// plume after such a lull is a new episode.
pub(crate) const LULL_MINUTES: u32 = 3;

/// Assigns this minute's hot sensors to episodes (see the module docs). `dist(i, j)`
/// is the distance between sensors in metres. Returns the groups of hot sensors that
/// belong to no episode yet, each sorted, in order of their lowest sensor index.
pub(crate) fn assign(
    episodes: &mut [Episode],
    hot: &[usize],
    now: i64,
    link_m: f64,
    dist: &dyn Fn(usize, usize) -> f64,
) -> Vec<Vec<usize>> {
    for e in episodes.iter_mut() {
        e.hot.clear();
    }
    let lull = LULL_MINUTES as i64 * 60_000;
    let mut rest = Vec::new();
    'sensor: for &s in hot {
        for e in episodes.iter_mut() {
            let recent = e.recent.get(&s).is_some_and(|&t| now - t <= lull);
            if e.quiet < LULL_MINUTES && recent {
                e.hot.push(s);
                continue 'sensor;
            }
        }
        rest.push(s);
    }
    // Join the episode of the nearest sensor hot in this minute, until nothing moves:
    // a plume spreading downwind links up, a lingering old plume (warm, not hot) does not
    // swallow a new one.
    loop {
        let mut moved = false;
        let mut still = Vec::new();
        for &s in &rest {
            let mut best: Option<(f64, usize)> = None;
            for (k, e) in episodes.iter().enumerate() {
                for &m in &e.hot {
                    let d = dist(s, m);
                    if d <= link_m && best.is_none_or(|b| d < b.0) {
                        best = Some((d, k));
                    }
                }
            }
            match best {
                Some((_, k)) => {
                    episodes[k].hot.push(s);
                    moved = true;
                }
                None => still.push(s),
            }
        }
        rest = still;
        if !moved {
            break;
        }
    }
    let unassigned = rest;
    // Single-linkage clusters of the rest.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut done = vec![false; unassigned.len()];
    for start in 0..unassigned.len() {
        if done[start] {
            continue;
        }
        done[start] = true;
        let mut group = vec![unassigned[start]];
        let mut k = 0;
        while k < group.len() {
            let a = group[k];
            for j in 0..unassigned.len() {
                if !done[j] && dist(a, unassigned[j]) <= link_m {
                    done[j] = true;
                    group.push(unassigned[j]);
                }
            }
            k += 1;
        }
        group.sort_unstable();
        groups.push(group);
    }
    for e in episodes.iter_mut() {
        e.hot.sort_unstable();
    }
    groups
}

/// Is the change since the last emitted transition material enough for `updated`?
pub(crate) fn material_change(
    prev: &Emitted,
    xy: Option<(f64, f64, f64)>,
    peak: f64,
    source_type: SourceType,
    move_m: f64,
    peak_ratio: f64,
) -> bool {
    let moved = match (prev.xy, xy) {
        (Some(a), Some(b)) => {
            (a.0 - b.0).hypot(a.1 - b.1) >= move_m || b.2 <= 0.5 * prev.uncertainty_m
        }
        (None, Some(_)) => true,
        _ => false,
    };
    let grew = peak >= prev.peak * peak_ratio;
    let typed = prev.source_type == SourceType::Unknown && source_type != SourceType::Unknown;
    moved || grew || typed
}

/// `a-YYYYMMDD-NNNN`.
pub(crate) fn alert_id(detected_at: i64, seq_of_day: u32) -> String {
    let (y, m, d) = aqstream_core::time::civil_from_days(detected_at.div_euclid(86_400_000));
    format!("a-{y:04}{m:02}{d:02}-{seq_of_day:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_dist(i: usize, j: usize) -> f64 {
        (i as f64 - j as f64).abs() * 500.0
    }

    #[test]
    fn grouping_by_membership_distance_and_linkage() {
        let mut eps = vec![Episode::new(1, 0, 0)];
        eps[0].members.insert(10, 0);
        eps[0].recent.insert(10, 0);
        eps[0].members.insert(25, 0);
        // 10 is a recent member, 12 is 1000 m from it (joins), 14 is 1000 m from 12 (joins
        // through it), 20 and 21 form a new group, 30 alone; 25 was a member long ago and
        // is not hot: nothing links to it.
        let groups = assign(
            &mut eps,
            &[10, 12, 14, 20, 21, 30],
            60_000,
            1500.0,
            &line_dist,
        );
        assert_eq!(eps[0].hot, vec![10, 12, 14]);
        assert_eq!(groups, vec![vec![20, 21], vec![30]]);
        // After a lull a member's return is a new episode.
        let groups = assign(&mut eps, &[10], 10 * 60_000, 1500.0, &line_dist);
        assert_eq!(groups, vec![vec![10]]);
    }

    #[test]
    fn ids_and_material_changes() {
        let t = aqstream_core::time::parse_rfc3339("2026-11-22T08:06:00Z").unwrap();
        assert_eq!(alert_id(t, 7), "a-20261122-0007");
        let prev = Emitted {
            minute: 0,
            xy: Some((0.0, 0.0)),
            uncertainty_m: 100.0,
            peak: 100.0,
            source_type: SourceType::Unknown,
        };
        let change = |xy: (f64, f64, f64), peak: f64, t: SourceType| {
            material_change(&prev, Some(xy), peak, t, 200.0, 1.25)
        };
        assert!(!change((100.0, 0.0, 90.0), 110.0, SourceType::Unknown));
        assert!(
            change((250.0, 0.0, 90.0), 110.0, SourceType::Unknown),
            "moved"
        );
        assert!(
            change((0.0, 0.0, 40.0), 110.0, SourceType::Unknown),
            "twice as precise"
        );
        assert!(
            change((0.0, 0.0, 90.0), 130.0, SourceType::Unknown),
            "peak grew"
        );
        assert!(
            change((0.0, 0.0, 90.0), 100.0, SourceType::Coal),
            "type known"
        );
    }
}
