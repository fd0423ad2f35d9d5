//! The poll phase: the reactor over `mio`, I/O watchers, and the one
//! `mio::Waker` through which other threads (the thread pool, async senders)
//! wake the loop.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};

use crate::handle::{Handle, HandleId, Kind};
use crate::Loop;

const WAKE_TOKEN: Token = Token(usize::MAX);

/// The loop's cross-thread doorbell. Rings are coalesced: while one is
/// pending, further rings cost an atomic swap and no system call.
pub(crate) struct Wake {
    waker: mio::Waker,
    pending: AtomicBool,
}

impl Wake {
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            // A failed write means the eventfd counter is saturated, i.e. the
            // loop is already due to wake: nothing is lost.
            let _ = self.waker.wake();
        }
    }

    fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Called by the loop before it looks at what the rings were for, so
    /// that a ring arriving meanwhile wakes it again.
    fn acknowledge(&self) {
        self.pending.store(false, Ordering::Release);
    }
}

pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    pub(crate) wake: Arc<Wake>,
    /// Registered I/O sources: with none and no ring pending, a zero-timeout
    /// poll has nothing to find, and is skipped.
    registered: usize,
    /// Handles to dispatch, copied out of `events` so callbacks may use the
    /// reactor.
    ready: Vec<Readiness>,
    pub(crate) asyncs: Vec<HandleId>,
}

#[derive(Copy, Clone)]
enum Readiness {
    Wake,
    Io(HandleId, Ready),
}

/// What an I/O source is ready for, copied from a `mio` event.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Reading will not block (data, EOF or an error is there).
    pub readable: bool,
    /// Writing will not block.
    pub writable: bool,
    /// The source reported an error.
    pub error: bool,
    /// The peer closed its writing side (EOF follows).
    pub read_closed: bool,
    /// The writing side is closed (the peer went away).
    pub write_closed: bool,
}

type IoCb = Box<dyn FnMut(&mut Loop, IoWatcher, Ready)>;

pub(crate) struct IoData {
    cb: Option<IoCb>,
    registered: bool,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(Reactor {
            poll,
            events: Events::with_capacity(1024),
            wake: Arc::new(Wake {
                waker,
                pending: AtomicBool::new(false),
            }),
            registered: 0,
            ready: Vec::new(),
            asyncs: Vec::new(),
        })
    }
}

fn token(id: HandleId) -> Token {
    Token(((id.gen as usize) << 32) | id.key as usize)
}

fn handle_of(t: Token) -> HandleId {
    HandleId {
        key: t.0 as u32,
        gen: (t.0 >> 32) as u32,
    }
}

impl Loop {
    /// How long the poll phase may block (`uv__backend_timeout`): not at all
    /// when callbacks are already waiting, forever (`None`) when nothing but
    /// I/O can wake the loop, else until the next timer.
    pub(crate) fn backend_timeout(&mut self) -> Option<Duration> {
        let must_not_block = self.stop_requested()
            || !(self.handles.has_active_refd() || self.work.outstanding() > 0)
            || !self.pending.is_empty()
            || !self.watchers.idle_is_empty()
            || !self.closing.is_empty();
        if must_not_block {
            return Some(Duration::ZERO);
        }
        self.next_timer_timeout().map(Duration::from_millis)
    }

    /// The poll phase (`uv__io_poll`): wait for I/O or a wake-up at most
    /// `timeout`, then run the ready callbacks in the order the OS reported
    /// them. Under a virtual clock, a wait that only timers could end becomes
    /// a jump of the clock instead.
    pub(crate) fn poll_io(&mut self, timeout: Option<Duration>) {
        let timeout = if self.clock.is_virtual() && timeout != Some(Duration::ZERO) {
            match self.poll_os(Some(Duration::ZERO)) {
                true => return self.dispatch_ready(),
                false if self.work.outstanding() > 0 => None,
                false => match timeout {
                    Some(t) => {
                        self.clock.advance(t);
                        self.update_time();
                        return;
                    }
                    None => None,
                },
            }
        } else {
            timeout
        };
        if timeout == Some(Duration::ZERO)
            && self.reactor.registered == 0
            && !self.reactor.wake.is_pending()
        {
            // Nothing is registered and nobody rang: epoll could not report
            // anything, so skip the syscall. Still refresh the time as the
            // call would have: Node always watches some fd, so its loop
            // always gets here, and the check phase sees the fresh time.
            self.update_time();
            return;
        }
        self.poll_os(timeout);
        self.dispatch_ready();
    }

    /// One `epoll_wait`; fills `reactor.ready`. Returns whether anything was
    /// reported.
    fn poll_os(&mut self, timeout: Option<Duration>) -> bool {
        let r = &mut self.reactor;
        match r.poll.poll(&mut r.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => log::error!("nodeloop: epoll_wait failed: {e}"),
        }
        for ev in r.events.iter() {
            if ev.token() == WAKE_TOKEN {
                r.ready.push(Readiness::Wake);
            } else {
                let ready = Ready {
                    readable: ev.is_readable(),
                    writable: ev.is_writable(),
                    error: ev.is_error(),
                    read_closed: ev.is_read_closed(),
                    write_closed: ev.is_write_closed(),
                };
                r.ready.push(Readiness::Io(handle_of(ev.token()), ready));
            }
        }
        self.update_time();
        !self.reactor.ready.is_empty()
    }

