//! From callback APIs to awaitables: the one bridge every awaitable form of
//! a callback operation is built on, so both forms share one implementation.
//!
//! - [`Loop::from_callback`] starts a callback operation now and returns a
//!   future of the value its callback receives;
//! - [`Loop::from_request`] does the same for a thread-pool operation that
//!   returns its [`WorkRequest`], and cancels the job if the future is
//!   dropped before a worker has started it;
//! - [`promisify`] turns an error-first callback API into a
//!   promise-returning one, as Node's `util.promisify`.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Weak;
use std::task::{Context, Poll};

use crate::core::poll::Wake;
use crate::current;
use crate::executor::slot::Slot;
use crate::fast_rc::FastRc;
use crate::promise::{Promise, Rejection};
use crate::{Loop, WorkRequest};

/// The completion callback handed to a callback operation by
/// [`Loop::from_callback`]. Completing wakes the awaiting task. Dropping it
/// uncompleted leaves the future pending forever (like a callback API that
/// never calls back).
pub struct Completer<T> {
    slot: FastRc<Slot<T>>,
}

impl<T> fmt::Debug for Completer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Completer")
    }
}

impl<T: 'static> Completer<T> {
    /// Delivers the operation's result.
    pub fn complete(self, lp: &mut Loop, value: T) {
        Slot::complete(&self.slot, lp, value);
    }
}

/// A future of the value a callback operation delivers; see
/// [`Loop::from_callback`]. Like an `await`, it takes at least one microtask
/// turn even when the value is already there.
pub struct FromCallback<T> {
    slot: FastRc<Slot<T>>,
    first_poll: bool,
}

impl<T> fmt::Debug for FromCallback<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromCallback")
    }
}

impl<T: 'static> Future for FromCallback<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        this.slot.poll(&mut this.first_poll, cx)
    }
}

impl<T: 'static> FromCallback<T> {
    /// Whether the operation has delivered its value.
    pub fn is_complete(&self) -> bool {
        self.slot.is_done()
    }
}

impl Loop {
    /// Starts a callback-style operation now, handing it a [`Completer`];
    /// the returned future yields what the operation completes with. This
    /// is how the loop's awaitables (e.g. [`Loop::run_work`]) are made from
    /// their callback forms.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let fut = lp.from_callback(|lp, done| {
    ///     lp.set_timeout(10, move |lp| done.complete(lp, "ten ms later"));
    /// });
    /// let p = lp.spawn(fut).into_promise(&mut lp);
    /// lp.run_default();
    /// assert_eq!(p.peek().unwrap().unwrap(), "ten ms later");
    /// ```
    pub fn from_callback<T: 'static>(
        &mut self,
        start: impl FnOnce(&mut Loop, Completer<T>),
    ) -> FromCallback<T> {
        let slot = Slot::new();
        start(self, Completer { slot: slot.clone() });
        FromCallback {
            slot,
            first_poll: true,
        }
    }

    /// [`Loop::from_callback`] for an operation on the thread pool: `start`
    /// returns the operation's [`WorkRequest`] (or `None` when it did not
    /// need the pool), and the returned future cancels that request if it
    /// is dropped while the job still waits for a worker (see
    /// [`WorkFuture`]). The `nodeloop::fs::promises` functions are this over
    /// the `nodeloop::fs` callback forms.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let p = lp.spawn(async {
    ///     let fut = nodeloop::with_loop(|lp| {
    ///         lp.from_request(|lp, done| {
    ///             lp.queue_work(|| 6 * 7, move |lp, r| done.complete(lp, r))
    ///         })
    ///     });
    ///     fut.await.unwrap()
    /// }).into_promise(&mut lp);
    /// lp.run_default();
    /// assert_eq!(p.peek().unwrap().unwrap(), 42);
    /// ```
    pub fn from_request<T: 'static, R: Into<Option<WorkRequest>>>(
        &mut self,
        start: impl FnOnce(&mut Loop, Completer<T>) -> R,
    ) -> WorkFuture<T> {
        let mut request = None;
        let inner = self.from_callback(|lp, done| request = start(lp, done).into());
        WorkFuture {
            inner,
            request: request.map(|r| (r, self.work_owner())),
        }
    }
}

