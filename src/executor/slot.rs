//! A one-shot result cell shared by a producer on the loop thread (a task
//! finishing, a callback API completing) and one consumer: an `await`, or a
//! callback that takes the result synchronously (conversion to a promise).
//!
//! A spawned task's future lives in the same allocation, after the state
//! (the erased `tail`), so a spawn costs one allocation.

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::task::{Context, Poll, Waker};

use crate::current;
use crate::fast_rc::{unsize_rc, FastRc};
use crate::promise::unhandled::Tracked;
use crate::promise::Rejection;
use crate::Loop;

type Callback<O> = Box<dyn FnOnce(&mut Loop, O)>;

#[derive(Default)]
enum Waiter<O> {
    #[default]
    Nobody,
    Waker(Waker),
    Callback(Callback<O>),
}

/// No result yet; `waiter` says who wants it.
const WAITING: u8 = 0;
/// The result is in `out`.
const DONE: u8 = 1;
/// The result was handed on (or a callback is taking it).
const TAKEN: u8 = 2;

/// The state is a phase byte beside the result's storage, not an enum
/// behind a `RefCell`: storing a result, and taking it, is then a write and
/// a read of the value and one byte, instead of moving a whole tagged state
/// in and out through a borrow flag (about 60 of a spawn/await round trip's
/// instructions went there). Nothing here runs foreign code (a waker's
/// clone, wake or drop, a callback, a value's destructor) while `out` is
/// borrowed: values are moved in and out whole, and the waiter is a `Cell`
/// whose old value is dropped after it has been swapped out.
pub(crate) struct Slot<O, X: ?Sized = dyn Tail> {
    phase: Cell<u8>,
    /// A consumer has registered (for unhandled-rejection reports).
    handled: Cell<bool>,
    reported: Cell<bool>,
    /// Who waits, while `WAITING`.
    waiter: Cell<Waiter<O>>,
    /// Initialised exactly while `DONE`.
    out: UnsafeCell<MaybeUninit<O>>,
    /// What else shares the allocation (the producing task's future).
    pub(crate) tail: X,
}

impl<O, X: ?Sized> Drop for Slot<O, X> {
    fn drop(&mut self) {
        if self.phase.get() == DONE {
            // SAFETY: `DONE` means initialised and not moved out; this is
            // the last use.
            unsafe { self.out.get_mut().assume_init_drop() };
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
            phase: Cell::new(WAITING),
            handled: Cell::new(false),
            reported: Cell::new(false),
            waiter: Cell::new(Waiter::Nobody),
            out: UnsafeCell::new(MaybeUninit::uninit()),
            tail,
        })
    }
}

impl<O, X: ?Sized> Slot<O, X> {
    /// Stores `out` and marks it there. The caller has checked that the
    /// slot is `WAITING`.
    #[inline]
    fn store(&self, out: O) {
        debug_assert_eq!(self.phase.get(), WAITING);
        // SAFETY: `WAITING`, so nothing is initialised and nothing borrows
        // `out` (see the type's comment).
        unsafe { (*self.out.get()).write(out) };
        self.phase.set(DONE);
    }

    /// Moves the result out. The caller has checked that the slot is
    /// `DONE`.
    #[inline]
    fn take_out(&self) -> O {
        debug_assert_eq!(self.phase.get(), DONE);
        self.phase.set(TAKEN);
        // SAFETY: it was `DONE`: initialised, and now marked moved out.
        unsafe { (*self.out.get()).assume_init_read() }
    }

    /// Stores the result of a slot that no consumer has seen (a task that
    /// finished in its first poll, before its handle existed).
    pub(crate) fn set_unwatched(&self, out: O) {
        self.store(out);
    }
}

