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
//! A pending task does not keep the loop alive (a pending JavaScript promise
//! does not either); [`JoinHandle::ref_`] makes it do so until it finishes,
//! which is what a task waiting for another thread needs.

mod join;
pub(crate) mod slot;
mod waker;

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crossbeam_channel::{unbounded, Receiver};
use slab::Slab;

use crate::current;
use crate::fast_rc::{unsize_rc, FastRc};
use crate::handle::Handle;
use crate::promise::Rejection;
use crate::{Async, Loop};

pub use join::JoinHandle;
pub(crate) use waker::any_parked;
use waker::{Remote, TaskWaker};

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
    /// Being polled: a nested request only marks `repoll`.
    polling: bool,
    /// Asked to poll while already polling (only through a nested `run`).
    repoll: bool,
}

pub(crate) struct RemoteWakes {
    remote: Arc<Remote>,
    rx: Receiver<(u32, u32)>,
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
    /// Wakers of finished tasks that no one else holds, for reuse.
    spare_wakers: Vec<Arc<TaskWaker>>,
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
        while let Ok((key, gen)) = rx.try_recv() {
            lp.queue_microtask(move |lp| poll_task(lp, key, gen));
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
        // SAFETY: the caller excludes a concurrent poll or drop, so this is
        // the only reference into `fut`; the future is never moved (the
        // allocation outlives it and `drop_future` drops it in place).
        let Some(fut) = (unsafe { &mut *self.tail.fut.get() }) else {
            return Poll::Ready(());
        };
        match unsafe { Pin::new_unchecked(fut) }.poll(cx) {
            Poll::Ready(v) => {
                self.tail.out.set(Some(v));
                // SAFETY: the poll is over; dropped in place, never moved.
                unsafe { self.drop_future() };
                Poll::Ready(())
            }
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

impl Drop for Executor {
    fn drop(&mut self) {
        // A `JoinHandle` shares the future's allocation; the future itself
        // goes with the loop, as a boxed one would.
        for (_, t) in self.tasks.iter() {
            // SAFETY: nothing is polled while the loop is dropped.
            unsafe { t.run.drop_future() };
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
        let ex = &mut self.executor;
        ex.next_gen = ex.next_gen.wrapping_add(1);
        let gen = ex.next_gen;
        let entry = ex.tasks.vacant_entry();
        let key = u32::try_from(entry.key()).expect("more than 2^32 live tasks");
        let waker = match ex.spare_wakers.pop() {
            Some(w) => {
                w.reuse(key, gen);
                w
            }
            None => {
                let remote = ex.remote.as_ref().expect("created above").remote.clone();
                Arc::new(TaskWaker::new(key, gen, remote))
            }
        };
        let cell: FastRc<TaskCell<F>> = slot::Slot::with_tail(Body {
            fut: UnsafeCell::new(Some(fut)),
            out: Cell::new(None),
        });
        entry.insert(TaskSlot {
            gen,
            run: unsize_rc!(cell.clone() => dyn Run),
            waker,
            refd: false,
            polling: false,
            repoll: false,
        });
        let slot = unsize_rc!(cell => slot::Slot<Result<F::Output, Rejection>>);
        poll_task(self, key, gen);
        JoinHandle::new(slot, key, gen)
    }

    /// Number of spawned tasks that have not finished.
    pub fn task_count(&self) -> usize {
        self.executor.tasks.len()
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
    /// The drain's hook for the executor: queues the polls of wakes made
    /// from plain callbacks on this thread. Returns whether it queued any.
    pub(crate) fn unpark_wakes(&mut self) -> bool {
        any_parked() && waker::unpark(self)
    }
}

/// Polls task `key` if it still exists: the microtask a wake queues.
pub(crate) fn poll_task(lp: &mut Loop, key: u32, gen: u32) {
    let Some(t) = lp
        .executor
        .tasks
        .get_mut(key as usize)
        .filter(|t| t.gen == gen)
    else {
        return; // finished: a late wake
    };
    if t.polling {
        t.repoll = true;
        return;
    }
    t.polling = true;
    let run = t.run.clone();
    t.waker.notified.store(false, Ordering::Release);
    // A waker that borrows the slot's strong reference instead of taking
    // one (saves an atomic increment and decrement per poll). The slot, and
    // so the `Arc`, stays in place for the whole poll: only this function
    // removes a slot, and a nested call for the same task only marks it.
    // SAFETY: `Waker::from(Arc)` owns one strong count; this one is the
    // slot's, lent, and `ManuallyDrop` never gives it back.
    let waker = ManuallyDrop::new(Waker::from(unsafe { Arc::from_raw(Arc::as_ptr(&t.waker)) }));
    let mut cx = Context::from_waker(&waker);
    let r = current::enter(lp, || {
        // SAFETY: `polling` excludes a nested poll of this task.
        panic::catch_unwind(AssertUnwindSafe(|| unsafe { run.poll_run(&mut cx) }))
    });
    let failure = match r {
        Ok(Poll::Pending) => {
            if let Some(t) = lp.executor.tasks.get_mut(key as usize) {
                t.polling = false;
                if std::mem::take(&mut t.repoll) {
                    lp.queue_microtask(move |lp| poll_task(lp, key, gen));
                }
            }
            return;
        }
        Ok(Poll::Ready(())) => None,
        Err(payload) => Some(Rejection::from_panic(payload)),
    };
    let TaskSlot {
        run: own,
        waker,
        refd,
        ..
    } = lp.executor.tasks.remove(key as usize);
    // Late wakes of a finished task find the flag set and stop there.
    waker.notified.store(true, Ordering::Release);
    if lp.executor.spare_wakers.len() < SPARE_WAKERS && TaskWaker::unshared(&waker) {
        lp.executor.spare_wakers.push(waker);
    }
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
        lp.invoke(|lp| current::enter(lp, || unsafe { own.drop_future() }));
    }
}
