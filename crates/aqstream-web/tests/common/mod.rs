//! What the web tests share: the fixture city, a server over it, headless Chromium.
#![allow(dead_code)]

pub mod cdp;
pub mod fixture;

use aqstream_query::{EngineOptions, QueryEngine};
use aqstream_web::{HistoryCityData, WebState};
use axum::extract::Request;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The query engine over a fixture city.
pub async fn engine(city: &fixture::City) -> QueryEngine {
    let mut opts = EngineOptions::local(&city.history);
    opts.sensors = Some(city.sensors_csv.clone());
    QueryEngine::new(&opts).await.unwrap()
}

/// A web server over the fixture city, on a free port of its own runtime. It records
/// every request line, so tests can check what browsers sent.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub city: fixture::City,
    rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

impl Server {
    pub fn start() -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (city, listener, router) = rt.block_on(async {
            let city = fixture::write_city().await;
            let engine = engine(&city).await;
            let state = WebState::new(Arc::new(HistoryCityData::new(engine)));
            let seen = requests.clone();
            let router = aqstream_web::router(state).layer(axum::middleware::map_request(
                move |req: Request| {
                    let seen = seen.clone();
                    async move {
                        seen.lock()
                            .unwrap()
                            .push(format!("{} {}", req.method(), req.uri()));
                        req
                    }
                },
            ));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            (city, listener, router)
        });
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Server {
            addr,
            requests,
            city,
            rt: Some(rt),
            stop: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `f` on the server's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.as_ref().unwrap().block_on(f)
    }
}

/// Where screenshots go: `docs/screenshots/` of the repository.
pub fn screenshot_path(name: &str) -> std::path::PathBuf {
    fixture::repo_root().join("docs/screenshots").join(name)
}
