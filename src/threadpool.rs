//! The fixed thread pool that runs CPU and file work off the loop thread.
//!
//! Jobs travel to the workers on one crossbeam channel; a worker runs a job
//! in place, in the job's own allocation, and sends its key back on another
//! channel, then rings the loop's one `mio::Waker`, coalesced so that a burst
//! of completions costs one wake-up. See `docs/thread-pool.md`.
//!
//! Slow I/O (DNS lookups) may occupy at most half the workers, rounded up,
//! as in libuv: a stalled resolver cannot starve file and CPU work. Slow jobs
//! wait in their own queue; each one sends a marker down the main channel,
//! and the worker that receives a marker runs slow jobs only if fewer than
//! the limit are running. Markers found over the limit are dropped: a worker
//! already running slow work goes on with the queue when its job ends, so
//! nothing is stranded.

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::core::poll::Wake;

/// The default number of workers, as libuv's.
pub const DEFAULT_THREADPOOL_SIZE: usize = 4;
/// The largest pool allowed, as libuv's `MAX_THREADPOOL_SIZE`.
pub const MAX_THREADPOOL_SIZE: usize = 1024;

/// The pool size: the builder's setting if given (an error if out of
/// range), else `NODELOOP_THREADPOOL_SIZE` (clamped into range with a
/// warning, as libuv treats `UV_THREADPOOL_SIZE`), else 4.
pub(crate) fn configured_size(explicit: Option<usize>) -> io::Result<usize> {
    if let Some(n) = explicit {
        if !(1..=MAX_THREADPOOL_SIZE).contains(&n) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("thread pool size {n} is out of range 1..={MAX_THREADPOOL_SIZE}"),
            ));
        }
        return Ok(n);
    }
    match std::env::var("NODELOOP_THREADPOOL_SIZE") {
        Err(_) => Ok(DEFAULT_THREADPOOL_SIZE),
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) => {
                let c = n.clamp(1, MAX_THREADPOOL_SIZE);
                if c != n {
                    log::warn!("NODELOOP_THREADPOOL_SIZE={n} is out of range; using {c}");
                }
                Ok(c)
            }
            Err(_) => {
                log::warn!("NODELOOP_THREADPOOL_SIZE={s:?} is not a whole number; using {DEFAULT_THREADPOOL_SIZE}");
                Ok(DEFAULT_THREADPOOL_SIZE)
            }
        },
    }
}

/// Which queue a job goes to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// CPU work and file I/O.
    Normal,
    /// Work that may block for long (DNS): at most half the workers.
    #[allow(dead_code, reason = "dns::lookup submits here")]
    SlowIo,
}

/// Why a job produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkError {
    /// Cancelled before a worker picked it up.
    Cancelled,
    /// The work panicked; the message of the panic.
    Panicked(String),
    /// No worker thread could be started (the OS refused to create one); the
    /// OS's reason.
    NoWorker(String),
}

impl std::fmt::Display for WorkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkError::Cancelled => f.write_str("work was cancelled"),
            WorkError::Panicked(m) => write!(f, "work panicked: {m}"),
            WorkError::NoWorker(m) => write!(f, "cannot start a thread-pool worker: {m}"),
        }
    }
}

impl std::error::Error for WorkError {}

