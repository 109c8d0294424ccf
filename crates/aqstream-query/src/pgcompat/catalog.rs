//! The `pg_catalog` schema: the catalogue tables psql, Grafana, DBeaver and drivers read
//! on connect and when browsing, filled from the engine's own tables.
//!
//! Tables aqstream has no use for (indexes, constraints, policies, triggers,
//! publications, inheritance…) exist with PostgreSQL's columns and no rows, which is the
//! truthful answer for a read-only analytical store.

use super::types::{TYPES, pg_type_of};
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::MemTable;
use std::sync::Arc;

/// Oid of the `pg_catalog` namespace.
pub const PG_CATALOG_OID: u32 = 11;
/// Oid of the `public` namespace.
pub const PUBLIC_OID: u32 = 2200;
/// Oid of the `information_schema` namespace.
pub const INFORMATION_SCHEMA_OID: u32 = 13_000;
/// Oid of the owner of everything.
pub const OWNER_OID: u32 = 10;
/// Oid of the first user table.
pub const FIRST_TABLE_OID: u32 = 16_384;
/// Oid of the database.
pub const DATABASE_OID: u32 = 16_383;

/// Server settings as `current_setting`, `SHOW` and `pg_settings` report them.
pub const SETTINGS: &[(&str, &str)] = &[
    ("server_version", "16.6"),
    ("server_version_num", "160006"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("TimeZone", "UTC"),
    ("search_path", "\"$user\", public"),
    ("standard_conforming_strings", "on"),
    ("integer_datetimes", "on"),
    ("max_identifier_length", "63"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_read_only", "on"),
    ("default_transaction_read_only", "on"),
    ("lc_collate", "C.UTF-8"),
    ("lc_ctype", "C.UTF-8"),
    ("is_superuser", "off"),
    ("application_name", ""),
    ("extra_float_digits", "1"),
    ("statement_timeout", "0"),
    ("max_index_keys", "32"),
    ("block_size", "8192"),
];

/// The value of a setting (names compare case-insensitively).
pub fn setting(name: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// A table (or view) of the engine as the catalogue shows it.
#[derive(Debug, Clone)]
pub struct Relation {
    /// `pg_class.oid`.
    pub oid: u32,
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Columns: name, Arrow type, nullable.
    pub columns: Vec<(String, DataType, bool)>,
}

/// What the catalogue describes.
#[derive(Debug, Clone)]
pub struct PgCatalog {
    /// The database name (`current_database()`).
    pub database: String,
    /// The owner shown for every object.
    pub owner: String,
    /// The engine's tables.
    pub relations: Vec<Relation>,
}

/// Column types of the catalogue tables, in a compact notation.
fn col_type(code: &str) -> DataType {
    let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
    match code {
        "oid" => DataType::UInt32,
        "int2" => DataType::Int16,
        "int4" => DataType::Int32,
        "int8" => DataType::Int64,
        "bool" => DataType::Boolean,
        "float4" => DataType::Float32,
        "float8" => DataType::Float64,
        "ts" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "text[]" => list(DataType::Utf8),
        "oid[]" => list(DataType::UInt32),
        "int2[]" => list(DataType::Int16),
        _ => DataType::Utf8,
    }
}

/// A cell of a catalogue row.
#[derive(Debug, Clone)]
enum V {
    O(u32),
    I(i64),
    S(String),
    B(bool),
    F(f64),
    N,
}

fn s(x: &str) -> V {
    V::S(x.to_string())
}

fn to_scalar(v: &V, t: &DataType) -> Result<ScalarValue> {
    let raw = match v {
        V::O(x) => ScalarValue::UInt32(Some(*x)),
        V::I(x) => ScalarValue::Int64(Some(*x)),
        V::S(x) => ScalarValue::Utf8(Some(x.clone())),
        V::B(x) => ScalarValue::Boolean(Some(*x)),
        V::F(x) => ScalarValue::Float64(Some(*x)),
        V::N => return ScalarValue::try_from(t),
    };
    raw.cast_to(t)
}

/// Builds one catalogue table from `"name:type name:type …"` and rows.
fn table(spec: &str, rows: &[Vec<V>]) -> Result<Arc<MemTable>> {
    let cols: Vec<(&str, DataType)> = spec
        .split_whitespace()
        .map(|c| {
            let (n, t) = c.split_once(':').unwrap_or((c, "text"));
            (n, col_type(t))
        })
        .collect();
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
    for (i, (_, t)) in cols.iter().enumerate() {
        let values = rows
            .iter()
            .map(|r| to_scalar(r.get(i).unwrap_or(&V::N), t))
            .collect::<Result<Vec<_>>>()?;
        arrays.push(if values.is_empty() {
            datafusion::arrow::array::new_empty_array(t)
        } else {
            ScalarValue::iter_to_array(values)?
        });
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// Catalogue tables that are always empty, with their columns.
const EMPTY_TABLES: &[(&str, &str)] = &[
    ("pg_attrdef", "oid:oid adrelid:oid adnum:int2 adbin"),
    (
        "pg_index",
        "indexrelid:oid indrelid:oid indnatts:int2 indnkeyatts:int2 indisunique:bool indisprimary:bool indisexclusion:bool indimmediate:bool indisclustered:bool indisvalid:bool indcheckxmin:bool indisready:bool indislive:bool indisreplident:bool indkey:int2[] indcollation:oid[] indclass:oid[] indoption:int2[] indexprs indpred",
    ),
    (
        "pg_constraint",
        "oid:oid conname connamespace:oid contype condeferrable:bool condeferred:bool convalidated:bool conrelid:oid contypid:oid conindid:oid conparentid:oid confrelid:oid confupdtype confdeltype confmatchtype conislocal:bool coninhcount:int4 connoinherit:bool conkey:int2[] confkey:int2[] conbin",
    ),
    (
        "pg_policy",
        "oid:oid polname polrelid:oid polcmd polpermissive:bool polroles:oid[] polqual polwithcheck",
    ),
    (
        "pg_statistic_ext",
        "oid:oid stxrelid:oid stxname stxnamespace:oid stxowner:oid stxstattarget:int4 stxkeys:int2[] stxkind:text[] stxexprs",
    ),
    (
        "pg_publication",
        "oid:oid pubname pubowner:oid puballtables:bool pubinsert:bool pubupdate:bool pubdelete:bool pubtruncate:bool pubviaroot:bool",
    ),
    (
        "pg_publication_rel",
        "oid:oid prpubid:oid prrelid:oid prqual prattrs:int2[]",
    ),
    (
        "pg_publication_namespace",
        "oid:oid pnpubid:oid pnnspid:oid",
    ),
    (
        "pg_inherits",
        "inhrelid:oid inhparent:oid inhseqno:int4 inhdetachpending:bool",
    ),
    (
        "pg_trigger",
        "oid:oid tgrelid:oid tgparentid:oid tgname tgfoid:oid tgtype:int2 tgenabled tgisinternal:bool tgconstrrelid:oid tgconstrindid:oid tgconstraint:oid tgdeferrable:bool tginitdeferred:bool tgnargs:int2 tgattr:int2[] tgargs tgqual tgoldtable tgnewtable",
    ),
    (
        "pg_rewrite",
        "oid:oid rulename ev_class:oid ev_type ev_enabled is_instead:bool ev_qual ev_action",
    ),
    (
        "pg_description",
        "objoid:oid classoid:oid objsubid:int4 description",
    ),
    ("pg_shdescription", "objoid:oid classoid:oid description"),
    (
        "pg_extension",
        "oid:oid extname extowner:oid extnamespace:oid extrelocatable:bool extversion extconfig:oid[] extcondition:text[]",
    ),
    (
        "pg_enum",
        "oid:oid enumtypid:oid enumsortorder:float4 enumlabel",
    ),
    (
        "pg_range",
        "rngtypid:oid rngsubtype:oid rngmultitypid:oid rngcollation:oid rngsubopc:oid rngcanonical rngsubdiff",
    ),
    (
        "pg_proc",
        "oid:oid proname pronamespace:oid proowner:oid prolang:oid procost:float4 prorows:float4 provariadic:oid prosupport prokind prosecdef:bool proleakproof:bool proisstrict:bool proretset:bool provolatile proparallel pronargs:int2 pronargdefaults:int2 prorettype:oid proargtypes:oid[] proallargtypes:oid[] proargmodes:text[] proargnames:text[] proargdefaults prosrc probin proconfig:text[] proacl:text[]",
    ),
    (
        "pg_aggregate",
        "aggfnoid:oid aggkind aggnumdirectargs:int2 aggtransfn aggfinalfn aggtranstype:oid",
    ),
    (
        "pg_operator",
        "oid:oid oprname oprnamespace:oid oprowner:oid oprkind oprcanmerge:bool oprcanhash:bool oprleft:oid oprright:oid oprresult:oid oprcom:oid oprnegate:oid oprcode oprrest oprjoin",
    ),
    (
        "pg_sequence",
        "seqrelid:oid seqtypid:oid seqstart:int8 seqincrement:int8 seqmax:int8 seqmin:int8 seqcache:int8 seqcycle:bool",
    ),
    (
        "pg_foreign_table",
        "ftrelid:oid ftserver:oid ftoptions:text[]",
    ),
    (
        "pg_foreign_server",
        "oid:oid srvname srvowner:oid srvfdw:oid srvtype srvversion srvacl:text[] srvoptions:text[]",
    ),
    (
        "pg_foreign_data_wrapper",
        "oid:oid fdwname fdwowner:oid fdwhandler:oid fdwvalidator:oid fdwacl:text[] fdwoptions:text[]",
    ),
    (
        "pg_event_trigger",
        "oid:oid evtname evtevent evtowner:oid evtfoid:oid evtenabled evttags:text[]",
    ),
    (
        "pg_depend",
        "classid:oid objid:oid objsubid:int4 refclassid:oid refobjid:oid refobjsubid:int4 deptype",
    ),
    (
        "pg_cast",
        "oid:oid castsource:oid casttarget:oid castfunc:oid castcontext castmethod",
    ),
    (
        "pg_language",
        "oid:oid lanname lanowner:oid lanispl:bool lanpltrusted:bool",
    ),
    (
        "pg_matviews",
        "schemaname matviewname matviewowner tablespace hasindexes:bool ispopulated:bool definition",
    ),
    ("pg_views", "schemaname viewname viewowner definition"),
    (
        "pg_indexes",
        "schemaname tablename indexname tablespace indexdef",
    ),
    (
        "pg_locks",
        "locktype database:oid relation:oid pid:int4 mode granted:bool",
    ),
    (
        "pg_stat_activity",
        "datid:oid datname pid:int4 usesysid:oid usename application_name client_addr backend_start:ts xact_start:ts query_start:ts state_change:ts wait_event_type wait_event state backend_xid backend_xmin query backend_type",
    ),
    (
        "pg_auth_members",
        "oid:oid roleid:oid member:oid grantor:oid admin_option:bool",
    ),
    (
        "pg_partitioned_table",
        "partrelid:oid partstrat partnatts:int2 partdefid:oid partattrs:int2[]",
    ),
    (
        "pg_conversion",
        "oid:oid conname connamespace:oid conowner:oid conforencoding:int4 contoencoding:int4 conproc condefault:bool",
    ),
    (
        "pg_opclass",
        "oid:oid opcmethod:oid opcname opcnamespace:oid opcowner:oid opcfamily:oid opcintype:oid opcdefault:bool opckeytype:oid",
    ),
    (
        "pg_statistic",
        "starelid:oid staattnum:int2 stainherit:bool stanullfrac:float4 stawidth:int4 stadistinct:float4",
    ),
];

/// Names of every table of the `pg_catalog` schema.
pub fn table_names() -> Vec<&'static str> {
    let mut v = vec![
        "pg_namespace",
        "pg_class",
        "pg_attribute",
        "pg_type",
        "pg_database",
        "pg_am",
        "pg_roles",
        "pg_user",
        "pg_authid",
        "pg_settings",
        "pg_tablespace",
        "pg_collation",
        "pg_tables",
    ];
    v.extend(EMPTY_TABLES.iter().map(|(n, _)| *n));
    v
}

/// Is `name` a catalogue table that never has rows?
pub fn is_empty_table(name: &str) -> bool {
    EMPTY_TABLES
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(name))
}

impl PgCatalog {
    /// The relation with this oid.
    pub fn relation(&self, oid: u32) -> Option<&Relation> {
        self.relations.iter().find(|r| r.oid == oid)
    }

    /// The oid of a table called `name` (`schema.name` or `name`); catalogue tables
    /// have oids too, so that `'pg_class'::regclass` works.
    pub fn oid_of(&self, name: &str) -> Option<u32> {
        let name = name.trim_matches('"');
        let (schema, table) = match name.rsplit_once('.') {
            Some((s, t)) => (Some(s.trim_matches('"')), t.trim_matches('"')),
            None => (None, name),
        };
        if let Some(r) = self.relations.iter().find(|r| {
            r.name.eq_ignore_ascii_case(table)
                && schema.is_none_or(|s| s.eq_ignore_ascii_case(&r.schema))
        }) {
            return Some(r.oid);
        }
        if schema.is_none_or(|s| s.eq_ignore_ascii_case("pg_catalog")) {
            let names = table_names();
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(table)) {
                return Some(1_000_000 + i as u32);
            }
        }
        None
    }

    /// The name of the relation with this oid, schema-qualified outside `public`.
    pub fn name_of(&self, oid: u32) -> Option<String> {
        if let Some(r) = self.relation(oid) {
            return Some(if r.schema == "public" {
                r.name.clone()
            } else {
                format!("{}.{}", r.schema, r.name)
            });
        }
        let names = table_names();
        oid.checked_sub(1_000_000)
            .and_then(|i| names.get(i as usize))
            .map(|n| format!("pg_catalog.{n}"))
    }

    /// The name of a namespace.
    pub fn namespace_name(oid: u32) -> Option<&'static str> {
        match oid {
            PG_CATALOG_OID => Some("pg_catalog"),
            PUBLIC_OID => Some("public"),
            INFORMATION_SCHEMA_OID => Some("information_schema"),
            _ => None,
        }
    }

    fn namespace_oid(schema: &str) -> u32 {
        match schema {
            "pg_catalog" => PG_CATALOG_OID,
            "information_schema" => INFORMATION_SCHEMA_OID,
            _ => PUBLIC_OID,
        }
    }

    /// The `pg_catalog` schema with every catalogue table.
    pub fn schema_provider(&self) -> Result<Arc<MemorySchemaProvider>> {
        let schema = Arc::new(MemorySchemaProvider::new());
        let owner = &self.owner;
        let reg = |name: &str, t: Arc<MemTable>| -> Result<()> {
            schema.register_table(name.to_string(), t)?;
            Ok(())
        };
        reg(
            "pg_namespace",
            table(
                "oid:oid nspname nspowner:oid nspacl:text[]",
                &[
                    vec![V::O(PG_CATALOG_OID), s("pg_catalog"), V::O(OWNER_OID)],
                    vec![V::O(PUBLIC_OID), s("public"), V::O(OWNER_OID)],
                    vec![
                        V::O(INFORMATION_SCHEMA_OID),
                        s("information_schema"),
                        V::O(OWNER_OID),
                    ],
                ],
            )?,
        )?;
        let class_rows: Vec<Vec<V>> = self
            .relations
            .iter()
            .map(|r| {
                vec![
                    V::O(r.oid),
                    s(&r.name),
                    V::O(PgCatalog::namespace_oid(&r.schema)),
                    V::O(0),
                    V::O(0),
                    V::O(OWNER_OID),
                    V::O(2),
                    V::O(0),
                    V::O(0),
                    V::I(0),
                    V::F(-1.0),
                    V::I(0),
                    V::O(0),
                    V::B(false),
                    V::B(false),
                    s("p"),
                    s("r"),
                    V::I(r.columns.len() as i64),
                    V::I(0),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(true),
                    s("d"),
                    V::B(false),
                    V::O(0),
                ]
            })
            .collect();
        reg(
            "pg_class",
            table(
                "oid:oid relname relnamespace:oid reltype:oid reloftype:oid relowner:oid relam:oid \
                 relfilenode:oid reltablespace:oid relpages:int4 reltuples:float4 relallvisible:int4 \
                 reltoastrelid:oid relhasindex:bool relisshared:bool relpersistence relkind \
                 relnatts:int2 relchecks:int2 relhasrules:bool relhastriggers:bool relhassubclass:bool \
                 relrowsecurity:bool relforcerowsecurity:bool relispopulated:bool relreplident \
                 relispartition:bool relrewrite:oid relfrozenxid:int8 relminmxid:int8 relacl:text[] \
                 reloptions:text[] relpartbound",
                &class_rows,
            )?,
        )?;
        let mut attr_rows = Vec::new();
        for r in &self.relations {
            for (i, (name, dt, nullable)) in r.columns.iter().enumerate() {
                let t = pg_type_of(dt);
                attr_rows.push(vec![
                    V::O(r.oid),
                    s(name),
                    V::O(t.oid),
                    V::I(-1),
                    V::I(i64::from(t.len)),
                    V::I(i as i64 + 1),
                    V::I(i64::from(t.category == "A")),
                    V::I(-1),
                    V::I(-1),
                    V::B(t.len > 0 && t.len <= 8),
                    s(if t.len == 8 { "d" } else { "i" }),
                    s(if t.len < 0 { "x" } else { "p" }),
                    s(""),
                    V::B(!nullable),
                    V::B(false),
                    V::B(false),
                    s(""),
                    s(""),
                    V::B(false),
                    V::B(true),
                    V::I(0),
                    V::O(if t.category == "S" { 100 } else { 0 }),
                ]);
            }
        }
        reg(
            "pg_attribute",
            table(
                "attrelid:oid attname atttypid:oid attstattarget:int4 attlen:int2 attnum:int2 \
                 attndims:int4 attcacheoff:int4 atttypmod:int4 attbyval:bool attalign attstorage \
                 attcompression attnotnull:bool atthasdef:bool atthasmissing:bool attidentity \
                 attgenerated attisdropped:bool attislocal:bool attinhcount:int4 attcollation:oid \
                 attacl:text[] attoptions:text[] attfdwoptions:text[]",
                &attr_rows,
            )?,
        )?;
        let type_rows: Vec<Vec<V>> = TYPES
            .iter()
            .map(|t| {
                vec![
                    V::O(t.oid),
                    s(t.name),
                    V::O(PG_CATALOG_OID),
                    V::O(OWNER_OID),
                    V::I(i64::from(t.len)),
                    V::B(t.len > 0 && t.len <= 8),
                    s(if t.category == "P" { "p" } else { "b" }),
                    s(t.category),
                    V::B(false),
                    V::B(true),
                    s(","),
                    V::O(0),
                    V::O(t.elem),
                    V::O(t.array),
                    s(&format!("{}in", t.name)),
                    s(&format!("{}out", t.name)),
                    s(&format!("{}recv", t.name)),
                    s(&format!("{}send", t.name)),
                    s("-"),
                    s("-"),
                    s("-"),
                    s(if t.len == 8 { "d" } else { "i" }),
                    s(if t.len < 0 { "x" } else { "p" }),
                    V::B(false),
                    V::O(0),
                    V::I(-1),
                    V::I(0),
                    V::O(if t.category == "S" { 100 } else { 0 }),
                ]
            })
            .collect();
        reg(
            "pg_type",
            table(
                "oid:oid typname typnamespace:oid typowner:oid typlen:int2 typbyval:bool typtype \
                 typcategory typispreferred:bool typisdefined:bool typdelim typrelid:oid typelem:oid \
                 typarray:oid typinput typoutput typreceive typsend typmodin typmodout typanalyze \
                 typalign typstorage typnotnull:bool typbasetype:oid typtypmod:int4 typndims:int4 \
                 typcollation:oid typdefaultbin typdefault typacl:text[]",
                &type_rows,
            )?,
        )?;
        reg(
            "pg_database",
            table(
                "oid:oid datname datdba:oid encoding:int4 datlocprovider datistemplate:bool \
                 datallowconn:bool datconnlimit:int4 datfrozenxid:int8 datminmxid:int8 \
                 dattablespace:oid datcollate datctype daticulocale datcollversion datacl:text[]",
                &[vec![
                    V::O(DATABASE_OID),
                    s(&self.database),
                    V::O(OWNER_OID),
                    V::I(6),
                    s("c"),
                    V::B(false),
                    V::B(true),
                    V::I(-1),
                    V::I(0),
                    V::I(0),
                    V::O(1663),
                    s("C.UTF-8"),
                    s("C.UTF-8"),
                ]],
            )?,
        )?;
        reg(
            "pg_am",
            table(
                "oid:oid amname amhandler amtype",
                &[
                    vec![V::O(2), s("heap"), s("heap_tableam_handler"), s("t")],
                    vec![V::O(403), s("btree"), s("bthandler"), s("i")],
                ],
            )?,
        )?;
        let role = |cols: &str| -> Result<Arc<MemTable>> {
            table(
                cols,
                &[vec![
                    s(owner),
                    V::B(false),
                    V::B(true),
                    V::B(false),
                    V::B(false),
                    V::B(true),
                    V::B(false),
                    V::I(-1),
                    s("********"),
                    V::N,
                    V::B(false),
                    V::N,
                    V::O(OWNER_OID),
                ]],
            )
        };
        let role_cols = "rolname rolsuper:bool rolinherit:bool rolcreaterole:bool \
                         rolcreatedb:bool rolcanlogin:bool rolreplication:bool rolconnlimit:int4 \
                         rolpassword rolvaliduntil:ts rolbypassrls:bool rolconfig:text[] oid:oid";
        reg("pg_roles", role(role_cols)?)?;
        reg("pg_authid", role(role_cols)?)?;
        reg(
            "pg_user",
            table(
                "usename usesysid:oid usecreatedb:bool usesuper:bool userepl:bool \
                 usebypassrls:bool passwd valuntil:ts useconfig:text[]",
                &[vec![
                    s(owner),
                    V::O(OWNER_OID),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    s("********"),
                ]],
            )?,
        )?;
        let settings: Vec<Vec<V>> = SETTINGS
            .iter()
            .map(|(n, v)| {
                vec![
                    s(n),
                    s(v),
                    V::N,
                    s("Preset Options"),
                    s(""),
                    V::N,
                    s("internal"),
                    s("string"),
                    s("default"),
                    V::N,
                    V::N,
                    V::N,
                    s(v),
                    s(v),
                    V::N,
                    V::N,
                    V::B(false),
                ]
            })
            .collect();
        reg(
            "pg_settings",
            table(
                "name setting unit category short_desc extra_desc context vartype source min_val \
                 max_val enumvals:text[] boot_val reset_val sourcefile sourceline:int4 \
                 pending_restart:bool",
                &settings,
            )?,
        )?;
        reg(
            "pg_tablespace",
            table(
                "oid:oid spcname spcowner:oid spcacl:text[] spcoptions:text[]",
                &[
                    vec![V::O(1663), s("pg_default"), V::O(OWNER_OID)],
                    vec![V::O(1664), s("pg_global"), V::O(OWNER_OID)],
                ],
            )?,
        )?;
        reg(
            "pg_collation",
            table(
                "oid:oid collname collnamespace:oid collowner:oid collprovider \
                 collisdeterministic:bool collencoding:int4 collcollate collctype",
                &[vec![
                    V::O(100),
                    s("default"),
                    V::O(PG_CATALOG_OID),
                    V::O(OWNER_OID),
                    s("d"),
                    V::B(true),
                    V::I(-1),
                ]],
            )?,
        )?;
        let tables: Vec<Vec<V>> = self
            .relations
            .iter()
            .map(|r| {
                vec![
                    s(&r.schema),
                    s(&r.name),
                    s(owner),
                    V::N,
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                ]
            })
            .collect();
        reg(
            "pg_tables",
            table(
                "schemaname tablename tableowner tablespace hasindexes:bool hasrules:bool \
                 hastriggers:bool rowsecurity:bool",
                &tables,
            )?,
        )?;
        for (name, spec) in EMPTY_TABLES {
            reg(name, table(spec, &[])?)?;
        }
        Ok(schema)
    }
}

impl Relation {
    /// A relation from a table's Arrow schema.
    pub fn new(oid: u32, schema: &str, name: &str, arrow: &Schema) -> Relation {
        Relation {
            oid,
            schema: schema.to_string(),
            name: name.to_string(),
            columns: arrow
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
                .collect(),
        }
    }
}
