//! `Readable`: a port of the buffering and event logic of Node 20's
//! `lib/internal/streams/readable.js`. Function names in comments are
//! Node's, so the two can be read side by side.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::{Rc, Weak};

use super::core::{self, Core, ReadSide};
use super::lazy::LazyVec;
use super::{event, Mode, StreamError};
use crate::emitter::{Event, EventEmitter, ListenerId, OnceRemoved};
use crate::Loop;

pub(crate) type ReadImpl<M> = Rc<dyn Fn(&mut Loop, &Readable<M>, usize)>;

/// Options for [`Readable::with_options`].
///
/// ```
/// use nodeloop::stream::ReadableOptions;
/// let o = ReadableOptions { high_water_mark: Some(4), ..Default::default() };
/// assert!(o.auto_destroy && o.emit_close);
/// ```
#[derive(Debug, Clone)]
pub struct ReadableOptions {
    /// Buffer limit in bytes (or objects); the mode's default when `None`.
    pub high_water_mark: Option<usize>,
    /// Destroy the stream after `'end'` (Node's `autoDestroy`, default true).
    pub auto_destroy: bool,
    /// Emit `'close'` when destroyed (Node's `emitClose`, default true).
    pub emit_close: bool,
}

impl Default for ReadableOptions {
    fn default() -> Self {
        ReadableOptions {
            high_water_mark: None,
            auto_destroy: true,
            emit_close: true,
        }
    }
}

pub(crate) struct ReadState<M: Mode> {
    pub buffer: VecDeque<M::Chunk>,
    pub length: usize,
    pub hwm: usize,
    /// Node's `state.flowing`: `None` until a consumer picks a mode.
    pub flowing: Option<bool>,
    /// Node's `state[kPaused]`.
    pub paused: Option<bool>,
    pub ended: bool,
    pub end_emitted: bool,
    pub reading: bool,
    /// True while `_read` runs: pushes then buffer instead of emitting at
    /// once. Starts true so that a push before the first read buffers.
    pub sync: bool,
    pub need_readable: bool,
    pub emitted_readable: bool,
    pub readable_listening: bool,
    pub resume_scheduled: bool,
    pub data_emitted: bool,
    pub reading_more: bool,
    /// Ids of pipe destinations whose `write` returned false
    /// (`awaitDrainWriters`).
    pub await_drain: LazyVec<usize>,
    pub pipes: LazyVec<super::Writable<M>>,
    pub read_impl: Option<ReadImpl<M>>,
    pub enabled: bool,
}

impl<M: Mode> ReadState<M> {
    pub fn new(hwm: usize) -> Self {
        ReadState {
            buffer: VecDeque::new(),
            length: 0,
            hwm,
            flowing: None,
            paused: None,
            ended: false,
            end_emitted: false,
            reading: false,
            sync: true,
            need_readable: false,
            emitted_readable: false,
            readable_listening: false,
            resume_scheduled: false,
            data_emitted: false,
            reading_more: false,
            await_drain: LazyVec::default(),
            pipes: LazyVec::default(),
            read_impl: None,
            enabled: true,
        }
    }

    /// `howMuchToRead`; `None` is Node's `read()` with no argument.
    fn how_much(&self, n: Option<usize>) -> usize {
        if n == Some(0) || (self.length == 0 && self.ended) {
            return 0;
        }
        if M::OBJECT_MODE {
            return 1;
        }
        match n {
            None => {
                if self.flowing == Some(true) && self.length > 0 {
                    self.buffer.front().map_or(0, M::len)
                } else {
                    self.length
                }
            }
            Some(k) if k <= self.length => k,
            Some(_) if self.ended => self.length,
            Some(_) => 0,
        }
    }
}

impl<M: Mode> ReadSide for RefCell<ReadState<M>> {
    fn as_any(self: Rc<Self>) -> Rc<dyn std::any::Any> {
        self
    }
    fn end_emitted(&self) -> bool {
        self.borrow().end_emitted
    }
    fn readable_listener_removed(self: Rc<Self>, core: Rc<Core>, lp: &mut Loop) {
        let me = Readable { core, st: self };
        lp.next_tick(move |lp| me.update_readable_listening(lp));
    }
    fn enabled(&self) -> bool {
        self.borrow().enabled
    }
}

