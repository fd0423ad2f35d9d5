//! Promises bound to the loop, with JavaScript's microtask timing.
//!
//! The state machine follows ECMA-262's promise abstract operations as V8
//! implements them:
//! - a reaction registered on a settled promise is queued as a microtask at
//!   once, never run synchronously (`PerformPromiseThen`);
//! - settling queues every registered reaction, in registration order
//!   (`TriggerPromiseReactions`);
//! - resolving with another promise queues a job that registers on it
//!   (`NewPromiseResolveThenableJob`), so adoption costs two extra microtask
//!   turns, as in Node 20;
//! - a panic in a reaction rejects the derived promise, as a `throw` does.
//!
//! Values reach reactions by `Clone` (a JavaScript value is shared by every
//! reaction). When the last handle to a settled promise is the reaction
//! itself, the value is moved instead.

mod combinators;
mod rejection;
pub(crate) mod unhandled;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::current;
use crate::fast_rc::{unsize_rc, FastRc};
use crate::Loop;

pub use rejection::{ChainingCycle, Rejection, RejectionKind};
pub use unhandled::{UnhandledRejection, UnhandledRejections};

type Job<T> = Box<dyn FnOnce(&mut Loop, Result<T, Rejection>)>;

enum Reaction<T> {
    /// A continuation queued as a microtask with the outcome.
    Job(Job<T>),
    /// A `then`: the derived promise, which carries its own handler (one
    /// allocation per `then`, for the promise and the handler together).
    Derived(Derived<T>),
    /// An `await`: the waker is woken when the promise settles, which
    /// queues the task's poll as a microtask in the same position.
    Wake(Waker),
}

/// Registered reactions; a single one (the common case) needs no `Vec`.
/// The `Vec` of the rare case is boxed: one word fits beside the tag of a
/// `Reaction`, so `Reactions` and the promise's state take no more room
/// than one reaction (24 bytes, not 32), and a promise node fits a 48-byte
/// block instead of a 56-byte one (a million-promise chain touches 8 MB
/// less fresh memory).
enum Reactions<T> {
    None,
    One(Reaction<T>),
    // Boxed on purpose, for the size above (a boxed slice would reallocate
    // on every push).
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Reaction<T>>>),
}

impl<T> Reactions<T> {
    #[inline]
    fn push(&mut self, r: Reaction<T>) {
        // In place: the common first reaction is one store.
        match self {
            // `None` has nothing to drop: skip the drop glue.
            Reactions::None => std::mem::forget(std::mem::replace(self, Reactions::One(r))),
            Reactions::Many(v) => v.push(r),
            Reactions::One(_) => {
                if let Reactions::One(first) = std::mem::replace(self, Reactions::None) {
                    *self = Reactions::Many(Box::new(vec![first, r]));
                }
            }
        }
    }

    fn has_waker(&self, w: &Waker) -> bool {
        let same = |r: &Reaction<T>| matches!(r, Reaction::Wake(x) if x.will_wake(w));
        match self {
            Reactions::None => false,
            Reactions::One(r) => same(r),
            Reactions::Many(v) => v.iter().any(same),
        }
    }
}

enum State<T> {
    Pending(Reactions<T>),
    Fulfilled(T),
    Rejected(Rejection),
}

/// A promise's shared state. `X` is what else lives in the same
/// allocation: a derived promise's handler (see [`Handler`]), or nothing.
/// Handles erase it (`X = dyn Tail`), so every promise of `T` has one type.
pub(crate) struct Inner<T, X: ?Sized = dyn Tail> {
    state: RefCell<State<T>>,
    /// Something reacts to this promise (`[[PromiseIsHandled]]`).
    handled: Cell<bool>,
    /// Reported as an unhandled rejection.
    reported: Cell<bool>,
    tail: X,
}

/// Anything stored after a promise's state; only its destructor is used.
pub(crate) trait Tail {}
impl<X> Tail for X {}

/// The handler of a `then`, taken when it runs.
struct Handler<F>(Cell<Option<F>>);

