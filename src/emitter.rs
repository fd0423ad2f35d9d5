//! A typed `EventEmitter` with Node's dispatch rules.
//!
//! An event is a type implementing [`Event`]: its name (for messages) and the
//! type of its payload are fixed at compile time, so a listener for
//! `Incremented` can only ever receive a `u64`, and emitting a misspelled
//! event does not compile.
//!
//! The rules follow Node 20's `lib/events.js`:
//! - `emit` calls the listeners synchronously, in registration order
//!   (`prepend_listener` puts one in front);
//! - it iterates over a snapshot (Node's `arrayClone`): a listener added
//!   during an emit does not run in that emit, one removed during it still
//!   runs;
//! - an error event ([`Event::IS_ERROR`]) emitted with no listener cannot go
//!   unnoticed: [`EventEmitter::emit`] panics, as Node throws (inside a loop
//!   callback this reaches the loop's uncaught-panic handling, Node's
//!   `uncaughtException`), and [`EventEmitter::emit_error`] hands the error
//!   back as a `#[must_use]` `Err`;
//! - past [`EventEmitter::set_max_listeners`] (default 10) listeners for one
//!   event, a warning is logged once per event, as Node's
//!   `MaxListenersExceededWarning`.
//!
//! Listeners receive `&mut Loop` so they can schedule work. A listener is an
//! `FnMut`; it cannot be re-entered while it runs (that would alias its
//! state), so if its own emit recursively reaches it again that nested call
//! skips it and logs a warning — the one place this differs from Node.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::rc::{Rc, Weak};

use crate::Loop;

/// An event type: a name and a payload type.
///
/// ```
/// use nodeloop::emitter::Event;
/// struct Tick;
/// impl Event for Tick {
///     type Payload = u32;
///     const NAME: &'static str = "tick";
/// }
/// assert_eq!(Tick::NAME, "tick");
/// ```
pub trait Event: 'static {
    /// What listeners receive (by reference).
    type Payload: 'static;
    /// The event's name, as Node would spell it; used in messages.
    const NAME: &'static str;
    /// Whether this is an error event: emitting it with no listener is an
    /// error the caller cannot miss.
    const IS_ERROR: bool = false;
}

/// Identifies one registered listener, for [`EventEmitter::off`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

/// An error event emitted with nobody listening; carries the payload back.
///
/// ```
/// use nodeloop::emitter::{Event, EventEmitter};
/// struct Failed;
/// impl Event for Failed {
///     type Payload = String;
///     const NAME: &'static str = "error";
///     const IS_ERROR: bool = true;
/// }
/// let mut lp = nodeloop::Loop::new();
/// let em = EventEmitter::new();
/// let err = em.emit_error::<Failed>(&mut lp, "disk full".into()).unwrap_err();
/// assert_eq!(err.payload, "disk full");
/// ```
pub struct Unhandled<P> {
    /// The event's name.
    pub event: &'static str,
    /// The error nobody received.
    pub payload: P,
}

impl<P> fmt::Debug for Unhandled<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unhandled {{ event: {:?} }}", self.event)
    }
}

impl<P> fmt::Display for Unhandled<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unhandled '{}' event", self.event)
    }
}

impl<P> std::error::Error for Unhandled<P> {}

/// Node's default `EventEmitter.defaultMaxListeners`.
pub const DEFAULT_MAX_LISTENERS: usize = 10;

/// One registered listener and its state, in a single allocation shared by
/// every snapshot that contains it. Typed by its event, erased in the lists.
struct Callback<E, F> {
    /// [`FIRED`] and [`RUNNING`]: one byte where a `Cell<bool>` and a
    /// `RefCell`'s counter took two words (an idle socket carries two
    /// listeners).
    state: Cell<u8>,
    f: UnsafeCell<F>,
    _event: PhantomData<fn() -> E>,
}

/// A `once` listener that already ran (Node's `state.fired`).
const FIRED: u8 = 1;
/// The closure is running: a nested emit reaching it again skips it.
const RUNNING: u8 = 2;

