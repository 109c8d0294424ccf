//! The sensor-minutes of one pending minute of stage 2.

use super::Entry;
use crate::directory::SensorDirectory;
use std::collections::BTreeMap;
use std::sync::Arc;

/// No entry (a position table slot, an unknown sensor's rank).
const ABSENT: u32 = u32::MAX;

/// The sensor-minutes of one minute, visited in sensor-id order.
///
/// Stage 2 holds every sensor's minutes for the allowed lateness. Registered sensors
/// are kept in a vector with a position table indexed by the rank of their id (the
/// directory's sorted order): 112 bytes plus a 4-byte table slot per sensor-minute,
/// against about 240 bytes in a map keyed by id. Entries arrive in stage 1's emission
/// order and are sorted by rank when first visited; visiting merges in the sensors
/// missing from the registry (rare; kept in a map by id), so the order is the id order
/// a map by id would give.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    /// Registered sensors' entries (each with its rank).
    known: Vec<Entry>,
    /// Index into `known` by rank ([`ABSENT`] where none); sized to the registry on
    /// the first entry.
    pos: Vec<u32>,
    /// Whether `known` is in rank order.
    sorted: bool,
    /// Entries of sensors missing from the registry.
    unknown: BTreeMap<Arc<str>, Entry>,
    /// Whether the minute was delivered (closed by the stream watermark).
    pub(crate) delivered: bool,
}

impl PartialEq for Bucket {
    fn eq(&self, other: &Self) -> bool {
        let sorted = |b: &Bucket| {
            let mut v = b.known.clone();
            v.sort_unstable_by_key(|e| e.rank);
            v
        };
        self.delivered == other.delivered
            && self.unknown == other.unknown
            && sorted(self) == sorted(other)
    }
}

impl Entry {
    /// The sensor's directory index (`None` for a sensor missing from the registry),
    /// from the rank the bucket stored: no lookup by id.
    pub(crate) fn sensor_index(&self, dir: &SensorDirectory) -> Option<u32> {
        (self.rank != ABSENT).then(|| dir.at_rank(self.rank))
    }
}

impl Bucket {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.known.len() + self.unknown.len()
    }

    /// The entry of sensor `id` (`idx`: its directory index, if registered).
    pub(crate) fn get(&self, dir: &SensorDirectory, idx: Option<u32>, id: &str) -> Option<&Entry> {
        match idx {
            Some(i) => match self.pos.get(dir.rank(i) as usize) {
                Some(&p) if p != ABSENT => Some(&self.known[p as usize]),
                _ => None,
            },
            None => self.unknown.get(id),
        }
    }

    /// Sets the entry of sensor `id` (`idx`: its directory index, if registered).
    pub(crate) fn insert(
        &mut self,
        dir: &SensorDirectory,
        idx: Option<u32>,
        id: &Arc<str>,
        mut e: Entry,
    ) {
        let Some(i) = idx else {
            e.rank = ABSENT;
            self.unknown.insert(Arc::clone(id), e);
            return;
        };
        let r = dir.rank(i);
        e.rank = r;
        if self.pos.len() <= r as usize {
            self.pos.resize(dir.len().max(r as usize + 1), ABSENT);
        }
        match self.pos[r as usize] {
            ABSENT => {
                if self.known.last().is_some_and(|last| last.rank > r) {
                    self.sorted = false;
                } else if self.known.is_empty() {
                    self.sorted = true;
                }
                self.pos[r as usize] = self.known.len() as u32;
                self.known.push(e);
            }
            p => self.known[p as usize] = e,
        }
    }

    fn sort(&mut self) {
        if self.sorted {
            return;
        }
        self.known.sort_unstable_by_key(|e| e.rank);
        for (p, e) in self.known.iter().enumerate() {
            self.pos[e.rank as usize] = p as u32;
        }
        self.sorted = true;
    }

    /// Calls `f` with every entry, in sensor-id order.
    pub(crate) fn visit_mut<'a>(
        &'a mut self,
        dir: &'a SensorDirectory,
        f: impl FnMut(&'a Arc<str>, &'a mut Entry),
    ) {
        self.sort();
        let known = self.known.iter_mut().map(|e| (e.rank, e));
        merge_by_id(dir, known, self.unknown.iter_mut(), f);
    }

    /// Calls `f` with every entry, in sensor-id order (without sorting the bucket).
    pub(crate) fn visit<'a>(
        &'a self,
        dir: &'a SensorDirectory,
        f: impl FnMut(&'a Arc<str>, &'a Entry),
    ) {
        if self.sorted {
            let known = self.known.iter().map(|e| (e.rank, e));
            merge_by_id(dir, known, self.unknown.iter(), f);
        } else {
            let mut known: Vec<&Entry> = self.known.iter().collect();
            known.sort_unstable_by_key(|e| e.rank);
            let known = known.into_iter().map(|e| (e.rank, e));
            merge_by_id(dir, known, self.unknown.iter(), f);
        }
    }
}

