//! The detector end to end on a hand-built network: lifecycle, hysteresis, faulty
//! sensors, haze, two sources, determinism.

use aqstream_core::alert::{Alert, AlertState, SourceType};
use aqstream_core::geo::{LocalPlane, haversine_m};
use aqstream_core::measure::{Measure, N_MEASURES};
use aqstream_core::registry::{SensorInfo, SensorKind, SensorRegistry};
use aqstream_core::time::{MINUTE_MS, parse_rfc3339};
use aqstream_locate::plume::{PlumeParams, Stability, Terrain, concentration_per_gs, wind_frame};
use aqstream_locate::{Detector, DetectorConfig, SensorMinute};

const LAT0: f64 = 39.9092;
const LON0: f64 = 116.6573;

/// A 9 × 9 grid 500 m apart plus one met station at the centre.
fn network() -> (SensorRegistry, Vec<(f64, f64)>) {
    let plane = LocalPlane::new(LAT0, LON0);
    let mut rows = Vec::new();
    let mut xy = Vec::new();
    for iy in 0..9 {
        for ix in 0..9 {
            let (x, y) = ((ix as f64 - 4.0) * 500.0, (iy as f64 - 4.0) * 500.0);
            let (lat, lon) = plane.to_latlon(x, y);
            rows.push(SensorInfo {
                sensor_id: format!("TZ-{:04}", rows.len() + 1),
                gateway_id: "gw".into(),
                lat,
                lon,
                district: if x < 0.0 {
                    "West".into()
                } else {
                    "East".into()
                },
                kind: SensorKind::Lowcost,
            });
            xy.push((x, y));
        }
    }
    rows.push(SensorInfo {
        sensor_id: "MET-01".into(),
        gateway_id: "gw".into(),
        lat: LAT0,
        lon: LON0,
        district: "East".into(),
        kind: SensorKind::Met,
    });
    xy.push((0.0, 0.0));
    (SensorRegistry::from_sensors(rows).unwrap(), xy)
}

