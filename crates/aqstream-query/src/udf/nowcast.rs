//! `nowcast(hourly_mean, hour_start [, pollutant])`: the EPA NowCast (PM2.5 default, or
//! `'pm10'`) at the latest `hour_start` among its input rows, from the hourly means of
//! that hour and the 11 before it (rows of other hours are ignored; missing hours are
//! missing, see `aqstream_core::aqi::nowcast`).
//!
//! As an aggregate it gives the NowCast as of the newest hour of each group; as a window
//! function over `ORDER BY hour_start RANGE BETWEEN INTERVAL '11 hours' PRECEDING AND
//! CURRENT ROW` it gives the NowCast of every hour.

use aqstream_core::aqi::{self, AqiError, Pollutant};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use std::collections::VecDeque;
use std::sync::Arc;

const HOUR_MS: i64 = 3_600_000;

/// The `nowcast` aggregate.
pub fn nowcast_udaf() -> AggregateUDF {
    AggregateUDF::from(NowCast {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NowCast {
    signature: Signature,
}

fn ms_type() -> DataType {
    DataType::Timestamp(
        TimeUnit::Millisecond,
        Some(aqstream_core::arrow::UTC.into()),
    )
}

impl AggregateUDFImpl for NowCast {
    fn name(&self) -> &str {
        "nowcast"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&args.len()) {
            return plan_err!(
                "nowcast(hourly_mean, hour_start [, pollutant]) takes 2 or 3 arguments"
            );
        }
        if !matches!(args[1], DataType::Timestamp(..) | DataType::Null) {
            return plan_err!("nowcast: hour_start must be a timestamp, got {}", args[1]);
        }
        let mut out = vec![DataType::Float64, ms_type()];
        if args.len() == 3 {
            out.push(DataType::Utf8);
        }
        Ok(out)
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let _ = args;
        Ok(Box::new(NowCastAcc::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = |t: DataType| Arc::new(Field::new_list_field(t, true));
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[hours]", args.name),
                DataType::List(item(DataType::Int64)),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[values]", args.name),
                DataType::List(item(DataType::Float64)),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[pollutant]", args.name),
                DataType::Utf8,
                true,
            )),
        ])
    }
}

#[derive(Debug, Default)]
struct NowCastAcc {
    /// (hour start ms, mean) in arrival order (a sliding window retracts from the front).
    rows: VecDeque<(i64, Option<f64>)>,
    pollutant: Option<String>,
}

fn as_i64(a: &ArrayRef) -> Result<Int64Array> {
    let c = cast(a, &ms_type())?;
    let c = cast(&c, &DataType::Int64)?;
    Ok(c.as_primitive::<Int64Type>().clone())
}

fn as_f64(a: &ArrayRef) -> Result<Float64Array> {
    Ok(cast(a, &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

impl NowCastAcc {
    fn take_pollutant(&mut self, a: Option<&ArrayRef>) -> Result<()> {
        if self.pollutant.is_some() {
            return Ok(());
        }
        if let Some(a) = a {
            let s = cast(a, &DataType::Utf8)?;
            let s = s.as_string::<i32>();
            if let Some(p) = s.iter().flatten().next() {
                self.pollutant = Some(p.to_string());
            }
        }
        Ok(())
    }
}

impl Accumulator for NowCastAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let v = as_f64(&values[0])?;
        let h = as_i64(&values[1])?;
        self.take_pollutant(values.get(2))?;
        for i in 0..h.len() {
            if h.is_valid(i) {
                self.rows
                    .push_back((h.value(i), v.is_valid(i).then(|| v.value(i))));
            }
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let h = as_i64(&values[1])?;
        let n = (0..h.len()).filter(|&i| h.is_valid(i)).count();
        for _ in 0..n {
            self.rows.pop_front();
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let Some(latest) = self.rows.iter().map(|r| r.0).max() else {
            return Ok(ScalarValue::Float64(None));
        };
        let p: Pollutant = match self.pollutant.as_deref().unwrap_or("pm25").parse() {
            Ok(p) => p,
            Err(e) => return exec_err!("nowcast: {e}"),
        };
        let mut hourly = [None; aqi::nowcast::HOURS];
        for &(h, v) in &self.rows {
            let back = latest - h;
            if back % HOUR_MS == 0
                && (back / HOUR_MS) < aqi::nowcast::HOURS as i64
                && let Some(v) = v
            {
                hourly[(back / HOUR_MS) as usize] = Some(v);
            }
        }
        match aqi::nowcast::nowcast(p, &hourly) {
            Ok(v) => Ok(ScalarValue::Float64(v)),
            Err(AqiError::Negative(_) | AqiError::NotFinite) => Ok(ScalarValue::Float64(None)),
            Err(e) => exec_err!("nowcast: {e}"),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.rows.len() * 24
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let hours: Vec<ScalarValue> = self
            .rows
            .iter()
            .map(|r| ScalarValue::Int64(Some(r.0)))
            .collect();
        let values: Vec<ScalarValue> = self
            .rows
            .iter()
            .map(|r| ScalarValue::Float64(r.1))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&hours, &DataType::Int64)),
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Float64)),
            ScalarValue::Utf8(self.pollutant.clone()),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let hours = states[0].as_list::<i32>();
        let values = states[1].as_list::<i32>();
        self.take_pollutant(states.get(2))?;
        for i in 0..hours.len() {
            if hours.is_null(i) {
                continue;
            }
            let h = hours.value(i);
            let h = h.as_primitive::<Int64Type>();
            let v = values.value(i);
            let v = v.as_primitive::<Float64Type>();
            if h.len() != v.len() {
                return Err(DataFusionError::Internal(
                    "nowcast: state lengths differ".into(),
                ));
            }
            for j in 0..h.len() {
                self.rows
                    .push_back((h.value(j), v.is_valid(j).then(|| v.value(j))));
            }
        }
        Ok(())
    }
}
