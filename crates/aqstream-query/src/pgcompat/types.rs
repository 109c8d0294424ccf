//! PostgreSQL types of Arrow columns: what `pg_type`, `format_type` and the wire
//! protocol's row descriptions report.

use datafusion::arrow::datatypes::DataType;

/// A PostgreSQL type as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgType {
    /// `pg_type.oid`.
    pub oid: u32,
    /// `pg_type.typname`.
    pub name: &'static str,
    /// What `format_type` prints.
    pub sql_name: &'static str,
    /// `pg_type.typlen` (-1: variable length).
    pub len: i16,
    /// `pg_type.typcategory`.
    pub category: &'static str,
    /// Oid of the element type (arrays), else 0.
    pub elem: u32,
    /// Oid of the array type of this type, else 0.
    pub array: u32,
}

const fn t(
    oid: u32,
    name: &'static str,
    sql_name: &'static str,
    len: i16,
    category: &'static str,
    elem: u32,
    array: u32,
) -> PgType {
    PgType {
        oid,
        name,
        sql_name,
        len,
        category,
        elem,
        array,
    }
}

/// The types aqstream reports (and lists in `pg_type`).
pub const TYPES: &[PgType] = &[
    t(16, "bool", "boolean", 1, "B", 0, 1000),
    t(17, "bytea", "bytea", -1, "U", 0, 1001),
    t(18, "char", "\"char\"", 1, "Z", 0, 1002),
    t(19, "name", "name", 64, "S", 0, 1003),
    t(20, "int8", "bigint", 8, "N", 0, 1016),
    t(21, "int2", "smallint", 2, "N", 0, 1005),
    t(23, "int4", "integer", 4, "N", 0, 1007),
    t(24, "regproc", "regproc", 4, "N", 0, 1008),
    t(25, "text", "text", -1, "S", 0, 1009),
    t(26, "oid", "oid", 4, "N", 0, 1028),
    t(114, "json", "json", -1, "U", 0, 199),
    t(700, "float4", "real", 4, "N", 0, 1021),
    t(701, "float8", "double precision", 8, "N", 0, 1022),
    t(705, "unknown", "unknown", -2, "X", 0, 0),
    t(1000, "_bool", "boolean[]", -1, "A", 16, 0),
    t(1001, "_bytea", "bytea[]", -1, "A", 17, 0),
    t(1005, "_int2", "smallint[]", -1, "A", 21, 0),
    t(1007, "_int4", "integer[]", -1, "A", 23, 0),
    t(1009, "_text", "text[]", -1, "A", 25, 0),
    t(1016, "_int8", "bigint[]", -1, "A", 20, 0),
    t(1021, "_float4", "real[]", -1, "A", 700, 0),
    t(1022, "_float8", "double precision[]", -1, "A", 701, 0),
    t(1028, "_oid", "oid[]", -1, "A", 26, 0),
    t(1043, "varchar", "character varying", -1, "S", 0, 1015),
    t(1082, "date", "date", 4, "D", 0, 1182),
    t(1083, "time", "time without time zone", 8, "D", 0, 1183),
    t(
        1114,
        "timestamp",
        "timestamp without time zone",
        8,
        "D",
        0,
        1115,
    ),
    t(
        1115,
        "_timestamp",
        "timestamp without time zone[]",
        -1,
        "A",
        1114,
        0,
    ),
    t(
        1184,
        "timestamptz",
        "timestamp with time zone",
        8,
        "D",
        0,
        1185,
    ),
    t(
        1185,
        "_timestamptz",
        "timestamp with time zone[]",
        -1,
        "A",
        1184,
        0,
    ),
    t(1186, "interval", "interval", 16, "T", 0, 1187),
    t(1700, "numeric", "numeric", -1, "N", 0, 1231),
    t(2205, "regclass", "regclass", 4, "N", 0, 2210),
    t(2206, "regtype", "regtype", 4, "N", 0, 2211),
];

/// The type with this oid.
pub fn by_oid(oid: u32) -> Option<&'static PgType> {
    TYPES.iter().find(|t| t.oid == oid)
}

fn oid_type(oid: u32) -> &'static PgType {
    by_oid(oid).unwrap_or(&TYPES[8])
}

/// The PostgreSQL type a column of this Arrow type is reported (and sent) as.
pub fn pg_type_of(dt: &DataType) -> &'static PgType {
    use DataType as D;
    oid_type(match dt {
        D::Boolean => 16,
        D::Int8 | D::Int16 | D::UInt8 => 21,
        D::Int32 | D::UInt16 => 23,
        D::Int64 | D::UInt64 => 20,
        D::UInt32 => 26,
        D::Float16 | D::Float32 => 700,
        D::Float64
        | D::Decimal32(..)
        | D::Decimal64(..)
        | D::Decimal128(..)
        | D::Decimal256(..) => 701,
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => 17,
        D::Date32 | D::Date64 => 1082,
        D::Time32(_) | D::Time64(_) => 1083,
        D::Timestamp(_, None) => 1114,
        D::Timestamp(_, Some(_)) => 1184,
        D::Dictionary(_, v) => return pg_type_of(v),
        // arrays are sent as text[] (elements in their text form)
        D::List(_)
        | D::LargeList(_)
        | D::ListView(_)
        | D::LargeListView(_)
        | D::FixedSizeList(..) => 1009,
        // intervals, durations, structs, maps…: their text form
        _ => 25,
    })
}

/// What `format_type(oid, typmod)` prints for an oid.
pub fn format_type(oid: u32) -> Option<&'static str> {
    by_oid(oid).map(|t| t.sql_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, TimeUnit};
    use std::sync::Arc;

    #[test]
    fn arrow_types_map_to_pg_types() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        assert_eq!(pg_type_of(&ts).sql_name, "timestamp with time zone");
        assert_eq!(pg_type_of(&DataType::Utf8View).oid, 25);
        assert_eq!(pg_type_of(&DataType::Float64).oid, 701);
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        assert_eq!(pg_type_of(&list).name, "_text");
        let ints = DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)));
        assert_eq!(pg_type_of(&ints).name, "_text");
        for t in TYPES {
            if t.array != 0 && t.array != 199 {
                assert!(
                    by_oid(t.array).is_some()
                        || [1002, 1003, 1008, 1015, 1182, 1183, 1187, 1231, 2210, 2211]
                            .contains(&t.array),
                    "{}",
                    t.name
                );
            }
        }
    }
}
