//! The loop that is polling a future on this thread, reachable from inside
//! the future.
//!
//! A future cannot take `&mut Loop` as an argument, yet awaiting a timer or
//! spawning a task needs one. While the executor polls a task (and while the
//! loop wakes wakers) it lends its `&mut Loop` to this thread through
//! [`enter`]; code inside the poll borrows it back with [`with_loop`]. The
//! loan is scoped: it exists only for the duration of the `enter` call, and
//! while `with_loop` holds it, it is taken out of the slot so that no second
//! `&mut Loop` can exist (a nested `with_loop` finds the slot empty). The
//! lender cannot use its own `&mut Loop` meanwhile: `enter` borrows it for the
//! whole call. See `docs/async.md` for why this was chosen over a command
//! queue.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::Loop;

thread_local! {
    static CURRENT: Cell<Option<NonNull<Loop>>> = const { Cell::new(None) };
}

/// Restores the previous loan when a scope ends, also by unwinding.
struct Restore(Option<NonNull<Loop>>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Lends `lp` to `f`'s dynamic extent on this thread.
#[inline]
pub(crate) fn enter<R>(lp: &mut Loop, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| c.replace(Some(NonNull::from(lp))));
    let _restore = Restore(prev);
    f()
}

/// Runs `f` with the loop that is polling the current future, or returns
/// `None` when no loop is (code outside a task, or already inside
/// `with_loop`).
///
/// ```
/// use nodeloop::{try_with_loop, Loop};
/// assert!(try_with_loop(|_| ()).is_none()); // not inside a task
/// let mut lp = Loop::new();
/// lp.spawn(async {
///     let now = try_with_loop(|lp| lp.now());
///     assert!(now.is_some());
/// });
/// lp.run_default();
/// ```
#[inline]
pub fn try_with_loop<R>(f: impl FnOnce(&mut Loop) -> R) -> Option<R> {
    let ptr = CURRENT.with(|c| c.take())?;
    let _restore = Restore(Some(ptr));
    // SAFETY: the pointer was lent by `enter`, whose caller holds the only
    // `&mut Loop` and cannot use it until `enter` returns, which is after
    // this scope. Taking it out of the slot makes this the only live
    // reborrow; it is put back when `f` returns or unwinds.
    Some(f(unsafe { &mut *ptr.as_ptr() }))
}

/// Runs `f` with the loop that is polling the current future.
///
/// Panics when called outside a task of a nodeloop loop (or nested inside
/// another `with_loop`): that is a misuse by the caller, like awaiting a
/// tokio timer outside a tokio runtime.
///
/// ```
/// use nodeloop::{with_loop, Loop};
/// use std::{cell::Cell, rc::Rc};
/// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
/// let fired = Rc::new(Cell::new(false));
/// let f = fired.clone();
/// lp.spawn(async move {
///     with_loop(|lp| lp.set_timeout(5, move |_| f.set(true)));
/// });
/// lp.run_default();
/// assert!(fired.get());
/// ```
#[track_caller]
pub fn with_loop<R>(f: impl FnOnce(&mut Loop) -> R) -> R {
    match try_with_loop(f) {
        Some(r) => r,
        None => panic!(
            "nodeloop: no loop is polling this future (use it inside a task spawned on a Loop, outside with_loop)"
        ),
    }
}

/// Runs `f` with the loop lent on this thread, if there is one and `same`
/// accepts it; returns whether it did. A waker's hot path: one thread-local
/// access, and the loan stays in its slot, because `f` (the executor's own
/// code, which queues a poll) runs no code that could borrow it again.
#[inline]
pub(crate) fn with_lent_if(same: impl FnOnce(&Loop) -> bool, f: impl FnOnce(&mut Loop)) -> bool {
    let Some(ptr) = CURRENT.with(|c| c.get()) else {
        return false;
    };
    // SAFETY: the pointer was lent by `enter`, whose caller cannot use its
    // `&mut Loop` until `enter` returns; while the slot holds it, no
    // `with_loop` reborrow is live either (one would have emptied the
    // slot). This borrow ends before any other code runs.
    let lp = unsafe { &mut *ptr.as_ptr() };
    if !same(lp) {
        return false;
    }
    f(lp);
    true
}
