//! The history as one stage of a pipelined replay sees it.
//!
//! A replay writes its history epochs on a thread of their own while the operators
//! go on. An operator that reads the history (late data) must see exactly the epochs
//! it has cut, as it would if the writes were synchronous: no fewer (the writer is
//! behind) and no more (impossible: an epoch needs the cut of both stages). Each
//! stage gets its own [`FencedArchive`] that counts the epochs the stage has cut and,
//! before every read, waits until the writer has published that many.

use crate::archive::{Archive, LedgerEntry};
use crate::error::{Result, StreamError};
use crate::rows::Scope;
use crate::window::WindowId;
use aqstream_core::Reading;
use aqstream_core::time::EpochMillis;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

#[derive(Debug, Default)]
struct Published {
    /// Epochs published, in order.
    epochs: u64,
    /// The writer stopped (finished or failed): nothing more will be published.
    stopped: Option<String>,
}

/// What the history writer has published so far, shared by the stages.
#[derive(Debug, Default)]
pub(crate) struct Fence {
    state: Mutex<Published>,
    changed: Condvar,
}

impl Fence {
    /// Epoch `n` (1-based, in order) is published.
    pub(crate) fn published(&self, n: u64) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.epochs = s.epochs.max(n);
        self.changed.notify_all();
    }

    /// The writer stopped; readers still waiting get `why` as an error.
    pub(crate) fn stop(&self, why: &str) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.stopped.get_or_insert_with(|| why.to_string());
        self.changed.notify_all();
    }

    fn wait_for(&self, n: u64) -> Result<()> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while s.epochs < n {
            if let Some(why) = &s.stopped {
                return Err(StreamError::Invalid(format!(
                    "history epoch {n} was never published: {why}"
                )));
            }
            s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        Ok(())
    }
}

/// One stage's view of the history: reads wait for the epochs the stage has cut.
pub(crate) struct FencedArchive {
    inner: Arc<dyn Archive>,
    fence: Arc<Fence>,
    cut: AtomicU64,
}

impl FencedArchive {
    /// A view of `inner` for one stage.
    pub(crate) fn new(inner: Arc<dyn Archive>, fence: Arc<Fence>) -> FencedArchive {
        FencedArchive {
            inner,
            fence,
            cut: AtomicU64::new(0),
        }
    }

    /// The stage cut one more epoch (its later reads must see it).
    pub(crate) fn cut(&self) {
        self.cut.fetch_add(1, Ordering::SeqCst);
    }

    fn ready(&self) -> Result<()> {
        self.fence.wait_for(self.cut.load(Ordering::SeqCst))
    }
}

impl Archive for FencedArchive {
    fn readings(
        &self,
        sensors: &[&str],
        from: EpochMillis,
        to: EpochMillis,
    ) -> Result<Vec<Reading>> {
        self.ready()?;
        self.inner.readings(sensors, from, to)
    }

    fn revisions(
        &self,
        scope: Scope,
        keys: &[(&str, WindowId)],
    ) -> Result<HashMap<(String, WindowId), i32>> {
        self.ready()?;
        self.inner.revisions(scope, keys)
    }

    fn ledger(
        &self,
        districts: &[&str],
        from: EpochMillis,
        to: EpochMillis,
    ) -> Result<Vec<LedgerEntry>> {
        self.ready()?;
        self.inner.ledger(districts, from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::NoArchive;
    use std::time::Duration;

    #[test]
    fn a_read_waits_for_the_epochs_its_stage_cut() {
        let fence = Arc::new(Fence::default());
        let a = Arc::new(FencedArchive::new(Arc::new(NoArchive), Arc::clone(&fence)));
        a.ledger(&[], 0, 1).expect("nothing cut: no wait");
        a.cut();
        a.cut();
        let reader = {
            let a = Arc::clone(&a);
            std::thread::spawn(move || a.ledger(&[], 0, 1).map(|_| ()))
        };
        fence.published(1);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!reader.is_finished(), "epoch 2 is not published yet");
        fence.published(2);
        reader.join().unwrap().expect("published");
    }

    #[test]
    fn a_stopped_writer_fails_the_waiting_read() {
        let fence = Arc::new(Fence::default());
        let a = Arc::new(FencedArchive::new(Arc::new(NoArchive), Arc::clone(&fence)));
        a.cut();
        let reader = {
            let a = Arc::clone(&a);
            std::thread::spawn(move || a.readings(&[], 0, 1).map(|_| ()))
        };
        fence.stop("disk full");
        let err = reader.join().unwrap().unwrap_err().to_string();
        assert!(err.contains("disk full"), "{err}");
    }
}