/// A derived promise seen from the promise it derives from: a handle to a
/// node whose handler type is erased, with the two functions that know it.
/// (A `dyn` trait object cannot take a `FastRc` receiver on stable Rust,
/// and a `&self` one would have to outlive the node it frees.)
/// Two words, so that a queued reaction (this and its source) fits a task
/// inline.
struct Derived<T> {
    node: NonNull<()>,
    /// A `&'static` in fact; raw so that `T` need not be `'static` here.
    vt: *const DerivedVt<T>,
}

struct DerivedVt<T> {
    /// Runs the handler with the outcome and settles the node; consumes the
    /// handle.
    react: unsafe fn(NonNull<()>, &mut Loop, Result<T, Rejection>),
    /// Releases the handle without running the handler.
    release: unsafe fn(NonNull<()>),
}

impl<T> Derived<T> {
    #[inline]
    fn react(self, lp: &mut Loop, outcome: Result<T, Rejection>) {
        let me = ManuallyDrop::new(self);
        // SAFETY: `node` is a handle of the type the functions were made
        // for, given up to this value, which is forgotten so it is
        // consumed once.
        unsafe { ((*me.vt).react)(me.node, lp, outcome) }
    }
}

impl<T> Drop for Derived<T> {
    fn drop(&mut self) {
        // SAFETY: as in `react`; a dropped reaction never ran.
        unsafe { ((*self.vt).release)(self.node) }
    }
}

/// The functions of `Derived` for a node `Inner<U, Handler<F>>` reacting to
/// a promise of `T`.
struct DerivedFns<T, U, F>(PhantomData<fn(T, U, F)>);

impl<T, U, F> DerivedFns<T, U, F>
where
    T: 'static,
    U: Clone + 'static,
    F: FnOnce(&mut Loop, Result<T, Rejection>) -> Resolution<U> + 'static,
{
    const VT: DerivedVt<T> = DerivedVt {
        react: Self::react,
        release: Self::release,
    };

    fn handle(node: FastRc<Inner<U, Handler<F>>>) -> Derived<T> {
        Derived {
            node: FastRc::into_raw(node).cast(),
            vt: &Self::VT,
        }
    }

    unsafe fn react(node: NonNull<()>, lp: &mut Loop, outcome: Result<T, Rejection>) {
        // SAFETY: made by `handle` from a node of exactly this type.
        let this: FastRc<Inner<U, Handler<F>>> = unsafe { FastRc::from_raw(node.cast()) };
        let Some(f) = this.tail.0.take() else {
            return; // reactions run once; unreachable
        };
        let res = guarded(|| f(lp, outcome));
        Inner::resolve_with(&erase(this), lp, res);
    }

    unsafe fn release(node: NonNull<()>) {
        // SAFETY: made by `handle` from a node of exactly this type.
        drop(unsafe { FastRc::<Inner<U, Handler<F>>>::from_raw(node.cast()) });
    }
}

/// Forgets what else shares a promise's allocation: every promise of `T`
/// then has one handle type.
#[inline]
fn erase<T, X: Tail + 'static>(node: FastRc<Inner<T, X>>) -> FastRc<Inner<T>> {
    unsize_rc!(node => Inner<T>)
}

/// Whether a promise is settled, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromiseState {
    /// Neither fulfilled nor rejected yet.
    Pending,
    /// Fulfilled with a value.
    Fulfilled,
    /// Rejected with a [`Rejection`].
    Rejected,
}

