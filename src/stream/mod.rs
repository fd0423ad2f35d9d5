//! Node's streams: [`Readable`], [`Writable`], [`Duplex`], [`Transform`],
//! [`Readable::pipe`] and [`pipeline`], with Node 20's buffering,
//! backpressure and event timing (`lib/internal/streams/*.js`).
//!
//! A stream is a cheap, clonable handle (`Rc` inside) that lives on the loop
//! thread; every operation that can emit an event or defer one takes
//! `&mut Loop`. Where Node defers with `process.nextTick` (`end`, `finish`,
//! `close`, `error`, `readable`, `resume`, ...), nodeloop uses
//! [`Loop::next_tick`](crate::Loop::next_tick), so the order of events matches Node's; the
//! `tests/stream_conformance` traces are recorded from real Node.
//!
//! Chunks are typed by a [`Mode`]: [`Bytes`] streams carry `Vec<u8>` and
//! count bytes against the high-water mark (default 16 KiB); [`Objects<T>`]
//! streams carry `T` and count one per chunk (default 16) — Node's
//! `objectMode`, checked by the compiler.
//!
//! The implementation callbacks (Node's `_read`, `_write`, `_final`,
//! `_transform`, `_flush`, `_destroy`) are `Fn` closures so that they can be
//! re-entered exactly as Node re-enters them (a synchronous `_write` whose
//! callback starts the next buffered write); keep their state in `Cell`s.
//!
//! ```
//! use nodeloop::stream::{Bytes, Readable, Writable};
//! use nodeloop::Loop;
//! use std::{cell::{Cell, RefCell}, rc::Rc};
//!
//! let mut lp = Loop::new();
//! let n = Cell::new(0u8);
//! let src = Readable::<Bytes>::new(move |lp, rs, _size| {
//!     n.set(n.get() + 1);
//!     if n.get() <= 3 { rs.push(lp, vec![b'0' + n.get()]); } else { rs.push_eof(lp); }
//! });
//! let got = Rc::new(RefCell::new(Vec::new()));
//! let g = got.clone();
//! let dst = Writable::<Bytes>::new(move |lp, _ws, chunk, done| {
//!     g.borrow_mut().extend(chunk);
//!     done.call(lp, Ok(()));
//! });
//! src.pipe(&mut lp, &dst);
//! lp.run_default();
//! assert_eq!(*got.borrow(), b"123");
//! assert!(dst.writable_finished());
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

pub(crate) mod core;
mod duplex;
pub mod event;
pub mod file;
mod iter;
mod lazy;
mod pipe;
pub(crate) mod readable;
mod transform;
pub(crate) mod writable;

pub use self::core::DestroyDone;
pub(crate) use self::core::DestroyImpl;
pub use self::duplex::Duplex;
pub use self::iter::{Next, ReadableIter};
pub use self::pipe::{pipeline, Pipeline};
pub(crate) use self::readable::ReadImpl;
pub use self::readable::{Readable, ReadableOptions, WeakReadable};
pub use self::transform::{FlushDone, Transform, TransformDone};
pub use self::writable::{FinalDone, Writable, WritableOptions, WriteCallback, WriteDone};
pub(crate) use self::writable::{FinalImpl, WriteImpl};

/// A one-shot completion callback carrying an outcome.
pub(crate) type DoneFn<T> = Box<dyn FnOnce(&mut crate::Loop, Result<T, StreamError>)>;

/// Node's default high-water mark for byte streams (`getDefaultHighWaterMark(false)`).
pub const DEFAULT_HWM_BYTES: usize = 16 * 1024;
/// Node's default high-water mark for object-mode streams.
pub const DEFAULT_HWM_OBJECTS: usize = 16;
/// Node's default high-water mark for `fs.createReadStream`.
pub const DEFAULT_HWM_FILE_READ: usize = 64 * 1024;

/// How a stream counts and slices its chunks.
///
/// ```
/// use nodeloop::stream::{Bytes, Mode, Objects};
/// assert_eq!(Bytes::len(&vec![1, 2, 3]), 3);
/// assert_eq!(<Objects<String> as Mode>::len(&"abc".to_string()), 1);
/// assert_eq!(<Objects<String> as Mode>::DEFAULT_HWM, 16);
/// ```
pub trait Mode: 'static {
    /// The type of one chunk.
    type Chunk: 'static;
    /// Whether this is Node's object mode.
    const OBJECT_MODE: bool;
    /// The default high-water mark.
    const DEFAULT_HWM: usize;
    /// The size of a chunk against the high-water mark.
    fn len(chunk: &Self::Chunk) -> usize;
    /// Removes `n` units from the front of `buf` (whose total is `total`,
    /// `0 < n <= total`) as one chunk (Node's `fromList`).
    fn take(buf: &mut VecDeque<Self::Chunk>, n: usize, total: usize) -> Self::Chunk;
}

