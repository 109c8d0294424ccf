//! # aqstream-web
//!
//! The two pages of aqstream and the small JSON API behind them, as one axum
//! [`Router`](axum::Router):
//!
//! | path | what |
//! |---|---|
//! | `/`, `/citizen` | the citizen page: the air where I stand, 24 h, where it comes from |
//! | `/officer`, `/officer?alert=<id>` | the officer page: alerts on a map of the sensors, evidence, history |
//! | `/assets/*` | HTML, CSS, JS and icons, bundled into the binary ([`assets`]) |
//! | `/api/v1/*` | the JSON API ([`api`]) |
//!
//! The API never asks for a position: the citizen page downloads the city's latest
//! sensor values, the last 24 hours and the active sources, and picks and interpolates
//! on the device ([`api`] describes each call). Nothing is loaded from outside the
//! server: no CDN, no tile server (the officer map is drawn as SVG from the sensor
//! coordinates).
//!
//! The data come through the [`CityData`] trait: [`HistoryCityData`] reads the Parquet
//! history with SQL through `aqstream_query::QueryEngine`, [`Cached`] keeps answers for a
//! few seconds; a live worker can implement the trait directly later. The domain logic
//! stays elsewhere: AQI categories and texts are `aqstream_core::aqi`'s, alert grouping
//! is [`alerts`].

pub mod alerts;
pub mod api;
pub mod assets;
pub mod cache;
pub mod data;
pub mod error;
pub mod history;
pub mod model;

pub use cache::Cached;
pub use data::CityData;
pub use error::WebError;
pub use history::HistoryCityData;

use axum::Router;
use std::sync::Arc;

/// What the handlers share: the data behind the pages.
#[derive(Clone)]
pub struct WebState {
    /// Where the city's data come from.
    pub data: Arc<dyn CityData>,
}

impl WebState {
    /// State over any data source.
    pub fn new(data: Arc<dyn CityData>) -> WebState {
        WebState { data }
    }
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState").finish_non_exhaustive()
    }
}

/// The pages, their assets and the JSON API. Merge it with the `/metrics` and `/sql`
/// routers of the same HTTP listener.
pub fn router(state: WebState) -> Router {
    assets::router().merge(api::router(state))
}
