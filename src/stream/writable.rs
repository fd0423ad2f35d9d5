//! `Writable`: a port of Node 20's `lib/internal/streams/writable.js`
//! (without `_writev`, string encodings and `_construct`). Function names in
//! comments are Node's.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::core::{self, Core, WriteSide};
use super::lazy::{LazyDeque, LazyVec};
use super::{event, DoneFn, Mode, StreamError};
use crate::emitter::{Event, EventEmitter, ListenerId};
use crate::Loop;

/// A callback for one `write` or `end`: receives the outcome.
pub type WriteCallback = Box<dyn FnOnce(&mut Loop, Result<(), StreamError>)>;

pub(crate) type WriteImpl<M> = Rc<dyn Fn(&mut Loop, &Writable<M>, <M as Mode>::Chunk, WriteDone)>;
pub(crate) type FinalImpl<M> = Rc<dyn Fn(&mut Loop, &Writable<M>, FinalDone)>;

/// Options for [`Writable::with_options`].
///
/// ```
/// use nodeloop::stream::WritableOptions;
/// let o = WritableOptions { high_water_mark: Some(1), ..Default::default() };
/// assert!(o.auto_destroy);
/// ```
#[derive(Debug, Clone)]
pub struct WritableOptions {
    /// Buffer limit in bytes (or objects); the mode's default when `None`.
    pub high_water_mark: Option<usize>,
    /// Destroy the stream after `'finish'` (Node's `autoDestroy`, default true).
    pub auto_destroy: bool,
    /// Emit `'close'` when destroyed (Node's `emitClose`, default true).
    pub emit_close: bool,
}

impl Default for WritableOptions {
    fn default() -> Self {
        WritableOptions {
            high_water_mark: None,
            auto_destroy: true,
            emit_close: true,
        }
    }
}

pub(crate) struct WriteState<M: Mode> {
    hwm: usize,
    length: usize,
    writing: bool,
    corked: u32,
    sync: bool,
    buffer_processing: bool,
    buffered: LazyDeque<(M::Chunk, Option<WriteCallback>)>,
    /// The callback of the write in flight, if it has one (`writing`
    /// says whether one is in flight).
    writecb: Option<WriteCallback>,
    writelen: usize,
    need_drain: bool,
    ending: bool,
    ended: bool,
    finished: bool,
    final_called: bool,
    prefinished: bool,
    pending_cb: usize,
    /// A tick reporting synchronous completions is queued
    /// (`kAfterWritePending`).
    after_write_pending: bool,
    on_finished: LazyVec<WriteCallback>,
    write_impl: Option<WriteImpl<M>>,
    final_impl: Option<FinalImpl<M>>,
    pub(crate) enabled: bool,
}

impl<M: Mode> WriteState<M> {
    /// `pendingcb -= n`. Saturating: a miscount must not become a panic.
    fn callbacks_done(&mut self, n: usize) {
        self.pending_cb = self.pending_cb.saturating_sub(n);
    }

    pub(crate) fn set_write_impl(&mut self, f: WriteImpl<M>) {
        self.write_impl = Some(f);
    }

    /// `needFinish`.
    fn need_finish(&self, core: &Core) -> bool {
        let f = core.f.borrow();
        self.ending
            && !f.destroyed
            && self.length == 0
            && f.errored.is_none()
            && self.buffered.is_empty()
            && !self.finished
            && !self.writing
            && !f.error_emitted
            && !f.close_emitted
    }
}

/// Completes one `_write` (Node's write callback). Consumed by `call`, so
/// it cannot be called twice. It is the stream itself, type-erased: no
/// allocation per write.
pub struct WriteDone {
    core: Rc<Core>,
    side: Rc<dyn WriteSide>,
}

impl fmt::Debug for WriteDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteDone")
    }
}

impl WriteDone {
    /// Reports the write's outcome.
    pub fn call(self, lp: &mut Loop, result: Result<(), StreamError>) {
        self.side.on_write(self.core, lp, result)
    }
}

