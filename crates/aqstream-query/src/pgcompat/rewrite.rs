//! Rewrites of PostgreSQL syntax DataFusion does not plan, applied to the parsed
//! statement before planning (on every surface):
//!
//! * `pg_catalog.f(…)` → `f(…)`; unqualified catalogue tables (`FROM pg_class`) →
//!   `pg_catalog.pg_class` (PostgreSQL searches `pg_catalog` first);
//! * `a OPERATOR(pg_catalog.~) b` → `a ~ b`; `x COLLATE pg_catalog.default` → `x`;
//! * casts to `regclass`, `regtype`, `regnamespace` → lookups in the catalogue;
//!   casts to `pg_catalog.text`, `name`, `oid`, `"char"`, `int2[]`… → DataFusion types;
//! * `current_user`, `session_user` → the connected user; `current_catalog` → database;
//! * a non-aggregated scalar subquery over catalogue tables (at most one row in
//!   PostgreSQL, or an error there) → the same subquery with `max(…)` around its one
//!   column, which DataFusion can decorrelate; one whose answer is known to be NULL in
//!   this catalogue (no column defaults, no column collations apart from the type's) →
//!   `NULL`.

use super::catalog::table_names;
use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, DataType as SqlType, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName,
    ObjectNamePart, Query, SelectItem, SetExpr, Statement, TableFactor, Value,
    visit_expressions_mut, visit_relations_mut,
};
use std::ops::ControlFlow;

/// Context of a rewrite.
#[derive(Debug, Clone)]
pub struct RewriteContext<'a> {
    /// The connected user.
    pub user: &'a str,
    /// The database name.
    pub database: &'a str,
    /// The engine's own tables (never re-qualified into `pg_catalog`).
    pub user_tables: &'a [String],
}

fn last_ident(name: &ObjectName) -> Option<String> {
    match name.0.last()? {
        ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        ObjectNamePart::Function(_) => None,
    }
}

fn first_ident(name: &ObjectName) -> Option<String> {
    match name.0.first()? {
        ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        ObjectNamePart::Function(_) => None,
    }
}

fn func(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn text(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

fn is_string_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_)))
}

/// The DataFusion-plannable equivalent of a PostgreSQL type name.
fn map_type(t: &SqlType) -> Option<SqlType> {
    match t {
        SqlType::Custom(name, _) => {
            let n = last_ident(name)?;
            Some(match n.as_str() {
                "text" | "name" | "char" | "bpchar" | "varchar" | "regproc" | "regprocedure"
                | "json" | "jsonb" | "aclitem" | "pg_node_tree" | "unknown" => SqlType::Text,
                "oid" | "xid" | "cid" | "regoper" => SqlType::IntUnsigned(None),
                "int2" => SqlType::SmallInt(None),
                "int4" => SqlType::Int(None),
                "int8" => SqlType::BigInt(None),
                "float4" => SqlType::Real,
                "float8" => SqlType::DoublePrecision,
                "bool" => SqlType::Boolean,
                _ => return None,
            })
        }
        SqlType::Character(_) | SqlType::CharacterVarying(_) | SqlType::CharVarying(_) => {
            Some(SqlType::Text)
        }
        SqlType::JSON | SqlType::JSONB => Some(SqlType::Text),
        SqlType::Array(ArrayElemTypeDef::SquareBracket(inner, size)) => Some(SqlType::Array(
            ArrayElemTypeDef::SquareBracket(Box::new(map_type(inner)?), *size),
        )),
        _ => None,
    }
}

fn reg_kind(t: &SqlType) -> Option<&'static str> {
    match t {
        SqlType::Regclass => Some("regclass"),
        SqlType::Custom(name, _) => match last_ident(name)?.as_str() {
            "regclass" => Some("regclass"),
            "regtype" => Some("regtype"),
            "regnamespace" => Some("regnamespace"),
            _ => None,
        },
        _ => None,
    }
}

fn custom_op(parts: &[String]) -> Option<BinaryOperator> {
    Some(match parts.last()?.as_str() {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "~~" => return None,
        _ => return None,
    })
}

const AGGREGATES: &[&str] = &[
    "count",
    "max",
    "min",
    "sum",
    "avg",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
];

fn is_aggregate_call(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if f.over.is_none() && last_ident(&f.name).is_some_and(|n| AGGREGATES.contains(&n.as_str())))
}

/// Does `q` read only catalogue tables?
fn reads_only_catalog(q: &Query) -> bool {
    let SetExpr::Select(s) = q.body.as_ref() else {
        return false;
    };
    let mut any = false;
    for twj in &s.from {
        for f in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
            match f {
                TableFactor::Table {
                    name, args: None, ..
                } if first_ident(name).as_deref() == Some("pg_catalog") => any = true,
                _ => return false,
            }
        }
    }
    any
}

