//! Rust futures driven as microtasks on the loop thread.
//!
//! [`Loop::spawn`] starts a `!Send` future the way calling a JavaScript
//! `async` function starts it: it runs at once, up to its first pending
//! `await`. From then on, waking it queues one poll as a microtask:
//! - woken on the loop thread (by a promise settling, a timer, another
//!   task), the poll is queued right there, so it runs in the microtask
//!   order a JavaScript continuation would;
//! - woken from another thread, the wake travels through a channel and the
//!   loop's `mio::Waker` (an [`Async`] handle), and the poll is queued when
//!   the poll phase runs that handle's callback, then drained with it.
//!
//! Wakes are coalesced by one atomic flag per task, cleared just before each
//! poll: any number of wakes before a poll cause one poll; a wake during a
//! poll causes one more. A finished task's flag stays set, so waking it
//! costs one atomic swap and nothing else.
//!
//! The first poll happens before the task has a slab entry, which it gets
//! only if that poll returns `Pending`: a future that finishes at once (the
//! child in `spawn(child()).await`) never takes one. Its waker is
//! provisional until then; see `waker` for how a wake made meanwhile still
//! reaches it, in the same order.
//!
//! A pending task does not keep the loop alive (a pending JavaScript promise
//! does not either); [`JoinHandle::ref_`] makes it do so until it finishes,
//! which is what a task waiting for another thread needs.

mod join;
pub(crate) mod slot;
mod waker;

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use crossbeam_channel::{unbounded, Receiver};
use slab::Slab;

use crate::current;
use crate::fast_rc::{unsize_rc, FastRc};
use crate::handle::Handle;
use crate::promise::Rejection;
use crate::{Async, Loop};

pub use join::JoinHandle;
pub(crate) use waker::any_parked;
use waker::{pack, Remote, TaskWaker, Wake};

/// A spawned future in its result slot's allocation, type-erased.
trait Run {
    /// Polls the future; on completion keeps the output for `finish` and
    /// drops the future (still inside the poll's panic guard and loop loan).
    ///
    /// # Safety
    /// Not re-entrant: the caller polls one task at most once at a time.
    unsafe fn poll_run(&self, cx: &mut Context<'_>) -> Poll<()>;
    /// Delivers the output, or `failure` when the poll panicked. `me` is the
    /// handle this is called through (a `dyn` receiver cannot be a
    /// `FastRc`).
    fn finish(&self, me: &FastRc<dyn Run>, lp: &mut Loop, failure: Option<Rejection>);
    /// Drops the future in place (it is pinned there).
    ///
    /// # Safety
    /// Not while the future is being polled.
    unsafe fn drop_future(&self);
}

struct TaskSlot {
    gen: u32,
    run: FastRc<dyn Run>,
    waker: Arc<TaskWaker>,
    refd: bool,
}

pub(crate) struct RemoteWakes {
    remote: Arc<Remote>,
    rx: Receiver<Wake>,
    handle: Async,
}

/// The loop's tasks.
#[derive(Default)]
pub(crate) struct Executor {
    tasks: Slab<TaskSlot>,
    next_gen: u32,
    /// Created with the first task.
    remote: Option<RemoteWakes>,
    /// Referenced, unfinished tasks: while non-zero the async handle is ref'd.
    refd: usize,
    /// Wakers of finished tasks that no one else holds, for reuse, reset
    /// for a first poll.
    spare_wakers: Vec<Arc<TaskWaker>>,
    /// Tasks in their first poll (inside `Loop::spawn`): not in `tasks`
    /// yet, but unfinished.
    first_polls: usize,
    /// The task being polled by `poll_task` woke itself while the
    /// microtask queue was empty: its poll request belongs at the head of
    /// the queue, and `poll_task` either runs it at once or puts it there
    /// (see `Loop::queue_wake`).
    pub(crate) head_repoll: bool,
}

/// How many spare wakers to keep.
const SPARE_WAKERS: usize = 256;

impl Executor {
    /// This executor's identity for parked wakes.
    pub(crate) fn remote_id(&self) -> Option<usize> {
        self.remote
            .as_ref()
            .map(|r| Arc::as_ptr(&r.remote) as usize)
    }

    /// Whether `remote` is this executor's cross-thread queue.
    pub(crate) fn owns(&self, remote: &Arc<Remote>) -> bool {
        self.remote
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(&r.remote, remote))
    }