/// Completes `_final` (Node's final callback).
pub struct FinalDone {
    f: DoneFn<()>,
}

impl fmt::Debug for FinalDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FinalDone")
    }
}

impl FinalDone {
    /// Reports that everything is flushed, or why not.
    pub fn call(self, lp: &mut Loop, result: Result<(), StreamError>) {
        (self.f)(lp, result)
    }
}

/// A writable stream (Node's `stream.Writable`).
///
/// The sink is the `write` callback (Node's `_write(chunk, enc, cb)`): it
/// gets one chunk at a time and calls `done` when the chunk is handled;
/// meanwhile further writes are buffered. `write` returns false once the
/// buffer reaches the high-water mark; `'drain'` says when to go on.
///
/// ```
/// use nodeloop::stream::{Bytes, Writable, WritableOptions};
/// use nodeloop::Loop;
/// use std::{cell::RefCell, rc::Rc};
/// let mut lp = Loop::new();
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// let ws = Writable::<Bytes>::with_options(
///     WritableOptions { high_water_mark: Some(4), ..Default::default() },
///     move |lp, _, chunk, done| {
///         let l = l.clone();
///         lp.set_timeout(1, move |lp| { l.borrow_mut().push(chunk.len()); done.call(lp, Ok(())) });
///     },
/// );
/// assert!(ws.write(&mut lp, vec![0; 3]));
/// assert!(!ws.write(&mut lp, vec![0; 3])); // 6 bytes buffered >= 4
/// let l = log.clone();
/// ws.emitter().on::<nodeloop::stream::event::Drain>(move |_, _| l.borrow_mut().push(0));
/// lp.run_default();
/// assert_eq!(*log.borrow(), [3, 3, 0]);
/// ```
pub struct Writable<M: Mode> {
    pub(crate) core: Rc<Core>,
    pub(crate) st: Rc<RefCell<WriteState<M>>>,
}

impl<M: Mode> Clone for Writable<M> {
    fn clone(&self) -> Self {
        Writable {
            core: self.core.clone(),
            st: self.st.clone(),
        }
    }
}

impl<M: Mode> fmt::Debug for Writable<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.st.borrow();
        f.debug_struct("Writable")
            .field("length", &s.length)
            .field("ending", &s.ending)
            .field("finished", &s.finished)
            .field("destroyed", &self.core.destroyed())
            .finish_non_exhaustive()
    }
}

impl<M: Mode> WriteSide for RefCell<WriteState<M>> {
    fn as_any(self: Rc<Self>) -> Rc<dyn std::any::Any> {
        self
    }
    fn finished(&self) -> bool {
        self.borrow().finished
    }
    fn enabled(&self) -> bool {
        self.borrow().enabled
    }
    fn writable(&self, core: &Core) -> bool {
        let s = self.borrow();
        let f = core.f.borrow();
        s.enabled && !f.destroyed && f.errored.is_none() && !s.ending && !s.ended
    }
    fn end_called(&self) -> bool {
        self.borrow().ending
    }
    fn end(self: Rc<Self>, core: Rc<Core>, lp: &mut Loop) {
        Writable { core, st: self }.end(lp);
    }
    fn error_buffer(self: Rc<Self>, core: Rc<Core>, lp: &mut Loop) {
        Writable { core, st: self }.error_buffer(lp);
    }
    fn on_write(self: Rc<Self>, core: Rc<Core>, lp: &mut Loop, result: Result<(), StreamError>) {
        Writable { core, st: self }.on_write(lp, result);
    }
    fn has_pending(&self) -> bool {
        let s = self.borrow();
        !s.buffered.is_empty() || !s.on_finished.is_empty()
    }
}

impl<M: Mode> Writable<M> {
    /// A writable with default options; `write` is Node's `_write`.
    pub fn new(
        write: impl Fn(&mut Loop, &Writable<M>, M::Chunk, WriteDone) + 'static,
    ) -> Writable<M> {
        Writable::with_options(WritableOptions::default(), write)
    }

