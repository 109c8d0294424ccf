//! The AQI and distance functions (see the [module list](super)).
//!
//! Concentrations are in aqstream units (µg/m³; CO mg/m³). Where the standard defines
//! no index for a value — negative, NaN, or a value the standard says to report with
//! another averaging period (SO2 1 h above 800 µg/m³, O3 8 h above 800 µg/m³ in HJ 633)
//! — the result is NULL. An unknown pollutant, period or language is an error.

use aqstream_core::aqi::{self, AqiError, Period, Pollutant};
use aqstream_core::geo::haversine_m;
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int32Builder, StringArray, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use std::sync::Arc;

/// The AQI functions and `haversine_m`.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(Udf::new(Kind::AqiCn)),
        ScalarUDF::from(Udf::new(Kind::AqiUs)),
        ScalarUDF::from(Udf::new(Kind::CategoryCn)),
        ScalarUDF::from(Udf::new(Kind::CategoryUs)),
        ScalarUDF::from(Udf::new(Kind::Haversine)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    AqiCn,
    AqiUs,
    CategoryCn,
    CategoryUs,
    Haversine,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Udf {
    kind: Kind,
    signature: Signature,
}

const S: DataType = DataType::Utf8;
const F: DataType = DataType::Float64;

impl Udf {
    fn new(kind: Kind) -> Udf {
        let sigs: Vec<Vec<DataType>> = match kind {
            Kind::AqiCn => vec![vec![S, F, S]],
            Kind::AqiUs => vec![vec![S, F], vec![S, F, S]],
            Kind::CategoryCn | Kind::CategoryUs => vec![vec![F], vec![F, S]],
            Kind::Haversine => vec![vec![F, F, F, F]],
        };
        Udf {
            kind,
            signature: Signature::one_of(
                sigs.into_iter().map(TypeSignature::Exact).collect(),
                Volatility::Immutable,
            ),
        }
    }
}

/// Arguments as arrays of the wanted type (string literals may arrive as Utf8View,
/// numbers as integers).
fn arrays(args: &ScalarFunctionArgs, want: &[DataType]) -> Result<Vec<ArrayRef>> {
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    arrays
        .iter()
        .zip(want)
        .map(|(a, t)| cast(a, t).map_err(DataFusionError::from))
        .collect()
}

fn str_at(a: &ArrayRef, i: usize) -> Option<&str> {
    let s = a.as_any().downcast_ref::<StringArray>()?;
    s.is_valid(i).then(|| s.value(i))
}

fn f64_at(a: &ArrayRef, i: usize) -> Option<f64> {
    let s = a.as_any().downcast_ref::<Float64Array>()?;
    s.is_valid(i).then(|| s.value(i))
}

/// NULL for "the standard defines no index here", an error for a caller mistake.
fn index_or_null(name: &str, r: std::result::Result<u32, AqiError>) -> Result<Option<i32>> {
    match r {
        Ok(v) => Ok(Some(v as i32)),
        Err(
            e @ (AqiError::UnknownPollutant(_)
            | AqiError::UnknownPeriod(_)
            | AqiError::UnsupportedPeriod { .. }),
        ) => {
            exec_err!("{name}: {e}")
        }
        Err(_) => Ok(None),
    }
}

fn parse<T: std::str::FromStr<Err = AqiError>>(name: &str, s: &str) -> Result<T> {
    s.parse::<T>()
        .map_err(|e| DataFusionError::Execution(format!("{name}: {e}")))
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        match self.kind {
            Kind::AqiCn => "aqi_cn",
            Kind::AqiUs => "aqi_us",
            Kind::CategoryCn => "aqi_category_cn",
            Kind::CategoryUs => "aqi_category_us",
            Kind::Haversine => "haversine_m",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::AqiCn | Kind::AqiUs => DataType::Int32,
            Kind::CategoryCn | Kind::CategoryUs => DataType::Utf8,
            Kind::Haversine => DataType::Float64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let name = self.name().to_string();
        let out: ArrayRef = match self.kind {
            Kind::AqiCn | Kind::AqiUs => {
                let a = arrays(&args, &[S, F, S])?;
                let mut b = Int32Builder::with_capacity(n);
                for i in 0..n {
                    let (Some(p), Some(c)) = (str_at(&a[0], i), f64_at(&a[1], i)) else {
                        b.append_null();
                        continue;
                    };
                    let p: Pollutant = parse(&name, p)?;
                    let period = a.get(2).and_then(|x| str_at(x, i));
                    let v = if self.kind == Kind::AqiCn {
                        let Some(period) = period else {
                            b.append_null();
                            continue;
                        };
                        index_or_null(&name, aqi::cn::iaqi(p, parse::<Period>(&name, period)?, c))?
                    } else {
                        let period = period.map(|s| parse::<Period>(&name, s)).transpose()?;
                        index_or_null(&name, aqi::us::aqi(p, period, c))?
                    };
                    b.append_option(v);
                }
                Arc::new(b.finish())
            }
            Kind::CategoryCn | Kind::CategoryUs => {
                let a = arrays(&args, &[F, S])?;
                let mut b = StringBuilder::with_capacity(n, n * 16);
                for i in 0..n {
                    let Some(v) = f64_at(&a[0], i).filter(|v| v.is_finite() && *v >= 0.0) else {
                        b.append_null();
                        continue;
                    };
                    let lang = a.get(1).and_then(|x| str_at(x, i)).unwrap_or("en");
                    let idx = v.ceil() as u32;
                    let text = if self.kind == Kind::CategoryCn {
                        let c = aqi::cn::category(idx);
                        match lang {
                            "en" => c.name_en,
                            "zh" => c.name_zh,
                            "slug" => c.slug(),
                            "color" => c.color,
                            other => {
                                return exec_err!(
                                    "{name}: unknown language `{other}` (en, zh, slug, color)"
                                );
                            }
                        }
                    } else {
                        let c = aqi::us::category(idx);
                        match lang {
                            "en" => c.name,
                            "zh" => c.name_zh,
                            "slug" => c.slug(),
                            "color" => c.color,
                            other => {
                                return exec_err!(
                                    "{name}: unknown language `{other}` (en, zh, slug, color)"
                                );
                            }
                        }
                    };
                    b.append_value(text);
                }
                Arc::new(b.finish())
            }
            Kind::Haversine => {
                let a = arrays(&args, &[F, F, F, F])?;
                let mut b = Float64Builder::with_capacity(n);
                for i in 0..n {
                    match (
                        f64_at(&a[0], i),
                        f64_at(&a[1], i),
                        f64_at(&a[2], i),
                        f64_at(&a[3], i),
                    ) {
                        (Some(la1), Some(lo1), Some(la2), Some(lo2)) => {
                            b.append_value(haversine_m(la1, lo1, la2, lo2))
                        }
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
