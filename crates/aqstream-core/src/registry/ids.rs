//! The registry's index from sensor id to position, laid out for lookups.
//!
//! Every reading looks its sensor up by id, on the ingest path and again in the
//! stream operators. A hash map of `String`s keeps each id in its own allocation, so
//! a lookup that finds its slot still misses the cache to compare the id's bytes.
//! Here the ids are concatenated in one buffer and the table holds only a hash tag
//! and a position per slot: for 10 000 sensors the table is 256 KiB and the ids
//! about 70 KiB, which stay in the core's cache.

use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;

/// Positions of distinct ids, in insertion order.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdIndex {
    /// The ids, concatenated in position order.
    bytes: String,
    /// End of each id in `bytes` (it starts where the previous one ends).
    ends: Vec<usize>,
    /// Open addressing with linear probing, a power of two long and at most half
    /// full: (tag, position + 1), position + 1 = 0 for an empty slot.
    slots: Vec<(u32, u32)>,
}

fn hash(id: &str) -> u64 {
    FxBuildHasher.hash_one(id)
}

/// The tag kept in a slot: the hash's high half (the low bits pick the slot).
fn tag(h: u64) -> u32 {
    (h >> 32) as u32
}

impl IdIndex {
    /// Number of ids.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Id at `position`.
    pub(crate) fn id(&self, position: usize) -> &str {
        let start = position.checked_sub(1).map_or(0, |p| self.ends[p]);
        &self.bytes[start..self.ends[position]]
    }

    /// Position of `id`.
    pub(crate) fn get(&self, id: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let h = hash(id);
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let (t, p) = self.slots[i];
            if p == 0 {
                return None;
            }
            let position = p as usize - 1;
            if t == tag(h) && self.id(position) == id {
                return Some(position);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `id` at the next position; `Err` with the position it already has.
    pub(crate) fn insert(&mut self, id: &str) -> Result<usize, usize> {
        if let Some(p) = self.get(id) {
            return Err(p);
        }
        let position = self.ends.len();
        // Positions are stored as u32 + 1: beyond that the registry could not be
        // held in memory anyway.
        assert!(position < u32::MAX as usize, "more than 2^32 - 1 sensors");
        self.bytes.push_str(id);
        self.ends.push(self.bytes.len());
        if (position + 1) * 2 > self.slots.len() {
            self.rebuild(((position + 1) * 2).next_power_of_two().max(16));
        } else {
            self.place(position);
        }
        Ok(position)
    }

    fn place(&mut self, position: usize) {
        let h = hash(self.id(position));
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        while self.slots[i].1 != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (tag(h), position as u32 + 1);
    }

    fn rebuild(&mut self, slots: usize) {
        self.slots = vec![(0, 0); slots];
        for position in 0..self.len() {
            self.place(position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn finds_every_id_and_nothing_else() {
        let mut ix = IdIndex::default();
        assert_eq!(ix.get("a"), None);
        let mut want = HashMap::new();
        // Ids of many lengths, including the empty one and prefixes of each other,
        // through several rebuilds.
        for i in 0..5000 {
            let id = match i % 4 {
                0 => format!("S{i}"),
                1 => format!("S{i}x"),
                2 => "é".repeat(i % 7),
                _ => format!("gw-{}-{i}", i % 13),
            };
            match ix.insert(&id) {
                Ok(p) => {
                    assert_eq!(p, want.len());
                    want.insert(id, p);
                }
                Err(p) => assert_eq!(want.get(&id), Some(&p), "{id}"),
            }
        }
        assert_eq!(ix.len(), want.len());
        for (id, &p) in &want {
            assert_eq!(ix.get(id), Some(p), "{id}");
            assert_eq!(ix.id(p), id);
        }
        for absent in ["S1x1", "S", "gw-0-1", "éééééééé", "S5000"] {
            assert_eq!(ix.get(absent), None, "{absent}");
        }
        // At most half full.
        assert!(ix.slots.len() >= 2 * ix.len());
        assert!(ix.slots.len().is_power_of_two());
    }
}