    /// A writable with explicit options.
    pub fn with_options(
        opts: WritableOptions,
        write: impl Fn(&mut Loop, &Writable<M>, M::Chunk, WriteDone) + 'static,
    ) -> Writable<M> {
        let core = Core::new(opts.auto_destroy, opts.emit_close);
        core.writable_only.set(true);
        Writable::attach(core, &opts, Rc::new(write))
    }

    pub(crate) fn attach(
        core: Rc<Core>,
        opts: &WritableOptions,
        write: WriteImpl<M>,
    ) -> Writable<M> {
        let st = Rc::new(RefCell::new(WriteState {
            hwm: opts.high_water_mark.unwrap_or(M::DEFAULT_HWM),
            length: 0,
            writing: false,
            corked: 0,
            sync: true,
            buffer_processing: false,
            buffered: LazyDeque::default(),
            writecb: None,
            writelen: 0,
            need_drain: false,
            ending: false,
            ended: false,
            finished: false,
            final_called: false,
            prefinished: false,
            pending_cb: 0,
            after_write_pending: false,
            on_finished: LazyVec::default(),
            write_impl: Some(write),
            final_impl: None,
            enabled: true,
        }));
        let fresh = core.write_side.set(st.clone() as Rc<dyn WriteSide>).is_ok();
        debug_assert!(fresh, "a stream core has one writable side");
        Writable { core, st }
    }

    /// Sets the final implementation (Node's `_final(cb)`): runs after the
    /// last write, before `'finish'`.
    pub fn set_final(&self, f: impl Fn(&mut Loop, &Writable<M>, FinalDone) + 'static) {
        self.st.borrow_mut().final_impl = Some(Rc::new(f));
    }

    pub(crate) fn set_final_rc(&self, f: FinalImpl<M>) {
        self.st.borrow_mut().final_impl = Some(f);
    }

    /// Sets the destroy implementation (Node's `_destroy(err, cb)`).
    pub fn set_destroy(
        &self,
        f: impl Fn(&mut Loop, Option<StreamError>, super::DestroyDone) + 'static,
    ) {
        self.core.set_destroy_impl(Rc::new(f));
    }

    /// What implements this stream, if it is still alive; see
    /// `Readable::owner`.
    pub(crate) fn owner(&self) -> Option<Rc<dyn std::any::Any>> {
        self.core.owner.get()?.upgrade()
    }

    /// The readable side of the duplex this side belongs to.
    pub(crate) fn readable_side<R: Mode>(&self) -> Option<super::Readable<R>> {
        let st = self.core.read_side()?.as_any().downcast().ok()?;
        Some(super::Readable {
            core: self.core.clone(),
            st,
        })
    }

    /// A number identifying this stream (shared by both sides of a duplex).
    pub fn id(&self) -> usize {
        self.core.id()
    }

    /// The stream's event emitter (`drain`, `finish`, `error`, `close`, ...).
    pub fn emitter(&self) -> &EventEmitter {
        &self.core.emitter
    }

    /// `writable.on`: a listener for `E`.
    pub fn on<E: Event>(&self, f: impl FnMut(&mut Loop, &E::Payload) + 'static) -> ListenerId {
        self.core.emitter.on::<E>(f)
    }

    /// `writable.once`.
    pub fn once<E: Event>(&self, f: impl FnMut(&mut Loop, &E::Payload) + 'static) -> ListenerId {
        self.core.emitter.once::<E>(f)
    }

    /// Writes a chunk (`writable.write(chunk)`). Returns false when the
    /// buffer has reached the high-water mark: wait for `'drain'`.
    pub fn write(&self, lp: &mut Loop, chunk: M::Chunk) -> bool {
        self.write_inner(lp, chunk, None)
    }

