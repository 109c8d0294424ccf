//! [`Cached`]: keeps a [`CityData`]'s answers for a few seconds, so a page reloaded by
//! many phones at once costs one query. One request at a time fills each entry; the
//! others wait for it and share the answer.

use crate::data::{CityData, Step};
use crate::error::WebError;
use crate::model::{CityNow, HourlyHistory, Series};
use aqstream_core::alert::Alert;
use aqstream_core::time::EpochMillis;
use async_trait::async_trait;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Default time an answer is reused: pages stay fresh within a minute.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15);

/// Most distinct keys kept per call (alert ids, evidence ranges).
const MAX_KEYS: usize = 256;

struct Slot<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Slot<K, V> {
    fn new() -> Self {
        Slot {
            map: Mutex::new(HashMap::new()),
        }
    }

    async fn get_or<F>(&self, key: K, ttl: Duration, fill: F) -> Result<V, WebError>
    where
        F: std::future::Future<Output = Result<V, WebError>>,
    {
        // held across the fill: concurrent requests for the same call wait and share
        let mut map = self.map.lock().await;
        let now = Instant::now();
        if let Some((at, v)) = map.get(&key)
            && now.duration_since(*at) < ttl
        {
            return Ok(v.clone());
        }
        let v = fill.await?;
        if map.len() >= MAX_KEYS {
            map.retain(|_, (at, _)| now.duration_since(*at) < ttl);
        }
        if map.len() < MAX_KEYS {
            map.insert(key, (now, v.clone()));
        }
        Ok(v)
    }
}

/// A [`CityData`] whose answers are reused for `ttl`.
pub struct Cached<D> {
    inner: D,
    ttl: Duration,
    now: Slot<(), CityNow>,
    hourly: Slot<u32, HourlyHistory>,
    alerts: Slot<u32, Vec<Alert>>,
    alert: Slot<String, Vec<Alert>>,
    series: Slot<(Vec<String>, EpochMillis, EpochMillis, Step), Series>,
}

impl<D> std::fmt::Debug for Cached<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<D: CityData> Cached<D> {
    /// Wraps `inner`, reusing answers for `ttl`.
    pub fn new(inner: D, ttl: Duration) -> Cached<D> {
        Cached {
            inner,
            ttl,
            now: Slot::new(),
            hourly: Slot::new(),
            alerts: Slot::new(),
            alert: Slot::new(),
            series: Slot::new(),
        }
    }
}

#[async_trait]
impl<D: CityData> CityData for Cached<D> {
    async fn now(&self) -> Result<CityNow, WebError> {
        self.now.get_or((), self.ttl, self.inner.now()).await
    }

    async fn hourly(&self, hours: u32) -> Result<HourlyHistory, WebError> {
        self.hourly
            .get_or(hours, self.ttl, self.inner.hourly(hours))
            .await
    }

    async fn alerts(&self, days: u32) -> Result<Vec<Alert>, WebError> {
        self.alerts
            .get_or(days, self.ttl, self.inner.alerts(days))
            .await
    }

    async fn alert(&self, alert_id: &str) -> Result<Vec<Alert>, WebError> {
        self.alert
            .get_or(alert_id.to_string(), self.ttl, self.inner.alert(alert_id))
            .await
    }

    async fn series(
        &self,
        sensors: &[String],
        from: EpochMillis,
        to: EpochMillis,
        step: Step,
    ) -> Result<Series, WebError> {
        self.series
            .get_or(
                (sensors.to_vec(), from, to, step),
                self.ttl,
                self.inner.series(sensors, from, to, step),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counting {
        calls: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl CityData for Counting {
        async fn now(&self) -> Result<CityNow, WebError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(CityNow {
                as_of: None,
                as_of_ms: Some(n as i64),
                sensors: vec![],
                districts: vec![],
                wind: None,
            })
        }
        async fn hourly(&self, _: u32) -> Result<HourlyHistory, WebError> {
            Err(WebError::Unavailable("test".into()))
        }
        async fn alerts(&self, _: u32) -> Result<Vec<Alert>, WebError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Err(WebError::Unavailable("test".into()))
        }
        async fn alert(&self, _: &str) -> Result<Vec<Alert>, WebError> {
            Ok(vec![])
        }
        async fn series(&self, _: &[String], _: i64, _: i64, _: Step) -> Result<Series, WebError> {
            Err(WebError::Unavailable("test".into()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn answers_are_shared_until_the_ttl_passes() {
        let inner = Counting::default();
        let calls = inner.calls.clone();
        let c = Arc::new(Cached::new(inner, Duration::from_secs(15)));
        // concurrent requests: one fill, one answer
        let (a, b) = tokio::join!(c.now(), c.now());
        assert_eq!(a.unwrap().as_of_ms, Some(0));
        assert_eq!(b.unwrap().as_of_ms, Some(0));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(c.now().await.unwrap().as_of_ms, Some(0));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(
            c.now().await.unwrap().as_of_ms,
            Some(1),
            "refreshed after 15 s"
        );
        // errors are not cached
        assert!(c.alerts(30).await.is_err());
        assert!(c.alerts(30).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
