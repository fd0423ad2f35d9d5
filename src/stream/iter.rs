//! Async iteration of a `Readable` (Node's `readable[Symbol.asyncIterator]`)
//! as a std `Future` with no runtime behind it.
//!
//! Like Node's iterator, it consumes the stream in paused mode through
//! `'readable'` and `read()`, one chunk per `next`, so backpressure holds:
//! nothing is read ahead of the consumer beyond the stream's own buffer.
//! A future's `poll` has no `&mut Loop`, so when it finds no chunk ready it
//! asks the loop to `read()` on its behalf through an [`Async`] handle (a
//! wake-up in the next poll phase); chunks then arrive from the stream's
//! `'readable'` event, which wakes the stored waker.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::{event, Mode, Readable, StreamError};
use crate::{Async, AsyncSender, Handle, Loop};

struct Shared<M: Mode> {
    ready: RefCell<VecDeque<M::Chunk>>,
    /// A `next` is waiting for a chunk.
    wanted: Cell<bool>,
    ended: Cell<bool>,
    error: RefCell<Option<StreamError>>,
    dropped: Cell<bool>,
    finished: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl<M: Mode> Shared<M> {
    fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// An async iterator over a readable's chunks; see [`Readable::iter`].
pub struct ReadableIter<M: Mode> {
    shared: Rc<Shared<M>>,
    sender: AsyncSender,
    /// Keeps the stream alive while it is being iterated.
    _stream: Readable<M>,
}

impl<M: Mode> fmt::Debug for ReadableIter<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadableIter")
            .field("ended", &self.shared.ended.get())
            .finish_non_exhaustive()
    }
}

/// The future of one [`ReadableIter::next`].
pub struct Next<'a, M: Mode> {
    it: &'a mut ReadableIter<M>,
}

impl<M: Mode> fmt::Debug for Next<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Next")
    }
}

