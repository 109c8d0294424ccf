//! CBPF on real data: openair's `mydata` (London Marylebone Road, hourly, 1998–2005).
//!
//! The monitor stands on the south side of a street canyon running east–west: with
//! south-westerly winds over the roofs the canyon vortex carries the traffic exhaust to
//! it, so high NOx is most likely with winds from the south-west (openair's polar plots
//! of this data set show the same). SO2, which traffic hardly emits, is most likely
//! high with easterly winds.

use aqstream_locate::cbpf::{Cbpf, DEFAULT_SPEED_EDGES};
use std::path::PathBuf;
use std::process::Command;

fn mydata() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/openair_mydata/mydata.csv.gz");
    assert!(
        path.exists(),
        "missing {}: the shared data sets sit beside the repository",
        path.display()
    );
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .expect("gzip is needed to read the data set (run scripts/install-deps)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// `(ws, wd, value)` of column `col`, rows with all three present.
fn samples(text: &str, col: &str) -> Vec<(f64, f64, f64)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let idx = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (ws, wd, c) = (idx("ws"), idx("wd"), idx(col));
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f[ws].parse().ok()?, f[wd].parse().ok()?, f[c].parse().ok()?))
        })
        .collect()
}

#[test]
fn high_nox_comes_with_south_westerly_winds() {
    let text = mydata();
    let nox = samples(&text, "nox");
    assert_eq!(nox.len(), 62_311, "rows with ws, wd and nox");
    let cbpf = Cbpf::from_samples(&nox, 90.0, 36, &DEFAULT_SPEED_EDGES);
    assert_eq!(cbpf.threshold(), 348.0, "90th percentile of NOx (ppb)");
    assert!(
        (cbpf.base_rate() - 0.10).abs() < 0.005,
        "{}",
        cbpf.base_rate()
    );
    let (dir, p) = cbpf.dominant_sector(100).unwrap();
    assert!(
        (220.0..=250.0).contains(&dir),
        "dominant sector {dir}° (p = {p})"
    );
    assert!(p > 0.2, "{p}");
    // North-easterly winds blow the exhaust to the other side of the road.
    assert!(cbpf.sector_probability(40.0, 100).unwrap() < 0.07);
}

#[test]
fn high_so2_comes_from_the_east() {
    let text = mydata();
    let so2 = samples(&text, "so2");
    let cbpf = Cbpf::from_samples(&so2, 90.0, 36, &DEFAULT_SPEED_EDGES);
    let (dir, p) = cbpf.dominant_sector(100).unwrap();
    assert!(
        (70.0..=110.0).contains(&dir),
        "dominant sector {dir}° (p = {p})"
    );
    // Strongest at moderate speeds: a distant source carried in, not a local one in calm air.
    assert!(cbpf.probability(90.0, 5.0, 30).unwrap() > 0.25);
}
