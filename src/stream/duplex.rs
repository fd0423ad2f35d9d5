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
        // The wrappers find the other side through the core, so they
        // capture nothing but the caller's closures.
        let read: ReadImpl<R> = Rc::new(move |lp, r: &Readable<R>, n| {
            if let Some(d) = Duplex::from_core(&r.core) {
                read(lp, &d, n);
            }
        });
        let write: WriteImpl<W> = Rc::new(move |lp, w: &Writable<W>, chunk, done| {
            if let Some(d) = Duplex::from_core(&w.core) {
                write(lp, &d, chunk, done);
            }
        });
        Duplex::with_impls(ropts, wopts, allow_half_open, read, write)
    }

    /// A duplex over ready-made implementation callbacks, which streams of
    /// one kind can share (every socket a server accepts uses the same).
    pub(crate) fn with_impls(
        ropts: ReadableOptions,
        wopts: WritableOptions,
        allow_half_open: bool,
        read: ReadImpl<R>,
        write: WriteImpl<W>,
    ) -> Duplex<R, W> {
        let core = Core::new(ropts.auto_destroy, ropts.emit_close);
        core.f.borrow_mut().allow_half_open = allow_half_open;
        // The core owns both sides; each finds the other through it.
        let r = Readable::attach(core.clone(), &ropts, read);
        let w = Writable::attach(core, &wopts, write);
        Duplex { r, w }
    }

    /// The duplex a core belongs to, if it has both sides of these types.
    pub(crate) fn from_core(core: &Rc<Core>) -> Option<Duplex<R, W>> {
        let r = core.read_side()?.as_any().downcast().ok()?;
        let w = core.write_side()?.as_any().downcast().ok()?;
        Some(Duplex {
            r: Readable {
                core: core.clone(),
                st: r,
            },
            w: Writable {
                core: core.clone(),
                st: w,
            },
        })
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
