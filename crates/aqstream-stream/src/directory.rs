//! The sensor registry as the operators use it: dense indices, districts, and the
//! number of pollutant sensors per district.

use aqstream_core::registry::{SensorKind, SensorRegistry};
use std::collections::HashMap;
use std::sync::Arc;

/// District name of sensors missing from the registry.
pub const UNKNOWN_DISTRICT: &str = "unknown";

/// Dense, shareable view of the registry.
#[derive(Debug)]
pub struct SensorDirectory {
    registry: Arc<SensorRegistry>,
    ids: Vec<Arc<str>>,
    district_of: Vec<u32>,
    districts: Vec<Arc<str>>,
    by_district: HashMap<Arc<str>, u32>,
    pollutant_sensors: Vec<u32>,
    /// Rank of each sensor's id in sorted order (by index).
    rank: Vec<u32>,
    /// Sensor index of each rank.
    by_rank: Vec<u32>,
}

impl SensorDirectory {
    /// Indexes `registry`.
    pub fn new(registry: Arc<SensorRegistry>) -> SensorDirectory {
        let mut districts: Vec<Arc<str>> =
            registry.districts().into_iter().map(Arc::from).collect();
        districts.push(Arc::from(UNKNOWN_DISTRICT));
        districts.dedup();
        let by_district: HashMap<Arc<str>, u32> = districts
            .iter()
            .enumerate()
            .map(|(i, d)| (Arc::clone(d), i as u32))
            .collect();
        let mut pollutant_sensors = vec![0u32; districts.len()];
        let mut district_of = Vec::with_capacity(registry.len());
        let mut ids: Vec<Arc<str>> = Vec::with_capacity(registry.len());
        for s in registry.sensors() {
            let d = by_district[s.district.as_str()];
            district_of.push(d);
            ids.push(Arc::from(s.sensor_id.as_str()));
            if s.kind != SensorKind::Met {
                pollutant_sensors[d as usize] += 1;
            }
        }
        let mut by_rank: Vec<u32> = (0..ids.len() as u32).collect();
        by_rank.sort_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
        let mut rank = vec![0; ids.len()];
        for (r, &i) in by_rank.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        SensorDirectory {
            registry,
            ids,
            district_of,
            districts,
            by_district,
            pollutant_sensors,
            rank,
            by_rank,
        }
    }

    /// The registry.
    pub fn registry(&self) -> &SensorRegistry {
        &self.registry
    }

    /// Number of registered sensors.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// No sensors?
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Dense index of a registered sensor.
    pub fn index_of(&self, sensor_id: &str) -> Option<u32> {
        self.registry.index_of(sensor_id).map(|i| i as u32)
    }

    /// The id of registered sensor `i`.
    pub fn id(&self, i: u32) -> &Arc<str> {
        &self.ids[i as usize]
    }

    /// Rank of registered sensor `i`'s id among the registered ids in sorted order:
    /// ordering sensors by rank orders them by id, without comparing strings.
    pub fn rank(&self, i: u32) -> u32 {
        self.rank[i as usize]
    }

    /// The registered sensor whose id has rank `r`.
    pub fn at_rank(&self, r: u32) -> u32 {
        self.by_rank[r as usize]
    }

    /// District index of registered sensor `i`.
    pub fn district_index(&self, i: u32) -> u32 {
        self.district_of[i as usize]
    }

    /// District index of a sensor id (the `unknown` district when not registered).
    pub fn district_of_id(&self, sensor_id: &str) -> u32 {
        match self.index_of(sensor_id) {
            Some(i) => self.district_of[i as usize],
            None => self.unknown_district(),
        }
    }

    /// The index of the `unknown` district.
    pub fn unknown_district(&self) -> u32 {
        self.by_district[UNKNOWN_DISTRICT]
    }

    /// The district's name.
    pub fn district_name(&self, d: u32) -> &Arc<str> {
        &self.districts[d as usize]
    }

    /// Index of a district name.
    pub fn district_index_of(&self, name: &str) -> Option<u32> {
        self.by_district.get(name).copied()
    }

    /// Number of districts (including `unknown`).
    pub fn district_count(&self) -> usize {
        self.districts.len()
    }

    /// Pollutant (non-met) sensors registered in district `d`.
    pub fn pollutant_sensors(&self, d: u32) -> u32 {
        self.pollutant_sensors[d as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn districts_and_counts() {
        let reg = SensorRegistry::from_csv(
            "sensor_id,gateway_id,lat,lon,district,kind\n\
             A,g,1,1,North,lowcost\nB,g,1,1,South,lowcost\nM,g,1,1,North,met\nC,g,1,1,North,reference\n",
        )
        .unwrap();
        let d = SensorDirectory::new(Arc::new(reg));
        assert_eq!(d.district_count(), 3);
        let north = d.district_index_of("North").unwrap();
        assert_eq!(d.pollutant_sensors(north), 2);
        assert_eq!(d.district_of_id("M"), north);
        assert_eq!(
            &**d.district_name(d.district_of_id("nope")),
            UNKNOWN_DISTRICT
        );
        assert_eq!(&**d.id(d.index_of("B").unwrap()), "B");
        // Ranks order the ids: A, B, C, M (registered as A, B, M, C).
        let ranked: Vec<&str> = (0..4).map(|r| &**d.id(d.at_rank(r))).collect();
        assert_eq!(ranked, ["A", "B", "C", "M"]);
        assert_eq!(d.rank(d.index_of("M").unwrap()), 3);
    }
}