/// Byte streams: `Vec<u8>` chunks, sized in bytes; `read(n)` slices and joins.
#[derive(Debug, Clone, Copy)]
pub struct Bytes;

impl Mode for Bytes {
    type Chunk = Vec<u8>;
    const OBJECT_MODE: bool = false;
    const DEFAULT_HWM: usize = DEFAULT_HWM_BYTES;

    fn len(chunk: &Vec<u8>) -> usize {
        chunk.len()
    }

    fn take(buf: &mut VecDeque<Vec<u8>>, n: usize, total: usize) -> Vec<u8> {
        let first = buf.front().map_or(0, Vec::len);
        if n >= total && buf.len() == 1 || n == first {
            return buf.pop_front().unwrap_or_default();
        }
        if n < first {
            let front = buf.front_mut().expect("n > 0 implies a chunk");
            let rest = front.split_off(n);
            return std::mem::replace(front, rest);
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let Some(mut c) = buf.pop_front() else { break };
            let want = n - out.len();
            if c.len() > want {
                let rest = c.split_off(want);
                buf.push_front(rest);
            }
            out.extend_from_slice(&c);
        }
        out
    }
}

/// Object-mode streams: chunks of any type `T`, each counting as one.
pub struct Objects<T>(PhantomData<fn() -> T>);

impl<T: 'static> Mode for Objects<T> {
    type Chunk = T;
    const OBJECT_MODE: bool = true;
    const DEFAULT_HWM: usize = DEFAULT_HWM_OBJECTS;

    fn len(_: &T) -> usize {
        1
    }

    fn take(buf: &mut VecDeque<T>, _n: usize, _total: usize) -> T {
        buf.pop_front().expect("n > 0 implies a chunk")
    }
}

/// Why a stream failed: Node's stream error codes, and I/O errors.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StreamError {
    /// An I/O error from the underlying resource.
    Io(Arc<io::Error>),
    /// `push` after `push_eof` (`ERR_STREAM_PUSH_AFTER_EOF`).
    PushAfterEof,
    /// `unshift` after `end` was emitted (`ERR_STREAM_UNSHIFT_AFTER_END_EVENT`).
    UnshiftAfterEndEvent,
    /// `write` after `end` (`ERR_STREAM_WRITE_AFTER_END`).
    WriteAfterEnd,
    /// An operation on a destroyed stream (`ERR_STREAM_DESTROYED`); names it.
    Destroyed(&'static str),
    /// `end` on a stream that already finished (`ERR_STREAM_ALREADY_FINISHED`).
    AlreadyFinished,
    /// A stream closed before it ended or finished (`ERR_STREAM_PREMATURE_CLOSE`).
    PrematureClose,
    /// An error raised by user code, with a message (e.g. `destroy(Some(..))`).
    Custom(Arc<str>),
}

impl StreamError {
    /// A user error with a message.
    ///
    /// ```
    /// let e = nodeloop::stream::StreamError::custom("boom");
    /// assert_eq!(e.to_string(), "boom");
    /// ```
    pub fn custom(msg: impl Into<Arc<str>>) -> StreamError {
        StreamError::Custom(msg.into())
    }

    /// Node's `err.code` for this error, when Node has one.
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            StreamError::PushAfterEof => "ERR_STREAM_PUSH_AFTER_EOF",
            StreamError::UnshiftAfterEndEvent => "ERR_STREAM_UNSHIFT_AFTER_END_EVENT",
            StreamError::WriteAfterEnd => "ERR_STREAM_WRITE_AFTER_END",
            StreamError::Destroyed(_) => "ERR_STREAM_DESTROYED",
            StreamError::AlreadyFinished => "ERR_STREAM_ALREADY_FINISHED",
            StreamError::PrematureClose => "ERR_STREAM_PREMATURE_CLOSE",
            StreamError::Io(_) | StreamError::Custom(_) => return None,
        })
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Io(e) => write!(f, "{e}"),
            StreamError::PushAfterEof => f.write_str("stream.push() after EOF"),
            StreamError::UnshiftAfterEndEvent => f.write_str("stream.unshift() after end event"),
            StreamError::WriteAfterEnd => f.write_str("write after end"),
            StreamError::Destroyed(op) => {
                write!(f, "Cannot call {op} after a stream was destroyed")
            }
            StreamError::AlreadyFinished => {
                f.write_str("Cannot call end after a stream was finished")
            }
            StreamError::PrematureClose => f.write_str("Premature close"),
            StreamError::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<io::Error> for StreamError {
    fn from(e: io::Error) -> StreamError {
        StreamError::Io(Arc::new(e))
    }
}
