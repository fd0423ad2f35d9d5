//! Thread-pool requests as the loop sees them (`uv_queue_work`,
//! `uv_cancel`): submission, cancellation and the delivery of completions in
//! the poll phase.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver, Sender};
use slab::Slab;

use crate::core::poll::Wake;
pub use crate::threadpool::WorkError;
use crate::threadpool::{Class, Done, Job, Output, ThreadPool, CANCELLED, QUEUED};
use crate::Loop;

type After = Box<dyn FnOnce(&mut Loop, Result<Output, WorkError>)>;

struct InFlight {
    ticket: u64,
    state: Arc<AtomicU8>,
    after: After,
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
            // Skip what no worker has started; running jobs finish on their
            // worker and their results are discarded.
            for (_, f) in self.inflight.iter() {
                let _ = f.state.compare_exchange(
                    QUEUED,
                    CANCELLED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
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
        let state = Arc::new(AtomicU8::new(QUEUED));
        let after: After = Box::new(move |lp, r| {
            after(
                lp,
                r.map(|out| {
                    *out.downcast::<T>()
                        .expect("thread-pool result of the submitted type")
                }),
            )
        });
        let key = q.inflight.insert(InFlight {
            ticket,
            state: state.clone(),
            after,
        });
        if self.clock.is_virtual() {
            q.ordered
                .get_or_insert_with(Ordered::default)
                .outstanding
                .insert(ticket);
        }
        let pool = q
            .pool
            .get_or_insert_with(|| ThreadPool::new(q.size, q.wake.clone(), q.done_tx.clone()));
        let job = Job {
            key: key as u32,
            ticket,
            state: state.clone(),
            run: Box::new(move || Box::new(work()) as Output),
        };
        if let Err(e) = pool.submit(class, job) {
            // No worker could be started: report it like a failed job
            // rather than losing the callback.
            state.store(CANCELLED, Ordering::Release);
            let _ = q.done_tx.send(Done {
                key: key as u32,
                ticket,
                result: Err(WorkError::Panicked(format!(
                    "cannot start thread-pool worker: {e}"
                ))),
            });
            q.wake.wake();
        }
        WorkRequest {
            key: key as u32,
            ticket,
        }
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
        match f
            .state
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                let _ = q.done_tx.send(Done {
                    key: req.key,
                    ticket: req.ticket,
                    result: Err(WorkError::Cancelled),
                });
                q.wake.wake();
                Ok(())
            }
            Err(_) => Err(CancelError::Busy),
        }
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
            let after = f.after;
            let result = done.result;
            self.callback(move |lp| after(lp, result));
            if self.unwinding() {
                // The rest is delivered by the next poll phase, if any.
                if !self.work.backlog.is_empty() {
                    self.work.wake.wake();
                }
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