/// A readable stream (Node's `stream.Readable`).
///
/// The source is the `read` callback (Node's `_read(size)`): it is called
/// when the consumer wants data and should `push` chunks, now or later, and
/// `push_eof` at the end.
///
/// ```
/// use nodeloop::stream::{Objects, Readable};
/// use nodeloop::Loop;
/// use std::{cell::{Cell, RefCell}, rc::Rc};
///
/// let mut lp = Loop::new();
/// let next = Cell::new(1);
/// let rs = Readable::<Objects<u32>>::new(move |lp, rs, _| {
///     let i = next.replace(next.get() + 1);
///     if i <= 3 { rs.push(lp, i); } else { rs.push_eof(lp); }
/// });
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// rs.on_data(&mut lp, move |_, n| s.borrow_mut().push(*n));
/// lp.run_default();
/// assert_eq!(*seen.borrow(), [1, 2, 3]);
/// assert!(rs.readable_ended());
/// ```
pub struct Readable<M: Mode> {
    pub(crate) core: Rc<Core>,
    pub(crate) st: Rc<RefCell<ReadState<M>>>,
}

impl<M: Mode> Clone for Readable<M> {
    fn clone(&self) -> Self {
        Readable {
            core: self.core.clone(),
            st: self.st.clone(),
        }
    }
}

impl<M: Mode> fmt::Debug for Readable<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.st.borrow();
        f.debug_struct("Readable")
            .field("length", &s.length)
            .field("flowing", &s.flowing)
            .field("ended", &s.ended)
            .field("destroyed", &self.core.destroyed())
            .finish_non_exhaustive()
    }
}

/// A weak handle to a [`Readable`], for implementation callbacks that must
/// not keep their own stream alive.
pub struct WeakReadable<M: Mode> {
    core: Weak<Core>,
    st: Weak<RefCell<ReadState<M>>>,
}

impl<M: Mode> Clone for WeakReadable<M> {
    fn clone(&self) -> Self {
        WeakReadable {
            core: self.core.clone(),
            st: self.st.clone(),
        }
    }
}

impl<M: Mode> WeakReadable<M> {
    /// The stream, if any handle to it is still alive.
    pub fn upgrade(&self) -> Option<Readable<M>> {
        Some(Readable {
            core: self.core.upgrade()?,
            st: self.st.upgrade()?,
        })
    }
}

impl Readable<super::Bytes> {
    /// `push` of a chunk read into a buffer the caller reuses: when the
    /// chunk goes straight to `data` listeners (flowing, nothing buffered,
    /// as `addChunk`'s first branch), they see `buf` itself; otherwise an
    /// exact-size copy is pushed, so that a large read buffer never sits in
    /// the stream's buffer (listeners only borrow a chunk, so the caller
    /// keeps `buf`). Returns `push`'s verdict.
    ///
    /// `source_reading` says that `_read` is a no-op now (the source is
    /// already reading, as a socket between two reads). Then the tick that
    /// `maybeReadMore` would queue after a chunk emitted at once is done
    /// here instead: with an empty buffer its `read(0)` only marks a read
    /// in progress and asks for `readable` before calling that `_read` —
    /// a tick and a whole `read` per chunk, for two flags.
    #[allow(
        clippy::ptr_arg,
        reason = "listeners receive the chunk as a `&Vec<u8>`"
    )]
    pub(crate) fn push_from_buffer(
        &self,
        lp: &mut Loop,
        buf: &Vec<u8>,
        source_reading: bool,
    ) -> bool {
        let direct = !buf.is_empty()
            && {
                let s = self.st.borrow();
                !s.ended && s.flowing == Some(true) && s.length == 0 && !s.sync
            }
            && !self.core.destroyed()
            && !self.core.errored();
        let listeners = if direct {
            self.core.emitter.listeners::<event::Data<Vec<u8>>>()
        } else {
            None
        };
        let Some(listeners) = listeners else {
            return self.push(lp, buf.as_slice().to_vec());
        };
        {
            let mut s = self.st.borrow_mut();
            s.reading = false;
            s.await_drain.clear();
            s.data_emitted = true;
        }
        self.core
            .emitter
            .emit_to::<event::Data<Vec<u8>>>(lp, listeners, buf);
        let more = {
            let s = self.st.borrow();
            !s.ended && (s.length < s.hwm || s.length == 0)
        };
        if !(more && source_reading) {
            self.maybe_read_more(lp);
            return more;
        }
        let dead = self.core.destroyed() || self.core.errored();
        let mut s = self.st.borrow_mut();
        // A tick already due does it then, as `maybeReadMore` would leave it.
        if s.reading_more {
            return more;
        }
        // `maybeReadMore_`'s loop condition: otherwise its tick does nothing.
        let want = !s.reading
            && !s.ended
            && (s.length < s.hwm || (s.flowing == Some(true) && s.length == 0));
        if !want {
            return more;
        }
        if s.length > 0 {
            // A listener put data back: not the case done here.
            drop(s);
            self.maybe_read_more(lp);
            return more;
        }
        // `read(0)` on an empty buffer: a read starts unless the stream is
        // dead, and `readable` is wanted; `_read` itself does nothing.
        if !dead {
            s.reading = true;
        }
        s.need_readable = true;
        more
    }
}

