//! The `Send + Sync` waker of a task.
//!
//! It names its task by slab key and generation, never by pointer, so a
//! waker that outlives its task (or its loop) wakes nothing. A task that is
//! still in its first poll (inside [`Loop::spawn`](crate::Loop::spawn)) has
//! no slab entry yet: its waker's generation is 0, "provisional", and a wake
//! then carries the waker itself, which names the task once the spawn has
//! given it an entry (see [`Wake`]). A wake goes one of three ways:
//! - on the loop thread while the loop is lent (during a poll, or while the
//!   loop wakes a waker) it queues the poll as a microtask directly, in the
//!   position a JavaScript continuation would take;
//! - on the loop thread from a plain callback, which holds `&mut Loop` but
//!   lent nothing, it is parked in a thread-local list that the loop's drain
//!   turns into microtasks as soon as the queues run empty;
//! - on any other thread it goes through the loop's cross-thread queue and
//!   `mio::Waker`.

use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};
use std::thread::{self, ThreadId};

use crossbeam_channel::Sender;

use super::poll_woken;
use crate::current;
use crate::{AsyncSender, Loop};

thread_local! {
    /// Wakes made on this thread without a lent loop: (executor, wake).
    static PARKED: RefCell<Vec<(usize, Wake)>> = const { RefCell::new(Vec::new()) };
    static ANY_PARKED: Cell<bool> = const { Cell::new(false) };
}

/// A poll request that has yet to become a microtask (parked, or crossing
/// threads).
pub(crate) enum Wake {
    /// The task in slab entry `key` with generation `gen`.
    Task(u32, u32),
    /// The task of this waker, which had no slab entry yet when woken. By
    /// the time the request runs the spawn has given it one (or the task
    /// finished in its first poll); holding the `Arc` keeps the waker from
    /// being reused for another task meanwhile.
    Provisional(Arc<TaskWaker>),
}

impl Wake {
    /// Queues the poll this request asks for.
    pub(crate) fn queue(self, lp: &mut Loop) {
        match self {
            Wake::Task(key, gen) => lp.queue_poll_task(key, gen),
            Wake::Provisional(w) => lp.queue_microtask(move |lp| poll_woken(lp, w)),
        }
    }
}

/// Whether wakes are parked on this thread (cheap: checked by every drain).
#[inline]
pub(crate) fn any_parked() -> bool {
    ANY_PARKED.with(|c| c.get())
}

/// Queues the polls of `lp`'s parked wakes. Returns whether there were any.
pub(crate) fn unpark(lp: &mut Loop) -> bool {
    let Some(me) = lp.executor.remote_id() else {
        return false;
    };
    let mine = take_parked(me);
    let any = !mine.is_empty();
    for w in mine {
        w.queue(lp);
    }
    any
}

/// Removes and returns the wakes parked for executor `me` on this thread.
pub(crate) fn take_parked(me: usize) -> Vec<Wake> {
    PARKED
        .try_with(|p| {
            let mut p = p.borrow_mut();
            // In order; the list keeps its capacity (other loops' wakes are
            // rare: one loop per thread is the rule).
            let mut mine = Vec::with_capacity(p.len());
            let mut others = Vec::new();
            for (id, w) in p.drain(..) {
                if id == me {
                    mine.push(w);
                } else {
                    others.push((id, w));
                }
            }
            p.append(&mut others);
            ANY_PARKED.with(|c| c.set(!p.is_empty()));
            mine
        })
        .unwrap_or_default()
}

/// The cross-thread path into a loop's executor.
pub(crate) struct Remote {
    pub(crate) tx: Sender<Wake>,
    pub(crate) sender: AsyncSender,
    /// The thread the loop runs on (a `Loop` is `!Send`, so it never moves).
    pub(crate) loop_thread: ThreadId,
}

/// Generation 0 names no task: the waker's task is in its first poll and has
/// no slab entry (or finished in it and never got one).
pub(crate) const PROVISIONAL: u64 = 0;