/// A scalar subquery over the catalogue whose answer is NULL in this catalogue: it reads
/// an always-empty table (`pg_attrdef`: no column has a default), or it looks for a
/// column whose collation differs from its type's (never here). psql's `\d` asks both,
/// correlated in ways DataFusion cannot decorrelate.
fn known_null_subquery(q: &Query) -> bool {
    if !reads_only_catalog(q) {
        return false;
    }
    if set_expr_is_empty(&q.body) {
        return true;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return false;
    };
    let mut conjuncts = Vec::new();
    if let Some(w) = &s.selection {
        split_and(w, &mut conjuncts);
    }
    conjuncts.iter().any(|c| match c {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::NotEq,
            right,
        } => {
            let mut cols = [column_name(left), column_name(right)];
            cols.sort();
            cols == [Some("attcollation".into()), Some("typcollation".into())]
        }
        _ => false,
    })
}

fn split_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn wrap_single_row_subquery(q: &mut Query) {
    if q.limit_clause.is_some() || !reads_only_catalog(q) {
        return;
    }
    let SetExpr::Select(s) = q.body.as_mut() else {
        return;
    };
    if s.projection.len() != 1
        || !matches!(&s.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
        || s.having.is_some()
    {
        return;
    }
    let item = &mut s.projection[0];
    let e = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return,
    };
    if is_aggregate_call(e) {
        return;
    }
    let inner = std::mem::replace(e, Expr::value(Value::Null));
    *e = func("max", vec![inner]);
}

