//! Awaitable forms of the loop's own operations — timers, immediates and
//! thread-pool work — each built on the callback form
//! (`set_timeout`, `set_immediate`, `queue_work`) and nothing else, like
//! Node's `timers/promises`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::bridge::WorkFuture;
use crate::current;
use crate::promise::Promise;
use crate::{Loop, Timeout, WorkError};

#[derive(Default)]
struct SleepState {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// A future that completes `ms` milliseconds after it is first polled; see
/// [`sleep`].
#[derive(Debug)]
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    ms: u64,
    armed: Option<(Timeout, Rc<SleepState>)>,
}

impl std::fmt::Debug for SleepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SleepState")
            .field("fired", &self.fired.get())
            .finish()
    }
}

/// Waits `ms` milliseconds on a Node timer (`await setTimeout(ms)` from
/// `timers/promises`): the timer is created when the future is first
/// polled, and dropping the future early clears it.
///
/// ```
/// use nodeloop::{sleep, Loop};
/// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
/// let p = lp.spawn(async {
///     sleep(250).await;
///     nodeloop::with_loop(|lp| lp.now())
/// }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), 250);
/// ```
pub fn sleep(ms: u64) -> Sleep {
    Sleep { ms, armed: None }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match &this.armed {
            None => {
                let state = Rc::new(SleepState::default());
                *state.waker.borrow_mut() = Some(cx.waker().clone());
                let s = state.clone();
                let ms = this.ms;
                let t = current::with_loop(|lp| {
                    lp.set_timeout(ms, move |lp| {
                        s.fired.set(true);
                        if let Some(w) = s.waker.borrow_mut().take() {
                            current::enter(lp, || w.wake());
                        }
                    })
                });
                this.armed = Some((t, state));
                Poll::Pending
            }
            Some((_, s)) if s.fired.get() => Poll::Ready(()),
            Some((_, s)) => {
                let mut w = s.waker.borrow_mut();
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((t, s)) = &self.armed {
            if !s.fired.get() {
                // Dropped outside any task (the loop itself going away): the
                // timer then fires into the void, harmlessly.
                current::try_with_loop(|lp| lp.clear_timeout(*t));
            }
        }
    }
}

/// A future of a thread-pool job's result; see [`Loop::run_work`]. Dropped
/// while the job still waits for a worker, it cancels the job, as the fs
/// and dns awaitables do ([`WorkFuture`]).
pub type Work<T> = WorkFuture<Result<T, WorkError>>;

impl Loop {
    /// A promise fulfilled with `value` after `ms` milliseconds
    /// (`setTimeout(ms, value)` from `timers/promises`), on
    /// [`Loop::set_timeout`].
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let p = lp.set_timeout_promise(30, "later");
    /// lp.run_default();
    /// assert_eq!((p.peek().unwrap().unwrap(), lp.now()), ("later", 30));
    /// ```
    pub fn set_timeout_promise<T: Clone + 'static>(&mut self, ms: u64, value: T) -> Promise<T> {
        let (p, r) = Promise::with_resolvers();
        self.set_timeout(ms, move |lp| r.resolve(lp, value));
        p
    }

    /// A promise fulfilled with `value` in the check phase
    /// (`setImmediate(value)` from `timers/promises`), on
    /// [`Loop::set_immediate`].
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let p = lp.set_immediate_promise(1);
    /// lp.run_default();
    /// assert_eq!(p.peek().unwrap().unwrap(), 1);
    /// ```
    pub fn set_immediate_promise<T: Clone + 'static>(&mut self, value: T) -> Promise<T> {
        let (p, r) = Promise::with_resolvers();
        self.set_immediate(move |lp| r.resolve(lp, value));
        p
    }

    /// Runs `work` on the thread pool now ([`Loop::queue_work`]) and returns
    /// a future of its result.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let p = lp.spawn(async {
    ///     let work = nodeloop::with_loop(|lp| lp.run_work(|| (1..=20u64).product::<u64>()));
    ///     work.await.unwrap()
    /// }).into_promise(&mut lp);
    /// lp.run_default();
    /// assert_eq!(p.peek().unwrap().unwrap(), 2_432_902_008_176_640_000);
    /// ```
    pub fn run_work<T, W>(&mut self, work: W) -> Work<T>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
    {
        self.from_request(|lp, done| lp.queue_work(work, move |lp, r| done.complete(lp, r)))
    }
}

/// [`Loop::run_work`] on the loop polling the current task. Panics outside
/// a task.
///
/// ```
/// use nodeloop::{run_work, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { run_work(|| 2 + 2).await.unwrap() }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), 4);
/// ```
#[track_caller]
pub fn run_work<T, W>(work: W) -> Work<T>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    current::with_loop(|lp| lp.run_work(work))
}