/// A JavaScript-style promise on a [`Loop`]: pending, then fulfilled with a
/// `T` or rejected with a [`Rejection`], once.
///
/// Reactions (`then`, `catch`, `finally`, `await`) run as microtasks in
/// registration order, exactly when V8 would run them. A `Promise` is a
/// cheap handle (clones share the state) and implements [`Future`], so it
/// can be awaited in a task spawned with [`Loop::spawn`].
///
/// ```
/// use nodeloop::{Loop, Promise};
/// use std::{cell::RefCell, rc::Rc};
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let mut lp = Loop::new();
/// let (l1, l2) = (log.clone(), log.clone());
/// Promise::resolve(1)
///     .then(&mut lp, |_, v| v + 1)
///     .then(&mut lp, move |_, v| l1.borrow_mut().push(format!("then {v}")));
/// lp.queue_microtask(move |_| l2.borrow_mut().push("microtask".into()));
/// log.borrow_mut().push("main".into());
/// lp.run_default();
/// assert_eq!(*log.borrow(), ["main", "microtask", "then 2"]);
/// ```
pub struct Promise<T> {
    cell: FastRc<Inner<T>>,
    /// This handle, used as a future, has registered its waker.
    awaiting: bool,
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        Promise {
            cell: self.cell.clone(),
            awaiting: false,
        }
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("state", &self.state())
            .finish()
    }
}

/// How a reaction settles the promise it derived: like a JavaScript
/// reaction's return value or `throw`.
pub enum Resolution<T> {
    /// Fulfil with this value.
    Value(T),
    /// Reject with this reason.
    Reject(Rejection),
    /// Follow this promise (returning a promise from `then`): settles the
    /// same way, two microtask turns after it does.
    Adopt(Promise<T>),
}

impl<T> From<Result<T, Rejection>> for Resolution<T> {
    fn from(r: Result<T, Rejection>) -> Self {
        match r {
            Ok(v) => Resolution::Value(v),
            Err(e) => Resolution::Reject(e),
        }
    }
}

impl<T> From<Promise<T>> for Resolution<T> {
    fn from(p: Promise<T>) -> Self {
        Resolution::Adopt(p)
    }
}

/// The capability to settle a pending [`Promise`] (the `resolve`/`reject`
/// pair of `new Promise`). Consumed by settling, so a promise is settled at
/// most once; dropping it leaves the promise pending forever.
///
/// ```
/// use nodeloop::{Loop, Promise};
/// use std::{cell::Cell, rc::Rc};
/// let mut lp = Loop::new();
/// let (p, resolver) = Promise::with_resolvers();
/// lp.set_timeout(1, move |lp| resolver.resolve(lp, "late"));
/// let got = Rc::new(Cell::new(""));
/// let g = got.clone();
/// p.then(&mut lp, move |_, v| g.set(v));
/// lp.run_default();
/// assert_eq!(got.get(), "late");
/// ```
pub struct Resolver<T> {
    cell: FastRc<Inner<T>>,
}

impl<T> fmt::Debug for Resolver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl<T: 'static> Inner<T> {
    fn new(state: State<T>) -> FastRc<Inner<T>> {
        erase(Inner::with_tail(state, ()))
    }
}

impl<T> Inner<T> {
    fn with_tail<X>(state: State<T>, tail: X) -> FastRc<Inner<T, X>> {
        FastRc::new(Inner {
            state: RefCell::new(state),
            handled: Cell::new(false),
            reported: Cell::new(false),
            tail,
        })
    }
}