/// A future of what a thread-pool callback operation delivers; see
/// [`Loop::from_request`]. It resolves exactly as [`FromCallback`] does (at
/// least one microtask turn, woken from the operation's callback in the
/// poll phase).
///
/// Dropping it before the operation completes is harmless: the operation's
/// callback still runs and its result is dropped. If no worker has started
/// the job yet, it is also cancelled ([`Loop::cancel_work`]), so the
/// operation does not happen at all; once a worker runs it, it runs to the
/// end. Either way it happened wholly or not at all. Cancelling needs the
/// loop, so it is done when the future is dropped inside a task of the loop
/// that started it (where futures are normally dropped); dropped anywhere
/// else, the job simply runs.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// lp.spawn(async {
///     // Started at once, then dropped: the stat is cancelled or its
///     // result discarded, and the loop still ends.
///     let fut = nodeloop::with_loop(|lp| {
///         lp.from_request(|lp, done| fs::stat(lp, "/", move |lp, r| done.complete(lp, r)))
///     });
///     assert!(!fut.is_complete());
///     drop(fut);
/// });
/// assert!(!lp.run_default());
/// ```
#[must_use = "dropping it at once cancels the operation if no worker has started it"]
pub struct WorkFuture<T> {
    inner: FromCallback<T>,
    request: Option<(WorkRequest, Weak<Wake>)>,
}

impl<T> fmt::Debug for WorkFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkFuture")
            .field("request", &self.request.as_ref().map(|r| r.0))
            .finish()
    }
}

impl<T: 'static> Future for WorkFuture<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let out = Pin::new(&mut this.inner).poll(cx);
        if out.is_ready() {
            this.request = None;
        }
        out
    }
}

impl<T: 'static> WorkFuture<T> {
    /// Whether the operation has delivered its value.
    ///
    /// ```
    /// use nodeloop::{Loop, WorkFuture};
    /// let mut lp = Loop::new();
    /// let fut: WorkFuture<u8> = lp.from_request(|lp, done| {
    ///     lp.queue_work(|| 7, move |lp, r| done.complete(lp, r.unwrap()))
    /// });
    /// assert!(!fut.is_complete()); // the pool has not called back yet
    /// lp.run_default();
    /// assert!(fut.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }
}

impl<T> Drop for WorkFuture<T> {
    fn drop(&mut self) {
        let Some((req, owner)) = self.request.take() else {
            return;
        };
        current::try_with_loop(|lp| {
            if lp.owns_work(&owner) {
                // Busy or finished is fine: the callback then delivers into
                // a slot nobody reads any more, which is all dropping means.
                let _ = lp.cancel_work(req);
            }
        });
    }
}

/// The error-first callback a promisified function receives.
pub type NodeCallback<T, E> = Box<dyn FnOnce(&mut Loop, Result<T, E>)>;

/// Turns an error-first callback API `f(lp, args, callback)` into a function
/// returning a promise (`util.promisify`). `f` runs synchronously when the
/// promisified function is called; a panic in it rejects the promise.
///
/// ```
/// use nodeloop::{promisify, Loop, NodeCallback};
/// use std::num::ParseIntError;
///
/// // A callback API: parses after a delay, reports errors first-class.
/// fn parse_later(lp: &mut Loop, s: String, cb: NodeCallback<u32, ParseIntError>) {
///     lp.set_timeout(1, move |lp| cb(lp, s.parse()));
/// }
///
/// let parse = promisify(parse_later);
/// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
/// let ok = parse(&mut lp, "42".to_string());
/// let bad = parse(&mut lp, "x".to_string());
/// bad.catch(&mut lp, |_, _| 0);
/// lp.run_default();
/// assert_eq!(ok.peek().unwrap().unwrap(), 42);
/// assert!(bad.peek().unwrap().unwrap_err().downcast_ref::<ParseIntError>().is_some());
/// ```
pub fn promisify<A, T, E, F>(f: F) -> impl Fn(&mut Loop, A) -> Promise<T>
where
    F: Fn(&mut Loop, A, NodeCallback<T, E>),
    T: Clone + 'static,
    E: Into<Rejection> + 'static,
{
    move |lp, args| {
        let (p, r) = Promise::with_resolvers();
        let r = Rc::new(std::cell::Cell::new(Some(r)));
        let rc = r.clone();
        let cb: NodeCallback<T, E> = Box::new(move |lp, res| {
            // A callback called twice: the first call wins, as a promise can
            // settle only once.
            if let Some(r) = rc.take() {
                r.settle(lp, res.map_err(Into::into));
            }
        });
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(lp, args, cb))) {
            if let Some(r) = r.take() {
                r.reject(lp, Rejection::from_panic(payload));
            }
        }
        p
    }
}
