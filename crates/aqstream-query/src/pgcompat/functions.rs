//! PostgreSQL functions that clients call on connect and in catalogue queries:
//! `version()`, `current_database()`, `current_schema()`, `current_setting(name)`,
//! `pg_get_userbyid`, `format_type`, `pg_table_is_visible`, `has_*_privilege`,
//! `quote_ident`, `pg_size_pretty`, … and the helpers `::regclass` casts are rewritten to.

use super::catalog::{OWNER_OID, PgCatalog, setting};
use super::types::format_type;
use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, StringArray, StringBuilder, UInt32Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use std::sync::Arc;

/// What a function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum F {
    Version,
    CurrentDatabase,
    CurrentSchema,
    CurrentSchemas,
    CurrentSetting,
    UserById,
    True,
    False,
    NullText,
    FormatType,
    QuoteIdent,
    SizePretty,
    Zero,
    EncodingToChar,
    BackendPid,
    RegclassOid,
    RegclassName,
    RegtypeName,
    RegnamespaceName,
}

const FUNCTIONS: &[(&str, F)] = &[
    ("version", F::Version),
    ("current_database", F::CurrentDatabase),
    ("current_catalog", F::CurrentDatabase),
    ("current_schema", F::CurrentSchema),
    ("current_schemas", F::CurrentSchemas),
    ("current_setting", F::CurrentSetting),
    ("pg_get_userbyid", F::UserById),
    ("pg_table_is_visible", F::True),
    ("pg_type_is_visible", F::True),
    ("pg_function_is_visible", F::True),
    ("has_table_privilege", F::True),
    ("has_schema_privilege", F::True),
    ("has_database_privilege", F::True),
    ("has_column_privilege", F::True),
    ("has_any_column_privilege", F::True),
    ("pg_has_role", F::True),
    ("pg_is_in_recovery", F::False),
    ("pg_relation_is_publishable", F::False),
    ("pg_get_expr", F::NullText),
    ("obj_description", F::NullText),
    ("col_description", F::NullText),
    ("shobj_description", F::NullText),
    ("pg_get_constraintdef", F::NullText),
    ("pg_get_indexdef", F::NullText),
    ("pg_get_partkeydef", F::NullText),
    ("pg_get_viewdef", F::NullText),
    ("pg_get_triggerdef", F::NullText),
    ("pg_get_ruledef", F::NullText),
    ("pg_get_function_result", F::NullText),
    ("pg_get_function_arguments", F::NullText),
    ("pg_get_function_identity_arguments", F::NullText),
    ("pg_get_serial_sequence", F::NullText),
    ("pg_get_statisticsobjdef_columns", F::NullText),
    ("pg_tablespace_location", F::NullText),
    ("format_type", F::FormatType),
    ("quote_ident", F::QuoteIdent),
    ("pg_size_pretty", F::SizePretty),
    ("pg_table_size", F::Zero),
    ("pg_relation_size", F::Zero),
    ("pg_total_relation_size", F::Zero),
    ("pg_indexes_size", F::Zero),
    ("pg_database_size", F::Zero),
    ("pg_encoding_to_char", F::EncodingToChar),
    ("pg_backend_pid", F::BackendPid),
    ("to_regclass", F::RegclassOid),
    ("aq_regclass_oid", F::RegclassOid),
    ("aq_regclass_name", F::RegclassName),
    ("aq_regtype_name", F::RegtypeName),
    ("aq_regnamespace_name", F::RegnamespaceName),
];

/// The compatibility functions over `catalog`.
pub fn functions(catalog: Arc<PgCatalog>) -> Vec<ScalarUDF> {
    FUNCTIONS
        .iter()
        .map(|(name, f)| {
            ScalarUDF::from(PgFunction {
                name,
                f: *f,
                catalog: catalog.clone(),
                signature: Signature::one_of(
                    vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                    Volatility::Stable,
                ),
            })
        })
        .collect()
}

/// Names of the compatibility functions (for `pg_catalog.` prefixes in queries).
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|(n, _)| *n)
}

#[derive(Debug)]
struct PgFunction {
    name: &'static str,
    f: F,
    catalog: Arc<PgCatalog>,
    signature: Signature,
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for PgFunction {}
impl std::hash::Hash for PgFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn text_list(items: &[&str]) -> ScalarValue {
    let values: Vec<ScalarValue> = items
        .iter()
        .map(|s| ScalarValue::Utf8(Some(s.to_string())))
        .collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Utf8))
}

/// Quotes an identifier the way PostgreSQL's `quote_ident` does.
pub fn quote_ident(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// Formats a byte count like `pg_size_pretty`.
pub fn size_pretty(bytes: i64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    let mut u = 0;
    while v.abs() >= 10 * 1024 && u + 1 < units.len() {
        v = (v + v.signum() * 512) / 1024;
        u += 1;
    }
    format!("{v} {}", units[u])
}

fn arg_strings(a: &ArrayRef) -> Result<StringArray> {
    Ok(cast(a, &DataType::Utf8)?
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Internal("cast".into()))?
        .clone())
}

