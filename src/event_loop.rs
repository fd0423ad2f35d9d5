//! The loop itself: what it owns, when it is alive, and one iteration in the
//! phase order of libuv 1.46's `uv_run` (the libuv Node 20 bundles).

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::clock::Clock;
use crate::core::poll::Reactor;
use crate::core::timers::TimerHeap;
use crate::core::watchers::Watchers;
use crate::handle::{HandleError, HandleId, Handles};
use crate::node::NodeState;
use crate::task::Task;
use crate::work::WorkQueue;

/// How long `Loop::run` runs, as libuv's `uv_run_mode`.
///
/// ```
/// use nodeloop::{Loop, RunMode};
/// let mut lp = Loop::new();
/// lp.set_timeout(1, |_| {});
/// assert!(lp.run(RunMode::NoWait), "the timer is not due yet: still alive");
/// assert!(!lp.run(RunMode::Default));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Until nothing keeps the loop alive, or `stop` is called.
    Default,
    /// One iteration, blocking in the poll phase if there is nothing to do yet.
    Once,
    /// One iteration without blocking.
    NoWait,
}

/// What a panic handler receives: the payload of the caught panic.
pub type PanicPayload = Box<dyn Any + Send + 'static>;

type PanicHandler = Box<dyn FnMut(&mut Loop, PanicPayload)>;

/// A single-threaded event loop with libuv's phases and Node's queues.
///
/// Every callback receives `&mut Loop` and schedules further work through it.
/// After the code before `run` (Node's "main program") and after every single
/// callback the loop runs, the `next_tick` queue and then the microtask queue
/// are drained, as in Node.
///
/// ```
/// use nodeloop::Loop;
/// use std::{cell::RefCell, rc::Rc};
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let mut lp = Loop::new();
/// let l = log.clone();
/// lp.set_timeout(1, move |_| l.borrow_mut().push("timeout"));
/// let l = log.clone();
/// lp.queue_microtask(move |_| l.borrow_mut().push("microtask"));
/// let l = log.clone();
/// lp.next_tick(move |_| l.borrow_mut().push("tick"));
/// log.borrow_mut().push("main");
/// lp.run_default();
/// assert_eq!(*log.borrow(), ["main", "tick", "microtask", "timeout"]);
/// ```
pub struct Loop {
    pub(crate) clock: Clock,
    /// The cached "now" in milliseconds since the loop was created
    /// (libuv's `loop->time`).
    pub(crate) time: u64,
    pub(crate) handles: Handles,
    pub(crate) timers: TimerHeap,
    pub(crate) watchers: Watchers,
    pub(crate) pending: VecDeque<Task>,
    pub(crate) closing: Vec<HandleId>,
    pub(crate) reactor: Reactor,
    pub(crate) work: WorkQueue,
    pub(crate) node: NodeState,
    /// Rejections that may be unhandled, and the policy for them.
    pub(crate) rejections: crate::promise::unhandled::Rejections,
    /// Spawned futures.
    pub(crate) executor: crate::executor::Executor,
    stop_flag: bool,
    panic_handler: Option<PanicHandler>,
    /// A panic caught with no handler installed, on its way out of `run`.
    panicked: Option<PanicPayload>,
    /// The buffer sockets read into (libuv's `alloc_cb` buffer, Node's
    /// shared 64 KiB slab): one per loop, lent to one read at a time, so
    /// a chunk handed straight to `data` listeners costs no allocation.
    pub(crate) read_buf: Vec<u8>,
}

/// Builds a [`Loop`] with non-default settings.
///
/// ```
/// use nodeloop::Loop;
/// let mut lp = Loop::builder().virtual_clock(true).threadpool_size(2).build().unwrap();
/// lp.set_timeout(60_000, |lp| assert_eq!(lp.now(), 60_000));
/// lp.run_default(); // returns at once: the virtual clock jumps to the timer
/// ```
#[derive(Debug, Default, Clone)]
pub struct LoopBuilder {
    virtual_clock: bool,
    threadpool_size: Option<usize>,
}