/// Clears [`RUNNING`] when the closure returns or unwinds.
struct Running<'a>(&'a Cell<u8>);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() & !RUNNING);
    }
}

/// A listener with its event and closure types erased: an idle socket
/// carries a few of these, so each is one allocation and nothing more.
trait Listener {
    /// Marks a once-listener as run; whether it had run already.
    fn fire(&self) -> bool;
    fn name(&self) -> &'static str;
    /// Calls the closure with the payload (of the listener's event type).
    fn call(&self, lp: &mut Loop, payload: &dyn Any);
}

impl<E: Event, F: FnMut(&mut Loop, &E::Payload) + 'static> Listener for Callback<E, F> {
    fn fire(&self) -> bool {
        let s = self.state.get();
        self.state.set(s | FIRED);
        s & FIRED != 0
    }
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn call(&self, lp: &mut Loop, payload: &dyn Any) {
        debug_assert!(
            payload.is::<E::Payload>(),
            "listener stored under its event"
        );
        // SAFETY: `dispatch::<E2>` calls only the listeners of the slot keyed
        // by `TypeId::of::<E2>()`, and `add::<E2>` puts only a
        // `Callback<E2, _>` there: `E` is `E2`, and `payload` an
        // `E::Payload`. (Checked in debug builds; a checked downcast per
        // listener call was a tenth of the emit in the echo profile.)
        let payload = unsafe { &*(payload as *const dyn Any).cast::<E::Payload>() };
        let s = self.state.get();
        if s & RUNNING != 0 {
            log::warn!(
                "nodeloop: '{}' listener re-entered by its own emit; skipped",
                E::NAME
            );
            return;
        }
        self.state.set(s | RUNNING);
        let _running = Running(&self.state);
        // SAFETY: `RUNNING` is set until this call returns or unwinds, and a
        // call finding it set returns above: this is the only reference to
        // the closure while it runs.
        let f = unsafe { &mut *self.f.get() };
        f(lp, payload)
    }
}

/// Told when a once-listener removes itself, with the loop at hand (a
/// readable stream reacts to losing its last `readable` listener). Held
/// weakly: the stream that owns the emitter implements it.
pub(crate) trait OnceRemoved {
    fn once_removed(self: Rc<Self>, lp: &mut Loop, event: TypeId);
}

#[derive(Clone)]
struct Entry {
    id: u64,
    once: bool,
    f: Rc<dyn Listener>,
}

/// The listeners of one event, in call order. Emitting clones the list:
/// that is Node's snapshot (`arrayClone`), and changes made during the
/// emit copy a shared list (`Rc::make_mut`) instead of touching the
/// snapshot. One listener, the common case, is stored inline.
///
/// `warned` (past the max-listeners threshold once already) lives with a
/// shared list, as Node keeps the flag on the listener array, which goes
/// when the event is back to one listener; one listener never warns.
#[derive(Clone)]
enum List {
    One(Entry),
    Many { list: Rc<Vec<Entry>>, warned: bool },
}

impl List {
    fn entries(&self) -> &[Entry] {
        match self {
            List::One(e) => std::slice::from_ref(e),
            List::Many { list, .. } => list,
        }
    }

    fn insert(&mut self, entry: Entry, front: bool) {
        match self {
            List::One(first) => {
                let first = first.clone();
                let v = if front {
                    vec![entry, first]
                } else {
                    vec![first, entry]
                };
                *self = List::Many {
                    list: Rc::new(v),
                    warned: false,
                };
            }
            List::Many { list, .. } => {
                let v = Rc::make_mut(list);
                if front {
                    v.insert(0, entry);
                } else {
                    v.push(entry);
                }
            }
        }
    }

    /// Removes the entry `id`; `Some(now_empty)` if it was there.
    fn remove(&mut self, id: u64) -> Option<bool> {
        match self {
            List::One(e) => (e.id == id).then_some(true),
            List::Many { list, .. } => {
                let i = list.iter().position(|e| e.id == id)?;
                let v = Rc::make_mut(list);
                v.remove(i);
                if v.len() == 1 {
                    *self = List::One(v[0].clone());
                }
                Some(false)
            }
        }
    }
}

