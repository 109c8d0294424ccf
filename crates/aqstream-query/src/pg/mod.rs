//! The PostgreSQL wire protocol surface (pgwire): psql, Grafana's PostgreSQL data
//! source, DBeaver, psycopg and other drivers connect with a password (SCRAM-SHA-256),
//! optionally over TLS, and query the same engine as the CLI and HTTP.
//!
//! * [`startup`] — TLS requirement and SCRAM authentication;
//! * [`handler`] — simple and extended query protocol;
//! * [`encode`] — Arrow ↔ PostgreSQL values.

pub mod encode;
pub mod handler;
pub mod startup;

use crate::auth::UserDb;
use crate::config::PgConfig;
use crate::engine::QueryEngine;
use aqstream_runtime::Shutdown;
use handler::PgQueryHandler;
use pgwire::api::PgWireServerHandlers;
use pgwire::api::auth::StartupHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use startup::Startup;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Errors of the PostgreSQL listener.
#[derive(Debug, thiserror::Error)]
pub enum PgServerError {
    /// The listener could not bind or accept.
    #[error("pg listener {addr}: {source}")]
    Io {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error("pg TLS: {0}")]
    Tls(String),
}

struct Handlers {
    startup: Arc<Startup>,
    query: Arc<PgQueryHandler>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// A TLS acceptor from PEM files (rustls with the `ring` provider).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, PgServerError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| PgServerError::Tls(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| PgServerError::Tls(format!("{}: {e}", key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| PgServerError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| PgServerError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the PostgreSQL protocol on `config.listen` until `shutdown`; the bound address
/// goes to `bound` as soon as the listener is up (port 0 picks a free port).
pub async fn serve(
    engine: QueryEngine,
    users: Arc<UserDb>,
    config: &PgConfig,
    shutdown: Shutdown,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), PgServerError> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
        (None, None) => None,
        _ => return Err(PgServerError::Tls("give both tls_cert and tls_key".into())),
    };
    if config.require_tls && tls.is_none() {
        return Err(PgServerError::Tls(
            "require_tls is set but no certificate is configured".into(),
        ));
    }
    let io = |source| PgServerError::Io {
        addr: config.listen.clone(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(io)?;
    let local = listener.local_addr().map_err(io)?;
    tracing::info!(
        tls = tls.is_some(),
        "PostgreSQL protocol listening on {local}"
    );
    if let Some(tx) = bound {
        let _ = tx.send(local);
    }
    let handlers = Arc::new(Handlers {
        startup: Arc::new(Startup::new(users.clone(), config.require_tls)),
        query: Arc::new(PgQueryHandler::new(engine, users)),
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.cancelled() => break,
        };
        let (socket, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("pg accept: {e}");
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = socket.set_nodelay(true);
        let h = handlers.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, h).await {
                tracing::debug!(%peer, "pg connection ended: {e}");
            }
            drop(permit);
        });
        while conns.try_join_next().is_some() {}
    }
    tracing::info!(
        connections = conns.len(),
        "PostgreSQL listener stopping; closing connections"
    );
    conns.shutdown().await;
    Ok(())
}