pub(crate) struct TaskWaker {
    /// The task's slab key (low half) and generation (high half), or
    /// [`PROVISIONAL`]. Written only on the loop thread: by the spawn that
    /// gives the task its entry, and when a spare waker is readied.
    pub(crate) id: AtomicU64,
    /// A poll is queued (or the task is finished).
    pub(crate) notified: AtomicBool,
    /// The task is being polled (by `poll_task`; a first poll needs no
    /// flag, as nothing can name the task yet). Loop thread only.
    pub(crate) polling: AtomicBool,
    /// A poll was asked for while polling (by a drain nested in the poll):
    /// queued once the poll is over, or, for a first poll, once the spawn
    /// has given the task its entry. Loop thread only.
    pub(crate) repoll: AtomicBool,
    remote: Arc<Remote>,
}

impl TaskWaker {
    /// A waker for a task about to be polled for the first time.
    pub(crate) fn new(remote: Arc<Remote>) -> TaskWaker {
        TaskWaker {
            id: AtomicU64::new(PROVISIONAL),
            notified: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            repoll: AtomicBool::new(false),
            remote,
        }
    }

    /// Readies a finished task's waker for a new task's first poll: saves
    /// an allocation per spawn. The caller holds the only `Arc` (checked
    /// with [`TaskWaker::unshared`]), so no other thread reads these fields
    /// meanwhile; relaxed stores suffice.
    pub(crate) fn reset(&self) {
        self.id.store(PROVISIONAL, Ordering::Relaxed);
        self.notified.store(false, Ordering::Relaxed);
        self.polling.store(false, Ordering::Relaxed);
        self.repoll.store(false, Ordering::Relaxed);
    }

    /// [`TaskWaker::reset`] for a waker whose task finished in its first
    /// poll: `id` is still provisional and `polling` was never set, as a
    /// spare waker is readied with both.
    pub(crate) fn reset_after_first_poll(&self) {
        debug_assert_eq!(self.id.load(Ordering::Relaxed), PROVISIONAL);
        debug_assert!(!self.polling.load(Ordering::Relaxed));
        self.notified.store(false, Ordering::Relaxed);
        self.repoll.store(false, Ordering::Relaxed);
    }

    /// Whether `this` is the only handle (no clone of the waker survives):
    /// then it can be reused. Two plain loads instead of a compare-and-swap.
    pub(crate) fn unshared(this: &Arc<TaskWaker>) -> bool {
        // No weak references to a `TaskWaker` are ever made, so the strong
        // count alone decides. The fence pairs with the release decrement
        // of a clone dropped on another thread: its reads of `id` happen
        // before our reuse writes it.
        let alone = Arc::strong_count(this) == 1;
        if alone {
            std::sync::atomic::fence(Ordering::Acquire);
        }
        alone
    }

    /// The wake itself.
    #[inline]
    fn schedule(this: &Arc<TaskWaker>) {
        // Whoever sets the flag makes the request; everyone else stops here.
        if this.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        // Read after winning the flag. A provisional id makes the request
        // carry the waker; an id installed meanwhile is as good, as both
        // name the same task.
        let id = this.id.load(Ordering::Acquire);
        let (key, gen) = (id as u32, (id >> 32) as u32);
        if gen != 0 {
            let mine = |lp: &Loop| lp.executor.owns(&this.remote);
            // `polling` is read on the loop thread (the loan is there).
            let queue = |lp: &mut Loop| {
                lp.queue_wake(key, gen, this.polling.load(Ordering::Relaxed));
            };
            if !current::with_lent_if(mine, queue) {
                this.route(Wake::Task(key, gen));
            }
        } else {
            Self::schedule_provisional(this);
        }
    }

    /// `schedule` for a task in its first poll, out of line: the common
    /// wake (of a task with an entry) then saves no registers it does not
    /// use.
    #[inline(never)]
    fn schedule_provisional(this: &Arc<TaskWaker>) {
        let mine = |lp: &Loop| lp.executor.owns(&this.remote);
        if !current::with_lent_if(mine, |lp| {
            let w = this.clone();
            lp.queue_microtask(move |lp| poll_woken(lp, w));
        }) {
            this.route(Wake::Provisional(this.clone()));
        }
    }