impl<T: Clone + 'static> Inner<T> {
    /// The outcome of a settled promise: moved out if `this` is the last
    /// handle, else cloned.
    fn outcome(this: FastRc<Inner<T>>) -> Result<T, Rejection> {
        // Nothing else can see the state once this is the only handle (the
        // crate makes no weak references to promises), so it can be moved.
        if FastRc::strong_count(&this) == 1 {
            let empty = State::Pending(Reactions::None);
            match std::mem::replace(&mut *this.state.borrow_mut(), empty) {
                State::Fulfilled(v) => Ok(v),
                State::Rejected(e) => Err(e),
                State::Pending(_) => unreachable!("reaction on a pending promise"),
            }
        } else {
            match &*this.state.borrow() {
                State::Fulfilled(v) => Ok(v.clone()),
                State::Rejected(e) => Err(e.clone()),
                State::Pending(_) => unreachable!("reaction on a pending promise"),
            }
        }
    }

    fn settle(this: &FastRc<Inner<T>>, lp: &mut Loop, outcome: Result<T, Rejection>) {
        let rejected = outcome.is_err();
        let new = match outcome {
            Ok(v) => State::Fulfilled(v),
            Err(e) => State::Rejected(e),
        };
        let old = std::mem::replace(&mut *this.state.borrow_mut(), new);
        let State::Pending(reactions) = old else {
            // Only reachable through adoption racing nothing: keep the
            // first settlement, as JavaScript does.
            *this.state.borrow_mut() = old;
            return;
        };
        if rejected && !this.handled.get() {
            lp.rejections.track(Box::new(this.clone()));
        }
        match reactions {
            Reactions::None => {}
            Reactions::One(r) => Inner::trigger(this, lp, r),
            Reactions::Many(v) => {
                for r in *v {
                    Inner::trigger(this, lp, r);
                }
            }
        }
    }

    #[inline]
    fn trigger(this: &FastRc<Inner<T>>, lp: &mut Loop, r: Reaction<T>) {
        match r {
            Reaction::Job(f) => {
                let src = this.clone();
                lp.queue_microtask(move |lp| f(lp, Inner::outcome(src)));
            }
            Reaction::Derived(d) => {
                let src = this.clone();
                lp.queue_microtask(move |lp| d.react(lp, Inner::outcome(src)));
            }
            Reaction::Wake(w) => current::enter(lp, || w.wake()),
        }
    }

    fn mark_handled(&self, lp: Option<&mut Loop>) {
        if !self.handled.replace(true) && self.reported.get() {
            if let Some(lp) = lp {
                lp.rejection_handled_late();
            }
        }
    }

    fn add_reaction(this: &FastRc<Inner<T>>, lp: &mut Loop, r: Reaction<T>) {
        this.mark_handled(Some(lp));
        let mut st = this.state.borrow_mut();
        if let State::Pending(rs) = &mut *st {
            rs.push(r);
        } else {
            drop(st);
            Inner::trigger(this, lp, r);
        }
    }

    fn resolve_with(this: &FastRc<Inner<T>>, lp: &mut Loop, res: Resolution<T>) {
        match res {
            Resolution::Value(v) => Inner::settle(this, lp, Ok(v)),
            Resolution::Reject(e) => Inner::settle(this, lp, Err(e)),
            Resolution::Adopt(q) => {
                if FastRc::ptr_eq(&q.cell, this) {
                    return Inner::settle(this, lp, Err(Rejection::new(ChainingCycle)));
                }
                let target = this.clone();
                // NewPromiseResolveThenableJob: registering on `q` is itself
                // a job, and `q`'s reaction another.
                lp.queue_microtask(move |lp| {
                    let reaction: Job<T> =
                        Box::new(move |lp, outcome| Inner::settle(&target, lp, outcome));
                    Inner::add_reaction(&q.cell, lp, Reaction::Job(reaction));
                });
            }
        }
    }
}

impl<T: 'static> unhandled::Tracked for FastRc<Inner<T>> {
    fn unhandled(&self) -> Option<Rejection> {
        if self.handled.get() {
            return None;
        }
        match &*self.state.borrow() {
            State::Rejected(e) => Some(e.clone()),
            _ => None,
        }
    }
    fn mark_reported(&self) {
        self.reported.set(true);
    }
}

/// Runs a reaction body, turning a panic into a rejection (JavaScript's
/// `throw` inside a callback).
#[inline]
fn guarded<U>(f: impl FnOnce() -> Resolution<U>) -> Resolution<U> {
    panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|p| Resolution::Reject(Rejection::from_panic(p)))
}

impl<T> Promise<T> {
    /// Whether it is pending, fulfilled or rejected.
    pub fn state(&self) -> PromiseState {
        match &*self.cell.state.borrow() {
            State::Pending(_) => PromiseState::Pending,
            State::Fulfilled(_) => PromiseState::Fulfilled,
            State::Rejected(_) => PromiseState::Rejected,
        }
    }
}