    /// Writes a chunk with a completion callback (`write(chunk, cb)`).
    ///
    /// ```
    /// use nodeloop::stream::{Objects, Writable};
    /// use std::{cell::Cell, rc::Rc};
    /// let mut lp = nodeloop::Loop::new();
    /// let ws = Writable::<Objects<u8>>::new(|lp, _, _, done| done.call(lp, Ok(())));
    /// let ok = Rc::new(Cell::new(false));
    /// let o = ok.clone();
    /// ws.write_with(&mut lp, 1, move |_, r| o.set(r.is_ok()));
    /// assert!(!ok.get()); // a synchronous write still calls back on a tick
    /// lp.run_default();
    /// assert!(ok.get());
    /// ```
    pub fn write_with(
        &self,
        lp: &mut Loop,
        chunk: M::Chunk,
        cb: impl FnOnce(&mut Loop, Result<(), StreamError>) + 'static,
    ) -> bool {
        self.write_inner(lp, chunk, Some(Box::new(cb)))
    }

    /// `_write` in writable.js: refuse after end or destroy, else
    /// `writeOrBuffer`.
    fn write_inner(&self, lp: &mut Loop, chunk: M::Chunk, cb: Option<WriteCallback>) -> bool {
        let err = if self.st.borrow().ending {
            Some(StreamError::WriteAfterEnd)
        } else if self.core.destroyed() {
            Some(StreamError::Destroyed("write"))
        } else {
            None
        };
        if let Some(err) = err {
            if let Some(cb) = cb {
                let e = err.clone();
                lp.next_tick(move |lp| cb(lp, Err(e)));
            }
            core::error_or_destroy(&self.core, lp, err, true);
            return false;
        }
        self.st.borrow_mut().pending_cb += 1;
        self.write_or_buffer(lp, chunk, cb)
    }

    /// `writeOrBuffer`. The verdict is taken after a synchronous `_write`
    /// has run, so a write that completed at once does not ask for a drain
    /// (as Node 20.x does; found by the writable fuzz cases).
    fn write_or_buffer(&self, lp: &mut Loop, chunk: M::Chunk, cb: Option<WriteCallback>) -> bool {
        let len = M::len(&chunk);
        {
            let mut s = self.st.borrow_mut();
            s.length += len;
            if s.writing || s.corked > 0 || self.core.errored() {
                s.buffered.push_back((chunk, cb));
            } else {
                drop(s);
                self.do_write(lp, len, chunk, cb);
            }
        }
        self.write_verdict()
    }

    /// `writeOrBuffer`'s return value, taken after the write or buffering.
    fn write_verdict(&self) -> bool {
        let ret = {
            let mut s = self.st.borrow_mut();
            let ret = s.length < s.hwm || s.length == 0;
            if !ret {
                s.need_drain = true;
            }
            ret
        };
        ret && !self.core.errored() && !self.core.destroyed()
    }

    /// Whether a `write` now would go straight to `_write` (nothing ends,
    /// fails, corks, buffers or is in flight), so that an owner that can
    /// run the `_write` itself may do so through [`Writable::write_direct`].
    pub(crate) fn would_write_now(&self) -> bool {
        let s = self.st.borrow();
        !s.ending
            && !s.writing
            && s.corked == 0
            && s.buffered.is_empty()
            && s.write_impl.is_some()
            && !self.core.errored()
            && !self.core.destroyed()
    }

    /// A `write` of `len` bytes whose `_write` the owner runs itself, as
    /// `f`, instead of the stored one: the same state changes, events and
    /// return value as `write`, but the chunk need not be owned. A socket
    /// uses it to hand a lent buffer to the kernel and copy only what the
    /// kernel leaves (Node's `uv_try_write` path). Only valid right after
    /// [`Writable::would_write_now`] said yes.
    pub(crate) fn write_direct(
        &self,
        lp: &mut Loop,
        len: usize,
        f: impl FnOnce(&mut Loop, &Self, WriteDone),
    ) -> bool {
        {
            let mut s = self.st.borrow_mut();
            debug_assert!(!s.writing && s.buffered.is_empty());
            s.pending_cb += 1;
            s.length += len;
        }
        self.dispatch_write(lp, len, None, f);
        self.write_verdict()
    }