/// Node's `computeNewHighWaterMark`: the next power of two, capped at 1 GiB.
fn compute_new_hwm(n: usize) -> usize {
    const MAX_HWM: usize = 0x4000_0000;
    if n >= MAX_HWM {
        MAX_HWM
    } else {
        n.next_power_of_two()
    }
}

impl<M: Mode> Readable<M> {
    /// A readable with default options; `read` is Node's `_read(size)`.
    pub fn new(read: impl Fn(&mut Loop, &Readable<M>, usize) + 'static) -> Readable<M> {
        Readable::with_options(ReadableOptions::default(), read)
    }

    /// A readable with explicit options.
    pub fn with_options(
        opts: ReadableOptions,
        read: impl Fn(&mut Loop, &Readable<M>, usize) + 'static,
    ) -> Readable<M> {
        let core = Core::new(opts.auto_destroy, opts.emit_close);
        Readable::attach(core, &opts, Rc::new(read))
    }

    pub(crate) fn attach(core: Rc<Core>, opts: &ReadableOptions, read: ReadImpl<M>) -> Readable<M> {
        let mut st = ReadState::new(opts.high_water_mark.unwrap_or(M::DEFAULT_HWM));
        st.read_impl = Some(read);
        let st = Rc::new(RefCell::new(st));
        let fresh = core.read_side.set(st.clone() as Rc<dyn ReadSide>).is_ok();
        debug_assert!(fresh, "a stream core has one readable side");
        // A `once('readable')` listener removing itself is a removal of a
        // `readable` listener, which Node follows with a mode update: the
        // core hears of it and tells this side (`ReadSide::once_removed`).
        let hook: Weak<dyn OnceRemoved> = Rc::downgrade(&core) as Weak<Core>;
        core.emitter.set_once_removed_hook(hook);
        Readable { core, st }
    }

    /// Sets the destroy implementation (Node's `_destroy(err, cb)`), which
    /// releases resources and then calls `done`.
    pub fn set_destroy(
        &self,
        f: impl Fn(&mut Loop, Option<StreamError>, super::DestroyDone) + 'static,
    ) {
        self.core.set_destroy_impl(Rc::new(f));
    }

    pub(crate) fn set_destroy_rc(&self, f: super::DestroyImpl) {
        self.core.set_destroy_impl(f);
    }

    /// Records what implements this stream (once); see `Core::owner`.
    pub(crate) fn set_owner(&self, owner: Weak<dyn std::any::Any>) {
        let _ = self.core.owner.set(owner);
    }

    /// What implements this stream, if it is still alive.
    pub(crate) fn owner(&self) -> Option<Rc<dyn std::any::Any>> {
        self.core.owner.get()?.upgrade()
    }

