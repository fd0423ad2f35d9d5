//! What both sides of a stream share: the emitter, the destroyed/closed/
//! errored flags, and destruction (`lib/internal/streams/destroy.js`).
//!
//! Node keeps these flags on each side's state and always sets them on both;
//! a duplex has one copy here. The sides reach each other through type-erased
//! hooks, so a `Readable<M>` needs no type for a writable side it may not
//! have. The core owns both sides (a handle to either half keeps the whole
//! stream alive, as in Node); the sides' implementation callbacks hold only
//! weak references back, so no cycle runs through the core.

use std::any::{Any, TypeId};
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::{Rc, Weak};

use super::{event, StreamError};
use crate::emitter::{EventEmitter, OnceRemoved};
use crate::Loop;

pub(crate) struct Flags {
    pub destroyed: bool,
    pub closed: bool,
    pub close_emitted: bool,
    pub error_emitted: bool,
    /// Boxed: rare, and inline it made every stream 16 bytes larger.
    pub errored: Option<Box<StreamError>>,
    pub auto_destroy: bool,
    pub emit_close: bool,
    pub allow_half_open: bool,
}

/// What the readable side tells the writable side and destruction.
pub(crate) trait ReadSide {
    /// The side itself, for a duplex to find its typed state.
    fn as_any(self: Rc<Self>) -> Rc<dyn Any>;
    fn end_emitted(&self) -> bool;
    /// A once-listener for `readable` removed itself.
    fn readable_listener_removed(self: Rc<Self>, core: Rc<Core>, lp: &mut Loop);
    fn enabled(&self) -> bool;
}

/// What the writable side tells the readable side and destruction.
pub(crate) trait WriteSide {
    /// The side itself, for a duplex to find its typed state.
    fn as_any(self: Rc<Self>) -> Rc<dyn Any>;
    fn finished(&self) -> bool;
    fn enabled(&self) -> bool;
    /// Node's `stream.writable` getter.
    fn writable(&self, core: &Core) -> bool;
    fn end_called(&self) -> bool;
    fn end(self: Rc<Self>, core: Rc<Core>, lp: &mut Loop);
    /// Fails buffered writes and pending `end` callbacks (`errorBuffer`).
    fn error_buffer(self: Rc<Self>, core: Rc<Core>, lp: &mut Loop);
    /// Completes the write in flight (`onwrite`); see `WriteDone`.
    fn on_write(self: Rc<Self>, core: Rc<Core>, lp: &mut Loop, result: Result<(), StreamError>);
    fn has_pending(&self) -> bool;
}

pub(crate) type DestroyImpl = Rc<dyn Fn(&mut Loop, Option<StreamError>, DestroyDone)>;

pub(crate) struct Core {
    pub emitter: EventEmitter,
    pub f: RefCell<Flags>,
    /// Set once, when the side is attached.
    pub read_side: OnceCell<Rc<dyn ReadSide>>,
    pub write_side: OnceCell<Rc<dyn WriteSide>>,
    /// A `Cell` rather than a `RefCell`: one word less in every stream.
    destroy_impl: Cell<Option<DestroyImpl>>,
    /// A pure `Writable` fails its buffered writes on destroy
    /// (`Writable.prototype.destroy`); a duplex uses the plain destroy.
    pub writable_only: Cell<bool>,
    /// What implements the stream (a socket's I/O state), for
    /// implementation callbacks shared by many streams: they find their
    /// stream's state here instead of capturing it, so a socket costs no
    /// closure allocations.
    pub owner: OnceCell<Weak<dyn Any>>,
}

/// Completes a stream's destroy implementation (Node's `_destroy` callback).
/// Pass the error to report, if any; `'error'` (if any) and `'close'` follow
/// on the next tick.
pub struct DestroyDone {
    core: Rc<Core>,
}

impl std::fmt::Debug for DestroyDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DestroyDone")
    }
}

impl DestroyDone {
    /// The readable side of the stream being destroyed, for a destroy
    /// implementation shared by many streams.
    pub(crate) fn readable<R: super::Mode>(&self) -> Option<super::Readable<R>> {
        let st = self.core.read_side()?.as_any().downcast().ok()?;
        Some(super::Readable {
            core: self.core.clone(),
            st,
        })
    }

    /// Reports that the resources are released.
    pub fn call(self, lp: &mut Loop, err: Option<StreamError>) {
        on_destroy(&self.core, lp, err);
    }
}

impl OnceRemoved for Core {
    fn once_removed(self: Rc<Self>, lp: &mut Loop, event: TypeId) {
        if event != TypeId::of::<event::Readable>() {
            return;
        }
        if let Some(rs) = self.read_side() {
            rs.readable_listener_removed(self, lp);
        }
    }
}