impl LoopBuilder {
    /// Uses a virtual clock: the loop never sleeps; when only timers can make
    /// progress, time jumps to the next one, and [`Loop::block`] advances it.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// lp.set_timeout(60_000, |lp| assert_eq!(lp.now(), 60_000));
    /// lp.run_default(); // returns at once
    /// ```
    pub fn virtual_clock(mut self, on: bool) -> Self {
        self.virtual_clock = on;
        self
    }

    /// Number of thread-pool workers (1..=1024). Without it,
    /// `NODELOOP_THREADPOOL_SIZE` is read, else 4 are used.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let lp = Loop::builder().threadpool_size(2).build().unwrap();
    /// assert_eq!(lp.threadpool_size(), 2);
    /// assert!(Loop::builder().threadpool_size(0).build().is_err());
    /// ```
    pub fn threadpool_size(mut self, n: usize) -> Self {
        self.threadpool_size = Some(n);
        self
    }

    /// Creates the loop. Fails if the OS refuses an epoll instance or the
    /// thread-pool size is out of range.
    pub fn build(self) -> std::io::Result<Loop> {
        let size = crate::threadpool::configured_size(self.threadpool_size)?;
        let clock = if self.virtual_clock {
            Clock::virtual_()
        } else {
            Clock::real()
        };
        let reactor = Reactor::new()?;
        let work = WorkQueue::new(size, reactor.wake.clone());
        let mut lp = Loop {
            time: 0,
            clock,
            handles: Handles::new(),
            timers: TimerHeap::new(),
            watchers: Watchers::new(),
            pending: VecDeque::new(),
            closing: Vec::new(),
            reactor,
            work,
            node: NodeState::placeholder(),
            rejections: Default::default(),
            executor: Default::default(),
            stop_flag: false,
            panic_handler: None,
            panicked: None,
            read_buf: Vec::new(),
        };
        lp.node = NodeState::new(&mut lp);
        lp.update_time();
        Ok(lp)
    }
}

impl Default for Loop {
    fn default() -> Self {
        Loop::new()
    }
}

impl Loop {
    /// A loop on the real clock with default settings.
    ///
    /// Panics only if the OS refuses to create an epoll instance; use
    /// [`Loop::builder`] to handle that as an error.
    pub fn new() -> Loop {
        LoopBuilder::default()
            .build()
            .expect("nodeloop: cannot create the event loop")
    }

    /// A builder for non-default settings (virtual clock, pool size).
    pub fn builder() -> LoopBuilder {
        LoopBuilder::default()
    }

    /// Runs the loop until nothing keeps it alive (`RunMode::Default`).
    pub fn run_default(&mut self) -> bool {
        self.run(RunMode::Default)
    }

    /// Runs the loop. Returns whether it is still alive (something would
    /// still run), like `uv_run`.
    ///
    /// The ticks and microtasks queued before the call (by the "main
    /// program") run first. A panic in a callback propagates out of `run`
    /// unless a handler is set with [`Loop::on_uncaught_panic`]; the loop is
    /// left consistent, safe to drop or to run again.
    ///
    /// ```
    /// use nodeloop::{Loop, RunMode};
    /// let mut lp = Loop::new();
    /// lp.next_tick(|_| println!("runs first, before any phase"));
    /// lp.set_immediate(|_| println!("check phase"));
    /// assert!(!lp.run(RunMode::Default));
    /// ```
    pub fn run(&mut self, mode: RunMode) -> bool {
        self.drain_task_queues();
        self.rethrow();
        let mut alive = self.alive();
        if !alive {
            self.update_time();
        }
        // libuv runs due timers once before the first iteration in default
        // mode, for compatibility; the iteration itself ends with them.
        if mode == RunMode::Default && alive && !self.stop_flag {
            self.update_time();
            self.run_timers();
            self.rethrow();
        }
        while alive && !self.stop_flag {
            self.run_once(mode);
            self.rethrow();
            alive = self.alive();
            if mode != RunMode::Default {
                break;
            }
        }
        self.stop_flag = false;
        alive
    }