    /// `doWrite`.
    fn do_write(&self, lp: &mut Loop, len: usize, chunk: M::Chunk, cb: Option<WriteCallback>) {
        let imp = self.st.borrow().write_impl.clone();
        self.dispatch_write(lp, len, cb, |lp, me, done| {
            if let Some(imp) = imp {
                imp(lp, me, chunk, done);
            }
        });
    }

    /// `doWrite`'s bookkeeping around a `_write`, which is `f`.
    fn dispatch_write(
        &self,
        lp: &mut Loop,
        len: usize,
        cb: Option<WriteCallback>,
        f: impl FnOnce(&mut Loop, &Self, WriteDone),
    ) {
        {
            let mut s = self.st.borrow_mut();
            s.writelen = len;
            s.writecb = cb;
            s.writing = true;
            s.sync = true;
        }
        if self.core.destroyed() {
            self.on_write(lp, Err(StreamError::Destroyed("write")));
        } else {
            let done = WriteDone {
                core: self.core.clone(),
                side: self.st.clone(),
            };
            f(lp, self, done);
        }
        self.st.borrow_mut().sync = false;
    }

    /// `onwrite`.
    fn on_write(&self, lp: &mut Loop, result: Result<(), StreamError>) {
        let (sync, cb) = {
            let mut s = self.st.borrow_mut();
            let cb = s.writecb.take();
            s.writing = false;
            s.length = s.length.saturating_sub(s.writelen);
            s.writelen = 0;
            (s.sync, cb)
        };
        match result {
            Err(er) => {
                {
                    let mut f = self.core.f.borrow_mut();
                    if f.errored.is_none() {
                        f.errored = Some(Box::new(er.clone()));
                    }
                }
                if sync {
                    let me = self.clone();
                    lp.next_tick(move |lp| me.on_write_error(lp, er, cb));
                } else {
                    self.on_write_error(lp, er, cb);
                }
            }
            Ok(()) => {
                if !self.st.borrow().buffered.is_empty() {
                    self.clear_buffer(lp);
                }
                if sync {
                    // A synchronous completion is reported on a tick only if
                    // someone can observe it: a drain, a callback. Node
                    // writes the third test as `state & kDestroyed !== 0`,
                    // which precedence makes `state & 1`, the object-mode
                    // bit; object-mode streams therefore always tick.
                    let (need_tick, pending) = {
                        let s = self.st.borrow();
                        let need_drain = s.need_drain && s.length == 0;
                        (
                            need_drain || M::OBJECT_MODE || cb.is_some(),
                            s.after_write_pending,
                        )
                    };
                    if need_tick && (cb.is_some() || !pending) {
                        self.st.borrow_mut().after_write_pending = true;
                        let me = self.clone();
                        lp.next_tick(move |lp| me.after_write(lp, 1, cb));
                    } else {
                        self.st.borrow_mut().callbacks_done(1);
                        if self.st.borrow().ending {
                            self.finish_maybe(lp, true);
                        }
                    }
                } else {
                    self.after_write(lp, 1, cb);
                }
            }
        }
    }

    /// `onwriteError`.
    fn on_write_error(&self, lp: &mut Loop, er: StreamError, cb: Option<WriteCallback>) {
        self.st.borrow_mut().callbacks_done(1);
        if let Some(cb) = cb {
            cb(lp, Err(er.clone()));
        }
        self.error_buffer(lp);
        core::error_or_destroy(&self.core, lp, er, false);
    }

    /// `afterWrite`: `'drain'` if the buffer emptied, then the callbacks.
    fn after_write(&self, lp: &mut Loop, count: usize, cb: Option<WriteCallback>) {
        let need_drain = {
            let mut s = self.st.borrow_mut();
            s.after_write_pending = false;
            let d = !s.ending && !self.core.destroyed() && s.length == 0 && s.need_drain;
            if d {
                s.need_drain = false;
            }
            d
        };
        if need_drain {
            self.core.emitter.emit::<event::Drain>(lp, ());
        }
        {
            let mut s = self.st.borrow_mut();
            s.callbacks_done(count);
        }
        if let Some(cb) = cb {
            cb(lp, Ok(()));
        }
        if self.core.destroyed() {
            self.error_buffer(lp);
        }
        if self.st.borrow().ending {
            self.finish_maybe(lp, true);
        }
    }