/// Applies the rewrites to `stmt`.
pub fn rewrite(stmt: &mut Statement, ctx: &RewriteContext<'_>) {
    let catalog_tables = table_names();
    let _ = visit_relations_mut(stmt, |name: &mut ObjectName| {
        if name.0.len() == 1
            && let Some(n) = last_ident(name)
            && catalog_tables.contains(&n.as_str())
            && !ctx.user_tables.iter().any(|t| t.eq_ignore_ascii_case(&n))
        {
            name.0
                .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
        }
        // `pg_catalog.generate_series(…)` in FROM → `generate_series(…)`
        if name.0.len() == 2
            && first_ident(name).as_deref() == Some("pg_catalog")
            && last_ident(name).is_some_and(|n| matches!(n.as_str(), "generate_series" | "unnest"))
        {
            name.0.remove(0);
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_expressions_mut(stmt, |e: &mut Expr| {
        rewrite_expr(e, ctx);
        ControlFlow::<()>::Continue(())
    });
}

fn rewrite_expr(e: &mut Expr, ctx: &RewriteContext<'_>) {
    match e {
        Expr::Function(f) => {
            if f.name.0.len() > 1 && first_ident(&f.name).as_deref() == Some("pg_catalog") {
                let last = f.name.0.pop();
                f.name.0 = last.into_iter().collect();
            }
            if matches!(f.args, FunctionArguments::None) {
                match last_ident(&f.name).as_deref() {
                    Some("current_user" | "session_user" | "user" | "current_role") => {
                        *e = text(ctx.user)
                    }
                    Some("current_catalog") => *e = text(ctx.database),
                    Some("current_schema") => *e = text("public"),
                    _ => {}
                }
            }
        }
        Expr::Identifier(i) if i.quote_style.is_none() => {
            match i.value.to_ascii_lowercase().as_str() {
                "current_user" | "session_user" | "current_role" => *e = text(ctx.user),
                "current_catalog" => *e = text(ctx.database),
                "current_schema" => *e = text("public"),
                _ => {}
            }
        }
        Expr::BinaryOp { op, .. } => {
            if let BinaryOperator::PGCustomBinaryOperator(parts) = op
                && let Some(mapped) = custom_op(parts)
            {
                *op = mapped;
            }
        }
        Expr::Collate { expr, .. } => {
            let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
            *e = inner;
        }
        Expr::Cast {
            expr, data_type, ..
        } => {
            if let Some(kind) = reg_kind(data_type) {
                let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
                *e = match kind {
                    "regclass" if is_string_literal(&inner) => func("aq_regclass_oid", vec![inner]),
                    "regclass" => func("aq_regclass_name", vec![inner]),
                    "regtype" => func("aq_regtype_name", vec![inner]),
                    _ => func("aq_regnamespace_name", vec![inner]),
                };
            } else if let Some(t) = map_type(data_type) {
                *data_type = t;
            }
        }
        Expr::Subquery(q) => {
            if known_null_subquery(q) {
                *e = Expr::value(Value::Null);
            } else {
                wrap_single_row_subquery(q);
            }
        }
        _ => {}
    }
}

/// When a statement over catalogue tables cannot be planned, and every `SELECT` in it
/// reads an always-empty catalogue table through inner joins, its answer is known to be
/// empty: the column names of that empty answer. `None` otherwise.
pub fn empty_catalog_answer(stmt: &Statement) -> Option<Vec<String>> {
    let Statement::Query(q) = stmt else {
        return None;
    };
    if !set_expr_is_empty(&q.body) {
        return None;
    }
    Some(column_names(&q.body))
}

fn set_expr_is_empty(s: &SetExpr) -> bool {
    match s {
        SetExpr::Select(sel) => {
            let grouped = !matches!(&sel.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
            let aggregated = sel.projection.iter().any(|p| match p {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    is_aggregate_call(e)
                }
                _ => false,
            });
            if grouped || aggregated {
                return false;
            }
            sel.from.iter().any(|twj| {
                let empty_table = |f: &TableFactor| {
                    matches!(f, TableFactor::Table { name, args: None, .. }
                        if first_ident(name).as_deref() == Some("pg_catalog")
                            && last_ident(name).is_some_and(|n| super::catalog::is_empty_table(&n)))
                };
                let first_empty = empty_table(&twj.relation)
                    && twj.joins.iter().all(|j| {
                        use datafusion::sql::sqlparser::ast::JoinOperator as J;
                        matches!(
                            j.join_operator,
                            J::Join(_)
                                | J::Inner(_)
                                | J::Left(_)
                                | J::LeftOuter(_)
                                | J::CrossJoin(_)
                        )
                    });
                let joined_empty = twj.joins.iter().any(|j| {
                    use datafusion::sql::sqlparser::ast::JoinOperator as J;
                    empty_table(&j.relation) && matches!(j.join_operator, J::Join(_) | J::Inner(_))
                });
                first_empty || joined_empty
            })
        }
        SetExpr::SetOperation {
            op, left, right, ..
        } => {
            use datafusion::sql::sqlparser::ast::SetOperator as O;
            match op {
                O::Union => set_expr_is_empty(left) && set_expr_is_empty(right),
                O::Intersect => set_expr_is_empty(left) || set_expr_is_empty(right),
                _ => set_expr_is_empty(left),
            }
        }
        SetExpr::Query(q) => set_expr_is_empty(&q.body),
        _ => false,
    }
}

fn column_names(s: &SetExpr) -> Vec<String> {
    match s {
        SetExpr::Select(sel) => sel
            .projection
            .iter()
            .map(|p| match p {
                SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                SelectItem::UnnamedExpr(e) => match e {
                    Expr::Identifier(i) => i.value.clone(),
                    Expr::CompoundIdentifier(v) => {
                        v.last().map(|i| i.value.clone()).unwrap_or_default()
                    }
                    Expr::Function(f) => last_ident(&f.name).unwrap_or_else(|| "?column?".into()),
                    _ => "?column?".into(),
                },
                _ => "?column?".into(),
            })
            .collect(),
        SetExpr::SetOperation { left, .. } => column_names(left),
        SetExpr::Query(q) => column_names(&q.body),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rw(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        rewrite(
            &mut stmt,
            &RewriteContext {
                user: "ana",
                database: "aqstream",
                user_tables: &["readings".to_string()],
            },
        );
        stmt.to_string()
    }

    #[test]
    fn rewrites_psql_idioms() {
        assert_eq!(
            rw(
                "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(readings)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid)"
            ),
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname ~ '^(readings)$' AND pg_table_is_visible(c.oid)"
        );
        assert_eq!(
            rw(
                "SELECT c.oid::pg_catalog.regclass, 'pg_namespace'::regclass, x::pg_catalog.text FROM pg_class c, readings"
            ),
            "SELECT aq_regclass_name(c.oid), aq_regclass_oid('pg_namespace'), x::TEXT FROM pg_catalog.pg_class c, readings"
        );
        assert_eq!(
            rw("SELECT s.i FROM pg_catalog.generate_series(1, 3) AS s(i)"),
            "SELECT s.i FROM generate_series(1, 3) AS s (i)"
        );
        assert_eq!(
            rw("SELECT current_user, session_user"),
            "SELECT 'ana', 'ana'"
        );
        assert!(
            rw("SELECT (SELECT t.typname FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) FROM pg_catalog.pg_attribute a")
                .contains("(SELECT max(t.typname) FROM")
        );
        // known answers: no column defaults, no collation apart from the type's
        assert_eq!(
            rw(
                "SELECT (SELECT d.adbin FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND a.atthasdef) FROM pg_catalog.pg_attribute a"
            ),
            "SELECT NULL FROM pg_catalog.pg_attribute a"
        );
        assert_eq!(
            rw(
                "SELECT (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation FROM pg_catalog.pg_attribute a"
            ),
            "SELECT NULL AS attcollation FROM pg_catalog.pg_attribute a"
        );
    }

    #[test]
    fn knows_empty_catalogue_answers() {
        let parse = |s: &str| {
            let mut st = Parser::parse_sql(&PostgreSqlDialect {}, s)
                .unwrap()
                .remove(0);
            rewrite(
                &mut st,
                &RewriteContext {
                    user: "u",
                    database: "d",
                    user_tables: &[],
                },
            );
            empty_catalog_answer(&st)
        };
        assert_eq!(
            parse(
                "SELECT pol.polname, pol.polpermissive, 1 AS x FROM pg_policy pol WHERE pol.polrelid = '1'"
            ),
            Some(vec!["polname".into(), "polpermissive".into(), "x".into()])
        );
        assert_eq!(parse("SELECT count(*) FROM pg_policy"), None);
        assert_eq!(parse("SELECT relname FROM pg_class"), None);
        assert!(
            parse("SELECT c.oid FROM pg_class c, pg_inherits i WHERE c.oid = i.inhparent")
                .is_some()
        );
    }
}