struct Slot {
    event: TypeId,
    list: List,
}

#[derive(Default)]
struct Inner {
    /// Events in first-registration order; a slot goes when it empties.
    /// A boxed slice, not a `Vec`: a word less in every emitter, and
    /// slots come and go only with an event's first and last listener.
    slots: Box<[Slot]>,
    next_id: u64,
    max: Option<u32>,
    once_removed: Option<Weak<dyn OnceRemoved>>,
}

/// A typed event emitter. Cloning gives another handle to the same emitter,
/// so listeners can hold one to add or remove listeners while it emits.
///
/// ```
/// use nodeloop::emitter::{Event, EventEmitter};
/// use std::{cell::RefCell, rc::Rc};
/// struct Greet;
/// impl Event for Greet {
///     type Payload = &'static str;
///     const NAME: &'static str = "greet";
/// }
/// let mut lp = nodeloop::Loop::new();
/// let em = EventEmitter::new();
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// em.on::<Greet>(move |_, who| s.borrow_mut().push(format!("hello {who}")));
/// let s = seen.clone();
/// em.prepend_listener::<Greet>(move |_, who| s.borrow_mut().push(format!("hi {who}")));
/// assert!(em.emit::<Greet>(&mut lp, "ada"));
/// assert_eq!(*seen.borrow(), ["hi ada", "hello ada"]);
/// ```
#[derive(Clone, Default)]
pub struct EventEmitter {
    inner: Rc<RefCell<Inner>>,
}