    /// `errorBuffer`: fails everything still buffered.
    fn error_buffer(&self, lp: &mut Loop) {
        let (cbs, fins, err) = {
            let mut s = self.st.borrow_mut();
            if s.writing {
                return;
            }
            let buffered = s.buffered.take();
            let mut cbs = Vec::new();
            for (chunk, cb) in buffered {
                s.length = s.length.saturating_sub(M::len(&chunk));
                cbs.extend(cb);
            }
            let fins = s.on_finished.take();
            (cbs, fins, self.core.f.borrow().errored.as_deref().cloned())
        };
        for cb in cbs {
            cb(
                lp,
                Err(err.clone().unwrap_or(StreamError::Destroyed("write"))),
            );
        }
        for cb in fins {
            cb(
                lp,
                Err(err.clone().unwrap_or(StreamError::Destroyed("end"))),
            );
        }
    }

    /// `clearBuffer`: writes buffered chunks one by one while each
    /// completes synchronously.
    fn clear_buffer(&self, lp: &mut Loop) {
        {
            let mut s = self.st.borrow_mut();
            if s.corked > 0 || s.buffer_processing || self.core.destroyed() || s.buffered.is_empty()
            {
                return;
            }
            s.buffer_processing = true;
        }
        loop {
            let next = {
                let mut s = self.st.borrow_mut();
                if s.writing {
                    None
                } else {
                    s.buffered.pop_front()
                }
            };
            let Some((chunk, cb)) = next else { break };
            let len = M::len(&chunk);
            self.do_write(lp, len, chunk, cb);
        }
        self.st.borrow_mut().buffer_processing = false;
    }

    /// Buffers writes until `uncork` (`writable.cork`).
    ///
    /// ```
    /// use nodeloop::stream::{Objects, Writable};
    /// use std::{cell::RefCell, rc::Rc};
    /// let mut lp = nodeloop::Loop::new();
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// let ws = Writable::<Objects<u8>>::new(move |lp, _, c, done| {
    ///     s.borrow_mut().push(c);
    ///     done.call(lp, Ok(()))
    /// });
    /// ws.cork();
    /// ws.write(&mut lp, 1);
    /// ws.write(&mut lp, 2);
    /// assert!(seen.borrow().is_empty());
    /// ws.uncork(&mut lp);
    /// assert_eq!(*seen.borrow(), [1, 2]);
    /// ```
    pub fn cork(&self) {
        self.st.borrow_mut().corked += 1;
    }

    /// Undoes one `cork`; the last one writes the buffer (`writable.uncork`).
    pub fn uncork(&self, lp: &mut Loop) {
        let go = {
            let mut s = self.st.borrow_mut();
            if s.corked > 0 {
                s.corked -= 1;
                !s.writing
            } else {
                false
            }
        };
        if go {
            self.clear_buffer(lp);
        }
    }

    /// Ends the stream (`writable.end()`): `'finish'` follows once all
    /// writes are done.
    pub fn end(&self, lp: &mut Loop) {
        self.end_with(lp, None, None);
    }