    /// Parks or sends a request that could not be queued directly.
    #[inline(never)]
    fn route(&self, w: Wake) {
        if thread::current().id() == self.remote.loop_thread {
            let id = Arc::as_ptr(&self.remote) as usize;
            PARKED.with(|p| p.borrow_mut().push((id, w)));
            ANY_PARKED.with(|c| c.set(true));
        } else {
            // Fails only when the loop is gone: then there is nothing to run.
            if self.remote.tx.send(w).is_ok() {
                let _ = self.remote.sender.send();
            }
        }
    }
}

pub(crate) fn pack(key: u32, gen: u32) -> u64 {
    u64::from(key) | (u64::from(gen) << 32)
}

impl TaskWaker {
    /// A `Waker` for `this` that borrows the caller's strong count instead
    /// of owning one: the caller keeps `this` alive for as long as the
    /// `Waker` is used, and never drops it (it owns no count to give back).
    #[inline]
    pub(crate) fn lend(this: &Arc<TaskWaker>) -> ManuallyDrop<Waker> {
        let raw = RawWaker::new(Arc::as_ptr(this).cast(), &VTABLE);
        // SAFETY: `VTABLE` implements the `RawWaker` contract for a pointer
        // from `Arc::as_ptr` (see the functions); `TaskWaker` is `Send +
        // Sync`, as a `Waker` must be.
        ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
    }
}

// The `Waker` of a task: what `Waker::from(Arc<TaskWaker>)` would make, with
// the wake reached in one call (the standard one goes through a second,
// generic function that is not inlined into it).
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

/// Every `data` pointer below comes from `Arc::as_ptr` of a live
/// `Arc<TaskWaker>`, and owns one strong count (except the lent one, which
/// is never dropped or woken by value).
unsafe fn clone_raw(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds (or borrows) a live count.
    unsafe { Arc::increment_strong_count(data.cast::<TaskWaker>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake_raw(data: *const ()) {
    // SAFETY: the waker owns the count, given up here.
    let this = unsafe { Arc::from_raw(data.cast::<TaskWaker>()) };
    TaskWaker::schedule(&this);
}

unsafe fn wake_by_ref_raw(data: *const ()) {
    // SAFETY: borrowed: `ManuallyDrop` leaves the count with the waker.
    let this = ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<TaskWaker>()) });
    TaskWaker::schedule(&this);
}

unsafe fn drop_raw(data: *const ()) {
    // SAFETY: the waker owns the count, given up here.
    drop(unsafe { Arc::from_raw(data.cast::<TaskWaker>()) });
}

// A `Waker` made from raw parts is `Send + Sync` whatever it points to;
// this keeps that true of what it points to.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<TaskWaker>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waker_vtable_counts_clones_and_wakes_by_value() {
        let mut lp = Loop::new();
        let remote = super::super::remote_wakes(&mut lp);
        let me = Arc::as_ptr(&remote) as usize;
        let w = Arc::new(TaskWaker::new(remote));
        w.id.store(pack(3, 7), Ordering::Relaxed);
        let lent = TaskWaker::lend(&w);
        assert_eq!(Arc::strong_count(&w), 1, "lending takes no count");
        let a = (*lent).clone();
        let b = a.clone();
        assert!(a.will_wake(&lent));
        assert_eq!(Arc::strong_count(&w), 3);
        drop(b);
        assert_eq!(Arc::strong_count(&w), 2);
        // No loop is lent here: the wake is parked, and gives its count up.
        a.wake();
        assert_eq!(Arc::strong_count(&w), 1);
        lent.wake_by_ref(); // coalesced
        let parked = take_parked(me);
        assert!(matches!(parked[..], [Wake::Task(3, 7)]));
        assert_eq!(Arc::strong_count(&w), 1);
    }
}
