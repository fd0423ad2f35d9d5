//! Handles: long-lived objects owned by the loop (timers, idle/prepare/check
//! watchers, async handles, I/O watchers), addressed by generation-checked ids.
//!
//! A handle id is a slab key plus the generation the slot was filled with.
//! When a handle is closed its slot is freed and may be reused; an old id then
//! no longer matches the slot's generation, so using it is a harmless no-op
//! (or an error where the caller needs to know) rather than touching someone
//! else's handle.

use std::fmt;

use slab::Slab;

use crate::async_handle::AsyncData;
use crate::core::poll::IoData;
use crate::core::timers::TimerData;
use crate::core::watchers::WatcherData;
use crate::task::Task;
use crate::Loop;

/// Identifies a handle of a loop. Cheap to copy; stale ids are harmless.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct HandleId {
    pub(crate) key: u32,
    pub(crate) gen: u32,
}

/// What went wrong with a handle operation.
///
/// ```
/// use nodeloop::{Handle, HandleError, Loop, Timer};
/// let mut lp = Loop::new();
/// let t = Timer::new(&mut lp);
/// assert_eq!(t.again(&mut lp), Err(HandleError::NeverStarted));
/// t.close(&mut lp, |_| {}).unwrap();
/// assert_eq!(t.close(&mut lp, |_| {}), Err(HandleError::Closing));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleError {
    /// The handle was closed (its close callback has run, or the id is stale).
    Closed,
    /// `close` was already called on the handle.
    Closing,
    /// The operation needs a callback the handle was never given
    /// (`Timer::again` on a timer that was never started).
    NeverStarted,
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Closed => f.write_str("handle is closed"),
            HandleError::Closing => f.write_str("handle is closing"),
            HandleError::NeverStarted => f.write_str("timer was never started"),
        }
    }
}

impl std::error::Error for HandleError {}

pub(crate) enum Kind {
    Timer(TimerData),
    Watcher(WatcherData),
    Async(AsyncData),
    Io(IoData),
    /// A handle with no behaviour of its own; it exists to be closed
    /// (what a freshly created, never started libuv handle is).
    Bare,
}

pub(crate) struct Slot {
    gen: u32,
    active: bool,
    refd: bool,
    closing: bool,
    /// Boxed: only a closing handle has one, and inline it made every slot
    /// of the table (one per connection) 32 bytes larger.
    close_cb: Option<Box<Task>>,
    pub(crate) kind: Kind,
}

/// The loop's handle table and its count of active, referenced handles
/// (libuv's `active_handles`), which is what keeps the loop alive.
pub(crate) struct Handles {
    slab: Slab<Slot>,
    next_gen: u32,
    active_refd: usize,
}

impl Handles {
    pub(crate) fn new() -> Handles {
        Handles {
            slab: Slab::new(),
            next_gen: 0,
            active_refd: 0,
        }
    }

    pub(crate) fn insert(&mut self, kind: Kind) -> HandleId {
        self.next_gen = self.next_gen.wrapping_add(1);
        let gen = self.next_gen;
        let key = self.slab.insert(Slot {
            gen,
            active: false,
            refd: true,
            closing: false,
            close_cb: None,
            kind,
        });
        HandleId {
            key: u32::try_from(key).expect("more than 2^32 live handles"),
            gen,
        }
    }

    #[inline]
    pub(crate) fn get(&self, id: HandleId) -> Option<&Slot> {
        self.slab.get(id.key as usize).filter(|s| s.gen == id.gen)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, id: HandleId) -> Option<&mut Slot> {
        self.slab
            .get_mut(id.key as usize)
            .filter(|s| s.gen == id.gen)
    }

    /// The slot of a handle that may still be used (not closing or closed).
    pub(crate) fn usable(&mut self, id: HandleId) -> Result<&mut Slot, HandleError> {
        match self.get_mut(id) {
            None => Err(HandleError::Closed),
            Some(s) if s.closing => Err(HandleError::Closing),
            Some(s) => Ok(s),
        }
    }

    /// Marks a handle active (`uv__handle_start`).
    #[inline]
    pub(crate) fn start(&mut self, id: HandleId) {
        if let Some(s) = self
            .slab
            .get_mut(id.key as usize)
            .filter(|s| s.gen == id.gen)
        {
            if !s.active {
                s.active = true;
                if s.refd {
                    self.active_refd += 1;
                }
            }
        }
    }

    /// Marks a handle inactive (`uv__handle_stop`).
    #[inline]
    pub(crate) fn stop(&mut self, id: HandleId) {
        if let Some(s) = self
            .slab
            .get_mut(id.key as usize)
            .filter(|s| s.gen == id.gen)
        {
            if s.active {
                s.active = false;
                if s.refd {
                    self.active_refd -= 1;
                }
            }
        }
    }

