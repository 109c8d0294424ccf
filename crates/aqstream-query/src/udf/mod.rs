//! SQL functions available on every SQL surface (documented with examples in
//! `docs/sql.md`):
//!
//! | function | returns |
//! |---|---|
//! | `aqi_cn(pollutant, concentration, period)` | HJ 633-2012 IAQI (`period` `'1h'`, `'8h'`, `'24h'`), rounded up |
//! | `aqi_us(pollutant, concentration [, period])` | US EPA AQI (2024 PM2.5 breakpoints) |
//! | `aqi_category_cn(aqi [, lang])` | HJ 633 category name (`lang` `'en'` default, `'zh'`, `'slug'`, `'color'`) |
//! | `aqi_category_us(aqi [, lang])` | EPA category name (`'en'`, `'zh'`, `'slug'`, `'color'`) |
//! | `haversine_m(lat1, lon1, lat2, lon2)` | great-circle distance in metres |
//! | `time_bucket(width, ts [, origin])` | start of the fixed-width bucket holding `ts` |
//! | `wind_sector(deg [, n])` | compass sector name (`N`, `NNE`, …) of a direction, `n` = 4, 8, 16 (default) |
//! | `wind_sector_index(deg [, n])` | the sector's number, 0 = north, clockwise |
//! | `nowcast(hourly_mean, hour_start [, pollutant])` | aggregate / window: EPA NowCast at the latest hour |
//!
//! Plus the PostgreSQL compatibility functions clients call on connect
//! ([`crate::pgcompat::functions`]).

mod aqi;
mod nowcast;
mod time;
mod wind;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

/// Every aqstream scalar SQL function, ready to register on a session.
pub fn all() -> Vec<ScalarUDF> {
    let mut v = aqi::functions();
    v.extend(time::functions());
    v.push(time::date_trunc());
    v.extend(wind::functions());
    v
}

/// Every aqstream aggregate (and window) function.
pub fn aggregates() -> Vec<AggregateUDF> {
    vec![nowcast::nowcast_udaf()]
}