    /// `writable.end(chunk, cb)`: writes a last chunk, then ends; `cb` gets
    /// `Ok` at `'finish'` or the error that prevented it.
    ///
    /// ```
    /// use nodeloop::stream::{Bytes, Writable};
    /// use std::{cell::Cell, rc::Rc};
    /// let mut lp = nodeloop::Loop::new();
    /// let ws = Writable::<Bytes>::new(|lp, _, _, done| done.call(lp, Ok(())));
    /// let finished = Rc::new(Cell::new(false));
    /// let f = finished.clone();
    /// ws.end_with(&mut lp, Some(b"bye".to_vec()), Some(Box::new(move |_, r| f.set(r.is_ok()))));
    /// assert!(ws.writable_ended() && !ws.writable_finished());
    /// lp.run_default();
    /// assert!(finished.get() && ws.writable_finished());
    /// ```
    pub fn end_with(&self, lp: &mut Loop, chunk: Option<M::Chunk>, cb: Option<WriteCallback>) {
        let mut err = None;
        if let Some(c) = chunk {
            let before = self.st.borrow().ending;
            let destroyed = self.core.destroyed();
            self.write_inner(lp, c, None);
            if before {
                err = Some(StreamError::WriteAfterEnd);
            } else if destroyed {
                err = Some(StreamError::Destroyed("write"));
            }
        }
        {
            let corked = self.st.borrow().corked;
            if corked > 0 {
                self.st.borrow_mut().corked = 1;
                self.uncork(lp);
            }
        }
        if err.is_none() {
            let (errored, ending, finished) = {
                let s = self.st.borrow();
                (self.core.errored(), s.ending, s.finished)
            };
            if !errored && !ending {
                self.st.borrow_mut().ending = true;
                self.finish_maybe(lp, true);
                self.st.borrow_mut().ended = true;
            } else if finished {
                err = Some(StreamError::AlreadyFinished);
            } else if self.core.destroyed() {
                err = Some(StreamError::Destroyed("end"));
            }
        }
        if let Some(cb) = cb {
            let finished = self.st.borrow().finished;
            let err = err.or_else(|| self.core.f.borrow().errored.as_deref().cloned());
            if err.is_some() || finished {
                lp.next_tick(move |lp| cb(lp, err.map_or(Ok(()), Err)));
            } else {
                self.st.borrow_mut().on_finished.push(cb);
            }
        }
    }

    /// `finishMaybe`.
    fn finish_maybe(&self, lp: &mut Loop, sync: bool) {
        if !self.st.borrow().need_finish(&self.core) {
            return;
        }
        self.prefinish(lp);
        let pending = self.st.borrow().pending_cb;
        if pending == 0 {
            if sync {
                self.st.borrow_mut().pending_cb += 1;
                let me = self.clone();
                lp.next_tick(move |lp| {
                    if me.st.borrow().need_finish(&me.core) {
                        me.finish(lp);
                    } else {
                        me.st.borrow_mut().callbacks_done(1);
                    }
                });
            } else if self.st.borrow().need_finish(&self.core) {
                self.st.borrow_mut().pending_cb += 1;
                self.finish(lp);
            }
        }
    }

    /// `prefinish`: `_final` if there is one, else `'prefinish'` at once.
    fn prefinish(&self, lp: &mut Loop) {
        let fin = {
            let mut s = self.st.borrow_mut();
            if s.prefinished || s.final_called {
                return;
            }
            match s.final_impl.clone() {
                Some(f) if !self.core.destroyed() => {
                    s.final_called = true;
                    Some(f)
                }
                _ => {
                    s.prefinished = true;
                    None
                }
            }
        };
        match fin {
            Some(f) => self.call_final(lp, f),
            None => {
                self.core.emitter.emit::<event::Prefinish>(lp, ());
            }
        }
    }

    /// `callFinal`.
    fn call_final(&self, lp: &mut Loop, f: FinalImpl<M>) {
        {
            let mut s = self.st.borrow_mut();
            s.sync = true;
            s.pending_cb += 1;
        }
        let me = self.clone();
        let done = FinalDone {
            f: Box::new(move |lp, r| me.on_final(lp, r)),
        };
        f(lp, self, done);
        self.st.borrow_mut().sync = false;
    }

    fn on_final(&self, lp: &mut Loop, r: Result<(), StreamError>) {
        self.st.borrow_mut().callbacks_done(1);
        match r {
            Err(e) => {
                let (fins, sync) = {
                    let mut s = self.st.borrow_mut();
                    (s.on_finished.take(), s.sync)
                };
                for cb in fins {
                    cb(lp, Err(e.clone()));
                }
                core::error_or_destroy(&self.core, lp, e, sync);
            }
            Ok(()) => {
                if self.st.borrow().need_finish(&self.core) {
                    {
                        let mut s = self.st.borrow_mut();
                        s.prefinished = true;
                        s.pending_cb += 1;
                    }
                    self.core.emitter.emit::<event::Prefinish>(lp, ());
                    let me = self.clone();
                    lp.next_tick(move |lp| me.finish(lp));
                }
            }
        }
    }

