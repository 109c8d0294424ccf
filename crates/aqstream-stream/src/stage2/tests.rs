//! The stream watermark of stage 2.

use super::*;
use crate::archive::NoArchive;
use crate::detect::NoDetector;
use aqstream_core::registry::SensorRegistry;

const T0: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z

fn operator(partitions: usize) -> CityOperator {
    let csv = "sensor_id,gateway_id,lat,lon,district,kind\n\
               S0,g,39.90,116.60,D,lowcost\nS1,g,39.91,116.61,D,lowcost\n";
    let dir = SensorDirectory::new(Arc::new(SensorRegistry::from_csv(csv).unwrap()));
    CityOperator::new(
        Arc::new(StreamConfig::default()),
        Arc::new(dir),
        Arc::new(NoArchive),
        Box::new(NoDetector),
        partitions,
    )
}

fn watermark(partition: i32, seq: u64, wm: EpochMillis) -> Sequenced {
    Sequenced {
        partition,
        seq,
        input: CityInput::Watermark(wm),
    }
}

#[test]
fn the_watermark_waits_for_partitions_not_heard_from() {
    // Started knowing one partition (as a stage 2 taking over does), then told by the
    // first message that the readings topic has two.
    let mut op = operator(1);
    op.ensure_partitions(2);
    let mut out = CityOutput::default();
    op.apply(&watermark(0, 1, T0 + 2 * HOUR), &mut out).unwrap();
    assert_eq!(op.watermark(), NEVER, "partition 1 has not reported");
    op.apply(&watermark(1, 1, T0 + HOUR), &mut out).unwrap();
    assert_eq!(op.watermark(), T0 + HOUR, "the minimum of both");
    // An idle partition stops holding it back.
    op.set_idle(1, true, &mut out).unwrap();
    assert_eq!(op.watermark(), T0 + 2 * HOUR);
    // Growing never forgets what is known, shrinking is not a thing.
    op.ensure_partitions(1);
    assert_eq!(op.applied(), vec![1, 1]);
}

#[test]
fn duplicates_by_sequence_number_are_ignored() {
    let mut op = operator(1);
    let mut out = CityOutput::default();
    op.apply(&watermark(0, 1, T0 + HOUR), &mut out).unwrap();
    op.apply(&watermark(0, 1, T0 + 3 * HOUR), &mut out).unwrap();
    assert_eq!(op.watermark(), T0 + HOUR);
    assert_eq!(out.duplicates, 1);
}