    /// One loop iteration: the phase sequence of libuv's `uv_run`.
    fn run_once(&mut self, mode: RunMode) {
        let can_sleep = self.pending.is_empty() && self.watchers.idle_is_empty();

        self.run_pending();
        self.run_idle();
        self.run_prepare();

        let timeout = match mode {
            RunMode::Default => self.backend_timeout(),
            RunMode::Once if can_sleep => self.backend_timeout(),
            _ => Some(Duration::ZERO),
        };
        self.poll_io(timeout);

        // Callbacks deferred by the poll phase (e.g. write callbacks) get a
        // few more turns before the check phase, as in libuv.
        for _ in 0..8 {
            if self.pending.is_empty() || self.unwinding() {
                break;
            }
            self.run_pending();
        }

        self.run_check();
        self.run_closing_handles();

        self.update_time();
        self.run_timers();
    }

    /// Whether anything keeps the loop alive: an active referenced handle,
    /// outstanding thread-pool work, a pending callback or a closing handle.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// assert!(!lp.alive());
    /// let t = lp.set_timeout(10, |_| {});
    /// assert!(lp.alive());
    /// t.unref(&mut lp);
    /// assert!(!lp.alive());
    /// ```
    pub fn alive(&self) -> bool {
        self.handles.has_active_refd()
            || self.work.outstanding() > 0
            || !self.pending.is_empty()
            || !self.closing.is_empty()
    }

    /// Makes `run` return after the current iteration.
    ///
    /// ```
    /// use nodeloop::{Idle, Loop};
    /// let mut lp = Loop::new();
    /// Idle::new(&mut lp).start(&mut lp, |lp, _| lp.stop()).unwrap();
    /// assert!(lp.run_default(), "stopped while the idle handle is still active");
    /// ```
    pub fn stop(&mut self) {
        self.stop_flag = true;
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop_flag
    }

    /// The cached loop time in milliseconds since the loop was created.
    /// It is refreshed at the start of each iteration's timers phase, after
    /// polling, and when a Node-style timer is created.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// lp.set_timeout(25, |lp| assert_eq!(lp.now(), 25));
    /// lp.run_default();
    /// ```
    pub fn now(&self) -> u64 {
        self.time
    }

    /// Refreshes the cached loop time from the clock (`uv_update_time`).
    pub fn update_time(&mut self) {
        self.time = self.clock.now_ms();
    }

