//! The order of MQTT acknowledgements.
//!
//! A QoS 1 message may be acknowledged only once every record made from it is durable,
//! and MQTT wants PUBACKs in the order the PUBLISHes arrived (MQTT-4.6.0-2). Messages
//! finish in any order, so [`AckOrder`] holds finished ones until everything received
//! before them has finished too.
//!
//! Two rules keep a late acknowledgement from ever confirming the wrong message:
//! * acknowledgements of a previous connection are dropped (the broker redelivers those
//!   messages on the new connection, with the same packet ids);
//! * when the broker reuses a packet id that is still pending here, it has already
//!   seen an acknowledgement for it (from a copy of the message), so the earlier entry
//!   is not acknowledged again — that second PUBACK would confirm the new message.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Done,
    Failed,
}

#[derive(Debug)]
struct Entry<T> {
    epoch: u64,
    pkid: u16,
    superseded: bool,
    state: State,
    item: T,
}

/// Messages in arrival order with their completion state. `T` is what an
/// acknowledgement needs (the received packet).
#[derive(Debug)]
pub struct AckOrder<T> {
    first_seq: u64,
    entries: VecDeque<Entry<T>>,
}

impl<T> Default for AckOrder<T> {
    fn default() -> Self {
        AckOrder {
            first_seq: 0,
            entries: VecDeque::new(),
        }
    }
}

/// What [`AckOrder::release`] let go.
#[derive(Debug, PartialEq, Eq)]
pub struct Released<T> {
    /// Items to acknowledge now, in arrival order.
    pub ack: Vec<T>,
    /// How many entries left the order (acknowledged or not).
    pub removed: usize,
}

impl<T> AckOrder<T> {
    /// An empty order.
    pub fn new() -> AckOrder<T> {
        AckOrder::default()
    }

    /// Registers a message received on connection `epoch` with packet id `pkid` (0 for
    /// QoS 0, which needs no acknowledgement); returns its sequence number.
    pub fn push(&mut self, epoch: u64, pkid: u16, item: T) -> u64 {
        if pkid != 0 {
            for e in self.entries.iter_mut() {
                if e.epoch == epoch && e.pkid == pkid {
                    e.superseded = true;
                }
            }
        }
        self.entries.push_back(Entry {
            epoch,
            pkid,
            superseded: false,
            state: State::Pending,
            item,
        });
        self.first_seq + self.entries.len() as u64 - 1
    }

    /// Marks message `seq` finished: `ok` if every record is durable, otherwise it is
    /// never acknowledged (the broker redelivers it on a later connection).
    pub fn complete(&mut self, seq: u64, ok: bool) {
        let Some(i) = seq.checked_sub(self.first_seq) else {
            return;
        };
        if let Some(e) = self.entries.get_mut(i as usize) {
            e.state = if ok { State::Done } else { State::Failed };
        }
    }

    /// Removes the finished prefix; returns the items to acknowledge on connection
    /// `current_epoch`.
    pub fn release(&mut self, current_epoch: u64) -> Released<T> {
        let mut out = Released {
            ack: Vec::new(),
            removed: 0,
        };
        while self
            .entries
            .front()
            .is_some_and(|e| e.state != State::Pending)
        {
            let Some(e) = self.entries.pop_front() else {
                break;
            };
            self.first_seq += 1;
            out.removed += 1;
            if e.state == State::Done && e.pkid != 0 && !e.superseded && e.epoch == current_epoch {
                out.ack.push(e.item);
            }
        }
        out
    }

    /// Messages not yet released.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing pending?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledges_in_arrival_order_only() {
        let mut o = AckOrder::new();
        let a = o.push(1, 1, "a");
        let b = o.push(1, 2, "b");
        let c = o.push(1, 3, "c");
        o.complete(c, true);
        o.complete(b, true);
        assert_eq!(o.release(1).ack, Vec::<&str>::new(), "a still pending");
        o.complete(a, true);
        let r = o.release(1);
        assert_eq!(r.ack, vec!["a", "b", "c"]);
        assert_eq!(r.removed, 3);
        assert!(o.is_empty());
        // Sequence numbers keep counting after a release.
        let d = o.push(1, 4, "d");
        assert_eq!(d, 3);
        o.complete(d, true);
        assert_eq!(o.release(1).ack, vec!["d"]);
    }

    #[test]
    fn failures_and_qos0_are_never_acknowledged() {
        let mut o = AckOrder::new();
        let a = o.push(1, 1, "a");
        let q0 = o.push(1, 0, "q0");
        let b = o.push(1, 2, "b");
        o.complete(a, false);
        o.complete(q0, true);
        o.complete(b, true);
        let r = o.release(1);
        assert_eq!(r.ack, vec!["b"]);
        assert_eq!(r.removed, 3);
    }

    #[test]
    fn stale_connections_and_reused_packet_ids_are_not_acknowledged() {
        let mut o = AckOrder::new();
        let old = o.push(1, 7, "old-connection");
        let copy = o.push(2, 7, "redelivered copy");
        let newer = o.push(2, 7, "new message, same id");
        o.complete(old, true);
        o.complete(copy, true);
        o.complete(newer, true);
        assert_eq!(o.release(2).ack, vec!["new message, same id"]);
    }
}
