//! From callback APIs to awaitables: the one bridge every awaitable form of
//! a callback operation is built on, so both forms share one implementation.
//!
//! - [`Loop::from_callback`] starts a callback operation now and returns a
//!   future of the value its callback receives;
//! - [`promisify`] turns an error-first callback API into a
//!   promise-returning one, as Node's `util.promisify`.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::executor::slot::Slot;
use crate::promise::{Promise, Rejection};
use crate::Loop;

/// The completion callback handed to a callback operation by
/// [`Loop::from_callback`]. Completing wakes the awaiting task. Dropping it
/// uncompleted leaves the future pending forever (like a callback API that
/// never calls back).
pub struct Completer<T> {
    slot: Rc<Slot<T>>,
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
    slot: Rc<Slot<T>>,
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
