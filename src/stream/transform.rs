//! `Transform`: a duplex whose output is computed from its input (Node's
//! `lib/internal/streams/transform.js`). The transform callback is called
//! from `_write`; when the readable side is full, the write callback is held
//! back until the consumer reads (Node's `kCallback`), which is what carries
//! backpressure through a transform.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::writable::{FinalImpl, WriteImpl};
use super::DoneFn;
use super::{
    Duplex, FinalDone, Mode, Readable, ReadableOptions, StreamError, Writable, WritableOptions,
    WriteDone,
};
use crate::Loop;

/// Completes one transform call: `Ok(Some(chunk))` pushes an output chunk,
/// `Ok(None)` pushes nothing, `Err` fails the stream.
pub struct TransformDone<O: Mode> {
    f: DoneFn<Option<O::Chunk>>,
}

impl<O: Mode> fmt::Debug for TransformDone<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransformDone")
    }
}

impl<O: Mode> TransformDone<O> {
    /// Reports the outcome of transforming one chunk.
    pub fn call(self, lp: &mut Loop, r: Result<Option<O::Chunk>, StreamError>) {
        (self.f)(lp, r)
    }
}

/// Completes the flush at the end: an optional last chunk, or an error.
pub struct FlushDone<O: Mode> {
    f: DoneFn<Option<O::Chunk>>,
}

impl<O: Mode> fmt::Debug for FlushDone<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlushDone")
    }
}

impl<O: Mode> FlushDone<O> {
    /// Reports the outcome of the flush.
    pub fn call(self, lp: &mut Loop, r: Result<Option<O::Chunk>, StreamError>) {
        (self.f)(lp, r)
    }
}

type TransformFn<I, O> = dyn Fn(&mut Loop, &Transform<I, O>, <I as Mode>::Chunk, TransformDone<O>);
type FlushFn<I, O> = dyn Fn(&mut Loop, &Transform<I, O>, FlushDone<O>);

/// A transform stream (Node's `stream.Transform`): input chunks `I` in,
/// output chunks `O` out.
///
/// ```
/// use nodeloop::stream::{Bytes, Readable, Transform, Writable};
/// use nodeloop::Loop;
/// use std::{cell::{Cell, RefCell}, rc::Rc};
/// let mut lp = Loop::new();
/// let upper = Transform::<Bytes, Bytes>::new(|lp, _, chunk, done| {
///     done.call(lp, Ok(Some(chunk.to_ascii_uppercase())))
/// });
/// let out = Rc::new(RefCell::new(Vec::new()));
/// let o = out.clone();
/// upper.readable().on_data(&mut lp, move |_, c| o.borrow_mut().extend_from_slice(c));
/// upper.writable().write(&mut lp, b"abc".to_vec());
/// upper.writable().end(&mut lp);
/// lp.run_default();
/// assert_eq!(*out.borrow(), b"ABC");
/// ```
pub struct Transform<I: Mode, O: Mode> {
    r: Readable<O>,
    w: Writable<I>,
}

impl<I: Mode, O: Mode> Clone for Transform<I, O> {
    fn clone(&self) -> Self {
        Transform {
            r: self.r.clone(),
            w: self.w.clone(),
        }
    }
}

impl<I: Mode, O: Mode> fmt::Debug for Transform<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transform")
            .field("readable", &self.r)
            .field("writable", &self.w)
            .finish()
    }
}

impl<I: Mode, O: Mode> Transform<I, O> {
    /// A transform with default options and no flush.
    pub fn new(
        transform: impl Fn(&mut Loop, &Transform<I, O>, I::Chunk, TransformDone<O>) + 'static,
    ) -> Transform<I, O> {
        Transform::with_options(
            ReadableOptions::default(),
            WritableOptions::default(),
            transform,
            None,
        )
    }

