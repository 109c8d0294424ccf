//! Serves the pages over an existing history until Ctrl-C:
//!
//! ```sh
//! cargo run -p aqstream-web --example preview -- HISTORY_DIR SENSORS_CSV [ADDR]
//! ```
//!
//! (`aqstream run` and `aqstream serve` mount the same router next to `/sql` and `/metrics`.)

use anyhow::Context as _;
use aqstream_query::{EngineOptions, QueryEngine};
use aqstream_web::{Cached, HistoryCityData, WebState, cache::DEFAULT_TTL};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(history), Some(sensors)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: preview HISTORY_DIR SENSORS_CSV [ADDR]");
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let mut opts = EngineOptions::local(&history);
    opts.sensors = Some(sensors.into());
    let engine = QueryEngine::new(&opts).await?;
    let data = Cached::new(HistoryCityData::new(engine), DEFAULT_TTL);
    let router = aqstream_web::router(WebState::new(Arc::new(data)));
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    #[allow(clippy::print_stderr)]
    {
        eprintln!("pages on http://{addr}/ and http://{addr}/officer (Ctrl-C stops)");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
