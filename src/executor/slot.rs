//! A one-shot result cell shared by a producer on the loop thread (a task
//! finishing, a callback API completing) and one consumer: an `await`, or a
//! callback that takes the result synchronously (conversion to a promise).
//!
//! A spawned task's future lives in the same allocation, after the state
//! (the erased `tail`), so a spawn costs one allocation.

use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;
use std::task::{Context, Poll, Waker};

use crate::current;
use crate::fast_rc::{unsize_rc, FastRc};
use crate::promise::unhandled::Tracked;
use crate::promise::Rejection;
use crate::Loop;

type Callback<O> = Box<dyn FnOnce(&mut Loop, O)>;

enum Waiter<O> {
    Nobody,
    Waker(Waker),
    Callback(Callback<O>),
}

enum State<O> {
    Waiting(Waiter<O>),
    Done(O),
    Taken,
}

pub(crate) struct Slot<O, X: ?Sized = dyn Tail> {
    /// Dropped by `Slot`'s `Drop`, which skips the (out-of-line) drop glue
    /// for the usual final state, `Taken`.
    state: RefCell<ManuallyDrop<State<O>>>,
    /// A consumer has registered (for unhandled-rejection reports).
    handled: Cell<bool>,
    reported: Cell<bool>,
    /// What else shares the allocation (the producing task's future).
    pub(crate) tail: X,
}

impl<O, X: ?Sized> Drop for Slot<O, X> {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        if !matches!(&**st, State::Taken) {
            // SAFETY: the state is dropped here only, once, and never used
            // again.
            unsafe { ManuallyDrop::drop(st) };
        }
    }
}

/// Anything stored after a slot's state; only its destructor is used.
pub(crate) trait Tail {}
impl<X> Tail for X {}

impl<O: 'static> Slot<O> {
    /// A waiting slot.
    pub(crate) fn new() -> FastRc<Slot<O>> {
        unsize_rc!(Slot::with_tail(()) => Slot<O>)
    }
}

impl<O> Slot<O> {
    /// A waiting slot with `tail` in the same allocation.
    pub(crate) fn with_tail<X>(tail: X) -> FastRc<Slot<O, X>> {
        FastRc::new_recycled(Slot {
            state: RefCell::new(ManuallyDrop::new(State::Waiting(Waiter::Nobody))),
            handled: Cell::new(false),
            reported: Cell::new(false),
            tail,
        })
    }
}

impl<O, X: ?Sized> Slot<O, X> {
    /// Stores the result of a slot that no consumer has seen (a task that
    /// finished in its first poll, before its handle existed).
    pub(crate) fn set_unwatched(&self, out: O) {
        let mut st = self.state.borrow_mut();
        debug_assert!(matches!(&**st, State::Waiting(Waiter::Nobody)));
        // Nothing to drop in the old state (as in `complete`).
        std::mem::forget(std::mem::replace(&mut **st, State::Done(out)));
    }
}

impl<O: 'static> Slot<O> {
    /// Stores the result and hands it on: to the callback at once, or to the
    /// awaiting task by waking it. Returns whether nobody consumes it yet.
    pub(crate) fn complete(this: &FastRc<Slot<O>>, lp: &mut Loop, out: O) -> bool {
        let mut st = this.state.borrow_mut();
        match &**st {
            // The common cases write the result in place.
            State::Waiting(Waiter::Nobody) => {
                // Nothing to drop in the old state: skip the generic drop
                // glue, which is a tenth of a spawn/await round trip.
                std::mem::forget(std::mem::replace(&mut **st, State::Done(out)));
                !this.handled.get()
            }
            State::Waiting(Waiter::Waker(_)) => {
                let old = std::mem::replace(&mut **st, State::Done(out));
                drop(st);
                if let State::Waiting(Waiter::Waker(w)) = old {
                    current::enter(lp, || w.wake());
                }
                false
            }
            State::Waiting(Waiter::Callback(_)) => {
                let old = std::mem::replace(&mut **st, State::Taken);
                drop(st);
                if let State::Waiting(Waiter::Callback(f)) = old {
                    f(lp, out);
                }
                false
            }
            // Completed twice: keep the first result.
            State::Done(_) | State::Taken => false,
        }
    }

    fn mark_handled(&self, lp: Option<&mut Loop>) {
        if !self.handled.replace(true) && self.reported.get() {
            match lp {
                Some(lp) => lp.rejection_handled_late(),
                None => {
                    current::try_with_loop(|lp| lp.rejection_handled_late());
                }
            }
        }
    }

    /// Routes the result to `f`: now if it is there, else on completion.
    pub(crate) fn on_complete(this: &FastRc<Slot<O>>, lp: &mut Loop, f: Callback<O>) {
        this.mark_handled(Some(lp));
        let mut st = this.state.borrow_mut();
        match std::mem::replace(&mut **st, State::Taken) {
            State::Done(out) => {
                drop(st);
                f(lp, out);
            }
            State::Waiting(_) => **st = State::Waiting(Waiter::Callback(f)),
            State::Taken => panic!("nodeloop: result already taken"),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        !matches!(&**self.state.borrow(), State::Waiting(_))
    }

    /// The `await` side. The first poll only registers, as JavaScript's
    /// `await` always takes a microtask turn; a result already there makes
    /// it wake itself at once.
    pub(crate) fn poll(&self, first: &mut bool, cx: &mut Context<'_>) -> Poll<O> {
        if *first {
            *first = false;
            self.mark_handled(None);
            let mut st = self.state.borrow_mut();
            if let State::Waiting(w) = &mut **st {
                *w = Waiter::Waker(cx.waker().clone());
            } else {
                drop(st);
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
        let mut st = self.state.borrow_mut();
        match &mut **st {
            State::Done(_) => match std::mem::replace(&mut **st, State::Taken) {
                State::Done(out) => Poll::Ready(out),
                _ => unreachable!(),
            },
            State::Waiting(w) => {
                if !matches!(w, Waiter::Waker(old) if old.will_wake(cx.waker())) {
                    *w = Waiter::Waker(cx.waker().clone());
                }
                Poll::Pending
            }
            State::Taken => panic!("nodeloop: future polled after it completed"),
        }
    }
}

impl<T: 'static> Tracked for FastRc<Slot<Result<T, Rejection>>> {
    fn unhandled(&self) -> Option<Rejection> {
        if self.handled.get() {
            return None;
        }
        match &**self.state.borrow() {
            State::Done(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
    fn mark_reported(&self) {
        self.reported.set(true);
    }
}