impl<M: Mode> Readable<M> {
    /// An async iterator over this stream's chunks (Node's
    /// `for await (const chunk of readable)`). It ends with `None` after
    /// `'end'`, yields `Some(Err(..))` once if the stream fails, and
    /// destroys the stream if dropped before the end.
    ///
    /// ```
    /// use nodeloop::stream::{Objects, Readable};
    /// use nodeloop::{Loop, RunMode};
    /// use std::{cell::Cell, future::Future, pin::pin, sync::Arc, task::{Context, Poll, Wake, Waker}};
    /// struct Noop;
    /// impl Wake for Noop { fn wake(self: Arc<Self>) {} }
    /// let waker = Waker::from(Arc::new(Noop));
    /// let mut lp = Loop::new();
    /// let i = Cell::new(0);
    /// let rs = Readable::<Objects<u32>>::new(move |lp, rs, _| {
    ///     i.set(i.get() + 1);
    ///     if i.get() <= 2 { rs.push(lp, i.get()); } else { rs.push_eof(lp); }
    /// });
    /// let mut it = rs.iter(&mut lp);
    /// let mut got = Vec::new();
    /// loop {
    ///     let mut next = pin!(it.next());
    ///     let item = loop {
    ///         if let Poll::Ready(x) = next.as_mut().poll(&mut Context::from_waker(&waker)) {
    ///             break x;
    ///         }
    ///         lp.run(RunMode::Once);
    ///     };
    ///     match item { Some(c) => got.push(c.unwrap()), None => break }
    /// }
    /// assert_eq!(got, [1, 2]);
    /// ```
    pub fn iter(&self, lp: &mut Loop) -> ReadableIter<M> {
        let shared = Rc::new(Shared::<M> {
            ready: RefCell::new(VecDeque::new()),
            wanted: Cell::new(false),
            ended: Cell::new(false),
            error: RefCell::new(None),
            dropped: Cell::new(false),
            finished: Cell::new(false),
            waker: RefCell::new(None),
        });
        let handle: Rc<Cell<Option<Async>>> = Rc::default();
        let finish = {
            let (shared, handle) = (shared.clone(), handle.clone());
            move |lp: &mut Loop| {
                if !shared.finished.replace(true) {
                    if let Some(h) = handle.take() {
                        let _ = h.close(lp, |_| {});
                    }
                }
                shared.wake();
            }
        };
        let pull = {
            let (shared, rs) = (shared.clone(), self.downgrade());
            move |lp: &mut Loop| {
                if !shared.wanted.get() || !shared.ready.borrow().is_empty() {
                    return;
                }
                let Some(rs) = rs.upgrade() else { return };
                if rs.destroyed() {
                    return;
                }
                if let Some(c) = rs.read(lp, None) {
                    shared.ready.borrow_mut().push_back(c);
                    shared.wanted.set(false);
                    shared.wake();
                }
            }
        };
        let pull = Rc::new(pull);
        let finish = Rc::new(finish);
        {
            let pull = pull.clone();
            self.on::<event::Readable>(lp, move |lp, _| pull(lp));
        }
        {
            let (shared, finish) = (shared.clone(), finish.clone());
            self.emitter().on::<event::End>(move |lp, _| {
                shared.ended.set(true);
                finish(lp);
            });
        }
        {
            let (shared, finish) = (shared.clone(), finish.clone());
            self.emitter().on::<event::Error>(move |lp, e| {
                shared.error.borrow_mut().get_or_insert_with(|| e.clone());
                finish(lp);
            });
        }
        {
            let (shared, finish, rs) = (shared.clone(), finish.clone(), self.downgrade());
            self.emitter().on::<event::Close>(move |lp, _| {
                let ended = rs.upgrade().is_some_and(|r| r.readable_ended());
                if !ended && shared.error.borrow().is_none() && !shared.dropped.get() {
                    *shared.error.borrow_mut() = Some(StreamError::PrematureClose);
                }
                finish(lp);
            });
        }
        let h = {
            let (shared, rs, finish) = (shared.clone(), self.downgrade(), finish.clone());
            Async::new(lp, move |lp, _| {
                if shared.dropped.get() {
                    if let Some(rs) = rs.upgrade() {
                        rs.destroy(lp, None);
                    }
                    finish(lp);
                } else {
                    pull(lp);
                }
            })
        };
        handle.set(Some(h));
        let sender = h.sender(lp).expect("a new async handle has a sender");
        ReadableIter {
            shared,
            sender,
            _stream: self.clone(),
        }
    }
}

impl<M: Mode> ReadableIter<M> {
    /// The next chunk: `Some(Ok(chunk))`, `Some(Err(e))` once on failure,
    /// then `None`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Next<'_, M> {
        Next { it: self }
    }
}

impl<M: Mode> Future for Next<'_, M> {
    type Output = Option<Result<M::Chunk, StreamError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let s = &self.it.shared;
        if let Some(c) = s.ready.borrow_mut().pop_front() {
            return Poll::Ready(Some(Ok(c)));
        }
        if let Some(e) = s.error.borrow_mut().take() {
            s.ended.set(true);
            return Poll::Ready(Some(Err(e)));
        }
        if s.ended.get() || s.finished.get() {
            return Poll::Ready(None);
        }
        *s.waker.borrow_mut() = Some(cx.waker().clone());
        if !s.wanted.replace(true) {
            // Ask the loop to read for us; the chunk comes back through
            // `pull`, from this wake-up or from a later `'readable'`.
            let _ = self.it.sender.send();
        }
        Poll::Pending
    }
}

impl<M: Mode> Drop for ReadableIter<M> {
    fn drop(&mut self) {
        if !self.shared.finished.get() {
            // Node's iterator destroys the stream on an early `break`; the
            // loop does it, since only the loop may touch the stream.
            self.shared.dropped.set(true);
            let _ = self.sender.send();
        }
    }
}