impl<T: Clone + 'static> Promise<T> {
    fn from_inner(cell: FastRc<Inner<T>>) -> Promise<T> {
        Promise {
            cell,
            awaiting: false,
        }
    }

    /// A pending promise and the resolver that settles it
    /// (`Promise.withResolvers()`).
    pub fn with_resolvers() -> (Promise<T>, Resolver<T>) {
        let cell = Inner::new(State::Pending(Reactions::None));
        (Promise::from_inner(cell.clone()), Resolver { cell })
    }

    /// `new Promise(executor)`: runs `executor` now with the resolver; a
    /// panic in it rejects the promise.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise, PromiseState};
    /// let mut lp = Loop::new();
    /// let p = Promise::new(&mut lp, |lp, r| r.resolve(lp, 7));
    /// assert_eq!(p.state(), PromiseState::Fulfilled);
    /// let q: Promise<i32> = Promise::new(&mut lp, |_, _| panic!("thrown"));
    /// q.catch(&mut lp, |_, _| 0);
    /// assert_eq!(q.state(), PromiseState::Rejected);
    /// ```
    pub fn new(lp: &mut Loop, executor: impl FnOnce(&mut Loop, Resolver<T>)) -> Promise<T> {
        let (p, r) = Promise::with_resolvers();
        let cell = p.cell.clone();
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| executor(lp, r))) {
            if matches!(&*cell.state.borrow(), State::Pending(_)) {
                Inner::settle(&cell, lp, Err(Rejection::from_panic(payload)));
            }
        }
        p
    }

    /// A promise fulfilled with `value` (`Promise.resolve(value)`).
    pub fn resolve(value: T) -> Promise<T> {
        Promise::from_inner(Inner::new(State::Fulfilled(value)))
    }

    /// A promise rejected with `reason` (`Promise.reject(reason)`). Unless
    /// something handles it before the microtask queue drains, it is
    /// reported as an unhandled rejection.
    pub fn reject(lp: &mut Loop, reason: impl Into<Rejection>) -> Promise<T> {
        let (p, r) = Promise::with_resolvers();
        r.reject(lp, reason);
        p
    }

    /// The outcome, if settled (a copy; does not count as handling it).
    pub fn peek(&self) -> Option<Result<T, Rejection>> {
        match &*self.cell.state.borrow() {
            State::Pending(_) => None,
            State::Fulfilled(v) => Some(Ok(v.clone())),
            State::Rejected(e) => Some(Err(e.clone())),
        }
    }

    /// Whether both are handles to the same promise.
    pub fn ptr_eq(&self, other: &Promise<T>) -> bool {
        FastRc::ptr_eq(&self.cell, &other.cell)
    }

    /// Registers a raw reaction: `f` runs as a microtask with the outcome.
    /// The building block of every combinator.
    pub(crate) fn on_settle(
        &self,
        lp: &mut Loop,
        f: impl FnOnce(&mut Loop, Result<T, Rejection>) + 'static,
    ) {
        Inner::add_reaction(&self.cell, lp, Reaction::Job(Box::new(f)));
    }

    /// The general `then(onFulfilled, onRejected)`: each handler decides how
    /// the returned promise settles.
    pub fn then_with<U: Clone + 'static>(
        &self,
        lp: &mut Loop,
        on_fulfilled: impl FnOnce(&mut Loop, T) -> Resolution<U> + 'static,
        on_rejected: impl FnOnce(&mut Loop, Rejection) -> Resolution<U> + 'static,
    ) -> Promise<U> {
        self.derive(lp, move |lp, outcome| match outcome {
            Ok(v) => on_fulfilled(lp, v),
            Err(e) => on_rejected(lp, e),
        })
    }

    /// A promise settled by `f`'s resolution of this one's outcome, `f`
    /// stored in the derived promise's own allocation.
    #[inline]
    fn derive<U: Clone + 'static>(
        &self,
        lp: &mut Loop,
        f: impl FnOnce(&mut Loop, Result<T, Rejection>) -> Resolution<U> + 'static,
    ) -> Promise<U> {
        let node = Inner::with_tail(State::Pending(Reactions::None), Handler(Cell::new(Some(f))));
        let reaction = DerivedFns::handle(node.clone());
        Inner::add_reaction(&self.cell, lp, Reaction::Derived(reaction));
        Promise::from_inner(erase(node))
    }

    /// `then(f)`: a promise of `f`'s result; a rejection passes through.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise};
    /// let mut lp = Loop::new();
    /// let p = Promise::resolve(20).then(&mut lp, |_, v| v * 2 + 2);
    /// lp.run_default();
    /// assert_eq!(p.peek().unwrap().unwrap(), 42);
    /// ```
    pub fn then<U: Clone + 'static>(
        &self,
        lp: &mut Loop,
        f: impl FnOnce(&mut Loop, T) -> U + 'static,
    ) -> Promise<U> {
        self.derive(lp, move |lp, outcome| match outcome {
            Ok(v) => Resolution::Value(f(lp, v)),
            Err(e) => Resolution::Reject(e),
        })
    }

    /// `then(f)` where `f` may fail (JavaScript's `throw`).
    ///
    /// ```
    /// use nodeloop::{Loop, Promise, PromiseState};
    /// let mut lp = Loop::new();
    /// let p = Promise::resolve("x").then_try(&mut lp, |_, s| s.parse::<u8>().map_err(Into::into));
    /// p.catch(&mut lp, |_, _| 0);
    /// lp.run_default();
    /// assert_eq!(p.state(), PromiseState::Rejected);
    /// ```
    pub fn then_try<U: Clone + 'static>(
        &self,
        lp: &mut Loop,
        f: impl FnOnce(&mut Loop, T) -> Result<U, Rejection> + 'static,
    ) -> Promise<U> {
        self.then_with(
            lp,
            move |lp, v| f(lp, v).into(),
            |_, e| Resolution::Reject(e),
        )
    }

    /// `then(f)` where `f` returns a promise to follow.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise};
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let p = Promise::resolve(2).then_promise(&mut lp, |lp, v| lp.set_timeout_promise(10, v * 10));
    /// lp.run_default();
    /// assert_eq!(p.peek().unwrap().unwrap(), 20);
    /// ```
    pub fn then_promise<U: Clone + 'static>(
        &self,
        lp: &mut Loop,
        f: impl FnOnce(&mut Loop, T) -> Promise<U> + 'static,
    ) -> Promise<U> {
        self.then_with(
            lp,
            move |lp, v| Resolution::Adopt(f(lp, v)),
            |_, e| Resolution::Reject(e),
        )
    }

    /// `catch(f)`: recovers from a rejection with `f`'s value; a fulfilment
    /// passes through.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise};
    /// let mut lp = Loop::new();
    /// let p = Promise::<u32>::reject(&mut lp, std::fmt::Error).catch(&mut lp, |_, _| 5);
    /// lp.run_default();
    /// assert_eq!(p.peek().unwrap().unwrap(), 5);
    /// ```
    pub fn catch(
        &self,
        lp: &mut Loop,
        f: impl FnOnce(&mut Loop, Rejection) -> T + 'static,
    ) -> Promise<T> {
        self.then_with(
            lp,
            |_, v| Resolution::Value(v),
            move |lp, e| Resolution::Value(f(lp, e)),
        )
    }

    /// `catch(f)` where `f` decides how to settle (rethrow, recover, follow).
    pub fn catch_with(
        &self,
        lp: &mut Loop,
        f: impl FnOnce(&mut Loop, Rejection) -> Resolution<T> + 'static,
    ) -> Promise<T> {
        self.then_with(lp, |_, v| Resolution::Value(v), f)
    }

    /// `finally(f)`: runs `f` however the promise settles, then settles the
    /// same way (or with `f`'s panic). As in V8, the returned promise settles
    /// three microtask turns after this one, where a `then` takes one.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise};
    /// use std::{cell::Cell, rc::Rc};
    /// let mut lp = Loop::new();
    /// let ran = Rc::new(Cell::new(false));
    /// let r = ran.clone();
    /// let p = Promise::resolve(1).finally(&mut lp, move |_| r.set(true));
    /// lp.run_default();
    /// assert!(ran.get());
    /// assert_eq!(p.peek().unwrap().unwrap(), 1);
    /// ```
    pub fn finally(&self, lp: &mut Loop, f: impl FnOnce(&mut Loop) + 'static) -> Promise<T> {
        // Both branches need `f`; only one runs.
        let f = Rc::new(Cell::new(Some(f)));
        let g = f.clone();
        self.then_with(
            lp,
            move |lp, v| {
                if let Some(f) = f.take() {
                    f(lp);
                }
                // thenFinally: PromiseResolve(onFinally()).then(() => value)
                Resolution::Adopt(Promise::resolve(()).then(lp, move |_, ()| v))
            },
            move |lp, e| {
                if let Some(f) = g.take() {
                    f(lp);
                }
                Resolution::Adopt(Promise::resolve(()).then_with(
                    lp,
                    move |_, ()| Resolution::Reject(e),
                    |_, e| Resolution::Reject(e),
                ))
            },
        )
    }
}