    /// A transform with options and an optional flush (Node's `_flush`),
    /// called after the last input chunk.
    pub fn with_options(
        ropts: ReadableOptions,
        wopts: WritableOptions,
        transform: impl Fn(&mut Loop, &Transform<I, O>, I::Chunk, TransformDone<O>) + 'static,
        flush: Option<Box<FlushFn<I, O>>>,
    ) -> Transform<I, O> {
        let held: Rc<RefCell<Option<WriteDone>>> = Rc::default();
        let held_r = held.clone();
        let transform: Rc<TransformFn<I, O>> = Rc::new(transform);
        // `_read`: release a write callback held back by backpressure.
        let d = Duplex::<O, I>::with_options(
            ropts,
            wopts,
            true,
            move |lp, _, _| {
                let cb = held_r.borrow_mut().take();
                if let Some(cb) = cb {
                    cb.call(lp, Ok(()));
                }
            },
            |_, _, _, _| {},
        );
        let (r, w) = (d.readable().clone(), d.writable().clone());
        r.st.borrow_mut().sync = false;
        let rweak = r.downgrade();
        let write: WriteImpl<I> = Rc::new(move |lp, w: &Writable<I>, chunk, done: WriteDone| {
            let Some(r) = rweak.upgrade() else { return };
            let length = r.readable_length();
            let t = Transform {
                r: r.clone(),
                w: w.clone(),
            };
            let held = held.clone();
            let w2 = w.clone();
            let out = TransformDone::<O> {
                f: Box::new(move |lp, res| match res {
                    Err(e) => done.call(lp, Err(e)),
                    Ok(val) => {
                        if let Some(v) = val {
                            r.push(lp, v);
                        }
                        let (ended, rlen, hwm) = {
                            let s = r.st.borrow();
                            (s.ended, s.length, s.hwm)
                        };
                        if ended {
                            lp.next_tick(move |lp| done.call(lp, Ok(())));
                        } else if w2.ended_flag() || length == rlen || rlen < hwm {
                            done.call(lp, Ok(()));
                        } else {
                            *held.borrow_mut() = Some(done);
                        }
                    }
                }),
            };
            transform(lp, &t, chunk, out);
        });
        w.st.borrow_mut().set_write_impl(write);
        let flush: Option<Rc<FlushFn<I, O>>> = flush.map(Rc::from);
        let rweak = r.downgrade();
        let fin: FinalImpl<I> = Rc::new(move |lp, w: &Writable<I>, done: FinalDone| {
            let Some(r) = rweak.upgrade() else { return };
            match &flush {
                Some(flush) if !w.destroyed() => {
                    let t = Transform {
                        r: r.clone(),
                        w: w.clone(),
                    };
                    let w2 = w.clone();
                    let fd = FlushDone::<O> {
                        f: Box::new(move |lp, res| match res {
                            Err(e) => done.call(lp, Err(e)),
                            Ok(data) => {
                                if let Some(d) = data {
                                    r.push(lp, d);
                                }
                                r.push_eof(lp);
                                let _ = &w2;
                                done.call(lp, Ok(()));
                            }
                        }),
                    };
                    flush(lp, &t, fd);
                }
                _ => {
                    r.push_eof(lp);
                    done.call(lp, Ok(()));
                }
            }
        });
        w.set_final_rc(fin);
        Transform { r, w }
    }

    /// The readable (output) side.
    pub fn readable(&self) -> &Readable<O> {
        &self.r
    }

    /// The writable (input) side.
    pub fn writable(&self) -> &Writable<I> {
        &self.w
    }

    /// Pushes an output chunk (`this.push` inside `_transform`).
    pub fn push(&self, lp: &mut Loop, chunk: O::Chunk) -> bool {
        self.r.push(lp, chunk)
    }

    /// Both sides as a [`Duplex`].
    pub fn as_duplex(&self) -> Duplex<O, I> {
        Duplex::from_parts(self.r.clone(), self.w.clone())
    }

    /// Destroys the transform.
    pub fn destroy(&self, lp: &mut Loop, err: Option<StreamError>) {
        self.r.destroy(lp, err);
    }
}
