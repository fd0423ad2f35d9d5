//! `setTimeout` and `setInterval` as Node 20 implements them in
//! `lib/internal/timers.js` on top of one libuv timer (`env.cc RunTimers`).
//!
//! Timers are grouped into one list per duration; a list is ordered by start
//! time, so only its head can be due next. The lists sit in a priority queue
//! by (expiry, list id), and the single loop timer is armed for the earliest
//! expiry. These mechanics, not a plain "due time" order, decide which of two
//! overdue timers runs first, so they are reproduced as they are:
//! - the libuv clock is refreshed whenever a timer is created (Node's
//!   `getLibuvNow`), and once at the start of each timers run;
//! - a run processes lists against the time read at its start, so a timer
//!   that falls due during the run waits for the next one;
//! - when a list's head is not due yet, the list's expiry is recomputed and
//!   it gets a fresh id, which moves it behind lists of equal expiry;
//! - ticks and microtasks drain between any two timer callbacks.

use std::collections::HashMap;

use slab::Slab;

use crate::core::timers::Timer;
use crate::handle::Handle;
use crate::task::Task;
use crate::Loop;

/// The largest delay Node accepts (2^31 - 1 ms); larger ones become 1 ms.
pub const TIMEOUT_MAX: u64 = 2_147_483_647;

const NONE: u32 = u32::MAX;

enum Callback {
    Once(Task),
    Repeat(Box<dyn FnMut(&mut Loop)>),
}

struct TimeoutSlot {
    gen: u32,
    cb: Option<Callback>,
    /// The delay (Node's `_idleTimeout`); `None` once unenrolled.
    idle_timeout: Option<u64>,
    repeat: Option<u64>,
    /// When the current wait started (`_idleStart`).
    idle_start: u64,
    list: u32,
    prev: u32,
    next: u32,
    refed: bool,
    destroyed: bool,
}

struct List {
    gen: u32,
    expiry: u64,
    id: u64,
    msecs: u64,
    head: u32,
    tail: u32,
    /// Index in the priority queue.
    pos: usize,
}

pub(crate) struct NodeTimers {
    /// The libuv timer all timeouts share (`env->timer_handle()`).
    handle: Option<Timer>,
    slots: Slab<TimeoutSlot>,
    lists: Slab<List>,
    next_gen: u32,
    by_msecs: HashMap<u64, u32>,
    /// Binary min-heap of list keys by (expiry, id).
    queue: Vec<u32>,
    /// Expiry the loop timer is armed for (`nextExpiry`), `u64::MAX` if none.
    next_expiry: u64,
    /// Referenced, live timeouts (`timeoutInfo[0]`).
    ref_count: usize,
    next_list_id: u64,
}

/// A timeout or interval created by [`Loop::set_timeout`] or
/// [`Loop::set_interval`]. Using it after it has fired (for a timeout) or
/// been cleared is a harmless no-op.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Timeout {
    key: u32,
    gen: u32,
}

/// Node's rule: a delay outside 1..=TIMEOUT_MAX becomes 1 ms.
fn normalize(ms: u64) -> u64 {
    if (1..=TIMEOUT_MAX).contains(&ms) {
        ms
    } else {
        if ms > TIMEOUT_MAX {
            log::warn!("TimeoutOverflowWarning: {ms} does not fit into a 32-bit signed integer; timeout duration was set to 1");
        }
        1
    }
}

impl NodeTimers {
    pub(crate) fn placeholder() -> NodeTimers {
        NodeTimers {
            handle: None,
            slots: Slab::new(),
            lists: Slab::new(),
            next_gen: 0,
            by_msecs: HashMap::new(),
            queue: Vec::new(),
            next_expiry: u64::MAX,
            ref_count: 0,
            next_list_id: 0,
        }
    }

    pub(crate) fn new(lp: &mut Loop) -> NodeTimers {
        let t = Timer::new(lp);
        // Node unrefs its timer handle until a referenced timeout exists.
        t.unref(lp);
        NodeTimers {
            handle: Some(t),
            ..NodeTimers::placeholder()
        }
    }