fn arg_u32(a: &ArrayRef) -> Result<UInt32Array> {
    Ok(cast(a, &DataType::UInt32)?
        .as_any()
        .downcast_ref::<UInt32Array>()
        .ok_or_else(|| DataFusionError::Internal("cast".into()))?
        .clone())
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.f {
            F::True | F::False => DataType::Boolean,
            F::Zero => DataType::Int64,
            F::BackendPid => DataType::Int32,
            F::RegclassOid => DataType::UInt32,
            F::CurrentSchemas => {
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
            }
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let scalar = |v: ScalarValue| Ok(ColumnarValue::Scalar(v));
        let text = |v: &str| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                v.to_string(),
            ))))
        };
        match self.f {
            F::Version => text(&format!(
                "PostgreSQL 16.6 (aqstream {}, Apache DataFusion 55) on x86_64, read-only",
                env!("CARGO_PKG_VERSION")
            )),
            F::CurrentDatabase => text(&self.catalog.database),
            F::CurrentSchema => text("public"),
            F::CurrentSchemas => {
                let with_implicit = match args.args.first() {
                    Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(b)))) => *b,
                    _ => false,
                };
                scalar(if with_implicit {
                    text_list(&["pg_catalog", "public"])
                } else {
                    text_list(&["public"])
                })
            }
            F::True => scalar(ScalarValue::Boolean(Some(true))),
            F::False => scalar(ScalarValue::Boolean(Some(false))),
            F::NullText => scalar(ScalarValue::Utf8(None)),
            F::Zero => scalar(ScalarValue::Int64(Some(0))),
            F::BackendPid => scalar(ScalarValue::Int32(Some(std::process::id() as i32))),
            F::EncodingToChar => text("UTF8"),
            F::UserById => {
                let Some(a) = args.args.first() else {
                    return exec_err!("pg_get_userbyid(oid) takes one argument");
                };
                let oids = arg_u32(&a.to_array(n)?)?;
                let names: StringArray = oids
                    .iter()
                    .map(|o| {
                        o.map(|o| {
                            if o == OWNER_OID {
                                self.catalog.owner.clone()
                            } else {
                                format!("unknown (OID={o})")
                            }
                        })
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(names)))
            }
            F::CurrentSetting => {
                let Some(a) = args.args.first() else {
                    return exec_err!("current_setting(name) takes a setting name");
                };
                let missing_ok = matches!(
                    args.args.get(1),
                    Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
                );
                let names = arg_strings(&a.to_array(n)?)?;
                let mut b = StringBuilder::new();
                for name in names.iter() {
                    match name.map(|nm| (nm, setting(nm))) {
                        Some((_, Some(v))) => b.append_value(v),
                        Some((nm, None)) if !missing_ok => {
                            return exec_err!("unrecognized configuration parameter \"{nm}\"");
                        }
                        _ => b.append_null(),
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(b.finish())))
            }
            F::FormatType | F::RegtypeName => {
                let Some(a) = args.args.first() else {
                    return exec_err!("{}(oid) takes a type oid", self.name);
                };
                let oids = arg_u32(&a.to_array(n)?)?;
                let names: StringArray = oids
                    .iter()
                    .map(|o| o.map(|o| format_type(o).unwrap_or("???").to_string()))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(names)))
            }
            F::QuoteIdent => {
                let Some(a) = args.args.first() else {
                    return exec_err!("quote_ident(text) takes one argument");
                };
                let s = arg_strings(&a.to_array(n)?)?;
                let out: StringArray = s.iter().map(|v| v.map(quote_ident)).collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            F::SizePretty => {
                let Some(a) = args.args.first() else {
                    return exec_err!("pg_size_pretty(bigint) takes one argument");
                };
                let v = cast(&a.to_array(n)?, &DataType::Int64)?;
                let v = v
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| DataFusionError::Internal("cast".into()))?;
                let out: StringArray = v.iter().map(|x| x.map(size_pretty)).collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            F::RegclassOid => {
                let Some(a) = args.args.first() else {
                    return exec_err!("to_regclass(text) takes one argument");
                };
                let s = arg_strings(&a.to_array(n)?)?;
                let out: UInt32Array = s
                    .iter()
                    .map(|v| v.and_then(|v| self.catalog.oid_of(v)))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            F::RegclassName => {
                let Some(a) = args.args.first() else {
                    return exec_err!("regclass of nothing");
                };
                let oids = arg_u32(&a.to_array(n)?)?;
                let out: StringArray = oids
                    .iter()
                    .map(|o| o.map(|o| self.catalog.name_of(o).unwrap_or_else(|| o.to_string())))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            F::RegnamespaceName => {
                let Some(a) = args.args.first() else {
                    return exec_err!("regnamespace of nothing");
                };
                let oids = arg_u32(&a.to_array(n)?)?;
                let out: StringArray = oids
                    .iter()
                    .map(|o| {
                        o.map(|o| {
                            PgCatalog::namespace_name(o)
                                .map(String::from)
                                .unwrap_or_else(|| o.to_string())
                        })
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_sizes_follow_postgres() {
        assert_eq!(quote_ident("readings"), "readings");
        assert_eq!(quote_ident("Readings"), "\"Readings\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(size_pretty(8192), "8192 bytes");
        assert_eq!(size_pretty(10 * 1024), "10 kB");
        assert_eq!(size_pretty(5 * 1024 * 1024), "5120 kB");
        assert_eq!(size_pretty(50 * 1024 * 1024), "50 MB");
    }
}