    /// `finish`: `'finish'`, then auto-destroy (so `'close'` next tick).
    fn finish(&self, lp: &mut Loop) {
        let fins = {
            let mut s = self.st.borrow_mut();
            s.callbacks_done(1);
            s.finished = true;
            s.on_finished.take()
        };
        for cb in fins {
            cb(lp, Ok(()));
        }
        self.core.emitter.emit::<event::Finish>(lp, ());
        if self.core.f.borrow().auto_destroy {
            let destroy = self
                .core
                .read_side()
                .is_none_or(|r| r.end_emitted() || !r.enabled());
            if destroy {
                core::destroy(&self.core, lp, None);
            }
        }
    }

    /// Destroys the stream (`writable.destroy(err)`); buffered writes fail
    /// with `ERR_STREAM_DESTROYED` once the write in flight completes.
    ///
    /// ```
    /// use nodeloop::stream::{Objects, Writable};
    /// use std::{cell::RefCell, rc::Rc};
    /// let mut lp = nodeloop::Loop::new();
    /// let ws = Writable::<Objects<u8>>::new(|lp, _, _, done| {
    ///     lp.set_immediate(move |lp| done.call(lp, Ok(())));
    /// });
    /// let codes = Rc::new(RefCell::new(Vec::new()));
    /// let c = codes.clone();
    /// ws.write(&mut lp, 1);
    /// ws.write_with(&mut lp, 2, move |_, r| c.borrow_mut().push(r.unwrap_err().code()));
    /// ws.destroy(&mut lp, None);
    /// lp.run_default();
    /// assert_eq!(*codes.borrow(), [Some("ERR_STREAM_DESTROYED")]);
    /// ```
    pub fn destroy(&self, lp: &mut Loop, err: Option<StreamError>) {
        core::destroy(&self.core, lp, err);
    }

    /// Bytes (or objects) written but not yet handled (`writableLength`).
    pub fn writable_length(&self) -> usize {
        self.st.borrow().length
    }

    /// The high-water mark (`writableHighWaterMark`).
    pub fn writable_high_water_mark(&self) -> usize {
        self.st.borrow().hwm
    }

    /// Whether a `'drain'` is due (`writableNeedDrain`): never once ending
    /// or destroyed.
    pub fn writable_need_drain(&self) -> bool {
        let s = self.st.borrow();
        !self.core.destroyed() && !s.ending && s.need_drain
    }

    /// The raw `state.needDrain`, which `pipe`'s cleanup consults.
    pub(crate) fn need_drain_flag(&self) -> bool {
        self.st.borrow().need_drain
    }

    /// Whether `end` was called (`writableEnded`).
    pub fn writable_ended(&self) -> bool {
        self.st.borrow().ending
    }

    /// Node's `state.ended`: `end` has run its course (set after the first
    /// finish check, unlike `writable_ended`).
    pub(crate) fn ended_flag(&self) -> bool {
        self.st.borrow().ended
    }

    /// Whether `'finish'` was emitted (`writableFinished`).
    pub fn writable_finished(&self) -> bool {
        self.st.borrow().finished
    }

    /// Cork count (`writableCorked`).
    pub fn writable_corked(&self) -> u32 {
        self.st.borrow().corked
    }

    /// Whether `write` is still allowed (`writable.writable`).
    pub fn writable(&self) -> bool {
        WriteSide::writable(&*self.st, &self.core)
    }

    /// Whether `destroy` was called.
    pub fn destroyed(&self) -> bool {
        self.core.destroyed()
    }

    /// The error the stream failed with (`errored`).
    pub fn errored(&self) -> Option<StreamError> {
        self.core.f.borrow().errored.as_deref().cloned()
    }
}