impl fmt::Debug for EventEmitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("EventEmitter")
            .field(
                "listeners",
                &inner
                    .slots
                    .iter()
                    .map(|s| s.list.entries().len())
                    .sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl EventEmitter {
    /// An emitter with no listeners.
    pub fn new() -> EventEmitter {
        EventEmitter::default()
    }

    /// Adds a listener at the end of `E`'s list (`emitter.on`).
    pub fn on<E: Event>(&self, f: impl FnMut(&mut Loop, &E::Payload) + 'static) -> ListenerId {
        self.add::<E>(f, false, false)
    }

    /// Adds a listener that runs at most once (`emitter.once`).
    ///
    /// ```
    /// use nodeloop::emitter::{Event, EventEmitter};
    /// use std::{cell::Cell, rc::Rc};
    /// struct Ping;
    /// impl Event for Ping { type Payload = (); const NAME: &'static str = "ping"; }
    /// let mut lp = nodeloop::Loop::new();
    /// let em = EventEmitter::new();
    /// let n = Rc::new(Cell::new(0));
    /// let c = n.clone();
    /// em.once::<Ping>(move |_, _| c.set(c.get() + 1));
    /// em.emit::<Ping>(&mut lp, ());
    /// assert!(!em.emit::<Ping>(&mut lp, ()));
    /// assert_eq!(n.get(), 1);
    /// ```
    pub fn once<E: Event>(&self, f: impl FnMut(&mut Loop, &E::Payload) + 'static) -> ListenerId {
        self.add::<E>(f, true, false)
    }

    /// Adds a listener at the front of `E`'s list (`prependListener`).
    pub fn prepend_listener<E: Event>(
        &self,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
    ) -> ListenerId {
        self.add::<E>(f, false, true)
    }

    /// Adds a once-listener at the front of `E`'s list (`prependOnceListener`).
    pub fn prepend_once_listener<E: Event>(
        &self,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
    ) -> ListenerId {
        self.add::<E>(f, true, true)
    }

    fn add<E: Event>(
        &self,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
        once: bool,
        front: bool,
    ) -> ListenerId {
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_id;
        inner.next_id += 1;
        let cb: Rc<dyn Listener> = Rc::new(Callback::<E, _> {
            state: Cell::new(0),
            f: UnsafeCell::new(f),
            _event: PhantomData,
        });
        let entry = Entry { id, once, f: cb };
        let t = TypeId::of::<E>();
        let max = inner.max.map_or(DEFAULT_MAX_LISTENERS, |m| m as usize);
        let slot = match inner.slots.iter().position(|s| s.event == t) {
            Some(i) => {
                let slot = &mut inner.slots[i];
                slot.list.insert(entry, front);
                slot
            }
            None => {
                // Exact sizes: most emitters (one per socket or stream) carry
                // a few events with one listener each, and the default
                // growth (room for 4) was most of an idle connection's
                // memory.
                let mut slots = std::mem::take(&mut inner.slots).into_vec();
                slots.reserve_exact(1);
                slots.push(Slot {
                    event: t,
                    list: List::One(entry),
                });
                inner.slots = slots.into_boxed_slice();
                inner.slots.last_mut().expect("just pushed")
            }
        };
        let count = slot.list.entries().len();
        let warn = match &mut slot.list {
            List::Many { warned, .. } if max > 0 && count > max && !*warned => {
                *warned = true;
                true
            }
            _ => false,
        };
        if warn {
            log::warn!(
                "MaxListenersExceededWarning: Possible EventEmitter memory leak detected. \
                 {count} {} listeners added. Use set_max_listeners() to increase limit",
                E::NAME
            );
        }
        ListenerId(id)
    }

    /// Removes one listener (`emitter.off`). Returns whether it was found.
    /// A listener removed during an emit still runs in that emit.
    ///
    /// ```
    /// use nodeloop::emitter::{Event, EventEmitter};
    /// struct Ping;
    /// impl Event for Ping { type Payload = (); const NAME: &'static str = "ping"; }
    /// let em = EventEmitter::new();
    /// let id = em.on::<Ping>(|_, _| {});
    /// assert_eq!(em.listener_count::<Ping>(), 1);
    /// assert!(em.off(id));
    /// assert!(!em.off(id));
    /// assert_eq!(em.listener_count::<Ping>(), 0);
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        let mut inner = self.inner.borrow_mut();
        for (si, slot) in inner.slots.iter_mut().enumerate() {
            if let Some(empty) = slot.list.remove(id.0) {
                if empty {
                    let mut slots = std::mem::take(&mut inner.slots).into_vec();
                    slots.remove(si);
                    inner.slots = slots.into_boxed_slice();
                }
                return true;
            }
        }
        false
    }

    /// Removes every listener of `E` (`removeAllListeners(name)`).
    pub fn remove_all<E: Event>(&self) {
        let t = TypeId::of::<E>();
        let mut inner = self.inner.borrow_mut();
        let mut slots = std::mem::take(&mut inner.slots).into_vec();
        slots.retain(|s| s.event != t);
        inner.slots = slots.into_boxed_slice();
    }

    /// Removes every listener of every event (`removeAllListeners()`).
    pub fn remove_all_events(&self) {
        self.inner.borrow_mut().slots = Box::default();
    }

    /// Number of listeners for `E` (`listenerCount`).
    pub fn listener_count<E: Event>(&self) -> usize {
        self.inner.borrow().count(TypeId::of::<E>())
    }

    /// Whether `E` has any listener: `listener_count::<E>() > 0`, without
    /// counting (a slot exists only while its event has listeners).
    pub(crate) fn has_listeners<E: Event>(&self) -> bool {
        let t = TypeId::of::<E>();
        self.inner.borrow().slots.iter().any(|s| s.event == t)
    }

    /// Names of the events that have listeners, in first-registration order
    /// (`eventNames`).
    pub fn event_names(&self) -> Vec<&'static str> {
        self.inner
            .borrow()
            .slots
            .iter()
            .map(|s| s.list.entries()[0].f.name())
            .collect()
    }

    pub(crate) fn set_once_removed_hook(&self, f: Weak<dyn OnceRemoved>) {
        self.inner.borrow_mut().once_removed = Some(f);
    }

    /// Sets the per-event listener count past which a warning is logged;
    /// 0 means unlimited (`setMaxListeners`).
    pub fn set_max_listeners(&self, n: usize) {
        // Beyond u32 is "unlimited" in practice; it keeps the emitter small.
        self.inner.borrow_mut().max = Some(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// The current max-listeners threshold (`getMaxListeners`).
    pub fn max_listeners(&self) -> usize {
        self.inner
            .borrow()
            .max
            .map_or(DEFAULT_MAX_LISTENERS, |m| m as usize)
    }

    /// Calls `E`'s listeners with `payload`, synchronously, in order.
    /// Returns whether there were listeners.
    ///
    /// # Panics
    /// If `E` is an error event and nobody listens, like Node's
    /// `throw er; // Unhandled 'error' event`. Use [`EventEmitter::emit_error`]
    /// to get the error back as a value instead.
    pub fn emit<E: Event>(&self, lp: &mut Loop, payload: E::Payload) -> bool {
        self.emit_ref::<E>(lp, &payload)
    }

    /// As [`EventEmitter::emit`], lending the payload instead of giving it:
    /// the caller keeps it afterwards (a stream's `read` both emits `data`
    /// and returns the chunk).
    ///
    /// # Panics
    /// As `emit`, for an error event with no listener.
    pub fn emit_ref<E: Event>(&self, lp: &mut Loop, payload: &E::Payload) -> bool {
        if self.dispatch::<E>(lp, payload) {
            return true;
        }
        if E::IS_ERROR {
            panic!(
                "{}",
                Unhandled {
                    event: E::NAME,
                    payload: ()
                }
            );
        }
        false
    }

    /// Emits an error event; with no listener the error comes back as
    /// `Err(Unhandled)` rather than being lost.
    pub fn emit_error<E: Event>(
        &self,
        lp: &mut Loop,
        payload: E::Payload,
    ) -> Result<(), Unhandled<E::Payload>> {
        if self.dispatch::<E>(lp, &payload) {
            Ok(())
        } else {
            Err(Unhandled {
                event: E::NAME,
                payload,
            })
        }
    }

    /// Runs the listeners of `E`; false if there were none.
    fn dispatch<E: Event>(&self, lp: &mut Loop, payload: &E::Payload) -> bool {
        match self.listeners::<E>() {
            Some(l) => {
                self.emit_to::<E>(lp, l, payload);
                true
            }
            None => false,
        }
    }

    /// The listeners an emit of `E` would run now, if there are any: for a
    /// caller that must know whether anyone listens before it commits to
    /// emitting (a stream's `data` fast path), without a second lookup.
    pub(crate) fn listeners<E: Event>(&self) -> Option<Listeners> {
        let t = TypeId::of::<E>();
        let inner = self.inner.borrow();
        let slot = inner.slots.iter().find(|s| s.event == t)?;
        Some(Listeners(slot.list.clone()))
    }

    /// Runs `l`, listeners of `E` taken by [`EventEmitter::listeners`], as
    /// an emit does (listeners added meanwhile do not run; once-listeners
    /// are removed before they run).
    pub(crate) fn emit_to<E: Event>(&self, lp: &mut Loop, l: Listeners, payload: &E::Payload) {
        let t = TypeId::of::<E>();
        for e in l.0.entries() {
            if e.once {
                if e.f.fire() {
                    continue;
                }
                self.off(ListenerId(e.id));
                let hook = self
                    .inner
                    .borrow()
                    .once_removed
                    .as_ref()
                    .and_then(Weak::upgrade);
                if let Some(hook) = hook {
                    hook.once_removed(lp, t);
                }
            }
            e.f.call(lp, payload);
        }
    }
}

/// A snapshot of an event's listeners (see [`EventEmitter::listeners`]).
pub(crate) struct Listeners(List);

impl Inner {
    fn count(&self, t: TypeId) -> usize {
        self.slots
            .iter()
            .find(|s| s.event == t)
            .map_or(0, |s| s.list.entries().len())
    }
}
