//! The pages and their assets, bundled into the binary: nothing is fetched from
//! anywhere else, so the pages work on a network without internet.
//!
//! Every response carries a Content-Security-Policy that allows only this server
//! (`default-src 'self'`), no inline scripts, and no referrer: a citizen's browser talks
//! to nobody else.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One bundled file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// File name under `/assets/`.
    pub name: &'static str,
    /// Media type.
    pub content_type: &'static str,
    /// The bytes.
    pub body: &'static str,
}

macro_rules! asset {
    ($name:literal, $ct:literal) => {
        Asset {
            name: $name,
            content_type: $ct,
            body: include_str!(concat!("../assets/", $name)),
        }
    };
}

/// Every bundled file.
pub const ASSETS: &[Asset] = &[
    asset!("citizen.html", "text/html; charset=utf-8"),
    asset!("officer.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("map.js", "text/javascript; charset=utf-8"),
    asset!("chart.js", "text/javascript; charset=utf-8"),
    asset!("citizen.js", "text/javascript; charset=utf-8"),
    asset!("officer.js", "text/javascript; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// The bundled file called `name`.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                   form-action 'none'";

fn respond(a: &Asset, cache: &'static str) -> Response {
    let mut r = (StatusCode::OK, a.body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("geolocation=(self), camera=(), microphone=()"),
    );
    r
}

fn page(name: &'static str) -> Response {
    match asset(name) {
        Some(a) => respond(a, "no-cache"),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn file(Path(name): Path<String>) -> Response {
    match asset(&name) {
        Some(a) => respond(a, "public, max-age=300"),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

/// The page and asset routes.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { page("citizen.html") }))
        .route("/citizen", get(|| async { page("citizen.html") }))
        .route("/officer", get(|| async { page("officer.html") }))
        .route("/assets/{name}", get(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_load_only_bundled_assets() {
        for page in ["citizen.html", "officer.html"] {
            let html = asset(page).unwrap().body;
            for part in html.split("/assets/").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(asset(&name).is_some(), "{page} refers to /assets/{name}");
            }
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "{page}"
            );
            assert!(
                !html.contains("<script>"),
                "{page}: no inline scripts (CSP)"
            );
            assert!(!html.contains("style=\""), "{page}: no inline styles (CSP)");
        }
        for a in ASSETS {
            // the SVG namespace is a name, not something loaded
            let body = a.body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !body.contains("https://") && !body.contains("http://"),
                "{} must not load anything from outside",
                a.name
            );
        }
    }
}
