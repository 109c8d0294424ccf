//! Validation: from a decoded reading to an accepted reading or a typed [`Reject`].
//!
//! Validation is pure: the caller supplies the gateway that delivered the message and
//! the wall-clock time it was received. Values that cannot be a measurement at all are
//! rejected (`out_of_range`); values that are physically impossible for the air but
//! typical of failing instruments are kept and flagged (see [`apply_quality_flags`]).

use crate::measure::Measure;
use crate::reading::{FlagKind, Reading};
use crate::registry::SensorRegistry;
use crate::reject::{Reject, RejectReason};
use crate::time::{EpochMillis, MINUTE_MS};

/// The values failing instruments report instead of a measurement.
pub const SENTINELS: [f64; 6] = [999.0, 1999.0, 9999.0, 99999.0, -999.0, -9999.0];

/// Tunable limits of validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationPolicy {
    /// How far in the future (relative to `received_at`) an event time may be.
    pub max_future_ms: i64,
    /// PM2.5 is flagged when it exceeds `pm_ratio * PM10 + pm_margin`.
    pub pm_ratio: f64,
    /// Absolute margin (µg/m³) of the PM2.5 > PM10 check, for noise near zero.
    pub pm_margin: f64,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        ValidationPolicy {
            max_future_ms: 10 * MINUTE_MS,
            pm_ratio: 1.2,
            pm_margin: 10.0,
        }
    }
}

/// Marks physically impossible values (negative concentrations, sentinels, values
/// outside the plausible range, PM2.5 well above PM10) on `r.flags`. Existing flags are
/// kept.
pub fn apply_quality_flags(r: &mut Reading, policy: &ValidationPolicy) {
    for m in Measure::ALL {
        let Some(v) = r.get(m) else { continue };
        if m.is_pollutant() {
            if v < 0.0 {
                r.flags.set(m, FlagKind::NegativeValue);
            }
            if SENTINELS.contains(&v) {
                r.flags.set(m, FlagKind::SentinelValue);
            }
        }
        let (lo, hi) = m.plausible_range();
        if v < lo || v > hi {
            r.flags.set(m, FlagKind::ImplausibleValue);
        }
    }
    if let (Some(p25), Some(p10)) = (r.get(Measure::Pm25), r.get(Measure::Pm10))
        && p25 > policy.pm_ratio * p10 + policy.pm_margin
    {
        r.flags.set(Measure::Pm25, FlagKind::Pm25ExceedsPm10);
        r.flags.set(Measure::Pm10, FlagKind::Pm25ExceedsPm10);
    }
}

/// Checks the values against their hard limits.
pub fn check_ranges(r: &Reading) -> Result<(), Reject> {
    for m in Measure::ALL {
        let Some(v) = r.get(m) else { continue };
        let (lo, hi) = m.hard_range();
        if !v.is_finite() || v < lo || v > hi {
            return Err(Reject::new(
                RejectReason::OutOfRange,
                format!(
                    "field `{}`: {v} {} outside [{lo}, {hi}]",
                    m.field(),
                    m.unit()
                ),
            ));
        }
    }
    Ok(())
}

/// Validates readings against the registry and the policy.
#[derive(Debug, Clone)]
pub struct Validator<'a> {
    registry: &'a SensorRegistry,
    policy: ValidationPolicy,
}

