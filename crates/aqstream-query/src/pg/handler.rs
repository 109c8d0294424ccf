//! Queries over the wire: the simple protocol (psql, Grafana's lib/pq) and the extended
//! protocol with `$n` parameters and binary results (psycopg, pgx, JDBC).

use super::encode::{encode, field_infos, parameter, pg_type, text_format};
use crate::auth::{Principal, UserDb};
use crate::engine::{Prepared, QueryEngine, QueryError, QueryOutput, Surface};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

/// A statement parsed (and planned) at `Parse` time.
#[derive(Debug, Clone)]
pub struct PgStatement {
    /// The SQL text.
    pub sql: String,
    /// The plan or the command.
    pub prepared: Prepared,
}

fn pg_error(e: &QueryError) -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), e.sqlstate().into(), e.to_string())
}

fn user_error(e: &QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(pg_error(e)))
}

fn principal_of<C: ClientInfo + ?Sized>(users: &UserDb, client: &C) -> PgWireResult<Principal> {
    let name = client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_default();
    users
        .get(&name)
        .map(|u| u.principal.clone())
        .ok_or_else(|| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                format!("role \"{name}\" does not exist"),
            )))
        })
}

/// Casts columns to the types the statement was described with.
fn conform(schema: &SchemaRef, batches: Vec<RecordBatch>) -> PgWireResult<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|b| {
            if b.schema().fields() == schema.fields() {
                return Ok(b);
            }
            let cols = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    if c.data_type() == f.data_type() {
                        Ok(c.clone())
                    } else {
                        cast(c, f.data_type())
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            RecordBatch::try_new(schema.clone(), cols)
                .map_err(|e| PgWireError::ApiError(Box::new(e)))
        })
        .collect()
}

fn response(out: QueryOutput, format: &Format) -> PgWireResult<Response> {
    Ok(match out {
        QueryOutput::Rows { schema, batches } => {
            let batches = conform(&schema, batches)?;
            Response::Query(encode(&schema, &batches, format)?)
        }
        QueryOutput::Command("BEGIN") => Response::TransactionStart(Tag::new("BEGIN")),
        QueryOutput::Command(t @ ("COMMIT" | "ROLLBACK")) => Response::TransactionEnd(Tag::new(t)),
        QueryOutput::Command(t) => Response::Execution(Tag::new(t)),
    })
}

/// Answers queries of authenticated connections.
pub struct PgQueryHandler {
    engine: QueryEngine,
    users: Arc<UserDb>,
    parser: Arc<PgParser>,
}

impl PgQueryHandler {
    /// A handler over `engine` for `users`.
    pub fn new(engine: QueryEngine, users: Arc<UserDb>) -> PgQueryHandler {
        PgQueryHandler {
            parser: Arc::new(PgParser {
                engine: engine.clone(),
                users: users.clone(),
            }),
            engine,
            users,
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for PgQueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let who = principal_of(&self.users, client)?;
        let stmts = match self.engine.parse(query) {
            Ok(s) => s,
            Err(e) => {
                self.engine.record_error(Surface::Pg, Instant::now(), &e);
                return Ok(vec![Response::Error(Box::new(pg_error(&e)))]);
            }
        };
        let mut out = Vec::with_capacity(stmts.len());
        for stmt in stmts {
            let started = Instant::now();
            let result = match self.engine.prepare(&who, stmt).await {
                Ok(p) => self.engine.execute(&p, None, Surface::Pg).await,
                Err(e) => {
                    self.engine.record_error(Surface::Pg, started, &e);
                    Err(e)
                }
            };
            match result {
                Ok(o) => out.push(response(o, &text_format())?),
                Err(e) => {
                    tracing::debug!(user = %who.user, "pg query failed: {e}");
                    out.push(Response::Error(Box::new(pg_error(&e))));
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// Parses and plans statements of the extended protocol.
#[derive(Debug)]
pub struct PgParser {
    engine: QueryEngine,
    users: Arc<UserDb>,
}

#[async_trait]
impl QueryParser for PgParser {
    type Statement = PgStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<PgStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let who = principal_of(&self.users, client)?;
        let started = Instant::now();
        let mut stmts = self.engine.parse(sql).map_err(|e| user_error(&e))?;
        match stmts.len() {
            0 => return Ok(None),
            1 => {}
            n => {
                return Err(user_error(&QueryError::Refused(format!(
                    "cannot insert {n} commands into a prepared statement"
                ))));
            }
        }
        match self.engine.prepare(&who, stmts.remove(0)).await {
            Ok(prepared) => Ok(Some(PgStatement {
                sql: sql.to_string(),
                prepared,
            })),
            Err(e) => {
                self.engine.record_error(Surface::Pg, started, &e);
                Err(user_error(&e))
            }
        }
    }

    fn get_parameter_types(&self, stmt: &PgStatement) -> PgWireResult<Vec<Type>> {
        let types = stmt
            .prepared
            .parameter_types()
            .map_err(|e| user_error(&e))?;
        Ok(types
            .iter()
            .map(|t| t.as_ref().map(pg_type).unwrap_or(Type::UNKNOWN))
            .collect())
    }

    fn get_result_schema(
        &self,
        stmt: &PgStatement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let schema = stmt.prepared.schema();
        Ok(field_infos(
            &schema,
            column_format.unwrap_or(&Format::UnifiedText),
        ))
    }
}

#[async_trait]
impl ExtendedQueryHandler for PgQueryHandler {
    type Statement = PgStatement;
    type QueryParser = PgParser;

    fn query_parser(&self) -> Arc<PgParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<PgStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &portal.statement.statement;
        let inferred = stmt
            .prepared
            .parameter_types()
            .map_err(|e| user_error(&e))?;
        let declared = &portal.statement.parameter_types;
        let n = inferred.len().max(portal.parameters.len());
        let params = if n == 0 {
            None
        } else {
            let values = (0..n)
                .map(|i| {
                    parameter(
                        portal,
                        i,
                        declared.get(i).and_then(|t| t.as_ref()),
                        inferred.get(i).and_then(|t| t.as_ref()),
                    )
                })
                .collect::<PgWireResult<Vec<_>>>()?;
            Some(ParamValues::List(
                values.into_iter().map(Into::into).collect(),
            ))
        };
        match self
            .engine
            .execute(&stmt.prepared, params, Surface::Pg)
            .await
        {
            Ok(out) => response(out, &portal.result_column_format),
            Err(e) => Err(user_error(&e)),
        }
    }
}
