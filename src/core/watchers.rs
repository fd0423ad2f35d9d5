//! Idle, prepare and check handles, and their phases (libuv's
//! `loop-watcher.c`).
//!
//! The three kinds behave alike and differ only in when their phase runs:
//! idle and prepare before polling, check right after it. As in libuv, a
//! handle started later runs earlier within its phase, and a handle started
//! during its own phase waits for the next iteration. An active idle handle
//! also keeps the poll phase from blocking.

use crate::handle::{Handle, HandleError, HandleId, Kind};
use crate::Loop;

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    Idle = 0,
    Prepare = 1,
    Check = 2,
}

type WatcherCb = Box<dyn FnMut(&mut Loop)>;

pub(crate) struct WatcherData {
    phase: Phase,
    cb: Option<WatcherCb>,
    /// Changes on every start, so that a handle stopped and restarted
    /// during its phase is not run twice by that phase.
    start_seq: u64,
}

pub(crate) struct Watchers {
    /// Active handles per phase, in start order (run from the back).
    active: [Vec<HandleId>; 3],
    next_seq: u64,
    scratch: Vec<(HandleId, u64)>,
}

impl Watchers {
    pub(crate) fn new() -> Watchers {
        Watchers {
            active: [Vec::new(), Vec::new(), Vec::new()],
            next_seq: 0,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn idle_is_empty(&self) -> bool {
        self.active[Phase::Idle as usize].is_empty()
    }
}

fn data(lp: &mut Loop, id: HandleId) -> Option<&mut WatcherData> {
    match lp.handles.get_mut(id).map(|s| &mut s.kind) {
        Some(Kind::Watcher(w)) => Some(w),
        _ => None,
    }
}

impl Loop {
    fn watcher_new(&mut self, phase: Phase) -> HandleId {
        self.handles.insert(Kind::Watcher(WatcherData {
            phase,
            cb: None,
            start_seq: 0,
        }))
    }

    /// Starts a watcher; a no-op if it is already active (libuv keeps the
    /// old callback then, and so do we).
    fn watcher_start(&mut self, id: HandleId, cb: WatcherCb) -> Result<(), HandleError> {
        let slot = self.handles.usable(id)?;
        if slot.is_active() {
            return Ok(());
        }
        let seq = self.watchers.next_seq;
        self.watchers.next_seq += 1;
        let w = data(self, id).expect("watcher");
        w.cb = Some(cb);
        w.start_seq = seq;
        let phase = w.phase;
        self.watchers.active[phase as usize].push(id);
        self.handles.start(id);
        Ok(())
    }

    pub(crate) fn watcher_stop(&mut self, id: HandleId) {
        let Some(w) = data(self, id) else { return };
        let phase = w.phase as usize;
        if let Some(pos) = self.watchers.active[phase].iter().rposition(|&h| h == id) {
            self.watchers.active[phase].remove(pos);
        }
        self.handles.stop(id);
    }

    fn run_watchers(&mut self, phase: Phase) {
        if self.watchers.active[phase as usize].is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.watchers.scratch);
        batch.extend(
            self.watchers.active[phase as usize]
                .iter()
                .rev()
                .map(|&id| {
                    let seq = match self.handles.get(id).map(|s| &s.kind) {
                        Some(Kind::Watcher(w)) => w.start_seq,
                        _ => u64::MAX,
                    };
                    (id, seq)
                }),
        );
        for &(id, seq) in &batch {
            if self.unwinding() {
                break;
            }
            let active = self.handles.get(id).is_some_and(|s| s.is_active());
            let Some(w) = data(self, id) else { continue };
            if !active || w.start_seq != seq {
                continue;
            }
            let Some(mut cb) = w.cb.take() else { continue };
            self.callback(|lp| cb(lp));
            if let Some(w) = data(self, id) {
                if w.cb.is_none() {
                    w.cb = Some(cb);
                }
            }
        }
        batch.clear();
        self.watchers.scratch = batch;
    }

    /// The idle phase (`uv__run_idle`).
    pub(crate) fn run_idle(&mut self) {
        self.run_watchers(Phase::Idle);
    }

    /// The prepare phase (`uv__run_prepare`).
    pub(crate) fn run_prepare(&mut self) {
        self.run_watchers(Phase::Prepare);
    }

    /// The check phase (`uv__run_check`).
    pub(crate) fn run_check(&mut self) {
        self.run_watchers(Phase::Check);
    }
}

macro_rules! watcher_handle {
    ($(#[$doc:meta])* $name:ident, $phase:expr) => {
        $(#[$doc])*
        #[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
        pub struct $name(HandleId);

        impl $name {
            /// Creates a stopped handle.
            pub fn new(lp: &mut Loop) -> $name {
                $name(lp.watcher_new($phase))
            }

            /// Starts the handle: `cb` then runs once per loop iteration in
            /// this handle's phase until `stop`. A no-op if already active.
            pub fn start(
                &self,
                lp: &mut Loop,
                mut cb: impl FnMut(&mut Loop, $name) + 'static,
            ) -> Result<(), HandleError> {
                let me = *self;
                lp.watcher_start(self.0, Box::new(move |lp| cb(lp, me)))
            }

            /// Stops the handle. Harmless on a stopped or closed handle.
            pub fn stop(&self, lp: &mut Loop) {
                lp.watcher_stop(self.0)
            }
        }

        impl Handle for $name {
            fn id(&self) -> HandleId {
                self.0
            }
        }
    };
}

watcher_handle!(
    /// Runs a callback once per iteration before polling, and keeps the poll
    /// phase from blocking while active (`uv_idle_t`).
    ///
    /// ```
    /// use nodeloop::{Handle, Idle, Loop};
    /// use std::{cell::Cell, rc::Rc};
    /// let mut lp = Loop::new();
    /// let n = Rc::new(Cell::new(0));
    /// let c = n.clone();
    /// Idle::new(&mut lp).start(&mut lp, move |lp, h| {
    ///     c.set(c.get() + 1);
    ///     if c.get() == 3 { h.stop(lp); }
    /// }).unwrap();
    /// lp.run_default();
    /// assert_eq!(n.get(), 3);
    /// ```
    Idle,
    Phase::Idle
);

watcher_handle!(
    /// Runs a callback once per iteration right before polling (`uv_prepare_t`).
    ///
    /// ```
    /// use nodeloop::{Handle, Loop, Prepare};
    /// let mut lp = Loop::new();
    /// let p = Prepare::new(&mut lp);
    /// p.start(&mut lp, |lp, p| p.stop(lp)).unwrap();
    /// lp.run_default();
    /// assert!(!p.is_active(&lp));
    /// ```
    Prepare,
    Phase::Prepare
);

watcher_handle!(
    /// Runs a callback once per iteration right after polling (`uv_check_t`);
    /// Node runs `setImmediate` callbacks from one.
    ///
    /// ```
    /// use nodeloop::{Check, Handle, Idle, Loop};
    /// let mut lp = Loop::new();
    /// // As in libuv, a lone check handle does not stop the poll phase from
    /// // blocking; an active idle handle makes the poll a zero-timeout one.
    /// let idle = Idle::new(&mut lp);
    /// idle.start(&mut lp, |_, _| {}).unwrap();
    /// let c = Check::new(&mut lp);
    /// c.start(&mut lp, move |lp, c| {
    ///     c.stop(lp);
    ///     idle.stop(lp);
    /// })
    /// .unwrap();
    /// lp.run_default();
    /// assert!(!c.is_active(&lp));
    /// ```
    Check,
    Phase::Check
);