impl<T: Clone + 'static> Resolver<T> {
    /// Fulfils the promise with `value`.
    pub fn resolve(self, lp: &mut Loop, value: T) {
        Inner::settle(&self.cell, lp, Ok(value));
    }

    /// Rejects the promise.
    pub fn reject(self, lp: &mut Loop, reason: impl Into<Rejection>) {
        Inner::settle(&self.cell, lp, Err(reason.into()));
    }

    /// Fulfils or rejects according to `outcome`.
    pub fn settle(self, lp: &mut Loop, outcome: Result<T, Rejection>) {
        Inner::settle(&self.cell, lp, outcome);
    }

    /// Makes the promise follow `other` (`resolve(otherPromise)`), two
    /// microtask turns behind it. Following itself rejects with
    /// [`ChainingCycle`].
    pub fn adopt(self, lp: &mut Loop, other: Promise<T>) {
        Inner::resolve_with(&self.cell, lp, Resolution::Adopt(other));
    }

    /// Settles according to a [`Resolution`].
    pub fn resolve_with(self, lp: &mut Loop, res: Resolution<T>) {
        Inner::resolve_with(&self.cell, lp, res);
    }

    /// The promise this resolver settles.
    pub fn promise(&self) -> Promise<T> {
        Promise::from_inner(self.cell.clone())
    }
}

