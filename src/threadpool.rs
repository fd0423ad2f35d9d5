//! The fixed thread pool that runs CPU and file work off the loop thread.
//!
//! Jobs travel to the workers on crossbeam channels; results travel back on
//! another channel, and the loop is woken through its one `mio::Waker`,
//! coalesced so that a burst of completions costs one wake-up.
//!
//! Slow I/O (DNS lookups) gets its own queue and may occupy at most half the
//! workers, rounded up, as in libuv: a stalled resolver cannot starve file
//! and CPU work. A worker holds a "slow slot" while it is willing to take
//! slow work; when a slot frees up while slow jobs wait, the releasing worker
//! nudges an idle one to re-check.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{select, unbounded, Receiver, Sender};

use crate::core::poll::Wake;

pub(crate) const QUEUED: u8 = 0;
pub(crate) const RUNNING: u8 = 1;
pub(crate) const DONE: u8 = 2;
pub(crate) const CANCELLED: u8 = 3;

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
    /// CPU work and fast file I/O.
    Normal,
    /// Work that may block for long (DNS): at most half the workers.
    #[allow(dead_code, reason = "dns::lookup submits here")]
    SlowIo,
}

pub(crate) type Output = Box<dyn Any + Send>;

/// Why a job produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkError {
    /// Cancelled before a worker picked it up.
    Cancelled,
    /// The work panicked; the message of the panic.
    Panicked(String),
}

impl std::fmt::Display for WorkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkError::Cancelled => f.write_str("work was cancelled"),
            WorkError::Panicked(m) => write!(f, "work panicked: {m}"),
        }
    }
}

impl std::error::Error for WorkError {}

pub(crate) struct Job {
    pub(crate) key: u32,
    pub(crate) ticket: u64,
    pub(crate) state: Arc<AtomicU8>,
    pub(crate) run: Box<dyn FnOnce() -> Output + Send>,
}

enum Msg {
    Work(Job),
    /// Re-check whether a slow slot is free.
    Nudge,
    Exit,
}

pub(crate) struct Done {
    pub(crate) key: u32,
    pub(crate) ticket: u64,
    pub(crate) result: Result<Output, WorkError>,
}

struct Shared {
    slow_slots: AtomicUsize,
    slow_limit: usize,
    wake: Arc<Wake>,
}

impl Shared {
    fn try_take_slow_slot(&self) -> bool {
        self.slow_slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.slow_limit).then_some(n + 1)
            })
            .is_ok()
    }
}

pub(crate) struct ThreadPool {
    size: usize,
    normal: Sender<Msg>,
    slow: Sender<Msg>,
    shared: Arc<Shared>,
    /// Receivers handed to workers as they are spawned.
    normal_rx: Receiver<Msg>,
    slow_rx: Receiver<Msg>,
    done_tx: Sender<Done>,
    spawned: bool,
}

impl ThreadPool {
    pub(crate) fn new(size: usize, wake: Arc<Wake>, done_tx: Sender<Done>) -> ThreadPool {
        let (normal, normal_rx) = unbounded();
        let (slow, slow_rx) = unbounded();
        ThreadPool {
            size,
            normal,
            slow,
            shared: Arc::new(Shared {
                slow_slots: AtomicUsize::new(0),
                slow_limit: size.div_ceil(2),
                wake,
            }),
            normal_rx,
            slow_rx,
            done_tx,
            spawned: false,
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Starts the workers on first use, as libuv does.
    fn spawn_workers(&mut self) -> io::Result<()> {
        for i in 0..self.size {
            let w = Worker {
                normal: self.normal_rx.clone(),
                slow: self.slow_rx.clone(),
                nudge: self.normal.clone(),
                shared: self.shared.clone(),
                done: self.done_tx.clone(),
            };
            thread::Builder::new()
                .name(format!("nodeloop-pool-{i}"))
                .spawn(move || w.run())?;
        }
        self.spawned = true;
        Ok(())
    }

    pub(crate) fn submit(&mut self, class: Class, job: Job) -> io::Result<()> {
        if !self.spawned {
            self.spawn_workers()?;
        }
        match class {
            Class::Normal => self.normal.send(Msg::Work(job)),
            Class::SlowIo => {
                let r = self.slow.send(Msg::Work(job));
                // Wake a worker that is not holding a slot, in case every
                // slot holder is busy with normal work.
                if self.shared.slow_slots.load(Ordering::Acquire) < self.shared.slow_limit {
                    let _ = self.normal.send(Msg::Nudge);
                }
                r
            }
        }
        .map_err(|_| io::Error::other("thread pool is shut down"))
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // Workers finish the job in hand and exit; they are not joined, so a
        // job that never ends cannot hang the loop's owner. Queued jobs were
        // marked cancelled by the work queue and are skipped.
        if self.spawned {
            for _ in 0..self.size {
                let _ = self.normal.send(Msg::Exit);
            }
        }
    }
}

struct Worker {
    normal: Receiver<Msg>,
    slow: Receiver<Msg>,
    nudge: Sender<Msg>,
    shared: Arc<Shared>,
    done: Sender<Done>,
}

impl Worker {
    fn run(self) {
        loop {
            let slot = self.shared.try_take_slow_slot();
            let (msg, from_slow) = if slot {
                select! {
                    recv(self.normal) -> m => (m, false),
                    recv(self.slow) -> m => (m, true),
                }
            } else {
                (self.normal.recv(), false)
            };
            if slot && !from_slow {
                self.release_slot();
            }
            match msg {
                Ok(Msg::Work(job)) => self.execute(job),
                Ok(Msg::Nudge) => {}
                Ok(Msg::Exit) | Err(_) => return,
            }
            if from_slow {
                self.release_slot();
            }
        }
    }

    fn release_slot(&self) {
        self.shared.slow_slots.fetch_sub(1, Ordering::AcqRel);
        if !self.slow.is_empty() {
            let _ = self.nudge.send(Msg::Nudge);
        }
    }

    fn execute(&self, job: Job) {
        if job
            .state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // cancelled while queued: the loop reports it itself
        }
        let result = panic::catch_unwind(AssertUnwindSafe(job.run))
            .map_err(|p| WorkError::Panicked(panic_message(&*p)));
        job.state.store(DONE, Ordering::Release);
        if self
            .done
            .send(Done {
                key: job.key,
                ticket: job.ticket,
                result,
            })
            .is_ok()
        {
            self.shared.wake.wake();
        }
    }
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