impl<O: 'static> Slot<O> {
    /// Stores the result and hands it on: to the callback at once, or to the
    /// awaiting task by waking it. Returns whether nobody consumes it yet.
    pub(crate) fn complete(this: &FastRc<Slot<O>>, lp: &mut Loop, out: O) -> bool {
        if this.phase.get() != WAITING {
            // Completed twice: keep the first result.
            return false;
        }
        match this.waiter.take() {
            Waiter::Nobody => {
                this.store(out);
                !this.handled.get()
            }
            Waiter::Waker(w) => {
                this.store(out);
                current::enter(lp, || w.wake());
                false
            }
            Waiter::Callback(f) => {
                this.phase.set(TAKEN);
                f(lp, out);
                false
            }
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
        match this.phase.get() {
            DONE => {
                let out = this.take_out();
                f(lp, out);
            }
            WAITING => drop(this.waiter.replace(Waiter::Callback(f))),
            _ => panic!("nodeloop: result already taken"),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.phase.get() != WAITING
    }

    /// The `await` side. The first poll only registers, as JavaScript's
    /// `await` always takes a microtask turn; a result already there makes
    /// it wake itself at once.
    pub(crate) fn poll(&self, first: &mut bool, cx: &mut Context<'_>) -> Poll<O> {
        if *first {
            *first = false;
            self.mark_handled(None);
            if self.phase.get() == WAITING {
                let w = cx.waker().clone();
                drop(self.waiter.replace(Waiter::Waker(w)));
            } else {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
        match self.phase.get() {
            DONE => Poll::Ready(self.take_out()),
            WAITING => {
                let old = self.waiter.take();
                match old {
                    Waiter::Waker(ref w) if w.will_wake(cx.waker()) => self.waiter.set(old),
                    _ => {
                        drop(old);
                        self.waiter.set(Waiter::Waker(cx.waker().clone()));
                    }
                }
                Poll::Pending
            }
            _ => panic!("nodeloop: future polled after it completed"),
        }
    }
}

impl<T: 'static> Tracked for FastRc<Slot<Result<T, Rejection>>> {
    fn unhandled(&self) -> Option<Rejection> {
        if self.handled.get() || self.phase.get() != DONE {
            return None;
        }
        // SAFETY: `DONE`: initialised; borrowed only for the clone of the
        // reason (an `Rc` clone, no foreign code).
        match unsafe { (*self.out.get()).assume_init_ref() } {
            Err(e) => Some(e.clone()),
            Ok(_) => None,
        }
    }
    fn mark_reported(&self) {
        self.reported.set(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    use crate::test_util::CountDrop;

    #[test]
    fn a_result_is_dropped_once_whether_taken_or_left_in_the_slot() {
        let mut lp = Loop::new();
        let drops = Rc::new(Cell::new(0));
        // Left in the slot: dropped with it.
        let left = Slot::<CountDrop>::new();
        assert!(Slot::complete(&left, &mut lp, CountDrop(drops.clone())));
        assert!(left.is_done());
        drop(left);
        assert_eq!(drops.get(), 1);
        // Taken by a callback: dropped by whoever took it, not again.
        let taken = Slot::<CountDrop>::new();
        Slot::complete(&taken, &mut lp, CountDrop(drops.clone()));
        let got = Rc::new(Cell::new(false));
        let g = got.clone();
        Slot::on_complete(
            &taken,
            &mut lp,
            Box::new(move |_, v| {
                g.set(true);
                drop(v);
            }),
        );
        assert!(got.get());
        assert_eq!(drops.get(), 2);
        drop(taken);
        assert_eq!(drops.get(), 2, "the slot does not drop a taken result");
    }

    #[test]
    fn a_second_completion_is_dropped_and_the_first_kept() {
        let mut lp = Loop::new();
        let slot = Slot::<u32>::new();
        Slot::complete(&slot, &mut lp, 1);
        assert!(!Slot::complete(&slot, &mut lp, 2));
        let got = Rc::new(Cell::new(0));
        let g = got.clone();
        Slot::on_complete(&slot, &mut lp, Box::new(move |_, v| g.set(v)));
        assert_eq!(got.get(), 1);
    }

    #[test]
    fn a_callback_registered_first_gets_the_result_on_completion() {
        let mut lp = Loop::new();
        let slot = Slot::<&'static str>::new();
        let got = Rc::new(Cell::new(""));
        let g = got.clone();
        Slot::on_complete(&slot, &mut lp, Box::new(move |_, v| g.set(v)));
        assert!(!slot.is_done());
        assert!(
            !Slot::complete(&slot, &mut lp, "late"),
            "a consumer is there"
        );
        assert_eq!(got.get(), "late");
        assert!(slot.is_done());
    }
}
