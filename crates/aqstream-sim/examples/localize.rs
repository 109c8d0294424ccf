//! Runs the localization benchmark: `cargo run --release -p aqstream-sim --example localize [SEEDS] [SCENARIO…]`.
#![allow(clippy::print_stdout, clippy::print_stderr)]
use aqstream_locate::DetectorConfig;
use aqstream_sim::quality;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(2);
    let names: Vec<String> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        aqstream_sim::PRESETS
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let cfg: DetectorConfig = match std::env::var("AQ_CFG") {
        Ok(p) => aqstream_runtime::config::load(Some(std::path::Path::new(&p))).expect("config"),
        Err(_) => DetectorConfig::default(),
    };
    let mut runs = Vec::new();
    for name in &names {
        for seed in 1..=seeds {
            let sc = aqstream_sim::preset(name, seed).expect("preset");
            let t = std::time::Instant::now();
            let r = quality::run(&sc, &cfg).expect("run");
            eprintln!(
                "{name} seed {seed}: {} transitions, {:.1} s",
                r.alerts.len(),
                t.elapsed().as_secs_f64()
            );
            if std::env::var("VERBOSE").is_ok() {
                for s in &r.score.sources {
                    eprintln!(
                        "  {} {} q={} max={:.0} delay={:?} err={:?}/{:?} unc={:?} type={:?} naive={:?}",
                        s.truth.id,
                        s.truth.kind,
                        s.truth.qualifies,
                        s.truth.max_excess_ugm3,
                        s.delay_s,
                        s.first_error_m.map(|e| e.round()),
                        s.last_error_m.map(|e| e.round()),
                        s.last_uncertainty_m.map(|e| e.round()),
                        s.source_type,
                        s.paired_naive_error_m.map(|e| e.round())
                    );
                }
                eprintln!(
                    "  FA {} ({} faulty) split {}",
                    r.score.false_alarms, r.score.false_alarms_faulty, r.score.split_alerts
                );
            }
            runs.push(r);
        }
    }
    println!("{}", quality::report::markdown(&runs));
}