    fn dispatch_ready(&mut self) {
        if self.reactor.ready.is_empty() {
            return;
        }
        let mut ready = std::mem::take(&mut self.reactor.ready);
        for &r in &ready {
            if self.unwinding() {
                break;
            }
            match r {
                Readiness::Wake => {
                    self.reactor.wake.acknowledge();
                    self.deliver_work_completions();
                    self.run_async_handles();
                }
                Readiness::Io(id, ready) => self.run_io_watcher(id, ready),
            }
        }
        ready.clear();
        if self.reactor.ready.is_empty() {
            self.reactor.ready = ready;
        }
    }

    fn run_io_watcher(&mut self, id: HandleId, ready: Ready) {
        let Some(slot) = self.handles.get_mut(id) else {
            return; // closed since the event was reported
        };
        if slot.is_closing() {
            return;
        }
        let Kind::Io(io) = &mut slot.kind else { return };
        let Some(mut cb) = io.cb.take() else { return };
        self.callback(|lp| cb(lp, IoWatcher(id), ready));
        if let Some(Kind::Io(io)) = self.handles.get_mut(id).map(|s| &mut s.kind) {
            if io.cb.is_none() {
                io.cb = Some(cb);
            }
        }
    }

    /// Forgets a closing I/O watcher. The owner closes the file descriptor,
    /// which removes it from epoll; events already reported for it are
    /// dropped because its token names this handle's generation.
    pub(crate) fn io_forget(&mut self, id: HandleId) {
        if let Some(Kind::Io(io)) = self.handles.get_mut(id).map(|s| &mut s.kind) {
            if std::mem::take(&mut io.registered) {
                self.reactor.registered -= 1;
            }
        }
    }
}

/// Watches a `mio` source for readiness and calls back in the poll phase.
/// While registered the watcher is active and keeps the loop alive. The
/// owner keeps the source and must deregister it (or drop it, which closes
/// its descriptor) when closing the watcher.
///
/// ```
/// use nodeloop::{Handle, Interest, IoWatcher, Loop};
/// use std::io::{Read, Write};
/// use std::{cell::RefCell, rc::Rc};
/// let mut lp = Loop::new();
/// let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
/// b.set_nonblocking(true).unwrap();
/// let b = Rc::new(RefCell::new(mio::net::UnixStream::from_std(b)));
/// let got = Rc::new(RefCell::new(Vec::new()));
/// let (src, out) = (b.clone(), got.clone());
/// let w = IoWatcher::new(&mut lp, &mut *b.borrow_mut(), Interest::READABLE, move |lp, w, _ready| {
///     let mut buf = [0u8; 16];
///     let n = src.borrow_mut().read(&mut buf).unwrap();
///     out.borrow_mut().extend_from_slice(&buf[..n]);
///     w.deregister(lp, &mut *src.borrow_mut()).unwrap();
/// }).unwrap();
/// a.write_all(b"ping").unwrap();
/// lp.run_default();
/// assert_eq!(&*got.borrow(), b"ping");
/// assert!(!w.is_active(&lp));
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct IoWatcher(HandleId);

impl Handle for IoWatcher {
    fn id(&self) -> HandleId {
        self.0
    }
}

impl IoWatcher {
    /// Registers `source` for `interest` (edge-triggered, as `mio` is).
    pub fn new<S: Source + ?Sized>(
        lp: &mut Loop,
        source: &mut S,
        interest: Interest,
        cb: impl FnMut(&mut Loop, IoWatcher, Ready) + 'static,
    ) -> io::Result<IoWatcher> {
        let id = lp.handles.insert(Kind::Io(IoData {
            cb: Some(Box::new(cb)),
            registered: false,
        }));
        if let Err(e) = lp
            .reactor
            .poll
            .registry()
            .register(source, token(id), interest)
        {
            lp.handles.remove(id);
            return Err(e);
        }
        let w = IoWatcher(id);
        w.set_registered(lp, true);
        Ok(w)
    }

    fn set_registered(&self, lp: &mut Loop, on: bool) {
        if let Some(Kind::Io(io)) = lp.handles.get_mut(self.0).map(|s| &mut s.kind) {
            if io.registered != on {
                io.registered = on;
                if on {
                    lp.reactor.registered += 1;
                } else {
                    lp.reactor.registered -= 1;
                }
            }
        }
        if on {
            lp.handles.start(self.0);
        } else {
            lp.handles.stop(self.0);
        }
    }

    /// Changes the interest (re-registering a deregistered source too).
    pub fn reregister<S: Source + ?Sized>(
        &self,
        lp: &mut Loop,
        source: &mut S,
        interest: Interest,
    ) -> io::Result<()> {
        let registered = match lp.handles.usable(self.0).map_err(io::Error::other)?.kind {
            Kind::Io(ref io) => io.registered,
            _ => false,
        };
        let registry = lp.reactor.poll.registry();
        if registered {
            registry.reregister(source, token(self.0), interest)?;
        } else {
            registry.register(source, token(self.0), interest)?;
        }
        self.set_registered(lp, true);
        Ok(())
    }

    /// Stops watching; the watcher becomes inactive but stays open.
    pub fn deregister<S: Source + ?Sized>(&self, lp: &mut Loop, source: &mut S) -> io::Result<()> {
        let registered =
            matches!(lp.handles.get(self.0).map(|s| &s.kind), Some(Kind::Io(io)) if io.registered);
        if registered {
            lp.reactor.poll.registry().deregister(source)?;
            self.set_registered(lp, false);
        }
        Ok(())
    }
}
