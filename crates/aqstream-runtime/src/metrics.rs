//! The Prometheus registry shared by a process, and its HTTP exposition.
//!
//! Each crate registers its own metrics (names from the contract, low-cardinality
//! labels) into the one [`MetricsRegistry`] of the process; [`serve`] exposes them.

use crate::shutdown::Shutdown;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use std::net::SocketAddr;

/// The process-wide metrics registry (cheap to clone).
#[derive(Clone, Default)]
pub struct MetricsRegistry {
    registry: Registry,
}

impl std::fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRegistry").finish_non_exhaustive()
    }
}

impl MetricsRegistry {
    /// An empty registry.
    pub fn new() -> MetricsRegistry {
        MetricsRegistry::default()
    }

    /// The underlying registry, to register collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a collector; a name registered twice is a programming error and is
    /// logged, not fatal.
    pub fn register<C: prometheus::core::Collector + Clone + 'static>(&self, c: &C) -> C {
        if let Err(e) = self.registry.register(Box::new(c.clone())) {
            tracing::error!("metric registration failed: {e}");
        }
        c.clone()
    }

    /// The text exposition format of every registered metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!("metrics encoding failed: {e}");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Routes `/metrics` and `/healthz`, to merge into a larger router.
    pub fn router(&self) -> Router {
        let me = self.clone();
        Router::new()
            .route(
                "/metrics",
                get(move || {
                    let body = me.render();
                    async move {
                        (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                            body,
                        )
                            .into_response()
                    }
                }),
            )
            .route("/healthz", get(|| async { "ok\n" }))
    }
}

/// Serves `router` on `addr` until `shutdown`; returns the bound address through
/// `bound` as soon as the listener is up (port 0 picks a free port).
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: Shutdown,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!("HTTP listening on http://{local}");
    if let Some(tx) = bound {
        let _ = tx.send(local);
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn exposes_registered_metrics_over_http() {
        let reg = MetricsRegistry::new();
        let c =
            reg.register(&prometheus::IntCounter::new("aq_test_total", "a test counter").unwrap());
        c.inc_by(3);
        let shutdown = Shutdown::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(serve(
            "127.0.0.1:0".parse().unwrap(),
            reg.router(),
            shutdown.clone(),
            Some(tx),
        ));
        let addr = rx.await.unwrap();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(
            body.contains("200 OK") && body.contains("aq_test_total 3"),
            "{body}"
        );
        shutdown.trigger();
        task.await.unwrap().unwrap();
    }
}