    /// A waker for a task's first poll: a spare one, or a new one.
    #[inline]
    fn take_waker(&mut self) -> Arc<TaskWaker> {
        match self.spare_wakers.pop() {
            Some(w) => w,
            None => {
                let remote = self
                    .remote
                    .as_ref()
                    .expect("created by spawn")
                    .remote
                    .clone();
                Arc::new(TaskWaker::new(remote))
            }
        }
    }

    /// Takes back the waker of a finished task: kept for reuse if no clone
    /// of it survives, else left notified for good, so that late wakes stop
    /// at its flag. `first_poll`: the task finished in its first poll, so
    /// its waker never got an id and was never marked polling, and only the
    /// wake flags need resetting.
    #[inline]
    fn retire_waker(&mut self, waker: Arc<TaskWaker>, first_poll: bool) {
        if !TaskWaker::unshared(&waker) {
            waker.notified.store(true, Ordering::Release);
            return;
        }
        if first_poll {
            waker.reset_after_first_poll();
        } else {
            waker.reset();
        }
        if self.spare_wakers.len() < SPARE_WAKERS {
            self.spare_wakers.push(waker);
        }
    }

    /// The generation of a new slab entry; never 0, which a waker uses for
    /// "no entry" (see `waker::PROVISIONAL`).
    fn next_gen(&mut self) -> u32 {
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        self.next_gen
    }
}

fn remote_wakes(lp: &mut Loop) -> Arc<Remote> {
    if let Some(r) = &lp.executor.remote {
        return r.remote.clone();
    }
    let (tx, rx) = unbounded();
    let handle = Async::new(lp, |lp, _| {
        let Some(rx) = lp.executor.remote.as_ref().map(|r| r.rx.clone()) else {
            return;
        };
        while let Ok(w) = rx.try_recv() {
            w.queue(lp);
        }
    });
    handle.unref(lp);
    let sender = handle
        .sender(lp)
        .expect("a freshly created async handle is open");
    let remote = Arc::new(Remote {
        tx,
        sender,
        loop_thread: std::thread::current().id(),
    });
    lp.executor.remote = Some(RemoteWakes {
        remote: remote.clone(),
        rx,
        handle,
    });
    remote
}

/// A task's future and, once it is done, its output until delivered.
struct Body<F: Future> {
    /// `None` once dropped. Pinned: never moved out of the allocation.
    fut: UnsafeCell<Option<F>>,
    out: Cell<Option<F::Output>>,
}

type TaskCell<F> = slot::Slot<Result<<F as Future>::Output, Rejection>, Body<F>>;

