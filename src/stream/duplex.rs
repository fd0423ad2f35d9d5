//! `Duplex`: a readable and a writable side on one stream (Node's
//! `lib/internal/streams/duplex.js`), sharing one emitter and one
//! destroyed/errored state.

use std::fmt;
use std::rc::Rc;

use super::core::{self, Core};
use super::readable::ReadImpl;
use super::writable::WriteImpl;
use super::{Mode, Readable, ReadableOptions, StreamError, Writable, WritableOptions, WriteDone};
use crate::emitter::EventEmitter;
use crate::Loop;

/// A stream that is both readable (chunks `R`) and writable (chunks `W`),
/// Node's `stream.Duplex`. With `allow_half_open` false, the end of the
/// readable side ends the writable side.
///
/// ```
/// use nodeloop::stream::{Duplex, Objects};
/// use nodeloop::Loop;
/// use std::{cell::RefCell, rc::Rc};
/// let mut lp = Loop::new();
/// // An echo: what is written comes back out.
/// let d = Duplex::<Objects<u8>, Objects<u8>>::new(
///     true,
///     |_, _, _| {},
///     |lp, d, chunk, done| { d.readable().push(lp, chunk); done.call(lp, Ok(())) },
/// );
/// let got = Rc::new(RefCell::new(Vec::new()));
/// let g = got.clone();
/// d.readable().on_data(&mut lp, move |_, c| g.borrow_mut().push(*c));
/// d.writable().write(&mut lp, 7);
/// lp.run_default();
/// assert_eq!(*got.borrow(), [7]);
/// ```
pub struct Duplex<R: Mode, W: Mode> {
    r: Readable<R>,
    w: Writable<W>,
}

impl<R: Mode, W: Mode> Clone for Duplex<R, W> {
    fn clone(&self) -> Self {
        Duplex {
            r: self.r.clone(),
            w: self.w.clone(),
        }
    }
}

impl<R: Mode, W: Mode> fmt::Debug for Duplex<R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Duplex")
            .field("readable", &self.r)
            .field("writable", &self.w)
            .finish()
    }
}

impl<R: Mode, W: Mode> Duplex<R, W> {
    /// A duplex with default high-water marks; `read` and `write` are
    /// Node's `_read` and `_write`.
    pub fn new(
        allow_half_open: bool,
        read: impl Fn(&mut Loop, &Duplex<R, W>, usize) + 'static,
        write: impl Fn(&mut Loop, &Duplex<R, W>, W::Chunk, WriteDone) + 'static,
    ) -> Duplex<R, W> {
        Duplex::with_options(
            ReadableOptions::default(),
            WritableOptions::default(),
            allow_half_open,
            read,
            write,
        )
    }

    /// A duplex with options per side. `auto_destroy` and `emit_close` are
    /// taken from the readable options (Node has one value for both).
    pub fn with_options(
        ropts: ReadableOptions,
        wopts: WritableOptions,
        allow_half_open: bool,
        read: impl Fn(&mut Loop, &Duplex<R, W>, usize) + 'static,
        write: impl Fn(&mut Loop, &Duplex<R, W>, W::Chunk, WriteDone) + 'static,
    ) -> Duplex<R, W> {
        let core = Core::new(ropts.auto_destroy, ropts.emit_close);
        core.f.borrow_mut().allow_half_open = allow_half_open;
        let weak_core = Rc::downgrade(&core);
        // The sides hold only weak references to each other, so a duplex
        // is freed once its handles are dropped.
        let wslot: Rc<std::cell::RefCell<Option<std::rc::Weak<_>>>> = Rc::default();
        let ws2 = wslot.clone();
        let read: ReadImpl<R> = Rc::new(move |lp, r: &Readable<R>, n| {
            let w = ws2.borrow().as_ref().and_then(std::rc::Weak::upgrade);
            if let Some(st) = w {
                let d = Duplex {
                    r: r.clone(),
                    w: Writable {
                        core: r.core.clone(),
                        st,
                    },
                };
                read(lp, &d, n);
            }
        });
        let r = Readable::attach(core.clone(), &ropts, read);
        let rweak = r.downgrade();
        let write: WriteImpl<W> = Rc::new(move |lp, w: &Writable<W>, chunk, done| {
            if let Some(r) = rweak.upgrade() {
                let d = Duplex { r, w: w.clone() };
                write(lp, &d, chunk, done);
            }
        });
        let w = Writable::attach(core, &wopts, write);
        *wslot.borrow_mut() = Some(Rc::downgrade(&w.st));
        let _ = weak_core;
        Duplex { r, w }
    }

    pub(crate) fn from_parts(r: Readable<R>, w: Writable<W>) -> Duplex<R, W> {
        Duplex { r, w }
    }

    /// The readable side.
    pub fn readable(&self) -> &Readable<R> {
        &self.r
    }

    /// The writable side.
    pub fn writable(&self) -> &Writable<W> {
        &self.w
    }

    /// The shared event emitter.
    pub fn emitter(&self) -> &EventEmitter {
        &self.r.core.emitter
    }

    /// Destroys both sides.
    pub fn destroy(&self, lp: &mut Loop, err: Option<StreamError>) {
        core::destroy(&self.r.core, lp, err);
    }
}
