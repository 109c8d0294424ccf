//! Arrow results as PostgreSQL rows (text or binary per column), and `$n` parameters
//! from PostgreSQL values to DataFusion scalars.

use crate::pgcompat::types::pg_type_of;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray, StringViewArray,
    UInt32Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, Schema, SchemaRef, Time64MicrosecondType, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use pgwire::api::Type;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::{DataRowEncoder, FieldInfo, QueryResponse};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use std::sync::Arc;

/// The PostgreSQL type of an Arrow type.
pub fn pg_type(dt: &DataType) -> Type {
    Type::from_oid(pg_type_of(dt).oid).unwrap_or(Type::TEXT)
}

/// Row descriptions of a result schema, with the formats the client asked for.
pub fn field_infos(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_type(f.data_type()),
                format.format_for(i),
            )
        })
        .collect()
}

/// The type each column is converted to before encoding.
fn wire_type(dt: &DataType) -> DataType {
    use DataType as D;
    match dt {
        D::Int8 | D::UInt8 => D::Int16,
        D::UInt16 => D::Int32,
        D::UInt64 => D::Int64,
        D::Float16 => D::Float32,
        D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..) => D::Float64,
        D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => D::Binary,
        D::Date64 => D::Date32,
        D::Time32(_) | D::Time64(_) => D::Time64(TimeUnit::Microsecond),
        D::Timestamp(_, tz) => D::Timestamp(TimeUnit::Microsecond, tz.clone()),
        D::Dictionary(_, v) => wire_type(v),
        D::List(_)
        | D::LargeList(_)
        | D::ListView(_)
        | D::LargeListView(_)
        | D::FixedSizeList(..) => D::List(Arc::new(Field::new_list_field(D::Utf8, true))),
        other => other.clone(),
    }
}

/// One column, downcast once.
enum Col {
    Bool(BooleanArray),
    I16(Int16Array),
    I32(Int32Array),
    I64(Int64Array),
    U32(UInt32Array),
    F32(Float32Array),
    F64(Float64Array),
    Str(StringArray),
    LargeStr(LargeStringArray),
    View(StringViewArray),
    Bin(BinaryArray),
    Date(ArrayRef),
    Time(ArrayRef),
    Ts(ArrayRef, bool),
    List(ListArray),
    Text(ArrayRef),
}