impl Core {
    pub fn new(auto_destroy: bool, emit_close: bool) -> Rc<Core> {
        Rc::new(Core {
            emitter: EventEmitter::new(),
            f: RefCell::new(Flags {
                destroyed: false,
                closed: false,
                close_emitted: false,
                error_emitted: false,
                errored: None,
                auto_destroy,
                emit_close,
                allow_half_open: true,
            }),
            read_side: OnceCell::new(),
            write_side: OnceCell::new(),
            destroy_impl: Cell::new(None),
            writable_only: Cell::new(false),
            owner: OnceCell::new(),
        })
    }

    pub fn id(self: &Rc<Core>) -> usize {
        Rc::as_ptr(self) as *const u8 as usize
    }

    pub fn read_side(&self) -> Option<Rc<dyn ReadSide>> {
        self.read_side.get().cloned()
    }

    pub fn write_side(&self) -> Option<Rc<dyn WriteSide>> {
        self.write_side.get().cloned()
    }

    pub fn set_destroy_impl(&self, f: DestroyImpl) {
        self.destroy_impl.set(Some(f));
    }

    fn destroy_impl(&self) -> Option<DestroyImpl> {
        let f = self.destroy_impl.take();
        self.destroy_impl.set(f.clone());
        f
    }

    pub fn destroyed(&self) -> bool {
        self.f.borrow().destroyed
    }

    pub fn errored(&self) -> bool {
        self.f.borrow().errored.is_some()
    }

    fn check_error(&self, err: &Option<StreamError>) {
        if let Some(e) = err {
            let mut f = self.f.borrow_mut();
            if f.errored.is_none() {
                f.errored = Some(Box::new(e.clone()));
            }
        }
    }
}

/// `destroy(err)`: marks the stream destroyed and runs the destroy
/// implementation; `'error'` and `'close'` come on a later tick.
pub(crate) fn destroy(core: &Rc<Core>, lp: &mut Loop, err: Option<StreamError>) {
    if core.destroyed() {
        return;
    }
    if core.writable_only.get() {
        if let Some(ws) = core.write_side() {
            if ws.has_pending() {
                let c = core.clone();
                lp.next_tick(move |lp| ws.error_buffer(c, lp));
            }
        }
    }
    core.check_error(&err);
    core.f.borrow_mut().destroyed = true;
    let imp = core.destroy_impl();
    let done = DestroyDone { core: core.clone() };
    match imp {
        Some(imp) => imp(lp, err, done),
        None => done.call(lp, err),
    }
}

fn on_destroy(core: &Rc<Core>, lp: &mut Loop, err: Option<StreamError>) {
    {
        let f = core.f.borrow();
        if f.closed {
            return;
        }
    }
    core.check_error(&err);
    core.f.borrow_mut().closed = true;
    let c = core.clone();
    match err {
        Some(e) => lp.next_tick(move |lp| {
            emit_error_nt(&c, lp, e);
            emit_close_nt(&c, lp);
        }),
        None => lp.next_tick(move |lp| emit_close_nt(&c, lp)),
    }
}

pub(crate) fn emit_close_nt(core: &Rc<Core>, lp: &mut Loop) {
    let emit = {
        let mut f = core.f.borrow_mut();
        f.close_emitted = true;
        f.emit_close
    };
    if emit {
        core.emitter.emit::<event::Close>(lp, ());
    }
}

pub(crate) fn emit_error_nt(core: &Rc<Core>, lp: &mut Loop, err: StreamError) {
    {
        let mut f = core.f.borrow_mut();
        if f.error_emitted {
            return;
        }
        f.error_emitted = true;
    }
    core.emitter.emit::<event::Error>(lp, err);
}

/// `errorOrDestroy`: destroys an auto-destroying stream with `err`; otherwise
/// records it and emits `'error'` (on the next tick when `sync`).
pub(crate) fn error_or_destroy(core: &Rc<Core>, lp: &mut Loop, err: StreamError, sync: bool) {
    let (destroyed, auto) = {
        let f = core.f.borrow();
        (f.destroyed, f.auto_destroy)
    };
    if destroyed {
        return;
    }
    if auto {
        destroy(core, lp, Some(err));
        return;
    }
    core.check_error(&Some(err.clone()));
    if sync {
        let c = core.clone();
        lp.next_tick(move |lp| emit_error_nt(&c, lp, err));
    } else {
        emit_error_nt(core, lp, err);
    }
}