    fn slot(&self, t: Timeout) -> Option<&TimeoutSlot> {
        self.slots.get(t.key as usize).filter(|s| s.gen == t.gen)
    }

    fn slot_mut(&mut self, t: Timeout) -> Option<&mut TimeoutSlot> {
        self.slots
            .get_mut(t.key as usize)
            .filter(|s| s.gen == t.gen)
    }

    fn list_live(&self, key: u32, gen: u32) -> bool {
        self.lists.get(key as usize).is_some_and(|l| l.gen == gen)
    }

    // ---- the priority queue of lists (`timerListQueue`) ----

    fn less(&self, a: u32, b: u32) -> bool {
        let (a, b) = (&self.lists[a as usize], &self.lists[b as usize]);
        (a.expiry, a.id) < (b.expiry, b.id)
    }

    fn swap_q(&mut self, i: usize, j: usize) {
        self.queue.swap(i, j);
        let (a, b) = (self.queue[i], self.queue[j]);
        self.lists[a as usize].pos = i;
        self.lists[b as usize].pos = j;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if !self.less(self.queue[i], self.queue[p]) {
                break;
            }
            self.swap_q(i, p);
            i = p;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.queue.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && self.less(self.queue[l], self.queue[m]) {
                m = l;
            }
            if r < n && self.less(self.queue[r], self.queue[m]) {
                m = r;
            }
            if m == i {
                break;
            }
            self.swap_q(i, m);
            i = m;
        }
    }

    fn queue_insert(&mut self, key: u32) {
        self.queue.push(key);
        let i = self.queue.len() - 1;
        self.lists[key as usize].pos = i;
        self.sift_up(i);
    }

    fn queue_remove_at(&mut self, i: usize) {
        let last = self.queue.len() - 1;
        if i != last {
            self.swap_q(i, last);
        }
        self.queue.pop();
        if i < self.queue.len() {
            self.sift_down(i);
            self.sift_up(i);
        }
    }

    /// Drops an emptied list from the map and the queue, and frees it.
    fn delete_list(&mut self, key: u32) {
        let l = &self.lists[key as usize];
        let (msecs, pos) = (l.msecs, l.pos);
        if self.by_msecs.get(&msecs) == Some(&key) {
            self.by_msecs.remove(&msecs);
        }
        self.queue_remove_at(pos);
        self.lists.remove(key as usize);
    }

    // ---- the per-duration linked lists (`internal/linkedlist.js`) ----

    fn unlink(&mut self, key: u32) {
        let s = &self.slots[key as usize];
        let (list, prev, next) = (s.list, s.prev, s.next);
        if list == NONE {
            return;
        }
        if prev == NONE {
            self.lists[list as usize].head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NONE {
            self.lists[list as usize].tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        let s = &mut self.slots[key as usize];
        s.list = NONE;
        s.prev = NONE;
        s.next = NONE;
    }

    fn append(&mut self, list: u32, key: u32) {
        self.unlink(key);
        let tail = self.lists[list as usize].tail;
        {
            let s = &mut self.slots[key as usize];
            s.list = list;
            s.prev = tail;
            s.next = NONE;
        }
        if tail == NONE {
            self.lists[list as usize].head = key;
        } else {
            self.slots[tail as usize].next = key;
        }
        self.lists[list as usize].tail = key;
    }

    fn is_linked(&self, key: u32) -> bool {
        self.slots[key as usize].list != NONE
    }
}

impl Loop {
    /// Node's `getLibuvNow`: refreshes the loop's cached time and returns it.
    fn libuv_now(&mut self) -> u64 {
        self.update_time();
        self.time
    }

    fn timers_handle(&self) -> Timer {
        self.node.timers.handle.expect("node timers initialised")
    }

    /// `scheduleTimer`: arm the shared loop timer `ms` from now.
    fn schedule_timer(&mut self, ms: u64) {
        let h = self.timers_handle();
        let _ = h.start(self, ms, 0, |lp, _| lp.run_node_timers());
    }

    fn inc_ref_count(&mut self) {
        self.node.timers.ref_count += 1;
        if self.node.timers.ref_count == 1 {
            let h = self.timers_handle();
            h.ref_(self);
        }
    }

    fn dec_ref_count(&mut self) {
        self.node.timers.ref_count -= 1;
        if self.node.timers.ref_count == 0 {
            let h = self.timers_handle();
            h.unref(self);
        }
    }

    /// `insert(item, msecs, start)`.
    fn timer_insert(&mut self, key: u32, msecs: u64, start: u64) {
        self.node.timers.slots[key as usize].idle_start = start;
        let list = match self.node.timers.by_msecs.get(&msecs) {
            Some(&l) => l,
            None => {
                let expiry = start + msecs;
                let nt = &mut self.node.timers;
                nt.next_gen = nt.next_gen.wrapping_add(1);
                let id = nt.next_list_id;
                nt.next_list_id += 1;
                let l = nt.lists.insert(List {
                    gen: nt.next_gen,
                    expiry,
                    id,
                    msecs,
                    head: NONE,
                    tail: NONE,
                    pos: 0,
                }) as u32;
                nt.by_msecs.insert(msecs, l);
                nt.queue_insert(l);
                if nt.next_expiry > expiry {
                    self.schedule_timer(msecs);
                    self.node.timers.next_expiry = expiry;
                }
                l
            }
        };
        self.node.timers.append(list, key);
    }

    fn timer_create(&mut self, ms: u64, cb: Callback, repeat: bool) -> Timeout {
        let after = normalize(ms);
        let nt = &mut self.node.timers;
        nt.next_gen = nt.next_gen.wrapping_add(1);
        let gen = nt.next_gen;
        let key = nt.slots.insert(TimeoutSlot {
            gen,
            cb: Some(cb),
            idle_timeout: Some(after),
            repeat: repeat.then_some(after),
            idle_start: 0,
            list: NONE,
            prev: NONE,
            next: NONE,
            refed: true,
            destroyed: false,
        }) as u32;
        self.inc_ref_count();
        let start = self.libuv_now();
        self.timer_insert(key, after, start);
        Timeout { key, gen }
    }

    /// Calls `f` once after `ms` milliseconds (`setTimeout`). As in Node, a
    /// delay of 0 or above [`TIMEOUT_MAX`] means 1 ms, and timeouts with the
    /// same delay fire in the order they were created.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// use std::{cell::RefCell, rc::Rc};
    /// let out = Rc::new(RefCell::new(Vec::new()));
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// for (ms, name) in [(20, "b"), (10, "a"), (20, "c")] {
    ///     let o = out.clone();
    ///     lp.set_timeout(ms, move |_| o.borrow_mut().push(name));
    /// }
    /// lp.run_default();
    /// assert_eq!(*out.borrow(), ["a", "b", "c"]);
    /// ```
    pub fn set_timeout(&mut self, ms: u64, f: impl FnOnce(&mut Loop) + 'static) -> Timeout {
        self.timer_create(ms, Callback::Once(Task::new(f)), false)
    }

    /// Calls `f` every `ms` milliseconds until cleared (`setInterval`). The
    /// next run is scheduled from the time the callback started, so a slow
    /// callback does not push the schedule back by its own duration.
    ///
    /// ```
    /// use nodeloop::{Loop, Timeout};
    /// use std::{cell::Cell, rc::Rc};
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let n = Rc::new(Cell::new(0));
    /// let me: Rc<Cell<Option<Timeout>>> = Rc::default();
    /// let (c, m) = (n.clone(), me.clone());
    /// let t = lp.set_interval(10, move |lp| {
    ///     c.set(c.get() + 1);
    ///     if c.get() == 3 {
    ///         lp.clear_interval(m.get().unwrap());
    ///     }
    /// });
    /// me.set(Some(t));
    /// lp.run_default();
    /// assert_eq!((n.get(), lp.now()), (3, 30));
    /// ```
    pub fn set_interval(&mut self, ms: u64, f: impl FnMut(&mut Loop) + 'static) -> Timeout {
        self.timer_create(ms, Callback::Repeat(Box::new(f)), true)
    }

    /// Cancels a timeout or interval (`clearTimeout`). A no-op for one that
    /// has already fired or been cleared.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let t = lp.set_timeout(5, |_| panic!("cleared"));
    /// lp.clear_timeout(t);
    /// lp.clear_timeout(t); // harmless
    /// assert!(!lp.run_default());
    /// ```
    pub fn clear_timeout(&mut self, t: Timeout) {
        if self.node.timers.slot(t).is_none() {
            return;
        }
        self.timer_unenroll(t.key);
        self.node.timers.slots.remove(t.key as usize);
    }

    /// Cancels an interval (`clearInterval`); the same as [`Loop::clear_timeout`].
    pub fn clear_interval(&mut self, t: Timeout) {
        self.clear_timeout(t)
    }

    /// `unenroll`: take a timeout out of its list (and drop the list if that
    /// emptied it) and mark it destroyed.
    fn timer_unenroll(&mut self, key: u32) {
        let s = &self.node.timers.slots[key as usize];
        if s.destroyed {
            return;
        }
        let (refed, idle_timeout) = (s.refed, s.idle_timeout);
        self.node.timers.slots[key as usize].destroyed = true;
        if refed {
            self.dec_ref_count();
        }
        let nt = &mut self.node.timers;
        nt.unlink(key);
        if let Some(ms) = idle_timeout {
            if let Some(&l) = nt.by_msecs.get(&ms) {
                if nt.lists[l as usize].head == NONE {
                    nt.delete_list(l);
                }
            }
        }
        nt.slots[key as usize].idle_timeout = None;
    }

    /// `RunTimers` in Node's `env.cc`: the callback of the shared loop timer.
    fn run_node_timers(&mut self) {
        let now = self.libuv_now();
        let ret = self.process_timers(now);
        let h = self.timers_handle();
        if ret != 0 {
            let expiry = ret.unsigned_abs();
            let duration = expiry as i64 - self.time as i64;
            self.schedule_timer(if duration > 0 { duration as u64 } else { 1 });
            if ret > 0 {
                h.ref_(self);
            } else {
                h.unref(self);
            }
        } else {
            h.unref(self);
        }
    }

    /// `processTimers(now)`: run every due list; return the next expiry
    /// (negative if no referenced timeout remains), or 0 if none is left.
    fn process_timers(&mut self, now: u64) -> i64 {
        self.node.timers.next_expiry = u64::MAX;
        let mut ran_list = false;
        while let Some(&list) = self.node.timers.queue.first() {
            let expiry = self.node.timers.lists[list as usize].expiry;
            if expiry > now || self.unwinding() {
                self.node.timers.next_expiry = expiry;
                let e = expiry as i64;
                return if self.node.timers.ref_count > 0 {
                    e
                } else {
                    -e
                };
            }
            if ran_list {
                let gen = self.node.timers.lists[list as usize].gen;
                self.drain_task_queues();
                // A tick may have cleared the list's last timer, retiring it;
                // Node then walks the empty list, which does nothing.
                if !self.node.timers.list_live(list, gen) {
                    continue;
                }
            } else {
                ran_list = true;
            }
            self.list_on_timeout(list, now);
        }
        0
    }

    /// `listOnTimeout(list, now)`.
    fn list_on_timeout(&mut self, list: u32, now: u64) {
        let (msecs, list_gen) = {
            let l = &self.node.timers.lists[list as usize];
            (l.msecs, l.gen)
        };
        let mut ran = false;
        loop {
            let unwinding = self.unwinding();
            let nt = &mut self.node.timers;
            if !nt.list_live(list, list_gen) {
                return;
            }
            let key = nt.lists[list as usize].head;
            if key == NONE {
                break;
            }
            let idle_start = nt.slots[key as usize].idle_start;
            if (now as i64 - idle_start as i64) < msecs as i64 || unwinding {
                // Not due yet: the list waits for its head.
                let l = &mut nt.lists[list as usize];
                l.expiry = (idle_start + msecs).max(now + 1);
                l.id = nt.next_list_id;
                nt.next_list_id += 1;
                let pos = l.pos;
                nt.sift_down(pos);
                return;
            }
            let gen = nt.slots[key as usize].gen;
            if ran {
                self.drain_task_queues();
            } else {
                ran = true;
            }
            let t = Timeout { key, gen };
            // The drain may have cleared this timeout.
            if self.node.timers.slot(t).is_none() {
                continue;
            }
            self.node.timers.unlink(key);
            let s = &mut self.node.timers.slots[key as usize];
            let Some(cb) = s.cb.take() else {
                // Its callback was used up (a one-shot refreshed from inside
                // its own callback): nothing left to call.
                self.timer_destroy(t);
                continue;
            };
            let start = if s.repeat.is_some() {
                self.libuv_now()
            } else {
                0
            };
            let cb = match cb {
                Callback::Once(task) => {
                    self.invoke(|lp| task.run(lp));
                    None
                }
                Callback::Repeat(mut f) => {
                    self.invoke(|lp| f(lp));
                    Some(Callback::Repeat(f))
                }
            };
            let Some(s) = self.node.timers.slot_mut(t) else {
                continue; // cleared by its own callback
            };
            match (s.repeat, s.idle_timeout) {
                (Some(repeat), Some(_)) => {
                    s.idle_timeout = Some(repeat);
                    s.cb = cb;
                    self.timer_insert(key, repeat, start);
                }
                _ if !self.node.timers.is_linked(key) => self.timer_destroy(t),
                _ => {} // refreshed by its callback: stays armed
            }
        }
        // The list ran empty: retire it, unless it was already replaced.
        if self.node.timers.by_msecs.get(&msecs) == Some(&list) {
            self.node.timers.delete_list(list);
        }
    }

    /// A fired or callback-less timeout leaves: drop its reference and slot.
    fn timer_destroy(&mut self, t: Timeout) {
        let s = &mut self.node.timers.slots[t.key as usize];
        if !s.destroyed {
            s.destroyed = true;
            if s.refed {
                self.dec_ref_count();
            }
        }
        self.node.timers.slots.remove(t.key as usize);
    }
}

impl Timeout {
    /// Restarts the wait from now with the same delay, keeping the callback
    /// (`timeout.refresh()`). A no-op once a timeout has fired or was
    /// cleared: unlike Node, a fired one-shot callback has been consumed.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let t = lp.set_timeout(10, |lp| assert_eq!(lp.now(), 15));
    /// lp.set_timeout(5, move |lp| t.refresh(lp)); // restart the 10 ms from t = 5
    /// lp.run_default();
    /// ```
    pub fn refresh(&self, lp: &mut Loop) {
        let Some(s) = lp.node.timers.slot(*self) else {
            return;
        };
        let Some(ms) = s.idle_timeout else { return };
        let (refed, destroyed) = (s.refed, s.destroyed);
        let start = lp.libuv_now();
        lp.timer_insert(self.key, ms, start);
        if destroyed {
            lp.node.timers.slots[self.key as usize].destroyed = false;
            if refed {
                lp.inc_ref_count();
            }
        }
    }

    /// Lets the loop exit while this timeout is pending (`timeout.unref()`).
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let t = lp.set_interval(1000, |_| println!("heartbeat"));
    /// t.unref(&mut lp);
    /// assert!(!t.has_ref(&lp));
    /// assert!(!lp.run_default(), "an unref'd interval does not hold the loop");
    /// ```
    pub fn unref(&self, lp: &mut Loop) {
        let Some(s) = lp.node.timers.slot_mut(*self) else {
            return;
        };
        if s.refed {
            s.refed = false;
            if !s.destroyed {
                lp.dec_ref_count();
            }
        }
    }

    /// Keeps the loop alive while this timeout is pending (the default).
    pub fn ref_(&self, lp: &mut Loop) {
        let Some(s) = lp.node.timers.slot_mut(*self) else {
            return;
        };
        if !s.refed {
            s.refed = true;
            if !s.destroyed {
                lp.inc_ref_count();
            }
        }
    }

    /// Whether the timeout keeps the loop alive; `false` once it is gone.
    pub fn has_ref(&self, lp: &Loop) -> bool {
        lp.node.timers.slot(*self).is_some_and(|s| s.refed)
    }

    /// Whether the timeout is still pending (not fired, not cleared).
    pub fn is_pending(&self, lp: &Loop) -> bool {
        lp.node.timers.slot(*self).is_some()
    }
}
