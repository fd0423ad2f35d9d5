//! Thread-pool requests as the loop sees them (`uv_queue_work`,
//! `uv_cancel`): submission, cancellation and the delivery of completions in
//! the poll phase.

use std::cell::UnsafeCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_channel::{unbounded, Receiver, Sender};
use slab::Slab;

use crate::core::poll::Wake;
pub use crate::threadpool::WorkError;
use crate::threadpool::{run_caught, Class, Done, Job, ThreadPool, Work};
use crate::Loop;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const CANCELLED: u8 = 3;

/// One submitted job in a single allocation shared by the loop and, while
/// queued or running, one worker: the work, the slot its result lands in and
/// the loop-thread callback.
///
/// Who touches what: a worker takes `work` only after winning the
/// queued → running exchange on `state`, writes `result`, then publishes
/// `DONE` with release ordering. The loop reads `result` only after seeing
/// `DONE` (or writes it, in `fail`, when no worker ever got the job), and
/// `after` is touched only on the loop thread, which also takes it out
/// before it lets go of its reference. So `after` need not be `Send`: it is
/// never used, nor dropped, anywhere else.
struct Request<W, T, A> {
    state: AtomicU8,
    work: UnsafeCell<Option<W>>,
    result: UnsafeCell<Option<Result<T, WorkError>>>,
    after: UnsafeCell<Option<A>>,
}

// SAFETY: see the comment on `Request`: `work` and `result` are handed over
// between threads through `state` (and are `Send`), `after` stays on the
// loop thread.
unsafe impl<W: Send, T: Send, A> Send for Request<W, T, A> {}
// SAFETY: as above; no field is accessed by two threads at once.
unsafe impl<W: Send, T: Send, A> Sync for Request<W, T, A> {}

impl<W, T, A> Job for Request<W, T, A>
where
    W: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    A: 'static,
{
    fn run(&self) -> bool {
        if self
            .state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        // SAFETY: winning the exchange makes this worker the only user of
        // `work` and `result` until it publishes `DONE`.
        let result = match unsafe { (*self.work.get()).take() } {
            Some(work) => run_caught(work),
            None => Err(WorkError::Cancelled),
        };
        unsafe { *self.result.get() = Some(result) };
        self.state.store(DONE, Ordering::Release);
        true
    }
}

/// The loop's side of a [`Request`], with its types erased.
trait Pending {
    /// Queued → cancelled; false if a worker got there first.
    fn try_cancel(&self) -> bool;
    /// Sets the result of a job no worker will ever see.
    fn fail(&self, e: WorkError);
    /// Runs `after` with the result (the job is done or cancelled).
    fn complete(&self, lp: &mut Loop);
    /// The loop is going away: cancel if still queued, drop `after` here.
    fn discard(&self);
}

impl<W, T, A> Pending for Request<W, T, A>
where
    A: FnOnce(&mut Loop, Result<T, WorkError>),
{
    fn try_cancel(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn fail(&self, e: WorkError) {
        // SAFETY: the job never reached a worker.
        unsafe { *self.result.get() = Some(Err(e)) };
        self.state.store(DONE, Ordering::Release);
    }

    fn complete(&self, lp: &mut Loop) {
        let result = match self.state.load(Ordering::Acquire) {
            // SAFETY: `DONE` was published after the result was written,
            // and nobody writes it afterwards.
            DONE => unsafe { (*self.result.get()).take() }.expect("a finished job has a result"),
            _ => Err(WorkError::Cancelled),
        };
        // SAFETY: `after` is only touched on the loop thread.
        if let Some(after) = unsafe { (*self.after.get()).take() } {
            lp.callback(move |lp| after(lp, result));
        }
    }

    fn discard(&self) {
        self.try_cancel();
        // SAFETY: loop thread.
        drop(unsafe { (*self.after.get()).take() });
    }
}

struct InFlight {
    ticket: u64,
    req: Arc<dyn Pending>,
}

pub(crate) struct WorkQueue {
    size: usize,
    wake: Arc<Wake>,
    pool: Option<ThreadPool>,
    done_tx: Sender<Done>,
    done_rx: Receiver<Done>,
    inflight: Slab<InFlight>,
    next_ticket: u64,
    /// Virtual clock only: completions held back until every job submitted
    /// before them has completed, so delivery follows submission order.
    ordered: Option<Ordered>,
    /// Completions taken for the current poll phase, not yet delivered.
    backlog: VecDeque<Done>,
}

#[derive(Default)]
struct Ordered {
    outstanding: BTreeSet<u64>,
    arrived: BTreeMap<u64, Done>,
}

/// A submitted thread-pool job, for cancelling it.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct WorkRequest {
    key: u32,
    ticket: u64,
}

