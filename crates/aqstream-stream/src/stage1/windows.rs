//! The open windows of one sensor.
//!
//! A sensor keeps about a dozen windows open (a minute window per minute of the
//! allowed lateness, the current 5-minute, hour and day windows, and those waiting
//! out their lateness). Every reading looks up four of them and every emission and
//! close one more: a short list scanned by id is cheaper than any map, and lists
//! grown two windows at a time keep the memory at what the windows need. The ids are
//! a list of their own: scanned next to the windows' state (~200 bytes each), every
//! id compared was another cache line, and that scan was most of the time of a
//! window's emission.

use crate::partial::Partial;
use crate::window::{MinuteSet, WindowId};

/// The state of one open window of a sensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Win {
    pub(crate) part: Partial,
    pub(crate) minutes: MinuteSet,
    /// Last emitted revision, −1 before the first emission.
    pub(crate) emitted: i32,
    pub(crate) dirty: bool,
}

impl Win {
    /// A window nothing was merged into yet.
    pub(crate) fn empty(id: WindowId) -> Win {
        Win {
            part: Partial::default(),
            minutes: MinuteSet::new(id.kind),
            emitted: -1,
            dirty: false,
        }
    }
}

/// A sensor's open windows, in no particular order (a window id is in the list at
/// most once).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct OpenWindows {
    /// The windows' ids; `wins[i]` is the state of `ids[i]`.
    ids: Vec<WindowId>,
    wins: Vec<Win>,
}

impl OpenWindows {
    /// Number of open windows.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    fn position(&self, id: WindowId) -> Option<usize> {
        self.ids.iter().position(|x| *x == id)
    }

    /// The open window `id`.
    pub(crate) fn get_mut(&mut self, id: WindowId) -> Option<&mut Win> {
        self.position(id).map(|i| &mut self.wins[i])
    }

    /// The open window `id`, opened (empty) if it is not; whether it was opened.
    pub(crate) fn open(&mut self, id: WindowId) -> (&mut Win, bool) {
        match self.position(id) {
            Some(i) => (&mut self.wins[i], false),
            None => (self.push(id, Win::empty(id)), true),
        }
    }

    /// Adds window `id` (which must not be open).
    pub(crate) fn push(&mut self, id: WindowId, win: Win) -> &mut Win {
        debug_assert!(self.position(id).is_none(), "window {id:?} opened twice");
        // About a dozen windows per sensor: grow by two, not by doubling (at 100 000
        // sensors doubling to 16 costs ~80 MB).
        if self.wins.len() == self.wins.capacity() {
            self.ids.reserve_exact(2);
            self.wins.reserve_exact(2);
        }
        self.ids.push(id);
        self.wins.push(win);
        self.wins.last_mut().expect("just pushed")
    }

    /// Closes window `id`; whether it was open.
    pub(crate) fn remove(&mut self, id: WindowId) -> bool {
        match self.position(id) {
            Some(i) => {
                self.ids.swap_remove(i);
                self.wins.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// The open windows, in list order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (WindowId, &Win)> {
        self.ids.iter().copied().zip(&self.wins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::WindowKind;

    fn id(kind: WindowKind, minute: i64) -> WindowId {
        WindowId {
            kind,
            start: minute * 60_000,
        }
    }

    #[test]
    fn opens_finds_and_closes_windows_by_id() {
        let mut w = OpenWindows::default();
        let ids: Vec<WindowId> = (0..12)
            .map(|m| id(WindowKind::M1, m))
            .chain([id(WindowKind::M5, 0), id(WindowKind::H1, 0)])
            .collect();
        for (n, &i) in ids.iter().enumerate() {
            let (win, opened) = w.open(i);
            assert!(opened);
            win.emitted = n as i32;
            assert_eq!(w.len(), n + 1);
        }
        let (win, opened) = w.open(ids[3]);
        assert!(!opened, "an open window is not opened again");
        assert_eq!(win.emitted, 3);
        assert!(w.remove(ids[0]));
        assert!(!w.remove(ids[0]), "closed once");
        assert!(w.get_mut(ids[0]).is_none());
        // The survivors keep their own state after the swap.
        for (n, &i) in ids.iter().enumerate().skip(1) {
            assert_eq!(w.get_mut(i).map(|x| x.emitted), Some(n as i32));
        }
        let listed: Vec<(WindowId, i32)> = w.iter().map(|(i, x)| (i, x.emitted)).collect();
        assert_eq!(listed.len(), ids.len() - 1);
        assert!(listed.iter().all(|&(i, e)| ids[e as usize] == i));
        assert!(w.get_mut(id(WindowKind::M1, 1)).is_some());
        assert!(
            w.get_mut(id(WindowKind::M5, 1)).is_none(),
            "a start of another kind is another window"
        );
    }
}