    /// High-resolution time since the loop was created (virtual under a
    /// virtual clock).
    ///
    /// ```
    /// use nodeloop::Loop;
    /// use std::time::Duration;
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// lp.block(Duration::from_micros(1500));
    /// assert_eq!(lp.hrtime(), Duration::from_micros(1500));
    /// ```
    pub fn hrtime(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Whether this loop runs on a virtual clock.
    pub fn is_virtual_clock(&self) -> bool {
        self.clock.is_virtual()
    }

    /// Occupies the loop thread for `d`, like a CPU-bound callback: spins on
    /// the real clock, advances a virtual clock by `d` at once. The cached
    /// loop time is not refreshed (it never is during a callback).
    ///
    /// ```
    /// use nodeloop::Loop;
    /// use std::time::Duration;
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// lp.set_timeout(10, |lp| {
    ///     lp.block(Duration::from_millis(30)); // a slow callback
    ///     assert_eq!(lp.now(), 10, "the cached time is not refreshed");
    ///     assert_eq!(lp.hrtime(), Duration::from_millis(40));
    /// });
    /// lp.run_default();
    /// ```
    pub fn block(&mut self, d: Duration) {
        self.clock.busy(d);
    }

    /// Installs a handler for panics in callbacks, like Node's
    /// `process.on('uncaughtException')`: the loop calls it with the panic
    /// payload and carries on with the next callback. Without a handler, a
    /// panic propagates out of [`Loop::run`].
    ///
    /// ```
    /// use nodeloop::Loop;
    /// use std::{cell::Cell, rc::Rc};
    /// let caught = Rc::new(Cell::new(0));
    /// let mut lp = Loop::new();
    /// let c = caught.clone();
    /// lp.on_uncaught_panic(move |_, _payload| c.set(c.get() + 1));
    /// lp.set_immediate(|_| panic!("first"));
    /// let c = caught.clone();
    /// lp.set_immediate(move |_| assert_eq!(c.get(), 1));
    /// lp.run_default();
    /// assert_eq!(caught.get(), 1);
    /// ```
    pub fn on_uncaught_panic(&mut self, handler: impl FnMut(&mut Loop, PanicPayload) + 'static) {
        self.panic_handler = Some(Box::new(handler));
    }

    /// Removes the uncaught-panic handler; panics propagate out of `run` again.
    pub fn clear_uncaught_panic_handler(&mut self) {
        self.panic_handler = None;
    }

    /// Runs one callback with the loop's panic policy. Every callback the
    /// loop makes goes through here or [`Loop::callback`].
    #[inline]
    pub(crate) fn invoke(&mut self, f: impl FnOnce(&mut Loop)) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(self))) {
            self.uncaught(payload);
        }
    }

    /// Runs a macrotask callback, then drains ticks and microtasks: what
    /// Node's `InternalCallbackScope` does around every call into JS.
    #[inline]
    pub(crate) fn callback(&mut self, f: impl FnOnce(&mut Loop)) {
        self.invoke(f);
        self.drain_task_queues();
    }

    fn uncaught(&mut self, payload: PanicPayload) {
        match self.panic_handler.take() {
            Some(mut handler) => {
                let r = panic::catch_unwind(AssertUnwindSafe(|| handler(self, payload)));
                if self.panic_handler.is_none() {
                    self.panic_handler = Some(handler);
                }
                if let Err(again) = r {
                    // A handler that panics has nowhere to go but out.
                    self.panicked.get_or_insert(again);
                }
            }
            None => {
                self.panicked.get_or_insert(payload);
            }
        }
    }

    /// True while a caught panic waits to propagate: phases stop running
    /// callbacks so that `run` can rethrow it with the loop consistent.
    #[inline]
    pub(crate) fn unwinding(&self) -> bool {
        self.panicked.is_some()
    }

    fn rethrow(&mut self) {
        if let Some(p) = self.panicked.take() {
            self.stop_flag = false;
            panic::resume_unwind(p);
        }
    }

    /// Stops a handle according to its kind and queues it for the close
    /// phase (`uv_close`).
    pub(crate) fn close_handle(
        &mut self,
        id: HandleId,
        cb: Option<Task>,
    ) -> Result<(), HandleError> {
        self.handles.usable(id)?;
        self.stop_handle_kind(id);
        self.handles.stop(id);
        self.handles.mark_closing(id, cb);
        self.closing.push(id);
        Ok(())
    }

    fn stop_handle_kind(&mut self, id: HandleId) {
        use crate::handle::Kind;
        let Some(slot) = self.handles.get(id) else {
            return;
        };
        match slot.kind {
            Kind::Timer(_) => crate::Timer::from_id(id).stop(self),
            Kind::Watcher(_) => self.watcher_stop(id),
            Kind::Async(_) => self.async_forget(id),
            Kind::Io(_) => self.io_forget(id),
            Kind::Bare => {}
        }
    }

    /// Number of live handles, closing ones included, for leak checks. A new
    /// loop already has a few: the timer, check and idle handles behind
    /// Node's timers and immediates (Node has them too).
    ///
    /// ```
    /// use nodeloop::{BareHandle, Handle, Loop};
    /// let mut lp = Loop::new();
    /// let base = lp.handle_count();
    /// let h = BareHandle::new(&mut lp);
    /// assert_eq!(lp.handle_count(), base + 1);
    /// h.close(&mut lp, |_| {}).unwrap();
    /// lp.run_default();
    /// assert_eq!(lp.handle_count(), base);
    /// ```
    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }
}

impl std::fmt::Debug for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop")
            .field("time", &self.time)
            .field("virtual_clock", &self.clock.is_virtual())
            .field("handles", &self.handles.len())
            .field("alive", &self.alive())
            .finish_non_exhaustive()
    }
}