    pub(crate) fn set_ref(&mut self, id: HandleId, refd: bool) {
        if let Some(s) = self
            .slab
            .get_mut(id.key as usize)
            .filter(|s| s.gen == id.gen)
        {
            if s.refd != refd {
                s.refd = refd;
                if s.active {
                    if refd {
                        self.active_refd += 1;
                    } else {
                        self.active_refd -= 1;
                    }
                }
            }
        }
    }

    pub(crate) fn has_active_refd(&self) -> bool {
        self.active_refd > 0
    }

    /// Starts closing: the handle must already be stopped by its kind.
    pub(crate) fn mark_closing(&mut self, id: HandleId, cb: Option<Task>) {
        if let Some(s) = self.get_mut(id) {
            s.closing = true;
            s.close_cb = cb.map(Box::new);
        }
    }

    /// Frees a closed handle's slot, returning its close callback.
    pub(crate) fn remove(&mut self, id: HandleId) -> Option<Task> {
        if self.get(id).is_some() {
            let s = self.slab.remove(id.key as usize);
            debug_assert!(!s.active, "closed handle still active");
            s.close_cb.map(|t| *t)
        } else {
            None
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }
}

impl Slot {
    pub(crate) fn is_active(&self) -> bool {
        self.active
    }
    pub(crate) fn has_ref(&self) -> bool {
        self.refd
    }
    pub(crate) fn is_closing(&self) -> bool {
        self.closing
    }
}

/// Operations every handle has, as in libuv's `uv_handle_t`.
///
/// ```
/// use nodeloop::{Handle, Loop, Timer};
/// let mut lp = Loop::new();
/// let t = Timer::new(&mut lp);
/// t.start(&mut lp, 10, 0, |_, _| {}).unwrap();
/// t.unref(&mut lp); // an unreferenced timer does not keep the loop alive
/// assert!(!lp.run(nodeloop::RunMode::Default));
/// t.close(&mut lp, |_| println!("closed")).unwrap();
/// lp.run(nodeloop::RunMode::Default);
/// assert!(t.is_closed(&lp));
/// ```
pub trait Handle: Copy {
    /// The untyped id of this handle.
    fn id(&self) -> HandleId;

    /// Keeps the loop alive while this handle is active (the default).
    fn ref_(&self, lp: &mut Loop) {
        lp.handles.set_ref(self.id(), true);
    }

    /// Lets the loop exit even while this handle is active.
    fn unref(&self, lp: &mut Loop) {
        lp.handles.set_ref(self.id(), false);
    }

    /// Whether the handle is referenced. `false` for a closed handle.
    fn has_ref(&self, lp: &Loop) -> bool {
        lp.handles.get(self.id()).is_some_and(Slot::has_ref)
    }

    /// Whether the handle is active (started and not stopped).
    fn is_active(&self, lp: &Loop) -> bool {
        lp.handles.get(self.id()).is_some_and(Slot::is_active)
    }

    /// Whether `close` was called and the close callback has not run yet.
    fn is_closing(&self, lp: &Loop) -> bool {
        lp.handles.get(self.id()).is_some_and(Slot::is_closing)
    }

    /// Whether the handle is gone: closed, or an id from a finished handle.
    fn is_closed(&self, lp: &Loop) -> bool {
        lp.handles.get(self.id()).is_none()
    }

    /// Stops the handle and closes it; `cb` runs in the close phase of this
    /// loop iteration (or the next, when called from the close phase).
    fn close(
        &self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop) + 'static,
    ) -> Result<(), HandleError> {
        lp.close_handle(self.id(), Some(Task::new(cb)))
    }
}

/// A handle with no behaviour, only a life: it can be ref'd, unref'd and
/// closed with a callback. Useful to hold the loop open, and what the
/// conformance scenarios' `close` op uses.
///
/// ```
/// use nodeloop::{BareHandle, Handle, Loop};
/// let mut lp = Loop::new();
/// let h = BareHandle::new(&mut lp);
/// h.close(&mut lp, |_| println!("close phase")).unwrap();
/// lp.run(nodeloop::RunMode::Default);
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct BareHandle(HandleId);

impl BareHandle {
    /// Creates an inactive handle.
    pub fn new(lp: &mut Loop) -> BareHandle {
        BareHandle(lp.handles.insert(Kind::Bare))
    }
}

impl Handle for BareHandle {
    fn id(&self) -> HandleId {
        self.0
    }
}
