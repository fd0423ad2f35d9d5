//! Async handles (`uv_async_t`): any thread may ask the loop to run a
//! callback on the loop thread.
//!
//! Sends are coalesced as in libuv: however many arrive before the callback
//! runs, it runs once; a send that arrives while the callback runs causes one
//! more call. The pending flag is cleared just before the call, which is what
//! makes both rules hold.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::core::poll::Wake;
use crate::handle::{Handle, HandleId, Kind};
use crate::Loop;

struct Shared {
    pending: AtomicBool,
    closed: AtomicBool,
    wake: Arc<Wake>,
}

type AsyncCb = Box<dyn FnMut(&mut Loop, Async)>;

pub(crate) struct AsyncData {
    shared: Arc<Shared>,
    cb: Option<AsyncCb>,
}

/// The loop-side end of an async handle. Active from creation: a referenced
/// async handle keeps the loop alive until it is closed or unref'd.
///
/// ```
/// use nodeloop::{Async, Handle, Loop};
/// use std::{cell::Cell, rc::Rc};
/// let mut lp = Loop::new();
/// let calls = Rc::new(Cell::new(0));
/// let c = calls.clone();
/// let h = Async::new(&mut lp, move |lp, h| {
///     c.set(c.get() + 1);
///     h.close(lp, |_| {}).unwrap();
/// });
/// let tx = h.sender(&lp).unwrap();
/// std::thread::spawn(move || { tx.send().unwrap(); tx.send().unwrap(); }).join().unwrap();
/// lp.run_default();
/// assert_eq!(calls.get(), 1); // two sends before the callback ran: one call
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Async(HandleId);

/// A `Send + Clone` handle for waking an [`Async`] from any thread.
#[derive(Clone)]
pub struct AsyncSender {
    shared: Arc<Shared>,
}

/// The async handle this sender belongs to has been closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncClosed;

impl fmt::Display for AsyncClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("async handle is closed")
    }
}

impl std::error::Error for AsyncClosed {}

impl fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSender")
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl AsyncSender {
    /// Asks the loop to run the handle's callback. Never blocks.
    pub fn send(&self) -> Result<(), AsyncClosed> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(AsyncClosed);
        }
        if !self.shared.pending.swap(true, Ordering::AcqRel) {
            self.shared.wake.wake();
        }
        Ok(())
    }
}

impl Handle for Async {
    fn id(&self) -> HandleId {
        self.0
    }
}

impl Async {
    /// Creates an active async handle whose callback runs in the poll phase.
    pub fn new(lp: &mut Loop, cb: impl FnMut(&mut Loop, Async) + 'static) -> Async {
        let shared = Arc::new(Shared {
            pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            wake: lp.reactor.wake.clone(),
        });
        let id = lp.handles.insert(Kind::Async(AsyncData {
            shared,
            cb: Some(Box::new(cb)),
        }));
        lp.handles.start(id);
        lp.reactor.asyncs.push(id);
        Async(id)
    }

    /// A sender for other threads; `None` once the handle is closed.
    pub fn sender(&self, lp: &Loop) -> Option<AsyncSender> {
        match lp.handles.get(self.0).map(|s| &s.kind) {
            Some(Kind::Async(a)) if !a.shared.closed.load(Ordering::Relaxed) => Some(AsyncSender {
                shared: a.shared.clone(),
            }),
            _ => None,
        }
    }
}

fn data(lp: &mut Loop, id: HandleId) -> Option<&mut AsyncData> {
    match lp.handles.get_mut(id).map(|s| &mut s.kind) {
        Some(Kind::Async(a)) => Some(a),
        _ => None,
    }
}

impl Loop {
    /// Runs the callback of every async handle that was sent to.
    pub(crate) fn run_async_handles(&mut self) {
        if self.reactor.asyncs.is_empty() {
            return;
        }
        let ids = self.reactor.asyncs.clone();
        for id in ids {
            if self.unwinding() {
                break;
            }
            let Some(a) = data(self, id) else { continue };
            if !a.shared.pending.swap(false, Ordering::AcqRel) {
                continue;
            }
            let Some(mut cb) = a.cb.take() else { continue };
            self.callback(|lp| cb(lp, Async(id)));
            if let Some(a) = data(self, id) {
                if a.cb.is_none() {
                    a.cb = Some(cb);
                }
            }
        }
        if self.unwinding() {
            // Handles after the one that panicked keep their pending flag;
            // ring again so the next run calls them.
            self.reactor.wake.wake();
        }
    }

    /// Detaches a closing async handle: its senders start failing.
    pub(crate) fn async_forget(&mut self, id: HandleId) {
        if let Some(a) = data(self, id) {
            a.shared.closed.store(true, Ordering::Release);
        }
        self.reactor.asyncs.retain(|&h| h != id);
    }
}