/// Awaiting a promise yields its outcome. Like JavaScript's `await`, it
/// takes at least one microtask turn, even on a settled promise.
impl<T: Clone + 'static> Future for Promise<T> {
    type Output = Result<T, Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.awaiting {
            this.awaiting = true;
            if !this.cell.handled.get() {
                match current::try_with_loop(|lp| this.cell.mark_handled(Some(lp))) {
                    Some(()) => {}
                    None => this.cell.mark_handled(None),
                }
            }
            match &mut *this.cell.state.borrow_mut() {
                State::Pending(rs) => rs.push(Reaction::Wake(cx.waker().clone())),
                _ => cx.waker().wake_by_ref(),
            }
            return Poll::Pending;
        }
        match &mut *this.cell.state.borrow_mut() {
            State::Pending(rs) => {
                if !rs.has_waker(cx.waker()) {
                    rs.push(Reaction::Wake(cx.waker().clone()));
                }
                Poll::Pending
            }
            State::Fulfilled(v) => Poll::Ready(Ok(v.clone())),
            State::Rejected(e) => Poll::Ready(Err(e.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promise_node_fits_a_48_byte_block() {
        // The state is no larger than one reaction (see `Reactions`).
        assert_eq!(size_of::<State<u64>>(), size_of::<Reaction<u64>>());
        // With the 8-byte count in front, a `then` node whose handler
        // captures nothing (a zero-sized closure, here `()`) takes a
        // 48-byte block.
        assert!(size_of::<Inner<u64, Handler<()>>>() + 8 <= 48);
    }
}