/// Merges registered sensors' entries (in rank order) with unregistered ones (in id
/// order) into id order. A registered id is never among the unregistered ones.
fn merge_by_id<'a, E>(
    dir: &'a SensorDirectory,
    known: impl Iterator<Item = (u32, E)>,
    unknown: impl Iterator<Item = (&'a Arc<str>, E)>,
    mut f: impl FnMut(&'a Arc<str>, E),
) {
    let mut unknown = unknown.peekable();
    for (rank, e) in known {
        let id = dir.id(dir.at_rank(rank));
        while let Some((u, _)) = unknown.peek() {
            if *u >= id {
                break;
            }
            let (u, ue) = unknown.next().expect("peeked");
            f(u, ue);
        }
        f(id, e);
    }
    for (u, ue) in unknown {
        f(u, ue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partial::MinuteValues;
    use aqstream_core::registry::SensorRegistry;

    fn entry(revision: i32) -> Entry {
        Entry {
            district: 0,
            rank: 0,
            values: MinuteValues::default(),
            excluded: false,
            drift: false,
            revision,
        }
    }

    #[test]
    fn entries_are_visited_in_id_order_whatever_the_arrival_order() {
        let mut csv = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
        // Registered out of id order.
        for id in ["S5", "S1", "S9", "S3", "S7"] {
            csv.push_str(&format!("{id},g,39.9,116.6,D,lowcost\n"));
        }
        let dir = SensorDirectory::new(Arc::new(SensorRegistry::from_csv(&csv).unwrap()));
        let mut b = Bucket::default();
        // Arrivals: registered and unregistered ids mixed, one replaced.
        let arrivals = [
            ("S9", 1),
            ("S0", 2),
            ("S3", 3),
            ("S4", 4),
            ("S1", 5),
            ("S9", 6),
            ("Z", 7),
        ];
        for (id, rev) in arrivals {
            let idx = dir.index_of(id);
            b.insert(&dir, idx, &Arc::from(id), entry(rev));
        }
        assert_eq!(b.len(), 6);
        let want = [
            ("S0", 2),
            ("S1", 5),
            ("S3", 3),
            ("S4", 4),
            ("S9", 6),
            ("Z", 7),
        ];
        let mut seen = Vec::new();
        b.visit(&dir, |id, e| seen.push((id.to_string(), e.revision)));
        let want: Vec<(String, i32)> = want.iter().map(|(i, r)| (i.to_string(), *r)).collect();
        assert_eq!(seen, want);
        let copy = b.clone();
        let mut seen_mut = Vec::new();
        b.visit_mut(&dir, |id, e| seen_mut.push((id.to_string(), e.revision)));
        assert_eq!(seen_mut, want);
        assert_eq!(b, copy, "sorting does not change the contents");
        // Lookups work before and after sorting, and a replacement after it too.
        assert_eq!(
            b.get(&dir, dir.index_of("S3"), "S3").map(|e| e.revision),
            Some(3)
        );
        assert_eq!(b.get(&dir, None, "Z").map(|e| e.revision), Some(7));
        assert_eq!(b.get(&dir, dir.index_of("S7"), "S7"), None);
        b.insert(&dir, dir.index_of("S3"), &Arc::from("S3"), entry(8));
        assert_eq!(
            b.get(&dir, dir.index_of("S3"), "S3").map(|e| e.revision),
            Some(8)
        );
        assert_eq!(
            copy.get(&dir, dir.index_of("S9"), "S9").map(|e| e.revision),
            Some(6)
        );
        assert_ne!(b, copy);
    }
}