/// Why a request could not be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelError {
    /// A worker is running it (or has run it); its `after` callback will
    /// receive the result as usual.
    Busy,
    /// Its `after` callback has already run.
    Finished,
}

impl fmt::Display for CancelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelError::Busy => f.write_str("work is already running"),
            CancelError::Finished => f.write_str("work has already finished"),
        }
    }
}

impl std::error::Error for CancelError {}

impl WorkQueue {
    pub(crate) fn new(size: usize, wake: Arc<Wake>) -> WorkQueue {
        let (done_tx, done_rx) = unbounded();
        WorkQueue {
            size,
            wake,
            pool: None,
            done_tx,
            done_rx,
            inflight: Slab::new(),
            next_ticket: 0,
            ordered: None,
            backlog: VecDeque::new(),
        }
    }

    /// Jobs submitted whose `after` callback has not run yet (libuv's active
    /// requests): they keep the loop alive.
    #[inline]
    pub(crate) fn outstanding(&self) -> usize {
        self.inflight.len()
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

impl Drop for WorkQueue {
    fn drop(&mut self) {
        let n = self.inflight.len();
        if n > 0 {
            // What no worker has started never starts; running jobs finish
            // on their worker and their results are dropped there. Every
            // `after` callback is dropped here, on the loop thread, without
            // being called: there is no loop left to call it with.
            for (_, f) in self.inflight.iter() {
                f.req.discard();
            }
            log::warn!("nodeloop: loop dropped with {n} thread-pool job(s) outstanding; their callbacks will not run");
        }
    }
}

impl Loop {
    /// Runs `work` on the thread pool and `after` on the loop thread with its
    /// result, in the poll phase, followed by the tick and microtask drain.
    ///
    /// Completions are delivered in the order the jobs finish (under a
    /// virtual clock: in submission order). A panic in `work` reaches `after`
    /// as [`WorkError::Panicked`]; the worker survives.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// use std::{cell::Cell, rc::Rc};
    /// let mut lp = Loop::new();
    /// let got = Rc::new(Cell::new(0));
    /// let g = got.clone();
    /// lp.queue_work(|| (1..=10u64).product::<u64>(), move |_, r| g.set(r.unwrap()));
    /// lp.run_default();
    /// assert_eq!(got.get(), 3_628_800);
    /// ```
    pub fn queue_work<T, W, A>(&mut self, work: W, after: A) -> WorkRequest
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        A: FnOnce(&mut Loop, Result<T, WorkError>) + 'static,
    {
        self.submit_work(Class::Normal, work, after)
    }

    pub(crate) fn submit_work<T, W, A>(&mut self, class: Class, work: W, after: A) -> WorkRequest
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        A: FnOnce(&mut Loop, Result<T, WorkError>) + 'static,
    {
        let q = &mut self.work;
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        let req = Arc::new(Request {
            state: AtomicU8::new(QUEUED),
            work: UnsafeCell::new(Some(work)),
            result: UnsafeCell::new(None),
            after: UnsafeCell::new(Some(after)),
        });
        let key = q.inflight.insert(InFlight {
            ticket,
            req: req.clone(),
        }) as u32;
        if self.clock.is_virtual() {
            q.ordered
                .get_or_insert_with(Ordered::default)
                .outstanding
                .insert(ticket);
        }
        let pool = q
            .pool
            .get_or_insert_with(|| ThreadPool::new(q.size, q.wake.clone(), q.done_tx.clone()));
        let submitted = pool.submit(
            class,
            Work {
                job: req.clone(),
                key,
                ticket,
            },
        );
        if let Err(e) = submitted {
            // No worker could be started: report it through the callback,
            // later, like any result, rather than losing it.
            req.fail(WorkError::NoWorker(e.to_string()));
            let _ = q.done_tx.send(Done { key, ticket });
            q.wake.wake();
        }
        WorkRequest { key, ticket }
    }

    /// Cancels a job that no worker has started (`uv_cancel`). Its `after`
    /// callback then receives [`WorkError::Cancelled`], later, in the poll
    /// phase, never from inside this call.
    pub fn cancel_work(&mut self, req: WorkRequest) -> Result<(), CancelError> {
        let q = &mut self.work;
        let Some(f) = q
            .inflight
            .get(req.key as usize)
            .filter(|f| f.ticket == req.ticket)
        else {
            return Err(CancelError::Finished);
        };
        if !f.req.try_cancel() {
            return Err(CancelError::Busy);
        }
        let _ = q.done_tx.send(Done {
            key: req.key,
            ticket: req.ticket,
        });
        q.wake.wake();
        Ok(())
    }

    /// A token naming this loop's pool queue, for code holding a
    /// [`WorkRequest`] away from the loop: request keys are per loop, so a
    /// request must only ever be cancelled on the loop that issued it.
    pub(crate) fn work_owner(&self) -> Weak<Wake> {
        Arc::downgrade(&self.work.wake)
    }

    /// Whether `owner` (from [`Loop::work_owner`]) names this loop. The weak
    /// reference keeps the allocation, so its address is never reused by
    /// another loop while the token exists.
    pub(crate) fn owns_work(&self, owner: &Weak<Wake>) -> bool {
        std::ptr::eq(owner.as_ptr(), Arc::as_ptr(&self.work.wake))
    }

    /// Number of thread-pool workers this loop uses.
    pub fn threadpool_size(&self) -> usize {
        self.work
            .pool
            .as_ref()
            .map_or(self.work.size(), ThreadPool::size)
    }

    /// Runs the `after` callbacks of finished jobs (poll phase).
    ///
    /// Only the jobs that had finished when the phase reached them are
    /// delivered, as libuv's `uv__work_done` moves the done queue aside
    /// before running it: a job submitted and finished while an `after`
    /// callback runs waits for the next poll phase (its completion rang the
    /// waker again), so the check phase comes first.
    pub(crate) fn deliver_work_completions(&mut self) {
        if self.work.backlog.is_empty() {
            self.take_completed();
        }
        while let Some(done) = self.work.backlog.pop_front() {
            let q = &mut self.work;
            let key = done.key as usize;
            if q.inflight.get(key).is_none_or(|f| f.ticket != done.ticket) {
                continue;
            }
            let f = q.inflight.remove(key);
            f.req.complete(self);
            if self.unwinding() {
                // A callback panicked and `run` is about to rethrow: ring
                // again so the rest of the batch (and anything that arrived
                // meanwhile) is delivered by the next run.
                self.work.wake.wake();
                return;
            }
        }
    }

    /// Moves the completions that are ready now into the backlog; under the
    /// virtual clock, in submission order and only up to the first job that
    /// has not finished yet.
    fn take_completed(&mut self) {
        let q = &mut self.work;
        let Some(ord) = q.ordered.as_mut() else {
            q.backlog.extend(q.done_rx.try_iter());
            return;
        };
        ord.arrived
            .extend(q.done_rx.try_iter().map(|d| (d.ticket, d)));
        while let Some(&first) = ord.outstanding.first() {
            let Some(d) = ord.arrived.remove(&first) else {
                break;
            };
            ord.outstanding.remove(&first);
            q.backlog.push_back(d);
        }
    }
}
