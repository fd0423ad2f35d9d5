//! libuv's timers (`uv_timer_t`) and the timers phase.
//!
//! Timers sit in a min-heap ordered by (due time, start order), so timers due
//! at the same millisecond fire in the order they were started, as in libuv.
//! A stopped timer leaves a stale entry behind; the heap is compacted once
//! stale entries outnumber live ones, so cancelled timers cannot pile up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::handle::{Handle, HandleError, HandleId, Kind};
use crate::Loop;

type TimerCb = Box<dyn FnMut(&mut Loop, Timer)>;

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum State {
    Stopped,
    InHeap,
    /// Due in the current timers phase, waiting for its turn.
    Ready,
}

pub(crate) struct TimerData {
    cb: Option<TimerCb>,
    /// Whether a callback was ever set (`uv_timer_again` needs one).
    has_cb: bool,
    timeout: u64,
    repeat: u64,
    start_id: u64,
    state: State,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    timeout: u64,
    start_id: u64,
    key: u32,
    gen: u32,
}

pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<Entry>>,
    next_start_id: u64,
    stale: usize,
    ready: Vec<(HandleId, u64)>,
}

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap {
            heap: BinaryHeap::new(),
            next_start_id: 0,
            stale: 0,
            ready: Vec::new(),
        }
    }
}

/// A libuv-style timer handle: fires once after `timeout` ms, then every
/// `repeat` ms if `repeat` is non-zero.
///
/// ```
/// use nodeloop::{Handle, Loop, Timer};
/// use std::{cell::Cell, rc::Rc};
/// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
/// let ticks = Rc::new(Cell::new(0));
/// let t = Timer::new(&mut lp);
/// let n = ticks.clone();
/// t.start(&mut lp, 10, 5, move |lp, t| {
///     n.set(n.get() + 1);
///     if n.get() == 3 { t.close(lp, |_| {}).unwrap(); }
/// }).unwrap();
/// lp.run_default();
/// assert_eq!((ticks.get(), lp.now()), (3, 20));
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Timer(HandleId);

impl Handle for Timer {
    fn id(&self) -> HandleId {
        self.0
    }
}

impl Timer {
    /// Creates a stopped timer (`uv_timer_init`).
    pub fn new(lp: &mut Loop) -> Timer {
        Timer(lp.handles.insert(Kind::Timer(TimerData {
            cb: None,
            has_cb: false,
            timeout: 0,
            repeat: 0,
            start_id: 0,
            state: State::Stopped,
        })))
    }

    pub(crate) fn from_id(id: HandleId) -> Timer {
        Timer(id)
    }

    fn data(lp: &mut Loop, id: HandleId) -> Option<&mut TimerData> {
        match lp.handles.get_mut(id) {
            Some(slot) => match &mut slot.kind {
                Kind::Timer(d) => Some(d),
                _ => None,
            },
            None => None,
        }
    }

    /// Starts (or restarts) the timer: due `timeout` ms after the cached loop
    /// time, then every `repeat` ms (0 = once).
    pub fn start(
        &self,
        lp: &mut Loop,
        timeout: u64,
        repeat: u64,
        cb: impl FnMut(&mut Loop, Timer) + 'static,
    ) -> Result<(), HandleError> {
        lp.handles.usable(self.0)?;
        self.arm(lp, timeout, repeat, Some(Box::new(cb)));
        Ok(())
    }

    /// (Re)arms with an optional new callback; the handle must be usable.
    fn arm(&self, lp: &mut Loop, timeout: u64, repeat: u64, cb: Option<TimerCb>) {
        self.stop(lp);
        let due = lp.time.saturating_add(timeout);
        let start_id = lp.timers.next_start_id;
        lp.timers.next_start_id += 1;
        let id = self.0;
        let d = Timer::data(lp, id).expect("usable timer");
        if let Some(cb) = cb {
            d.cb = Some(cb);
            d.has_cb = true;
        }
        d.timeout = due;
        d.repeat = repeat;
        d.start_id = start_id;
        d.state = State::InHeap;
        lp.timers.heap.push(Reverse(Entry {
            timeout: due,
            start_id,
            key: id.key,
            gen: id.gen,
        }));
        lp.handles.start(id);
    }

    /// Stops the timer; its callback will not be called. Harmless on a
    /// stopped or closed timer.
    pub fn stop(&self, lp: &mut Loop) {
        let id = self.0;
        let Some(d) = Timer::data(lp, id) else {
            return;
        };
        let was = d.state;
        d.state = State::Stopped;
        if was == State::InHeap {
            lp.timers.stale += 1;
            lp.timers.compact_if_needed(&lp.handles);
        }
        lp.handles.stop(id);
    }

    /// Restarts a repeating timer with its repeat interval as the timeout
    /// (`uv_timer_again`); does nothing if `repeat` is 0. Fails if the timer
    /// was never started.
    pub fn again(&self, lp: &mut Loop) -> Result<(), HandleError> {
        lp.handles.usable(self.0)?;
        let d = Timer::data(lp, self.0).expect("usable timer");
        if !d.has_cb {
            return Err(HandleError::NeverStarted);
        }
        let repeat = d.repeat;
        if repeat != 0 {
            self.arm(lp, repeat, repeat, None);
        }
        Ok(())
    }