impl<F: Future + 'static> Run for TaskCell<F>
where
    F::Output: 'static,
{
    unsafe fn poll_run(&self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the caller's promise, passed on.
        match unsafe { self.poll_in_place(cx) } {
            Poll::Ready(Some(v)) => {
                self.tail.out.set(Some(v));
                Poll::Ready(())
            }
            Poll::Ready(None) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    fn finish(&self, me: &FastRc<dyn Run>, lp: &mut Loop, failure: Option<Rejection>) {
        let out = match failure {
            Some(e) => Err(e),
            None => Ok(self.tail.out.take().expect("output of a finished task")),
        };
        let failed = out.is_err();
        // SAFETY: `me` is a handle to this very task, whose type is `Self`;
        // the clone is given up here and taken back once.
        let this: FastRc<Self> = unsafe { FastRc::from_raw(FastRc::into_raw(me.clone()).cast()) };
        let this = unsize_rc!(this => slot::Slot<Result<F::Output, Rejection>>);
        let unconsumed = slot::Slot::complete(&this, lp, out);
        if failed && unconsumed {
            lp.rejections.track(Box::new(this));
        }
    }

    unsafe fn drop_future(&self) {
        // SAFETY: no poll is running (the caller's promise); dropping in
        // place keeps the pinning guarantee.
        unsafe { *self.tail.fut.get() = None };
    }
}

impl<F: Future> TaskCell<F> {
    /// Polls the future where it lies; on completion drops it there and
    /// returns its output (`None`: it was gone already).
    ///
    /// # Safety
    /// Not re-entrant, and not while `drop_future` runs.
    #[inline]
    unsafe fn poll_in_place(&self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        // SAFETY: the caller excludes a concurrent poll or drop, so this is
        // the only reference into `fut`; the future is never moved (the
        // allocation outlives it and it is dropped in place).
        let Some(fut) = (unsafe { &mut *self.tail.fut.get() }) else {
            return Poll::Ready(None);
        };
        match unsafe { Pin::new_unchecked(fut) }.poll(cx) {
            Poll::Ready(v) => {
                // SAFETY: the poll is over (the reference above is dead);
                // dropped in place, never moved.
                unsafe { *self.tail.fut.get() = None };
                Poll::Ready(Some(v))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // A `JoinHandle` shares the future's allocation; the future itself
        // goes with the loop, as a boxed one would.
        for (_, t) in self.tasks.iter() {
            // SAFETY: nothing is polled while the loop is dropped.
            unsafe { t.run.drop_future() };
        }
        // Parked wakes for this loop would never be taken now.
        if let Some(me) = self.remote_id() {
            drop(waker::take_parked(me));
        }
    }
}

impl Loop {
    /// Spawns a future on the loop thread and runs it at once until it first
    /// waits, like calling a JavaScript `async` function. The handle can be
    /// awaited or turned into a [`Promise`](crate::Promise); a panic in the
    /// future fails the task with a [`Rejection`] (reported as unhandled if
    /// nothing awaits it).
    ///
    /// Inside the future, [`with_loop`](crate::with_loop) reaches the loop.
    ///
    /// ```
    /// use nodeloop::{sleep, Loop};
    /// use std::{cell::RefCell, rc::Rc};
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let l = log.clone();
    /// let task = lp.spawn(async move {
    ///     l.borrow_mut().push("start");
    ///     sleep(10).await;
    ///     l.borrow_mut().push("after sleep");
    ///     42
    /// });
    /// log.borrow_mut().push("main");
    /// let l = log.clone();
    /// lp.spawn(async move {
    ///     let v = task.await.unwrap();
    ///     l.borrow_mut().push(if v == 42 { "joined" } else { "wrong" });
    /// });
    /// lp.run_default();
    /// assert_eq!(*log.borrow(), ["start", "main", "after sleep", "joined"]);
    /// ```
    pub fn spawn<F>(&mut self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if self.executor.remote.is_none() {
            remote_wakes(self);
        }
        // The first poll happens before the task has a slab entry: most
        // spawned futures finish in it (an `async fn` that does not wait)
        // and never need one. Its waker is provisional meanwhile (see
        // `waker`); a task that stays pending gets its entry afterwards.
        let waker = self.executor.take_waker();
        let cell: FastRc<TaskCell<F>> = slot::Slot::with_tail(Body {
            fut: UnsafeCell::new(Some(fut)),
            out: Cell::new(None),
        });
        // Lent as in `poll_task`: `waker` outlives the poll, on this frame.
        let lent = TaskWaker::lend(&waker);
        let mut cx = Context::from_waker(&lent);
        self.executor.first_polls += 1;
        let r = current::enter(self, || {
            // SAFETY: nothing else can reach the fresh future to poll or
            // drop it.
            panic::catch_unwind(AssertUnwindSafe(|| unsafe { cell.poll_in_place(&mut cx) }))
        });
        self.executor.first_polls -= 1;
        let out = match r {
            Ok(Poll::Pending) => return self.install(cell, waker),
            Ok(Poll::Ready(v)) => Ok(v.expect("a fresh future is there")),
            Err(payload) => Err(Rejection::from_panic(payload)),
        };
        self.executor.retire_waker(waker, true);
        let failed = out.is_err();
        // No handle exists yet, so nothing waits for the result.
        cell.set_unwatched(out);
        let slot = unsize_rc!(cell.clone() => slot::Slot<Result<F::Output, Rejection>>);
        if failed {
            // Nothing can handle it yet: tracked, as an unawaited task's.
            self.rejections.track(Box::new(slot.clone()));
            // As in `poll_task`: a panicked future is dropped after its
            // failure is delivered.
            // SAFETY: the poll is over, and the task is in no slab entry.
            self.invoke(|lp| current::enter(lp, || unsafe { cell.drop_future() }));
        }
        // Generation 0 matches no slab entry: `ref_` on it does nothing, as
        // on any finished task.
        JoinHandle::new(slot, 0, 0)
    }

    /// Gives a task that stayed pending in its first poll its slab entry
    /// and its waker the id naming it.
    fn install<F>(
        &mut self,
        cell: FastRc<TaskCell<F>>,
        waker: Arc<TaskWaker>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let ex = &mut self.executor;
        let gen = ex.next_gen();
        let entry = ex.tasks.vacant_entry();
        let key = u32::try_from(entry.key()).expect("more than 2^32 live tasks");
        // From here a wake names the entry, which exists before any code
        // that could act on that name (a queued or sent poll) runs.
        waker.id.store(pack(key, gen), Ordering::Release);
        let deferred = waker.repoll.load(Ordering::Relaxed);
        if deferred {
            // Consumed here, not by the task's next `poll_task`.
            waker.repoll.store(false, Ordering::Relaxed);
        }
        entry.insert(TaskSlot {
            gen,
            run: unsize_rc!(cell.clone() => dyn Run),
            waker,
            refd: false,
        });
        if deferred {
            // A nested drain ran the poll a wake asked for while the task
            // was still in its first poll: `poll_task`'s `repoll`, in effect.
            self.queue_poll_task(key, gen);
        }
        let slot = unsize_rc!(cell => slot::Slot<Result<F::Output, Rejection>>);
        JoinHandle::new(slot, key, gen)
    }

    /// Number of spawned tasks that have not finished.
    pub fn task_count(&self) -> usize {
        self.executor.tasks.len() + self.executor.first_polls
    }

    pub(crate) fn task_set_ref(&mut self, key: u32, gen: u32, on: bool) {
        let ex = &mut self.executor;
        let Some(t) = ex.tasks.get_mut(key as usize).filter(|t| t.gen == gen) else {
            return;
        };
        if t.refd == on {
            return;
        }
        t.refd = on;
        let before = ex.refd;
        if on {
            ex.refd += 1;
        } else {
            ex.refd -= 1;
        }
        self.update_task_ref(before);
    }

    pub(crate) fn task_has_ref(&self, key: u32, gen: u32) -> bool {
        self.executor
            .tasks
            .get(key as usize)
            .is_some_and(|t| t.gen == gen && t.refd)
    }

    fn update_task_ref(&mut self, before: usize) {
        let now = self.executor.refd;
        let Some(h) = self.executor.remote.as_ref().map(|r| r.handle) else {
            return;
        };
        if before == 0 && now > 0 {
            h.ref_(self);
        } else if before > 0 && now == 0 {
            h.unref(self);
        }
    }
}

/// Spawns `fut` on the loop polling the current task (see [`Loop::spawn`]).
/// Panics outside a task.
///
/// ```
/// use nodeloop::{spawn, Loop};
/// let mut lp = Loop::new();
/// let outer = lp.spawn(async { spawn(async { 6 * 7 }).await.unwrap() });
/// let p = outer.into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), 42);
/// ```
#[track_caller]
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    current::with_loop(|lp| lp.spawn(fut))
}

impl Loop {
    /// Queues the poll that a wake of task `key` of generation `gen` asks
    /// for, made on the loop thread while the loop is lent. `polling`: the
    /// task is the one `poll_task` is polling now.
    ///
    /// A task that wakes itself onto an empty microtask queue (an `await`
    /// of a finished handle) does not queue the request: as nothing pops
    /// the queue during a poll, the request would be at its head when the
    /// poll ends, whatever is queued after it, so `poll_task` runs it next
    /// itself, or puts it at the head (`head_repoll`).
    #[inline]
    pub(crate) fn queue_wake(&mut self, key: u32, gen: u32, polling: bool) {
        if polling && self.node.microtasks.is_empty() {
            self.executor.head_repoll = true;
        } else {
            self.queue_poll_task(key, gen);
        }
    }

    /// The drain's hook for the executor: queues the polls of wakes made
    /// from plain callbacks on this thread. Returns whether it queued any.
    pub(crate) fn unpark_wakes(&mut self) -> bool {
        any_parked() && waker::unpark(self)
    }
}

/// Polls task `key` if it still exists: the microtask a wake queues.
///
/// Must be the last thing its microtask does: a task that wakes itself
/// (an `await` of a finished handle) onto an empty microtask queue is
/// polled again here, as the drain would do next.
pub(crate) fn poll_task(lp: &mut Loop, key: u32, gen: u32) {
    // Only the drain runs this (a wake's microtask), and drains do not
    // nest: nothing pops the microtask queue while the task is polled,
    // which `queue_wake` relies on.
    debug_assert!(lp.node.draining);
    let Some(t) = lp
        .executor
        .tasks
        .get_mut(key as usize)
        .filter(|t| t.gen == gen)
    else {
        return; // finished: a late wake
    };
    // The flags live in the waker, which (unlike the slot) does not move
    // while the task is polled, so they are reached without a second
    // lookup afterwards.
    let w: *const TaskWaker = Arc::as_ptr(&t.waker);
    if t.waker.polling.load(Ordering::Relaxed) {
        t.waker.repoll.store(true, Ordering::Relaxed);
        return;
    }
    // The slot's handle and waker are borrowed, not cloned, for the poll:
    // the slot stays in the slab until the poll is over (only this function
    // removes a slot, and a nested call for the same task only marks it).
    // A nested spawn may grow the slab and move the slot, but not the
    // allocations its handle and waker point to.
    let run: *const dyn Run = &*t.run;
    // The slot's count, lent (the slot outlives the polls, see below).
    let waker = TaskWaker::lend(&t.waker);
    // SAFETY: the slot, which holds the waker, stays in the slab until
    // the task finishes (only this call removes it, below the loop).
    let w = unsafe { &*w };
    let failure = loop {
        w.polling.store(true, Ordering::Relaxed);
        w.notified.store(false, Ordering::Release);
        let mut cx = Context::from_waker(&waker);
        let r = current::enter(lp, || {
            // SAFETY: `run` points into an allocation the slot keeps alive
            // for the whole poll (above); `polling` excludes a nested poll
            // of this task.
            panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*run).poll_run(&mut cx) }))
        });
        // The task woke itself onto an empty queue: its request is the
        // head of the queue now (nothing pops it during a poll).
        let at_head = std::mem::take(&mut lp.executor.head_repoll);
        match r {
            Ok(Poll::Pending) => {
                w.polling.store(false, Ordering::Relaxed);
                if w.repoll.load(Ordering::Relaxed) {
                    w.repoll.store(false, Ordering::Relaxed);
                    lp.queue_poll_task(key, gen);
                }
                // What the drain would do next: stop if a panic waits to
                // propagate, else run the head of the queue, which is this
                // very poll: run here, without the trip through the queue
                // and the slab. Ticks queued meanwhile wait for the
                // microtask queue to empty either way.
                if !at_head {
                    return;
                }
                if lp.unwinding() {
                    lp.queue_poll_task_first(key, gen);
                    return;
                }
            }
            r => {
                if at_head {
                    // A late wake now, but queued all the same, as it was
                    // made.
                    lp.queue_poll_task_first(key, gen);
                }
                break r.err().map(Rejection::from_panic);
            }
        }
    };
    let TaskSlot {
        run, waker, refd, ..
    } = lp.executor.tasks.remove(key as usize);
    lp.executor.retire_waker(waker, false);
    if refd {
        let before = lp.executor.refd;
        lp.executor.refd -= 1;
        lp.update_task_ref(before);
    }
    let panicked = failure.is_some();
    run.finish(&run, lp, failure);
    if panicked {
        // A future that finished was dropped by its last poll; one that
        // panicked is dropped now. Its destructor may use the loop (cancel
        // a timer); a panic in it has nowhere better to go than the loop's
        // panic policy.
        // SAFETY: the task is out of the slab, so nothing polls it any more.
        lp.invoke(|lp| current::enter(lp, || unsafe { run.drop_future() }));
    }
}

/// The microtask of a wake made while its task had no slab entry (its
/// waker names it now, unless the task finished in its first poll).
pub(crate) fn poll_woken(lp: &mut Loop, w: Arc<TaskWaker>) {
    let id = w.id.load(Ordering::Relaxed);
    let (key, gen) = (id as u32, (id >> 32) as u32);
    if gen != 0 {
        // The request's hold on the waker ends here (its id is read): were
        // it held through the poll, a task finishing in it would find its
        // waker shared and could not spare it.
        drop(w);
        poll_task(lp, key, gen);
    } else {
        // Still in its first poll, below us on this thread's stack (a
        // drain nested in that poll): the spawn queues the poll once the
        // task has an entry. If it finished there instead, the flag is
        // never read.
        w.repoll.store(true, Ordering::Relaxed);
    }
}