fn column(a: &ArrayRef) -> PgWireResult<Col> {
    let want = wire_type(a.data_type());
    let a = if &want == a.data_type() {
        a.clone()
    } else {
        cast(a, &want).map_err(|e| PgWireError::ApiError(Box::new(e)))?
    };
    use DataType as D;
    Ok(match a.data_type() {
        D::Boolean => Col::Bool(a.as_boolean().clone()),
        D::Int16 => Col::I16(a.as_primitive().clone()),
        D::Int32 => Col::I32(a.as_primitive().clone()),
        D::Int64 => Col::I64(a.as_primitive().clone()),
        D::UInt32 => Col::U32(a.as_primitive().clone()),
        D::Float32 => Col::F32(a.as_primitive().clone()),
        D::Float64 => Col::F64(a.as_primitive().clone()),
        D::Utf8 => Col::Str(a.as_string::<i32>().clone()),
        D::LargeUtf8 => Col::LargeStr(a.as_string::<i64>().clone()),
        D::Utf8View => Col::View(a.as_string_view().clone()),
        D::Binary => Col::Bin(a.as_binary::<i32>().clone()),
        D::Date32 => Col::Date(a),
        D::Time64(_) => Col::Time(a),
        D::Timestamp(_, tz) => {
            let tz = tz.is_some();
            Col::Ts(a, tz)
        }
        D::List(_) => Col::List(a.as_list::<i32>().clone()),
        _ => Col::Text(a),
    })
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

fn encode_cell(enc: &mut DataRowEncoder, col: &Col, i: usize) -> PgWireResult<()> {
    macro_rules! prim {
        ($a:expr) => {
            enc.encode_field(&($a.is_valid(i).then(|| $a.value(i))))
        };
    }
    match col {
        Col::Bool(a) => prim!(a),
        Col::I16(a) => prim!(a),
        Col::I32(a) => prim!(a),
        Col::I64(a) => prim!(a),
        Col::U32(a) => prim!(a),
        Col::F32(a) => prim!(a),
        Col::F64(a) => prim!(a),
        Col::Str(a) => prim!(a),
        Col::LargeStr(a) => prim!(a),
        Col::View(a) => prim!(a),
        Col::Bin(a) => enc.encode_field(&(a.is_valid(i).then(|| a.value(i).to_vec()))),
        Col::Date(a) => {
            let v = a
                .is_valid(i)
                .then(|| a.as_primitive::<Date32Type>().value(i))
                .and_then(|d| NaiveDate::from_num_days_from_ce_opt(d + 719_163));
            enc.encode_field(&v)
        }
        Col::Time(a) => {
            let v = a
                .is_valid(i)
                .then(|| a.as_primitive::<Time64MicrosecondType>().value(i));
            let v = v.and_then(|us| {
                NaiveTime::from_num_seconds_from_midnight_opt(
                    (us / 1_000_000) as u32,
                    ((us % 1_000_000) * 1000) as u32,
                )
            });
            enc.encode_field(&v)
        }
        Col::Ts(a, tz) => {
            let us = a
                .is_valid(i)
                .then(|| a.as_primitive::<TimestampMicrosecondType>().value(i));
            let dt = us.and_then(DateTime::<Utc>::from_timestamp_micros);
            if *tz {
                enc.encode_field(&dt)
            } else {
                let naive: Option<NaiveDateTime> = dt.map(|d| d.naive_utc());
                enc.encode_field(&naive)
            }
        }
        Col::List(a) => {
            let v: Option<Vec<Option<String>>> = a.is_valid(i).then(|| {
                let inner = a.value(i);
                let s = inner.as_string::<i32>();
                s.iter().map(|x| x.map(str::to_string)).collect()
            });
            enc.encode_field(&v)
        }
        Col::Text(a) => {
            let opts = FormatOptions::default();
            let f = ArrayFormatter::try_new(a.as_ref(), &opts).map_err(err)?;
            let v = a.is_valid(i).then(|| f.value(i).to_string());
            enc.encode_field(&v)
        }
    }
}

/// Encodes a result as a pgwire response.
pub fn encode(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: &Format,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(field_infos(schema, format));
    let mut rows: Vec<PgWireResult<DataRow>> = Vec::new();
    let mut enc = DataRowEncoder::new(fields.clone());
    for b in batches {
        let cols = b
            .columns()
            .iter()
            .map(column)
            .collect::<PgWireResult<Vec<_>>>()?;
        for i in 0..b.num_rows() {
            for c in &cols {
                encode_cell(&mut enc, c, i)?;
            }
            rows.push(Ok(enc.take_row()));
        }
    }
    Ok(QueryResponse::new(fields, futures::stream::iter(rows)))
}

/// The text format for every column (simple query protocol).
pub fn text_format() -> Format {
    Format::UnifiedText
}

/// Decodes parameter `idx` of `portal` into a scalar of `want` (the type DataFusion
/// inferred), reading it as the client's declared type, else as `want`'s PostgreSQL type,
/// else as text.
pub fn parameter<S: Clone>(
    portal: &Portal<S>,
    idx: usize,
    declared: Option<&Type>,
    want: Option<&DataType>,
) -> PgWireResult<ScalarValue> {
    let ty = declared
        .filter(|t| **t != Type::UNKNOWN)
        .cloned()
        .or_else(|| want.map(pg_type))
        .unwrap_or(Type::TEXT);
    let v = match ty {
        Type::BOOL => ScalarValue::Boolean(portal.parameter::<bool>(idx, &ty)?),
        Type::INT2 => ScalarValue::Int16(portal.parameter::<i16>(idx, &ty)?),
        Type::INT4 => ScalarValue::Int32(portal.parameter::<i32>(idx, &ty)?),
        Type::INT8 => ScalarValue::Int64(portal.parameter::<i64>(idx, &ty)?),
        Type::OID => ScalarValue::UInt32(portal.parameter::<u32>(idx, &ty)?),
        Type::FLOAT4 => ScalarValue::Float32(portal.parameter::<f32>(idx, &ty)?),
        Type::FLOAT8 => ScalarValue::Float64(portal.parameter::<f64>(idx, &ty)?),
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            portal
                .parameter::<DateTime<chrono::FixedOffset>>(idx, &ty)?
                .map(|d| d.timestamp_micros()),
            Some("UTC".into()),
        ),
        Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            portal
                .parameter::<NaiveDateTime>(idx, &ty)?
                .map(|d| d.and_utc().timestamp_micros()),
            None,
        ),
        Type::DATE => ScalarValue::Date32(
            portal
                .parameter::<NaiveDate>(idx, &ty)?
                .map(|d| d.num_days_from_ce() - 719_163),
        ),
        _ => {
            let text_ty = if matches!(
                ty,
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
            ) {
                ty
            } else {
                Type::TEXT
            };
            ScalarValue::Utf8(portal.parameter::<String>(idx, &text_ty)?)
        }
    };
    match want {
        Some(t) if &v.data_type() != t && !v.is_null() => v.cast_to(t).map_err(err),
        Some(t) if v.is_null() => ScalarValue::try_from(t).map_err(err),
        _ => Ok(v),
    }
}

use chrono::Datelike as _;