    /// Sets the repeat interval used from the next time the timer fires.
    pub fn set_repeat(&self, lp: &mut Loop, repeat: u64) {
        if let Some(d) = Timer::data(lp, self.0) {
            d.repeat = repeat;
        }
    }

    /// The repeat interval (0 for a one-shot timer or a closed handle).
    pub fn repeat(&self, lp: &mut Loop) -> u64 {
        Timer::data(lp, self.0).map_or(0, |d| d.repeat)
    }

    /// Milliseconds until the timer is due from the cached loop time; 0 if
    /// it is not active or already due (`uv_timer_get_due_in`).
    pub fn due_in(&self, lp: &mut Loop) -> u64 {
        let now = lp.time;
        match Timer::data(lp, self.0) {
            Some(d) if d.state == State::InHeap => d.timeout.saturating_sub(now),
            _ => 0,
        }
    }
}

impl TimerHeap {
    fn is_live(handles: &crate::handle::Handles, e: &Entry) -> bool {
        let id = HandleId {
            key: e.key,
            gen: e.gen,
        };
        matches!(handles.get(id).map(|s| &s.kind),
            Some(Kind::Timer(d)) if d.state == State::InHeap && d.start_id == e.start_id)
    }

    fn compact_if_needed(&mut self, handles: &crate::handle::Handles) {
        if self.stale > 64 && self.stale * 2 > self.heap.len() {
            self.heap
                .retain(|Reverse(e)| TimerHeap::is_live(handles, e));
            self.stale = 0;
        }
    }

    /// The earliest live entry, dropping stale ones found on top.
    fn peek_live(&mut self, handles: &crate::handle::Handles) -> Option<&Entry> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if TimerHeap::is_live(handles, top) {
                break;
            }
            self.heap.pop();
            self.stale = self.stale.saturating_sub(1);
        }
        self.heap.peek().map(|Reverse(e)| e)
    }
}

impl Loop {
    /// Entries in the loop's timer heap, counting stopped timers not swept
    /// yet. Stopping a timer leaves its entry behind (a lazy delete), and the
    /// heap is swept once those outnumber the live ones, so this stays below
    /// twice the number of running timers plus a small constant however many
    /// timers are started and cancelled.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// for _ in 0..10_000 {
    ///     let t = lp.set_timeout(10_000, |_| {});
    ///     lp.clear_timeout(t);
    /// }
    /// assert!(lp.timer_heap_len() <= 65);
    /// ```
    pub fn timer_heap_len(&self) -> usize {
        self.timers.heap.len()
    }

    /// Milliseconds until the next timer is due from the cached time
    /// (`uv__next_timeout`), `None` if there is no timer.
    pub(crate) fn next_timer_timeout(&mut self) -> Option<u64> {
        let now = self.time;
        self.timers
            .peek_live(&self.handles)
            .map(|e| e.timeout.saturating_sub(now))
    }

    /// The timers phase (`uv__run_timers`, libuv 1.46): collect every timer
    /// due at the cached time, then run them in order. A timer started by
    /// one of these callbacks waits for the next phase even if already due.
    pub(crate) fn run_timers(&mut self) {
        let mut ready = std::mem::take(&mut self.timers.ready);
        loop {
            let now = self.time;
            let Some(top) = self.timers.peek_live(&self.handles) else {
                break;
            };
            if top.timeout > now {
                break;
            }
            let id = HandleId {
                key: top.key,
                gen: top.gen,
            };
            let start_id = top.start_id;
            self.timers.heap.pop();
            if let Some(d) = Timer::data(self, id) {
                d.state = State::Ready;
            }
            self.handles.stop(id);
            ready.push((id, start_id));
        }
        for (i, &(id, start_id)) in ready.iter().enumerate() {
            if self.unwinding() {
                // A panic is on its way out of `run`: the timers not reached
                // yet go back into the heap, still due, for a later `run`.
                self.requeue_ready(&ready[i..]);
                break;
            }
            let timer = Timer(id);
            let Some(d) = Timer::data(self, id) else {
                continue;
            };
            // Stopped or restarted by an earlier callback of this phase.
            if d.state != State::Ready || d.start_id != start_id {
                continue;
            }
            d.state = State::Stopped;
            let repeat = d.repeat;
            let Some(mut cb) = d.cb.take() else {
                continue;
            };
            if repeat != 0 {
                timer.arm(self, repeat, repeat, None);
            }
            self.callback(|lp| cb(lp, timer));
            // Put the callback back unless the timer was closed or given a
            // new callback meanwhile.
            if let Some(d) = Timer::data(self, id) {
                if d.cb.is_none() {
                    d.cb = Some(cb);
                }
            }
        }
        ready.clear();
        self.timers.ready = ready;
    }

    fn requeue_ready(&mut self, rest: &[(HandleId, u64)]) {
        for &(id, start_id) in rest {
            let Some(d) = Timer::data(self, id) else {
                continue;
            };
            if d.state != State::Ready || d.start_id != start_id {
                continue;
            }
            d.state = State::InHeap;
            let timeout = d.timeout;
            self.timers.heap.push(Reverse(Entry {
                timeout,
                start_id,
                key: id.key,
                gen: id.gen,
            }));
            self.handles.start(id);
        }
    }
}