    /// A weak handle to this stream.
    pub fn downgrade(&self) -> WeakReadable<M> {
        WeakReadable {
            core: Rc::downgrade(&self.core),
            st: Rc::downgrade(&self.st),
        }
    }

    /// A number identifying this stream (shared by both sides of a duplex);
    /// the payload of `'pipe'`/`'unpipe'`.
    pub fn id(&self) -> usize {
        self.core.id()
    }

    /// The stream's event emitter: for `once`, `prepend_listener` and other
    /// events. Prefer [`Readable::on`] for `data` and `readable`, whose
    /// registration changes the stream's mode as in Node.
    pub fn emitter(&self) -> &EventEmitter {
        &self.core.emitter
    }

    /// Adds a listener (`readable.on`). As in Node, a `Data` listener
    /// switches the stream to flowing mode unless it was paused explicitly,
    /// and a `Readable` listener switches it to paused mode.
    pub fn on<E: Event>(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
    ) -> ListenerId {
        let id = self.core.emitter.on::<E>(f);
        self.after_add::<E>(lp);
        id
    }

    /// Adds a one-shot listener (`readable.once`), with `on`'s side effects.
    pub fn once<E: Event>(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
    ) -> ListenerId {
        let id = self.core.emitter.once::<E>(f);
        self.after_add::<E>(lp);
        id
    }

