//! Epoch vectors handed back by the history writer for a later epoch.
//!
//! An epoch's aggregate rows and ledger entries are tens of megabytes at 100 000
//! sensors. Allocated afresh for every epoch, each one is new memory to the kernel
//! (the allocator returns freed pages between epochs): every page is faulted in and
//! zeroed again, which cost about a tenth of the replay's CPU. The writer clears a
//! written vector and gives it back here; the operator takes it for the next epoch.
//!
//! A bounded recycler also bounds the epochs in flight: with `n` vectors in use the
//! next [`Recycler::take`] waits until the writer gives one back, so an operator
//! faster than the writer cannot pile up epochs (each tens of megabytes) in the
//! queues between them.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

#[derive(Debug)]
struct Stock<T> {
    spare: Vec<Vec<T>>,
    /// Vectors taken and not given back.
    out: usize,
    /// At most this many out at once (bounded recyclers).
    limit: Option<usize>,
    /// No more waiting (the writer stopped).
    closed: bool,
}

/// A shared stock of emptied vectors (cloning shares the stock).
#[derive(Debug)]
pub struct Recycler<T> {
    shared: Arc<(Mutex<Stock<T>>, Condvar)>,
}

impl<T> Clone for Recycler<T> {
    fn clone(&self) -> Self {
        Recycler {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Default for Recycler<T> {
    /// Never waits; keeps [`Recycler::KEEP`] spare vectors.
    fn default() -> Self {
        Recycler::with_limit(None)
    }
}

impl<T> Recycler<T> {
    /// Spare vectors an unbounded recycler keeps: the operator fills one epoch while
    /// the writer writes the previous one, so one is enough; more would only hold
    /// memory.
    pub const KEEP: usize = 1;

    /// A recycler with at most `n` vectors taken and not given back at a time
    /// (`n >= 1`): [`Recycler::take`] waits for a vector beyond that.
    pub fn bounded(n: usize) -> Recycler<T> {
        Recycler::with_limit(Some(n.max(1)))
    }

    fn with_limit(limit: Option<usize>) -> Recycler<T> {
        Recycler {
            shared: Arc::new((
                Mutex::new(Stock {
                    spare: Vec::new(),
                    out: 0,
                    limit,
                    closed: false,
                }),
                Condvar::new(),
            )),
        }
    }

    fn stock(&self) -> MutexGuard<'_, Stock<T>> {
        self.shared.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An empty vector with room for at least `capacity` items: a given-back one when
    /// there is one, otherwise a new one. A bounded recycler with all its vectors out
    /// waits until one is given back or the recycler is closed.
    pub fn take(&self, capacity: usize) -> Vec<T> {
        let mut stock = self.stock();
        loop {
            if let Some(mut v) = stock.spare.pop() {
                stock.out += 1;
                v.reserve(capacity);
                return v;
            }
            if stock.closed || stock.limit.is_none_or(|l| stock.out < l) {
                stock.out += 1;
                return Vec::with_capacity(capacity);
            }
            stock = self
                .shared
                .1
                .wait(stock)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Makes the vector in `v` one of this recycler's (counted as taken), keeping its
    /// items: for the vector an operator is filling when it is handed a recycler.
    pub fn adopt(&self, v: &mut Vec<T>) {
        let mut mine = self.take(v.len());
        mine.append(v);
        *v = mine;
    }

    /// Gives `v` back (cleared): kept for the next [`Recycler::take`] (an unbounded
    /// recycler drops it when it already has [`Recycler::KEEP`] spares).
    pub fn give(&self, mut v: Vec<T>) {
        v.clear();
        let mut stock = self.stock();
        stock.out = stock.out.saturating_sub(1);
        let room = stock.limit.unwrap_or(Self::KEEP);
        if v.capacity() > 0 && stock.spare.len() < room {
            stock.spare.push(v);
        }
        drop(stock);
        self.shared.1.notify_one();
    }

    /// No [`Recycler::take`] waits from now on (the writer stopped: nothing will be
    /// given back).
    pub fn close(&self) {
        self.stock().closed = true;
        self.shared.1.notify_all();
    }

    /// Vectors in stock.
    pub fn len(&self) -> usize {
        self.stock().spare.len()
    }

    /// No vector in stock?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_given_back_vector_is_taken_again_empty_with_its_memory() {
        let r: Recycler<u64> = Recycler::default();
        let mut v = r.take(1000);
        assert!(v.capacity() >= 1000);
        v.extend(0..1000);
        let at = v.as_ptr();
        r.give(v);
        assert_eq!(r.len(), 1);
        let w = r.clone().take(10);
        assert!(w.is_empty());
        assert_eq!(w.as_ptr(), at, "the same allocation comes back");
        assert!(w.capacity() >= 1000);
        assert!(r.is_empty());
    }

    #[test]
    fn an_unbounded_one_keeps_at_most_its_spares_and_never_waits() {
        let r: Recycler<u8> = Recycler::default();
        let taken: Vec<Vec<u8>> = (0..5).map(|_| r.take(8)).collect();
        for v in taken {
            r.give(v);
        }
        assert_eq!(r.len(), Recycler::<u8>::KEEP);
        r.take(0);
        r.give(Vec::new());
        assert!(r.is_empty(), "nothing to keep in an empty one");
        let v = r.take(4096);
        assert!(v.capacity() >= 4096);
    }

    #[test]
    fn a_bounded_one_waits_for_a_vector_to_come_back() {
        let r: Recycler<u32> = Recycler::bounded(2);
        let a = r.take(16);
        let _b = r.take(16);
        let (tx, rx) = std::sync::mpsc::channel();
        let r2 = r.clone();
        let waiter = std::thread::spawn(move || {
            let v = r2.take(4);
            tx.send(v.as_ptr() as usize).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "a third vector while two are out"
        );
        let at = a.as_ptr() as usize;
        r.give(a);
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), at);
        waiter.join().unwrap();
    }

    #[test]
    fn an_adopted_vector_keeps_its_items_and_counts_as_taken() {
        let r: Recycler<u32> = Recycler::bounded(1);
        let mut v = vec![1, 2, 3];
        r.adopt(&mut v);
        assert_eq!(v, [1, 2, 3]);
        let r2 = r.clone();
        let waiter = std::thread::spawn(move || r2.take(1).len());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "the adopted vector is the one out");
        r.give(v);
        assert_eq!(waiter.join().unwrap(), 0);
    }

    #[test]
    fn closing_releases_a_waiting_taker() {
        let r: Recycler<u32> = Recycler::bounded(1);
        let _a = r.take(1);
        let r2 = r.clone();
        let waiter = std::thread::spawn(move || r2.take(3).capacity());
        std::thread::sleep(Duration::from_millis(50));
        r.close();
        assert!(waiter.join().unwrap() >= 3);
        assert!(r.take(1).capacity() >= 1, "closed: never waits again");
    }
}