/// A deterministic pseudo-noise in [-1, 1].
fn wobble(i: usize, t: i64, salt: u64) -> f64 {
    let mut h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (t as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ salt;
    h ^= h >> 29;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 32;
    (h % 20_001) as f64 / 10_000.0 - 1.0
}

#[derive(Clone)]
struct Source {
    x: f64,
    y: f64,
    q_pm25: f64,
    ratios: [f64; 5], // pm25, pm10, no2, so2, co (mg per µg)
    from: i64,
    to: i64,
}

struct World {
    background: Box<dyn Fn(i64) -> f64>,
    sources: Vec<Source>,
    /// Sensors that report a frozen value of 300 µg/m³ from minute 0.
    stuck: Vec<usize>,
    /// Sensors whose gain rises 1 % per minute from minute 60.
    drifting: Vec<usize>,
    gains: Vec<f64>,
}

fn minute_rows(
    reg: &SensorRegistry,
    xy: &[(f64, f64)],
    w: &World,
    t0: i64,
    m: i64,
) -> Vec<SensorMinute> {
    let wind_from = 270.0;
    let p = PlumeParams {
        class: Stability::D,
        terrain: Terrain::Urban,
        wind_ms: 3.0,
        min_wind_ms: 0.5,
        source_height_m: 3.0,
        receptor_height_m: 3.0,
        sigma_theta_rad: 8f64.to_radians(),
    };
    let mut rows = Vec::new();
    for (i, s) in reg.sensors().iter().enumerate() {
        let mut values = [None; N_MEASURES];
        if s.kind == SensorKind::Met {
            values[Measure::WindSpeed.index()] = Some(3.0 + 0.3 * wobble(i, m, 1));
            values[Measure::WindDir.index()] = Some(wind_from + 5.0 * wobble(i, m, 2));
        } else {
            let bg = (w.background)(m);
            let mut c = [bg, bg * 1.6, 40.0, 10.0, 0.8];
            for src in &w.sources {
                let (x, y) = wind_frame(xy[i].0 - src.x, xy[i].1 - src.y, wind_from);
                let delay = (x / 3.0 / 60.0).ceil() as i64;
                if m - delay < src.from || m - delay >= src.to {
                    continue;
                }
                let k = concentration_per_gs(&p, x, y) * 1e6 * src.q_pm25;
                for (cv, r) in c.iter_mut().zip(src.ratios) {
                    *cv += k * r;
                }
            }
            let mut gain = w.gains[i];
            if w.drifting.contains(&i) && m > 60 {
                gain *= 1.0 + 0.01 * (m - 60) as f64;
            }
            for (k, meas) in [
                Measure::Pm25,
                Measure::Pm10,
                Measure::No2,
                Measure::So2,
                Measure::Co,
            ]
            .iter()
            .enumerate()
            {
                let noise = if *meas == Measure::Co { 0.03 } else { 2.0 };
                let v = (c[k] * gain + noise * wobble(i, m, 10 + k as u64)).max(0.0);
                values[meas.index()] = Some(v);
            }
            if w.stuck.contains(&i) {
                values[Measure::Pm25.index()] = Some(300.0);
                values[Measure::Pm10.index()] = Some(420.0);
            }
        }
        rows.push(SensorMinute {
            sensor_id: s.sensor_id.clone(),
            minute_end: t0 + m * MINUTE_MS,
            values,
            excluded: false,
        });
    }
    rows
}

fn run(w: &World, minutes: i64, shuffle: bool) -> Vec<Alert> {
    let (reg, xy) = network();
    let t0 = parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
    let mut det = Detector::new(&reg, DetectorConfig::default());
    let mut out = Vec::new();
    for m in 1..=minutes {
        let mut rows = minute_rows(&reg, &xy, w, t0, m);
        if shuffle {
            rows.reverse();
            let n = rows.len();
            rows.rotate_left((m as usize * 7) % n);
        }
        for r in &rows {
            det.observe(r);
        }
        out.extend(det.advance(t0 + m * MINUTE_MS));
    }
    out
}

fn calm_world() -> World {
    World {
        background: Box::new(|_| 60.0),
        sources: Vec::new(),
        stuck: Vec::new(),
        drifting: Vec::new(),
        gains: (0..82).map(|i| 1.0 + 0.15 * wobble(i, 0, 99)).collect(),
    }
}

const COAL: [f64; 5] = [1.0, 1.4, 0.5, 2.0, 0.005];
const TRAFFIC: [f64; 5] = [1.0, 1.6, 3.0, 0.05, 0.03];

#[test]
fn one_source_fires_updates_and_resolves_once() {
    let mut w = calm_world();
    w.sources.push(Source {
        x: -620.0,
        y: 40.0,
        q_pm25: 4.0,
        ratios: COAL,
        from: 60,
        to: 100,
    });
    let alerts = run(&w, 150, false);
    let states: Vec<AlertState> = alerts.iter().map(|a| a.state).collect();
    assert_eq!(states.first(), Some(&AlertState::Firing), "{states:?}");
    assert_eq!(states.last(), Some(&AlertState::Resolved), "{states:?}");
    assert_eq!(
        states.iter().filter(|s| **s == AlertState::Firing).count(),
        1,
        "one alert per episode: {states:?}"
    );
    assert!(alerts.iter().all(|a| a.alert_id == "a-20261122-0001"));
    let fire = &alerts[0];
    let t0 = parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
    // Detected within three minutes of the plume reaching the first sensor (≤ 2 min travel).
    assert!(
        fire.detected_at <= t0 + 65 * MINUTE_MS,
        "{}",
        fire.to_json()
    );
    assert!(
        fire.started_at <= fire.detected_at && fire.started_at >= t0 + 55 * MINUTE_MS,
        "{}",
        fire.to_json()
    );
    let last = alerts
        .iter()
        .rev()
        .find(|a| a.state != AlertState::Resolved)
        .unwrap();
    let src = last.source.expect("located");
    let plane = LocalPlane::new(LAT0, LON0);
    let (lat, lon) = plane.to_latlon(-620.0, 40.0);
    let err = haversine_m(src.lat, src.lon, lat, lon);
    assert!(err < 250.0, "error {err} m: {}", last.to_json());
    assert_eq!(last.source_type, SourceType::Coal, "{}", last.to_json());
    assert_eq!(last.district, "West");
    let resolved = alerts.last().unwrap();
    assert!(resolved.resolved_at.unwrap() >= t0 + 100 * MINUTE_MS);
}

#[test]
fn same_input_in_any_order_gives_the_same_alerts() {
    let mut w = calm_world();
    w.sources.push(Source {
        x: -700.0,
        y: 130.0,
        q_pm25: 4.0,
        ratios: TRAFFIC,
        from: 50,
        to: 80,
    });
    let a = run(&w, 110, false);
    let b = run(&w, 110, true);
    assert!(!a.is_empty());
    let ja: Vec<String> = a.iter().map(Alert::to_json).collect();
    let jb: Vec<String> = b.iter().map(Alert::to_json).collect();
    assert_eq!(ja, jb);
}

#[test]
fn an_intermittent_plume_does_not_flap() {
    let mut w = calm_world();
    // On for 3 minutes, off for 2, for an hour: one episode, not twelve.
    for k in 0..12 {
        w.sources.push(Source {
            x: -700.0,
            y: 130.0,
            q_pm25: 4.0,
            ratios: COAL,
            from: 60 + 5 * k,
            to: 63 + 5 * k,
        });
    }
    let alerts = run(&w, 150, false);
    let fired = alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    assert_eq!(
        fired,
        1,
        "{:?}",
        alerts.iter().map(|a| a.state).collect::<Vec<_>>()
    );
}

#[test]
fn two_sources_far_apart_give_two_alerts() {
    let mut w = calm_world();
    w.sources.push(Source {
        x: -1300.0,
        y: -1400.0,
        q_pm25: 4.0,
        ratios: COAL,
        from: 60,
        to: 100,
    });
    w.sources.push(Source {
        x: -1300.0,
        y: 1450.0,
        q_pm25: 4.0,
        ratios: TRAFFIC,
        from: 60,
        to: 100,
    });
    let alerts = run(&w, 140, false);
    let mut ids: Vec<&str> = alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .map(|a| a.alert_id.as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a-20261122-0001", "a-20261122-0002"]);
}

#[test]
fn haze_faulty_and_drifting_sensors_raise_nothing() {
    let mut w = calm_world();
    // The background triples over three hours (city-wide haze) …
    w.background = Box::new(|m| 50.0 * (1.0 + 2.0 * (m as f64 / 180.0).min(1.0)));
    // … one sensor is stuck at a high value, two drift upward by 1 %/min (slowly enough
    // for the gain tracking), their neighbours are fine.
    w.stuck = vec![40];
    w.drifting = vec![10, 70];
    for s in &w.drifting {
        w.gains[*s] = 1.0;
    }
    let alerts = run(&w, 200, false);
    assert!(
        alerts.is_empty(),
        "{:?}",
        alerts.iter().map(Alert::to_json).collect::<Vec<_>>()
    );
}

#[test]
fn a_new_source_near_an_open_episode_gets_its_own_alert() {
    let mut w = calm_world();
    w.sources.push(Source {
        x: -1600.0,
        y: -900.0,
        q_pm25: 4.0,
        ratios: COAL,
        from: 60,
        to: 100,
    });
    // Starts while the first episode is still open, 1.7 km north of it.
    w.sources.push(Source {
        x: -1600.0,
        y: 800.0,
        q_pm25: 4.0,
        ratios: TRAFFIC,
        from: 95,
        to: 140,
    });
    let alerts = run(&w, 170, false);
    let firing: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .collect();
    assert_eq!(
        firing.len(),
        2,
        "{:?}",
        alerts.iter().map(Alert::to_json).collect::<Vec<_>>()
    );
    let last = |id: &str| {
        alerts
            .iter()
            .rev()
            .find(|a| a.alert_id == id && a.state != AlertState::Resolved)
            .unwrap()
            .clone()
    };
    let plane = LocalPlane::new(LAT0, LON0);
    for (a, (x, y)) in firing.iter().zip([(-1600.0, -900.0), (-1600.0, 800.0)]) {
        let l = last(&a.alert_id);
        let (lat, lon) = plane.to_latlon(x, y);
        let s = l.source.expect("located");
        assert!(
            haversine_m(s.lat, s.lon, lat, lon) < 500.0,
            "{}",
            l.to_json()
        );
    }
}