    /// `on('data')`.
    pub fn on_data(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &M::Chunk) + 'static,
    ) -> ListenerId {
        self.on::<event::Data<M::Chunk>>(lp, f)
    }

    /// Removes a listener (`readable.off`), updating the mode as Node does
    /// when the last `readable` or `data` listener goes.
    pub fn off(&self, lp: &mut Loop, id: ListenerId) -> bool {
        let before = self.core.emitter.listener_count::<event::Readable>();
        let found = self.core.emitter.off(id);
        if found && before != self.core.emitter.listener_count::<event::Readable>() {
            let me = self.clone();
            lp.next_tick(move |lp| me.update_readable_listening(lp));
        }
        found
    }

    fn after_add<E: Event>(&self, lp: &mut Loop) {
        let t = TypeId::of::<E>();
        if t == TypeId::of::<event::Data<M::Chunk>>() {
            let readable = self.core.emitter.listener_count::<event::Readable>() > 0;
            let resume = {
                let mut s = self.st.borrow_mut();
                s.readable_listening = readable;
                s.flowing != Some(false)
            };
            if resume {
                self.resume(lp);
            }
        } else if t == TypeId::of::<event::Readable>() {
            let mut s = self.st.borrow_mut();
            if !s.end_emitted && !s.readable_listening {
                s.readable_listening = true;
                s.need_readable = true;
                s.flowing = Some(false);
                s.emitted_readable = false;
                if s.length > 0 {
                    drop(s);
                    self.emit_readable(lp);
                } else if !s.reading {
                    drop(s);
                    let me = self.clone();
                    lp.next_tick(move |lp| {
                        me.read(lp, Some(0));
                    });
                }
            }
        }
    }

    fn update_readable_listening(&self, lp: &mut Loop) {
        let readable = self.core.emitter.listener_count::<event::Readable>() > 0;
        let data = self.core.emitter.listener_count::<event::Data<M::Chunk>>() > 0;
        let mut s = self.st.borrow_mut();
        s.readable_listening = readable;
        if s.resume_scheduled && s.paused == Some(false) {
            s.flowing = Some(true);
        } else if data {
            drop(s);
            self.resume(lp);
        } else if !readable {
            s.flowing = None;
        }
    }

    /// Adds a chunk to the buffer (`readable.push(chunk)`), or hands it
    /// straight to `data` listeners when flowing with an empty buffer.
    /// Returns false once the buffer reaches the high-water mark: stop
    /// pushing until the next `read` call.
    ///
    /// ```
    /// use nodeloop::stream::{Bytes, Readable, ReadableOptions};
    /// let mut lp = nodeloop::Loop::new();
    /// let opts = ReadableOptions { high_water_mark: Some(4), ..Default::default() };
    /// let rs = Readable::<Bytes>::with_options(opts, |_, _, _| {});
    /// assert!(rs.push(&mut lp, b"ab".to_vec()));
    /// assert!(!rs.push(&mut lp, b"cd".to_vec())); // 4 bytes buffered: at the mark
    /// assert_eq!(rs.readable_length(), 4);
    /// ```
    pub fn push(&self, lp: &mut Loop, chunk: M::Chunk) -> bool {
        self.add_chunk_checked(lp, Some(chunk), false)
    }

    /// Signals the end of the data (`readable.push(null)`); `'end'` follows
    /// once the buffer is consumed.
    ///
    /// ```
    /// use nodeloop::stream::{event, Objects, Readable};
    /// use std::{cell::Cell, rc::Rc};
    /// let mut lp = nodeloop::Loop::new();
    /// let rs = Readable::<Objects<u8>>::new(|_, _, _| {});
    /// let ended = Rc::new(Cell::new(false));
    /// let e = ended.clone();
    /// rs.emitter().on::<event::End>(move |_, _| e.set(true));
    /// rs.push(&mut lp, 1);
    /// rs.push_eof(&mut lp);
    /// rs.resume(&mut lp);
    /// lp.run_default();
    /// assert!(ended.get());
    /// ```
    pub fn push_eof(&self, lp: &mut Loop) -> bool {
        self.add_chunk_checked(lp, None, false)
    }

    /// Puts a chunk back at the front of the buffer (`readable.unshift`).
    ///
    /// ```
    /// use nodeloop::stream::{Bytes, Readable};
    /// let mut lp = nodeloop::Loop::new();
    /// let rs = Readable::<Bytes>::new(|_, _, _| {});
    /// rs.push(&mut lp, b"world".to_vec());
    /// rs.unshift(&mut lp, b"hello ".to_vec());
    /// assert_eq!(rs.read(&mut lp, None).unwrap(), b"hello world");
    /// ```
    pub fn unshift(&self, lp: &mut Loop, chunk: M::Chunk) -> bool {
        self.add_chunk_checked(lp, Some(chunk), true)
    }

    /// `readableAddChunk`.
    fn add_chunk_checked(&self, lp: &mut Loop, chunk: Option<M::Chunk>, front: bool) -> bool {
        match chunk {
            None => {
                self.st.borrow_mut().reading = false;
                self.on_eof_chunk(lp);
            }
            Some(c) if M::OBJECT_MODE || M::len(&c) > 0 => {
                let (end_emitted, ended) = {
                    let s = self.st.borrow();
                    (s.end_emitted, s.ended)
                };
                let dead = self.core.destroyed() || self.core.errored();
                if front {
                    if end_emitted {
                        core::error_or_destroy(
                            &self.core,
                            lp,
                            StreamError::UnshiftAfterEndEvent,
                            false,
                        );
                    } else if dead {
                        return false;
                    } else {
                        self.add_chunk(lp, c, true);
                    }
                } else if ended {
                    core::error_or_destroy(&self.core, lp, StreamError::PushAfterEof, false);
                } else if dead {
                    return false;
                } else {
                    self.st.borrow_mut().reading = false;
                    self.add_chunk(lp, c, false);
                }
            }
            Some(_) => {
                if !front {
                    self.st.borrow_mut().reading = false;
                    self.maybe_read_more(lp);
                }
            }
        }
        let s = self.st.borrow();
        !s.ended && (s.length < s.hwm || s.length == 0)
    }

    /// `addChunk`.
    fn add_chunk(&self, lp: &mut Loop, chunk: M::Chunk, front: bool) {
        let direct = {
            let s = self.st.borrow();
            s.flowing == Some(true)
                && s.length == 0
                && !s.sync
                && self.core.emitter.has_listeners::<event::Data<M::Chunk>>()
        };
        if direct {
            {
                let mut s = self.st.borrow_mut();
                s.await_drain.clear();
                s.data_emitted = true;
            }
            self.core
                .emitter
                .emit_ref::<event::Data<M::Chunk>>(lp, &chunk);
        } else {
            let need = {
                let mut s = self.st.borrow_mut();
                s.length += M::len(&chunk);
                if front {
                    s.buffer.push_front(chunk);
                } else {
                    s.buffer.push_back(chunk);
                }
                s.need_readable
            };
            if need {
                self.emit_readable(lp);
            }
        }
        self.maybe_read_more(lp);
    }

    /// Reads from the buffer (`readable.read(n)`): `None` for "whatever is
    /// there" (one chunk when flowing), `Some(0)` to only trigger a refill.
    /// Returns `None` when not enough data is buffered yet. A returned chunk
    /// is also emitted as `data`.
    ///
    /// ```
    /// use nodeloop::stream::{Bytes, Readable};
    /// let mut lp = nodeloop::Loop::new();
    /// let rs = Readable::<Bytes>::new(|_, _, _| {});
    /// rs.push(&mut lp, b"abc".to_vec());
    /// rs.push(&mut lp, b"def".to_vec());
    /// assert_eq!(rs.read(&mut lp, Some(4)).unwrap(), b"abcd");
    /// assert_eq!(rs.read(&mut lp, Some(4)), None); // only 2 left, not ended
    /// assert_eq!(rs.read(&mut lp, None).unwrap(), b"ef");
    /// ```
    pub fn read(&self, lp: &mut Loop, n: Option<usize>) -> Option<M::Chunk> {
        let n_orig = n;
        let mut s = self.st.borrow_mut();
        if let Some(k) = n {
            if k > s.hwm {
                s.hwm = compute_new_hwm(k);
            }
        }
        if n != Some(0) {
            s.emitted_readable = false;
        }
        if n == Some(0)
            && s.need_readable
            && ((if s.hwm != 0 {
                s.length >= s.hwm
            } else {
                s.length > 0
            }) || s.ended)
        {
            let end = s.length == 0 && s.ended;
            drop(s);
            if end {
                self.end_readable(lp);
            } else {
                self.emit_readable(lp);
            }
            return None;
        }
        let mut k = s.how_much(n);
        if k == 0 && s.ended {
            let empty = s.length == 0;
            drop(s);
            if empty {
                self.end_readable(lp);
            }
            return None;
        }
        let mut do_read = s.need_readable;
        if s.length == 0 || s.length - k < s.hwm {
            do_read = true;
        }
        // Not while a read is in flight, after the end, or once destroyed.
        let blocked = s.reading || s.ended || self.core.destroyed() || self.core.errored();
        if do_read && !blocked {
            s.reading = true;
            s.sync = true;
            if s.length == 0 {
                s.need_readable = true;
            }
            let hwm = s.hwm;
            let imp = s.read_impl.clone();
            drop(s);
            if let Some(imp) = imp {
                imp(lp, self, hwm);
            }
            s = self.st.borrow_mut();
            s.sync = false;
            if !s.reading {
                k = s.how_much(n_orig);
            }
        }
        let ret = if k > 0 && s.length > 0 {
            let total = s.length;
            Some(M::take(&mut s.buffer, k, total))
        } else {
            None
        };
        if ret.is_none() {
            if s.length <= s.hwm {
                s.need_readable = true;
            }
            k = 0;
        } else {
            s.length -= k;
            s.await_drain.clear();
        }
        let mut end = false;
        if s.length == 0 {
            if !s.ended {
                s.need_readable = true;
            }
            if n_orig != Some(k) && s.ended {
                end = true;
            }
        }
        drop(s);
        if end {
            self.end_readable(lp);
        }
        if let Some(c) = &ret {
            let quiet = {
                let f = self.core.f.borrow();
                f.error_emitted || f.close_emitted
            };
            if !quiet {
                self.st.borrow_mut().data_emitted = true;
                self.core.emitter.emit_ref::<event::Data<M::Chunk>>(lp, c);
            }
        }
        ret
    }

    /// `onEofChunk`.
    fn on_eof_chunk(&self, lp: &mut Loop) {
        let sync = {
            let mut s = self.st.borrow_mut();
            if s.ended {
                return;
            }
            s.ended = true;
            if !s.sync {
                s.need_readable = false;
                s.emitted_readable = true;
            }
            s.sync
        };
        if sync {
            self.emit_readable(lp);
        } else {
            self.emit_readable_now(lp);
        }
    }

    /// `emitReadable`: schedules `'readable'` for the next tick, once.
    fn emit_readable(&self, lp: &mut Loop) {
        let mut s = self.st.borrow_mut();
        s.need_readable = false;
        if !s.emitted_readable {
            s.emitted_readable = true;
            drop(s);
            let me = self.clone();
            lp.next_tick(move |lp| me.emit_readable_now(lp));
        }
    }

    /// `emitReadable_`.
    fn emit_readable_now(&self, lp: &mut Loop) {
        let emit = {
            let s = self.st.borrow();
            !self.core.destroyed() && !self.core.errored() && (s.length > 0 || s.ended)
        };
        if emit {
            self.core.emitter.emit::<event::Readable>(lp, ());
            self.st.borrow_mut().emitted_readable = false;
        }
        {
            let mut s = self.st.borrow_mut();
            s.need_readable = s.flowing != Some(true) && !s.ended && s.length <= s.hwm;
        }
        self.flow(lp);
    }

    /// `maybeReadMore`: refill up to the high-water mark on the next tick.
    fn maybe_read_more(&self, lp: &mut Loop) {
        let mut s = self.st.borrow_mut();
        if !s.reading_more {
            s.reading_more = true;
            drop(s);
            let me = self.clone();
            lp.next_tick(move |lp| me.maybe_read_more_now(lp));
        }
    }

    fn maybe_read_more_now(&self, lp: &mut Loop) {
        loop {
            let len = {
                let s = self.st.borrow();
                let want = !s.reading
                    && !s.ended
                    && (s.length < s.hwm || (s.flowing == Some(true) && s.length == 0));
                if !want {
                    break;
                }
                s.length
            };
            self.read(lp, Some(0));
            if self.st.borrow().length == len {
                break;
            }
        }
        self.st.borrow_mut().reading_more = false;
    }

    /// `flow`: in flowing mode, read (and so emit) until the buffer is dry.
    pub(crate) fn flow(&self, lp: &mut Loop) {
        while self.st.borrow().flowing == Some(true) && self.read(lp, None).is_some() {}
    }

    /// Switches to flowing mode (`readable.resume`); takes effect on the
    /// next tick, which emits `'resume'`.
    ///
    /// ```
    /// use nodeloop::stream::{Objects, Readable};
    /// let mut lp = nodeloop::Loop::new();
    /// let rs = Readable::<Objects<u8>>::new(|_, _, _| {});
    /// rs.pause(&mut lp);
    /// assert!(rs.is_paused());
    /// rs.resume(&mut lp);
    /// assert!(!rs.is_paused());
    /// assert_eq!(rs.readable_flowing(), Some(true));
    /// ```
    pub fn resume(&self, lp: &mut Loop) {
        let mut s = self.st.borrow_mut();
        if s.flowing != Some(true) {
            s.flowing = Some(!s.readable_listening);
            if !s.resume_scheduled {
                s.resume_scheduled = true;
                let me = self.clone();
                lp.next_tick(move |lp| me.resume_now(lp));
            }
        }
        s.paused = Some(false);
    }

    fn resume_now(&self, lp: &mut Loop) {
        if !self.st.borrow().reading {
            self.read(lp, Some(0));
        }
        self.st.borrow_mut().resume_scheduled = false;
        self.core.emitter.emit::<event::Resume>(lp, ());
        self.flow(lp);
        let again = {
            let s = self.st.borrow();
            s.flowing == Some(true) && !s.reading
        };
        if again {
            self.read(lp, Some(0));
        }
    }

    /// Leaves flowing mode (`readable.pause`); emits `'pause'` at once if it
    /// was flowing.
    pub fn pause(&self, lp: &mut Loop) {
        let emit = {
            let mut s = self.st.borrow_mut();
            s.paused = Some(true);
            if s.flowing != Some(false) {
                s.flowing = Some(false);
                true
            } else {
                false
            }
        };
        if emit {
            self.core.emitter.emit::<event::Pause>(lp, ());
        }
    }

    /// Whether the stream was paused (`readable.isPaused`).
    pub fn is_paused(&self) -> bool {
        let s = self.st.borrow();
        s.paused == Some(true) || s.flowing == Some(false)
    }

    /// `endReadable`: `'end'` on the next tick, if the buffer is still empty.
    pub(crate) fn end_readable(&self, lp: &mut Loop) {
        let mut s = self.st.borrow_mut();
        if !s.end_emitted {
            s.ended = true;
            drop(s);
            let me = self.clone();
            lp.next_tick(move |lp| me.end_readable_nt(lp));
        }
    }

    fn end_readable_nt(&self, lp: &mut Loop) {
        {
            let mut s = self.st.borrow_mut();
            let f = self.core.f.borrow();
            if f.errored.is_some() || f.close_emitted || s.end_emitted || s.length != 0 {
                return;
            }
            s.end_emitted = true;
        }
        self.core.emitter.emit::<event::End>(lp, ());
        let ws = self.core.write_side();
        let (half_open, auto) = {
            let f = self.core.f.borrow();
            (f.allow_half_open, f.auto_destroy)
        };
        if let Some(w) = ws.as_ref().filter(|w| w.writable(&self.core) && !half_open) {
            let w = w.clone();
            let c = self.core.clone();
            lp.next_tick(move |lp| {
                if w.writable(&c) && !w.end_called() && !c.destroyed() {
                    w.end(c, lp);
                }
            });
        } else if auto {
            let destroy = ws.is_none_or(|w| w.finished() || !w.enabled());
            if destroy {
                core::destroy(&self.core, lp, None);
            }
        }
    }

    /// Destroys the stream (`readable.destroy(err)`): no more events but
    /// `'error'` (with `Some`) and `'close'`, on the next tick.
    ///
    /// ```
    /// use nodeloop::stream::{event, Bytes, Readable, StreamError};
    /// use std::{cell::RefCell, rc::Rc};
    /// let mut lp = nodeloop::Loop::new();
    /// let rs = Readable::<Bytes>::new(|_, _, _| {});
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let l = log.clone();
    /// rs.emitter().on::<event::Error>(move |_, e| l.borrow_mut().push(e.to_string()));
    /// let l = log.clone();
    /// rs.emitter().on::<event::Close>(move |_, _| l.borrow_mut().push("close".into()));
    /// rs.destroy(&mut lp, Some(StreamError::custom("gone")));
    /// assert!(rs.destroyed() && log.borrow().is_empty()); // events come a tick later
    /// lp.run_default();
    /// assert_eq!(*log.borrow(), ["gone", "close"]);
    /// ```
    pub fn destroy(&self, lp: &mut Loop, err: Option<StreamError>) {
        core::destroy(&self.core, lp, err);
    }

    /// Bytes (or objects) buffered (`readableLength`).
    pub fn readable_length(&self) -> usize {
        self.st.borrow().length
    }

    /// The high-water mark (`readableHighWaterMark`).
    pub fn readable_high_water_mark(&self) -> usize {
        self.st.borrow().hwm
    }

    /// `readableFlowing`: `None` until a mode was chosen.
    pub fn readable_flowing(&self) -> Option<bool> {
        self.st.borrow().flowing
    }

    /// Whether `'end'` was emitted (`readableEnded`).
    pub fn readable_ended(&self) -> bool {
        self.st.borrow().end_emitted
    }

    /// Whether `read` can still produce data (`readable.readable`).
    pub fn readable(&self) -> bool {
        let s = self.st.borrow();
        let f = self.core.f.borrow();
        s.enabled && !f.destroyed && !f.error_emitted && !s.end_emitted
    }

    /// Whether `destroy` was called (`destroyed`).
    pub fn destroyed(&self) -> bool {
        self.core.destroyed()
    }

    /// Whether `'close'` was emitted or is due (`closed`).
    pub fn closed(&self) -> bool {
        self.core.f.borrow().closed
    }

    /// The error the stream failed with (`errored`).
    pub fn errored(&self) -> Option<StreamError> {
        self.core.f.borrow().errored.as_deref().cloned()
    }
}
