//! Wind-sector helpers for pollution roses and source direction analysis.
//!
//! A direction is where the wind blows **from**, in degrees, 0 = north, 90 = east
//! (contract section 2). With `n` sectors each spans `360/n` degrees centred on its
//! compass point: with 16 sectors `N` is 348.75° ≤ d < 11.25°, `NNE` 11.25° ≤ d < 33.75°.
//! Degrees outside 0–360 wrap; NULL or NaN gives NULL; `n` other than 4, 8, 16 is an error.

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int32Builder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use std::sync::Arc;

const NAMES_16: [&str; 16] = [
    "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW",
    "NNW",
];

/// The wind functions.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(Wind::new(false)),
        ScalarUDF::from(Wind::new(true)),
    ]
}

/// The sector (0 = north, clockwise) of `deg` among `n` sectors, or `None` for NaN.
pub fn sector_index(deg: f64, n: u32) -> Option<u32> {
    if !deg.is_finite() {
        return None;
    }
    let width = 360.0 / f64::from(n);
    let i = ((deg.rem_euclid(360.0) + width / 2.0) / width).floor() as u32;
    Some(i % n)
}

/// The compass name of sector `i` of `n` (4, 8 or 16).
pub fn sector_name(i: u32, n: u32) -> &'static str {
    NAMES_16[(i * (16 / n)) as usize % 16]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Wind {
    index: bool,
    signature: Signature,
}

impl Wind {
    fn new(index: bool) -> Wind {
        Wind {
            index,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Float64]),
                    TypeSignature::Exact(vec![DataType::Float64, DataType::Int64]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for Wind {
    fn name(&self) -> &str {
        if self.index {
            "wind_sector_index"
        } else {
            "wind_sector"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(if self.index {
            DataType::Int32
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let deg = cast(&arrays[0], &DataType::Float64)?;
        let deg = deg
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| DataFusionError::Internal("cast".into()))?;
        let counts = arrays
            .get(1)
            .map(|a| cast(a, &DataType::Int64))
            .transpose()?;
        let counts = counts.as_ref().and_then(|a| {
            a.as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
        });
        let sectors = |i: usize| -> Result<Option<u32>> {
            match counts {
                None => Ok(Some(16)),
                Some(c) if c.is_null(i) => Ok(None),
                Some(c) => match c.value(i) {
                    n @ (4 | 8 | 16) => Ok(Some(n as u32)),
                    n => exec_err!("{}: {n} sectors; use 4, 8 or 16", self.name()),
                },
            }
        };
        let out: ArrayRef = if self.index {
            let mut b = Int32Builder::with_capacity(rows);
            for i in 0..rows {
                let n = sectors(i)?;
                let v = match (deg.is_valid(i), n) {
                    (true, Some(n)) => sector_index(deg.value(i), n).map(|s| s as i32),
                    _ => None,
                };
                b.append_option(v);
            }
            Arc::new(b.finish())
        } else {
            let mut b = StringBuilder::with_capacity(rows, rows * 3);
            for i in 0..rows {
                let n = sectors(i)?;
                let v = match (deg.is_valid(i), n) {
                    (true, Some(n)) => sector_index(deg.value(i), n).map(|s| sector_name(s, n)),
                    _ => None,
                };
                b.append_option(v);
            }
            Arc::new(b.finish())
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_are_centred_on_compass_points() {
        assert_eq!(sector_index(0.0, 16), Some(0));
        assert_eq!(sector_index(11.24, 16), Some(0));
        assert_eq!(sector_index(11.25, 16), Some(1));
        assert_eq!(sector_index(348.75, 16), Some(0));
        assert_eq!(sector_index(348.74, 16), Some(15));
        assert_eq!(sector_index(-90.0, 8), Some(6));
        assert_eq!(sector_index(f64::NAN, 8), None);
        assert_eq!(sector_name(6, 8), "W");
        assert_eq!(sector_name(1, 4), "E");
        assert_eq!(sector_name(15, 16), "NNW");
    }
}