/// For APIs whose results are `io::Result`s (fs, dns): a cancelled job is
/// `Interrupted`, anything else `Other`; the `WorkError` is the payload.
impl From<WorkError> for io::Error {
    fn from(e: WorkError) -> io::Error {
        let kind = match e {
            WorkError::Cancelled => io::ErrorKind::Interrupted,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// What a worker sees of a job: something to run once, in place.
pub(crate) trait Job: Send + Sync {
    /// Claims the job (queued → running) and runs it, storing its result in
    /// the job. Returns false, doing nothing, if the job was cancelled.
    fn run(&self) -> bool;
}

/// A job on its way to a worker, with the key the loop files it under.
pub(crate) struct Work {
    pub(crate) job: Arc<dyn Job>,
    pub(crate) key: u32,
    pub(crate) ticket: u64,
}

enum Msg {
    Work(Work),
    /// A slow job was queued.
    Slow,
    Exit,
}

/// A finished (or cancelled) job: the loop finds the result in the job.
pub(crate) struct Done {
    pub(crate) key: u32,
    pub(crate) ticket: u64,
}

#[derive(Default)]
struct SlowQueue {
    jobs: VecDeque<Work>,
    running: usize,
    limit: usize,
}

struct Shared {
    slow: Mutex<SlowQueue>,
    wake: Arc<Wake>,
    done: Sender<Done>,
}

pub(crate) struct ThreadPool {
    size: usize,
    tx: Sender<Msg>,
    /// Handed to workers as they are spawned.
    rx: Receiver<Msg>,
    wake: Arc<Wake>,
    done: Sender<Done>,
    shared: Option<Arc<Shared>>,
    workers: usize,
}

impl ThreadPool {
    pub(crate) fn new(size: usize, wake: Arc<Wake>, done: Sender<Done>) -> ThreadPool {
        let (tx, rx) = unbounded();
        ThreadPool {
            size,
            tx,
            rx,
            wake,
            done,
            shared: None,
            workers: 0,
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Starts the workers on first use, as libuv does. If the OS lets only
    /// some start, the pool carries on with those.
    fn spawn_workers(&mut self) -> io::Result<Arc<Shared>> {
        let shared = Arc::new(Shared {
            slow: Mutex::default(),
            wake: self.wake.clone(),
            done: self.done.clone(),
        });
        let mut error = None;
        for i in 0..self.size {
            let w = Worker {
                rx: self.rx.clone(),
                shared: shared.clone(),
            };
            match thread::Builder::new()
                .name(format!("nodeloop-pool-{i}"))
                .spawn(move || w.run())
            {
                Ok(_) => self.workers += 1,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = error {
            if self.workers == 0 {
                return Err(e);
            }
            log::warn!(
                "nodeloop: only {} of {} thread-pool workers could start: {e}",
                self.workers,
                self.size
            );
        }
        // The slow-I/O limit counts the workers that exist.
        lock(&shared.slow).limit = self.workers.div_ceil(2);
        Ok(shared)
    }

    pub(crate) fn submit(&mut self, class: Class, work: Work) -> io::Result<()> {
        if self.shared.is_none() {
            self.shared = Some(self.spawn_workers()?);
        }
        let sent = match (class, &self.shared) {
            (Class::SlowIo, Some(shared)) => {
                lock(&shared.slow).jobs.push_back(work);
                self.tx.send(Msg::Slow)
            }
            _ => self.tx.send(Msg::Work(work)),
        };
        sent.map_err(|_| io::Error::other("thread pool is shut down"))
    }
}

fn lock(m: &Mutex<SlowQueue>) -> std::sync::MutexGuard<'_, SlowQueue> {
    // Jobs run outside the lock, so a poisoned lock only means a panic in
    // this file's own short critical sections, which leave the queue valid.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // Workers finish the job in hand and exit; they are not joined, so a
        // job that never ends cannot hang the loop's owner. Queued jobs were
        // marked cancelled by the work queue and are skipped.
        for _ in 0..self.workers {
            let _ = self.tx.send(Msg::Exit);
        }
    }
}

struct Worker {
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(self) {
        loop {
            match self.rx.recv() {
                Ok(Msg::Work(w)) => self.execute(w),
                Ok(Msg::Slow) => self.run_slow(),
                Ok(Msg::Exit) | Err(_) => return,
            }
        }
    }

    fn run_slow(&self) {
        let mut q = lock(&self.shared.slow);
        if q.running >= q.limit {
            return; // a worker already running slow work will get to it
        }
        while let Some(w) = q.jobs.pop_front() {
            q.running += 1;
            drop(q);
            self.execute(w);
            q = lock(&self.shared.slow);
            q.running -= 1;
        }
    }

    fn execute(&self, w: Work) {
        let Work { job, key, ticket } = w;
        if !job.run() {
            return; // cancelled while queued: the loop reports it itself
        }
        // Let go of the job before reporting it, so that the loop holds the
        // last reference and frees it on its own thread.
        drop(job);
        if self.shared.done.send(Done { key, ticket }).is_ok() {
            self.shared.wake.wake();
        }
    }
}

/// The result of running `work` on a worker: its value, or the message of
/// its panic.
pub(crate) fn run_caught<T>(work: impl FnOnce() -> T) -> Result<T, WorkError> {
    panic::catch_unwind(AssertUnwindSafe(work)).map_err(|p| WorkError::Panicked(panic_message(&*p)))
}

/// The message of a panic payload (`&str` or `String`), as the default
/// panic hook prints it.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::Class;
    use crate::Loop;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::Duration;

    /// Four workers, six slow jobs that block until released, then normal
    /// jobs: at most two slow jobs run at once, and the normal jobs finish
    /// while the slow ones are stuck.
    #[test]
    fn slow_io_takes_at_most_half_the_workers_and_cannot_starve_normal_work() {
        let mut lp = Loop::builder().threadpool_size(4).build().unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (started_tx, started_rx) = mpsc::channel::<()>();
        for _ in 0..6 {
            let (running, peak, rx, started) = (
                running.clone(),
                peak.clone(),
                release_rx.clone(),
                started_tx.clone(),
            );
            lp.submit_work(
                Class::SlowIo,
                move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    started.send(()).unwrap();
                    rx.lock().unwrap().recv().unwrap();
                    running.fetch_sub(1, Ordering::SeqCst);
                },
                |_, r| r.unwrap(),
            );
        }
        // Two slow jobs start; a third must not.
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
        assert!(started_rx.recv_timeout(Duration::from_millis(100)).is_err());
        let normal_done = Arc::new(AtomicUsize::new(0));
        let (release, done) = (release_tx.clone(), normal_done.clone());
        let stop = std::rc::Rc::new(std::cell::Cell::new(0));
        for _ in 0..20 {
            let (done, release, stop) = (done.clone(), release.clone(), stop.clone());
            lp.submit_work(
                Class::Normal,
                move || done.fetch_add(1, Ordering::SeqCst),
                move |_, r| {
                    r.unwrap();
                    stop.set(stop.get() + 1);
                    if stop.get() == 20 {
                        // Only now let the slow jobs go, one by one.
                        for _ in 0..6 {
                            release.send(()).unwrap();
                        }
                    }
                },
            );
        }
        lp.run_default();
        assert_eq!(normal_done.load(Ordering::SeqCst), 20);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }
}