impl<'a> Validator<'a> {
    /// A validator over `registry` with `policy`.
    pub fn new(registry: &'a SensorRegistry, policy: ValidationPolicy) -> Validator<'a> {
        Validator { registry, policy }
    }

    /// The policy in force.
    pub fn policy(&self) -> &ValidationPolicy {
        &self.policy
    }

    /// Accepts `r`, delivered by `gateway_id` and received at `received_at`, or says why
    /// not. On success the reading carries the gateway, the receive time and its quality
    /// flags.
    pub fn validate(
        &self,
        mut r: Reading,
        gateway_id: &str,
        received_at: EpochMillis,
    ) -> Result<Reading, Reject> {
        let Some(info) = self.registry.get(&r.sensor_id) else {
            return Err(Reject::new(
                RejectReason::UnknownSensor,
                format!("sensor `{}` is not in the registry", r.sensor_id),
            ));
        };
        if info.gateway_id != gateway_id {
            return Err(Reject::new(
                RejectReason::GatewayMismatch,
                format!(
                    "sensor `{}` belongs to gateway `{}`, not `{gateway_id}`",
                    r.sensor_id, info.gateway_id
                ),
            ));
        }
        if !r.has_measurement() {
            return Err(Reject::new(
                RejectReason::NoMeasurement,
                "no measurement field has a value",
            ));
        }
        if r.ts > received_at + self.policy.max_future_ms {
            return Err(Reject::new(
                RejectReason::FutureTimestamp,
                format!(
                    "ts {} is {} s ahead of the receive time (limit {} s)",
                    crate::time::format_rfc3339(r.ts),
                    (r.ts - received_at) / 1000,
                    self.policy.max_future_ms / 1000
                ),
            ));
        }
        check_ranges(&r)?;
        apply_quality_flags(&mut r, &self.policy);
        r.gateway_id.clear();
        r.gateway_id.push_str(gateway_id);
        r.received_at = Some(received_at);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SensorRegistry;

    fn registry() -> SensorRegistry {
        SensorRegistry::from_csv(
            "sensor_id,gateway_id,lat,lon,district,kind\n\
             TZ-0001,gw-1,39.9,116.6,Center,lowcost\n\
             MET-1,gw-2,39.9,116.6,Center,met\n",
        )
        .unwrap()
    }

    const NOW: i64 = 1_795_334_580_000;

    fn reading() -> Reading {
        Reading::new("TZ-0001", NOW - MINUTE_MS, 60)
            .with(Measure::Pm25, 35.0)
            .with(Measure::Pm10, 60.0)
    }

    #[test]
    fn accepts_and_stamps() {
        let reg = registry();
        let v = Validator::new(&reg, ValidationPolicy::default());
        let r = v.validate(reading(), "gw-1", NOW).unwrap();
        assert_eq!(r.gateway_id, "gw-1");
        assert_eq!(r.received_at, Some(NOW));
        assert!(r.flags.is_empty());
        let met = Reading::new("MET-1", NOW, 60).with(Measure::WindDir, 270.0);
        assert!(v.validate(met, "gw-2", NOW).is_ok());
    }

    #[test]
    fn rejects_with_typed_reasons() {
        let reg = registry();
        let v = Validator::new(&reg, ValidationPolicy::default());
        let reason = |r: Reading, gw: &str| v.validate(r, gw, NOW).unwrap_err().reason;
        let mut unknown = reading();
        unknown.sensor_id = "TZ-404".into();
        assert_eq!(reason(unknown, "gw-1"), RejectReason::UnknownSensor);
        assert_eq!(reason(reading(), "gw-2"), RejectReason::GatewayMismatch);
        assert_eq!(
            reason(Reading::new("TZ-0001", NOW, 60), "gw-1"),
            RejectReason::NoMeasurement
        );
        let mut future = reading();
        future.ts = NOW + 10 * MINUTE_MS + 1;
        assert_eq!(reason(future, "gw-1"), RejectReason::FutureTimestamp);
        let mut edge = reading();
        edge.ts = NOW + 10 * MINUTE_MS;
        assert!(v.validate(edge, "gw-1", NOW).is_ok());
        let e = v
            .validate(reading().with(Measure::WindDir, 361.0), "gw-1", NOW)
            .unwrap_err();
        assert_eq!(e.reason, RejectReason::OutOfRange);
        assert!(e.detail.contains("wind_dir"), "{e}");
        assert_eq!(
            reason(reading().with(Measure::Pm25, f64::NAN), "gw-1"),
            RejectReason::OutOfRange
        );
        assert_eq!(
            reason(reading().with(Measure::WindSpeed, -0.5), "gw-1"),
            RejectReason::OutOfRange
        );
    }

    #[test]
    fn flags_impossible_values_but_keeps_them() {
        let reg = registry();
        let v = Validator::new(&reg, ValidationPolicy::default());
        let r = v
            .validate(
                reading()
                    .with(Measure::No2, -4.0)
                    .with(Measure::So2, 999.0)
                    .with(Measure::Co, 1999.0 / 1000.0),
                "gw-1",
                NOW,
            )
            .unwrap();
        assert!(r.flags.has(Measure::No2, FlagKind::NegativeValue));
        assert!(r.flags.has(Measure::So2, FlagKind::SentinelValue));
        assert!(r.flags.is_clean(Measure::Co));
        assert!(r.flags.is_clean(Measure::Pm25));
        let r = v
            .validate(reading().with(Measure::Pm25, 90.0), "gw-1", NOW)
            .unwrap();
        assert!(r.flags.has(Measure::Pm25, FlagKind::Pm25ExceedsPm10));
        assert!(r.flags.has(Measure::Pm10, FlagKind::Pm25ExceedsPm10));
        // Within the tolerance: PM2.5 slightly above PM10 at low levels is sensor noise.
        let r = v
            .validate(
                reading().with(Measure::Pm25, 14.0).with(Measure::Pm10, 5.0),
                "gw-1",
                NOW,
            )
            .unwrap();
        assert!(r.flags.is_empty());
        let r = v
            .validate(reading().with(Measure::Rh, 103.0), "gw-1", NOW)
            .unwrap();
        assert!(r.flags.has(Measure::Rh, FlagKind::ImplausibleValue));
    }
}
