//! `Socket`: one stream connection (TCP or Unix) as a Node `Duplex` of
//! bytes, driven by an [`IoWatcher`] (Node's `net.Socket` over libuv's
//! `uv_stream_t`).
//!
//! The watcher stays registered for reading and writing, edge-triggered,
//! for the whole life of the connection; whether the handle is *active*
//! (keeps the loop alive) follows libuv instead: while connecting, reading,
//! writing or shutting down. Because edges are not repeated, the socket
//! remembers when it stopped reading with data possibly left in the kernel
//! (`may_read`) and re-arms the registration when it wants data again;
//! `docs/net.md` has the whole picture.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::{event, Transport};
use crate::bridge::FromCallback;
use crate::emitter::{Event, EventEmitter, ListenerId};
use crate::stream::{
    event as sev, Bytes, DestroyImpl, Duplex, FinalDone, FinalImpl, ReadImpl, Readable,
    ReadableOptions, StreamError, Writable, WritableOptions, WriteDone, WriteImpl,
};
use crate::task::Task;
use crate::{Handle, Interest, IoWatcher, Loop, Ready, Timeout};

/// Reads made for one readiness event before the socket yields to the
/// others (libuv's `count = 32` in `uv__read`).
pub(crate) const READS_PER_EVENT: usize = 32;
/// Size of one read (libuv's suggested 64 KiB buffer).
pub(crate) const READ_SIZE: usize = 64 * 1024;
/// `send` calls made for one readiness event.
const WRITES_PER_EVENT: usize = 32;

/// Options for a socket (and, through [`ServerOptions`](super::ServerOptions),
/// for the sockets a server accepts).
///
/// ```
/// use nodeloop::net::SocketOptions;
/// let o = SocketOptions { allow_half_open: true, ..Default::default() };
/// assert_eq!(o.readable_high_water_mark, None); // 16 KiB
/// ```
#[derive(Debug, Clone, Default)]
pub struct SocketOptions {
    /// Keep the writable side open after the peer ends its side (Node's
    /// `allowHalfOpen`, default false: the socket ends itself on EOF).
    pub allow_half_open: bool,
    /// Bytes buffered unread before reading from the kernel stops; 16 KiB
    /// when `None`.
    pub readable_high_water_mark: Option<usize>,
    /// Bytes buffered unwritten before `write` returns false; 16 KiB when
    /// `None`.
    pub writable_high_water_mark: Option<usize>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the target to be resolved.
    Resolving,
    /// Non-blocking connect in progress.
    Connecting,
    Open,
    Closed,
}

struct PendingWrite {
    data: Vec<u8>,
    off: usize,
    done: WriteDone,
}

/// What few sockets use: an idle timeout, options and `end` asked for
/// before the connection was up. Boxed on first use, so that an idle
/// connection does not carry it.
#[derive(Default)]
struct Cold {
    /// `end` called before the connection was up.
    final_: Option<FinalDone>,
    timeout_ms: u64,
    timer: Option<Timeout>,
    last_active: u64,
    /// Options asked for before the connection existed.
    no_delay: Option<bool>,
    keep_alive: Option<(bool, u32)>,
}

struct Io<T: Transport> {
    phase: Phase,
    stream: Option<T::Stream>,
    watcher: Option<IoWatcher>,
    refd: bool,
    /// The readable side wants data (libuv's `UV_HANDLE_READING`).
    reading: bool,
    /// Reading stopped before the kernel said `WouldBlock`: data may be
    /// waiting, and no new edge will announce it.
    may_read: bool,
    eof: bool,
    /// What the kernel has not taken yet of the chunk being written; boxed
    /// because a chunk usually goes in one `send` and never gets here.
    write: Option<Box<PendingWrite>>,
    cold: Option<Box<Cold>>,
    bytes_read: u64,
    bytes_written: u64,
    /// Told after `'close'`: the server that accepted the socket, which
    /// counts its connections (a shared handle, not a closure per socket).
    closed_hook: Option<Rc<dyn ClosedHook>>,
}

/// A stream connection: TCP ([`TcpSocket`](super::TcpSocket)) or
/// Unix-domain ([`UnixSocket`](super::UnixSocket)), Node's `net.Socket`.
///
/// It is a [`Duplex`] of bytes ([`Socket::duplex`]), with Node's events:
/// `Data`, `End` (the peer closed its side), `Drain`, `Finish`, `Error`,
/// `Close` from [`crate::stream::event`], and [`event::Connect`] and
/// [`event::Timeout`]. Errors keep their `io::ErrorKind` inside
/// [`StreamError::Io`]. `'close'` comes in the loop's close phase, when the
/// handle is closed, as in Node.
///
/// A socket is a cheap handle (`Rc` inside); the loop keeps an open socket
/// alive while it is registered, so dropping every handle does not close
/// it: call [`Socket::end`] or [`Socket::destroy`].
///
/// ```
/// use nodeloop::net::{ServerOptions, SocketOptions, TcpServer, TcpSocket};
/// use nodeloop::Loop;
/// let mut lp = Loop::new();
/// let server = TcpServer::new(ServerOptions::default());
/// server.on_connection(&mut lp, |lp, sock| { sock.end_with(lp, Some(b"bye".to_vec()), |_, _| {}); });
/// server.listen(&mut lp, "127.0.0.1:0".parse().unwrap(), 8).unwrap();
/// let c = TcpSocket::connect(&mut lp, server.address().unwrap(), SocketOptions::default());
/// let s = server.clone();
/// c.on_data(&mut lp, |_, chunk| assert_eq!(chunk, b"bye"));
/// c.on_close(move |lp| s.close(lp, |_, r| r.unwrap()));
/// lp.run_default();
/// assert_eq!(c.bytes_read(), 3);
/// ```
pub struct Socket<T: Transport> {
    duplex: Duplex<Bytes, Bytes>,
    io: Rc<RefCell<Io<T>>>,
}

impl<T: Transport> Clone for Socket<T> {
    fn clone(&self) -> Self {
        Socket {
            duplex: self.duplex.clone(),
            io: self.io.clone(),
        }
    }
}

impl<T: Transport> fmt::Debug for Socket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let io = self.io.borrow();
        f.debug_struct("Socket")
            .field("transport", &T::NAME)
            .field("phase", &io.phase)
            .field("reading", &io.reading)
            .field("bytes_read", &io.bytes_read)
            .field("bytes_written", &io.bytes_written)
            .finish_non_exhaustive()
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// `recv(2)` on a non-blocking socket, into memory that need not be
/// initialised (the kernel only writes it).
fn sys_recv(fd: &impl AsRawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(2)` with `MSG_NOSIGNAL`: writing to a connection the peer closed
/// must fail with `EPIPE`, not kill the process with `SIGPIPE` (std's
/// `UnixStream` writes with `write(2)`, which raises it).
fn sys_send(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of its length.
    let n = unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The first attempt at a chunk (`uv_write` tries at once): the new
/// offset, the outcome if settled, and whether the kernel refused more.
/// Not connected yet, or a chunk still pending: nothing is sent.
fn send_now<T: Transport>(
    io: &RefCell<Io<T>>,
    data: &[u8],
) -> (usize, Option<Result<(), StreamError>>, bool) {
    let mut io = io.borrow_mut();
    let io = &mut *io;
    match io.stream.as_ref() {
        Some(s) if io.phase == Phase::Open && io.write.is_none() => {
            let (off, outcome, blocked) = send_some(s, data, 0);
            io.bytes_written += off as u64;
            (off, outcome, blocked)
        }
        // Not connected yet: held until it is.
        _ => (0, None, true),
    }
}

/// A socket's `_write`. `data` is owned, or lent by
/// [`Socket::write_bytes`]: then it is copied only if the kernel does not
/// take it all at once.
fn write_chunk<T: Transport, D: AsRef<[u8]> + Into<Vec<u8>>>(
    lp: &mut Loop,
    w: &Writable<Bytes>,
    io: Rc<RefCell<Io<T>>>,
    data: D,
    done: WriteDone,
) {
    let mut sent = send_now(&io, data.as_ref());
    // The common case, settled here: the kernel took it all and there is
    // no idle timer to tell. Completed inside `_write`, as Node completes a
    // write `uv_try_write` took whole (`afterWriteDispatched`); the stream
    // then runs the write callback from a tick, its `sync` rule.
    if sent.1.is_some() && io.borrow().cold.is_none() {
        if let Some(result) = sent.1.take() {
            done.call(lp, result);
            return;
        }
    }
    match w.readable_side() {
        Some(r) => Conn { r, io }.write_rest(lp, data, done, sent),
        None => done.call(lp, Err(StreamError::Destroyed("write"))),
    }
}

/// A socket's I/O state, from what its stream records as its owner.
fn io_of<T: Transport>(owner: Option<Rc<dyn Any>>) -> Option<Rc<RefCell<Io<T>>>> {
    owner?.downcast().ok()
}

/// Sends `data[off..]` with at most [`WRITES_PER_EVENT`] calls. Returns
/// the new offset, the outcome once the chunk is all sent or failed, and
/// whether the kernel refused more (`WouldBlock`) rather than the budget
/// running out.
fn send_some(
    fd: &impl AsRawFd,
    data: &[u8],
    mut off: usize,
) -> (usize, Option<Result<(), StreamError>>, bool) {
    for _ in 0..WRITES_PER_EVENT {
        if off == data.len() {
            return (off, Some(Ok(())), false);
        }
        match sys_send(fd, &data[off..]) {
            Ok(n) => off += n,
            Err(e) if would_block(&e) => return (off, None, true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (off, Some(Err(StreamError::from(e))), false),
        }
    }
    let outcome = (off == data.len()).then_some(Ok(()));
    (off, outcome, false)
}

impl<T: Transport> Io<T> {
    fn new() -> Io<T> {
        Io {
            phase: Phase::Resolving,
            stream: None,
            watcher: None,
            refd: true,
            reading: false,
            may_read: false,
            eof: false,
            write: None,
            cold: None,
            bytes_read: 0,
            bytes_written: 0,
            closed_hook: None,
        }
    }

    fn cold(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    /// Whether the handle should keep the loop alive (libuv's
    /// `uv__handle_start` rules for a stream).
    fn wants_active(&self) -> bool {
        match self.phase {
            Phase::Connecting => true,
            Phase::Open => {
                (self.reading && !self.eof)
                    || self.write.is_some()
                    || self.cold.as_ref().is_some_and(|c| c.final_.is_some())
            }
            Phase::Resolving | Phase::Closed => false,
        }
    }
}

/// Who hears that a socket closed (its server).
pub(crate) trait ClosedHook {
    fn socket_closed(self: Rc<Self>, lp: &mut Loop);
}

/// The stream implementation callbacks (Node's `_read`, `_write`,
/// `_final`, `_destroy`) of a socket. They capture nothing — each finds
/// its socket's I/O state as the owner its stream records ([`io_of`]) — so
/// a server makes one set and every socket it accepts shares it: no
/// closure allocations per connection.
#[derive(Clone)]
pub(crate) struct SocketImpls {
    read: ReadImpl<Bytes>,
    write: WriteImpl<Bytes>,
    final_: FinalImpl<Bytes>,
    destroy: DestroyImpl,
}

impl SocketImpls {
    pub(crate) fn new<T: Transport>() -> SocketImpls {
        SocketImpls {
            read: Rc::new(|lp, r: &Readable<Bytes>, _n| {
                let Some(io) = io_of::<T>(r.owner()) else {
                    return;
                };
                // Already reading: the common case (every `read(0)` of a
                // flowing socket), settled without building a `Conn`.
                if io.borrow().reading {
                    return;
                }
                Conn { r: r.clone(), io }.read_start(lp);
            }),
            write: Rc::new(
                |lp, w: &Writable<Bytes>, chunk, done| match io_of::<T>(w.owner()) {
                    Some(io) => write_chunk(lp, w, io, chunk, done),
                    None => done.call(lp, Err(StreamError::Destroyed("write"))),
                },
            ),
            final_: Rc::new(|lp, w: &Writable<Bytes>, done| {
                match w.readable_side().as_ref().and_then(Conn::<T>::of) {
                    Some(c) => c.shutdown(lp, done),
                    None => done.call(lp, Ok(())),
                }
            }),
            destroy: Rc::new(|lp, err, done| {
                let s = done.readable::<Bytes>().as_ref().and_then(Conn::<T>::of);
                // The error's tick first: without a handle, 'close' also
                // comes on a tick, and must follow 'error'.
                done.call(lp, err);
                if let Some(s) = s {
                    s.close_handle(lp);
                }
            }),
        }
    }
}

impl<T: Transport> Socket<T> {
    fn create(opts: &SocketOptions, impls: &SocketImpls) -> Socket<T> {
        let ropts = ReadableOptions {
            high_water_mark: opts.readable_high_water_mark,
            // 'close' is emitted by the handle's close callback instead.
            emit_close: false,
            ..Default::default()
        };
        let wopts = WritableOptions {
            high_water_mark: opts.writable_high_water_mark,
            emit_close: false,
            ..Default::default()
        };
        let duplex = Duplex::<Bytes, Bytes>::with_impls(
            ropts,
            wopts,
            opts.allow_half_open,
            impls.read.clone(),
            impls.write.clone(),
        );
        duplex.writable().set_final_rc(impls.final_.clone());
        duplex.readable().set_destroy_rc(impls.destroy.clone());
        let io: Rc<RefCell<Io<T>>> = Rc::new(RefCell::new(Io::new()));
        // Held weakly: the state holds the stream's completion callbacks
        // while a write is in flight.
        let owner: Weak<dyn Any> = Rc::downgrade(&io) as Weak<RefCell<Io<T>>>;
        duplex.readable().set_owner(owner);
        Socket { duplex, io }
    }

    /// Tells `hook` once the socket has emitted `'close'` (the server that
    /// accepted it; one per socket).
    pub(crate) fn set_closed_hook(&self, hook: Rc<dyn ClosedHook>) {
        let old = self.io.borrow_mut().closed_hook.replace(hook);
        debug_assert!(old.is_none(), "one closed hook per socket");
    }

    /// The socket's internals.
    fn conn(&self) -> Conn<T> {
        Conn {
            r: self.duplex.readable().clone(),
            io: self.io.clone(),
        }
    }

    /// Connects to `target`, Node's `net.connect`: returns the socket at
    /// once; [`event::Connect`] follows, or `Error` then `Close`. Writes
    /// and `end` made before the connection is up are held until it is.
    ///
    /// A connect that fails at once (the system call itself refuses) is
    /// reported in the next pending phase, as libuv does; a refused or
    /// unreachable peer is reported when the kernel says so, in the poll
    /// phase. A TCP host name is resolved with [`crate::dns::lookup`] first.
    ///
    /// ```
    /// use nodeloop::net::{event, SocketOptions, TcpSocket};
    /// use nodeloop::stream::{event as sev, StreamError};
    /// use nodeloop::Loop;
    /// use std::{cell::Cell, rc::Rc};
    /// // A port nobody listens on: bind one and drop the listener.
    /// let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    /// let mut lp = Loop::new();
    /// let c = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
    /// let refused = Rc::new(Cell::new(false));
    /// let r = refused.clone();
    /// c.on_error(move |_, e| {
    ///     let StreamError::Io(e) = e else { panic!("{e}") };
    ///     r.set(e.kind() == std::io::ErrorKind::ConnectionRefused);
    /// });
    /// lp.run_default();
    /// assert!(refused.get() && c.destroyed());
    /// ```
    pub fn connect(lp: &mut Loop, target: impl Into<T::Target>, opts: SocketOptions) -> Socket<T> {
        let s = Socket::create(&opts, &SocketImpls::new::<T>());
        let s2 = s.clone();
        T::resolve(
            lp,
            target.into(),
            Box::new(move |lp, r| match r {
                Ok(to) => s2.conn().start_connect(lp, &to),
                Err(e) => s2.destroy(lp, Some(e.into())),
            }),
        );
        s
    }

    /// Connects and calls back once: with the socket when connected, or
    /// with the error (which then does not reach `'error'` listeners).
    ///
    /// ```
    /// use nodeloop::net::{ServerOptions, SocketOptions, UnixServer, UnixSocket};
    /// use nodeloop::Loop;
    /// let path = std::env::temp_dir().join(format!("nodeloop-doc-cw-{}.sock", std::process::id()));
    /// let mut lp = Loop::new();
    /// let server = UnixServer::new(ServerOptions::default());
    /// server.on_connection(&mut lp, |lp, s| s.destroy(lp, None));
    /// server.listen(&mut lp, path.clone(), 8).unwrap();
    /// let srv = server.clone();
    /// UnixSocket::connect_with(&mut lp, &path, SocketOptions::default(), move |lp, r| {
    ///     let sock = r.unwrap();
    ///     assert!(sock.remote_address().is_ok());
    ///     sock.destroy(lp, None);
    ///     srv.close(lp, |_, _| {});
    /// });
    /// lp.run_default();
    /// ```
    pub fn connect_with(
        lp: &mut Loop,
        target: impl Into<T::Target>,
        opts: SocketOptions,
        cb: impl FnOnce(&mut Loop, Result<Socket<T>, StreamError>) + 'static,
    ) {
        type Cb<T> = Box<dyn FnOnce(&mut Loop, Result<Socket<T>, StreamError>)>;
        let s = Socket::connect(lp, target, opts);
        let cb: Rc<RefCell<Option<Cb<T>>>> = Rc::new(RefCell::new(Some(Box::new(cb))));
        // The first of 'connect', 'error' and 'close' settles; it removes the
        // other two listeners, which hold the socket.
        let ids: Rc<RefCell<Vec<ListenerId>>> = Rc::default();
        let settle = {
            let (ids, em) = (ids.clone(), s.emitter().clone());
            move |lp: &mut Loop, r: Result<Socket<T>, StreamError>| {
                for id in std::mem::take(&mut *ids.borrow_mut()) {
                    em.off(id);
                }
                let f = cb.borrow_mut().take();
                if let Some(f) = f {
                    f(lp, r);
                }
            }
        };
        let settle = Rc::new(settle);
        let (f, me) = (settle.clone(), s.clone());
        let a = s
            .emitter()
            .once::<event::Connect>(move |lp, _| f(lp, Ok(me.clone())));
        let f = settle.clone();
        let b = s
            .emitter()
            .once::<sev::Error>(move |lp, e| f(lp, Err(e.clone())));
        let f = settle;
        let c = s
            .emitter()
            .once::<sev::Close>(move |lp, _| f(lp, Err(StreamError::PrematureClose)));
        *ids.borrow_mut() = vec![a, b, c];
    }

    /// Connects, as an awaitable: [`Socket::connect_with`] as a future.
    ///
    /// ```
    /// use nodeloop::net::{ServerOptions, SocketOptions, TcpServer, TcpSocket};
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let server = TcpServer::new(ServerOptions::default());
    /// server.listen(&mut lp, "127.0.0.1:0".parse().unwrap(), 8).unwrap();
    /// let addr = server.address().unwrap();
    /// let connect = TcpSocket::connect_async(&mut lp, addr, SocketOptions::default());
    /// let accept = server.accept_async(&mut lp);
    /// let task = lp.spawn(async move {
    ///     let (client, conn) = (connect.await.unwrap(), accept.await.unwrap());
    ///     assert_eq!(client.local_address().unwrap(), conn.remote_address().unwrap());
    ///     nodeloop::with_loop(|lp| { client.destroy(lp, None); conn.destroy(lp, None); server.close(lp, |_, _| {}) });
    /// });
    /// lp.run_default();
    /// assert!(task.is_finished());
    /// ```
    pub fn connect_async(
        lp: &mut Loop,
        target: impl Into<T::Target>,
        opts: SocketOptions,
    ) -> FromCallback<Result<Socket<T>, StreamError>> {
        let target = target.into();
        lp.from_callback(move |lp, done| {
            Socket::connect_with(lp, target, opts, move |lp, r| done.complete(lp, r))
        })
    }

    /// Wraps an accepted connection: registered, reading started.
    pub(crate) fn accepted(
        lp: &mut Loop,
        stream: T::Stream,
        opts: &SocketOptions,
        impls: &SocketImpls,
    ) -> io::Result<Socket<T>> {
        let s = Socket::create(opts, impls);
        let c = s.conn();
        c.register(lp, stream)?;
        c.io.borrow_mut().phase = Phase::Open;
        c.update_active(lp);
        c.after_open(lp);
        Ok(s)
    }
}

/// What a socket's own machinery works with: the readable side and the
/// I/O state. A `Socket` adds the writable side for its users; the
/// poll-phase callback and the stream implementation callbacks need only
/// this, which they hold or find without rebuilding the whole duplex.
struct Conn<T: Transport> {
    r: Readable<Bytes>,
    io: Rc<RefCell<Io<T>>>,
}

impl<T: Transport> Clone for Conn<T> {
    fn clone(&self) -> Self {
        Conn {
            r: self.r.clone(),
            io: self.io.clone(),
        }
    }
}

impl<T: Transport> Conn<T> {
    /// The socket a stream implementation callback was called for.
    fn of(r: &Readable<Bytes>) -> Option<Conn<T>> {
        let io = r.owner()?.downcast().ok()?;
        Some(Conn { r: r.clone(), io })
    }

    fn readable(&self) -> &Readable<Bytes> {
        &self.r
    }

    fn emitter(&self) -> &EventEmitter {
        self.r.emitter()
    }

    fn destroyed(&self) -> bool {
        self.r.destroyed()
    }

    fn destroy(&self, lp: &mut Loop, err: Option<StreamError>) {
        self.r.destroy(lp, err);
    }

    fn register(&self, lp: &mut Loop, mut stream: T::Stream) -> io::Result<()> {
        // A `Conn`, not a whole `Socket` (five pointers): this closure is
        // one of each connection's allocations. The I/O state is held
        // strongly: the loop keeps a registered socket alive.
        let me = self.clone();
        let w = IoWatcher::new(
            lp,
            &mut stream,
            Interest::READABLE | Interest::WRITABLE,
            move |lp, _, ready| me.on_ready(lp, ready),
        )?;
        let refd = {
            let mut io = self.io.borrow_mut();
            io.stream = Some(stream);
            io.watcher = Some(w);
            io.refd
        };
        if !refd {
            w.unref(lp);
        }
        Ok(())
    }

    fn start_connect(&self, lp: &mut Loop, to: &T::Resolved) {
        if self.destroyed() {
            return;
        }
        let r = T::connect(to).and_then(|stream| self.register(lp, stream));
        match r {
            Ok(()) => {
                self.io.borrow_mut().phase = Phase::Connecting;
                self.update_active(lp);
            }
            Err(e) => {
                // libuv reports a connect that failed synchronously from
                // the pending phase, never from inside the call.
                let me = self.clone();
                lp.defer_pending(Task::new(move |lp| me.destroy(lp, Some(e.into()))));
            }
        }
    }

    /// The poll phase's callback for this socket.
    fn on_ready(&self, lp: &mut Loop, ready: Ready) {
        if self.io.borrow().phase == Phase::Connecting {
            if !(ready.writable || ready.error || ready.write_closed) {
                return;
            }
            self.finish_connect(lp);
        }
        if self.io.borrow().phase != Phase::Open {
            return;
        }
        if ready.writable || ready.error || ready.write_closed {
            self.flush_write(lp);
        }
        if ready.readable || ready.read_closed || ready.error {
            let reading = {
                let mut io = self.io.borrow_mut();
                if !io.reading {
                    io.may_read = true;
                }
                io.reading && io.phase == Phase::Open
            };
            if reading {
                // Unless the peer's FIN (or an error) came with this event,
                // a short read means the kernel's queue is empty, and any
                // later arrival raises a new edge.
                self.read_some(lp, !(ready.read_closed || ready.error));
            }
        }
    }

    fn finish_connect(&self, lp: &mut Loop) {
        let r = {
            let io = self.io.borrow();
            let Some(s) = io.stream.as_ref() else { return };
            match T::take_error(s) {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match T::peer_addr(s) {
                    Ok(_) => Ok(()),
                    // Woken before the handshake finished.
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(e) => Err(e),
                },
            }
        };
        if let Err(e) = r {
            self.destroy(lp, Some(e.into()));
            return;
        }
        let (no_delay, keep_alive) = {
            let mut io = self.io.borrow_mut();
            io.phase = Phase::Open;
            match io.cold.as_mut() {
                Some(c) => (c.no_delay.take(), c.keep_alive.take()),
                None => (None, None),
            }
        };
        // Options asked for while connecting; errors here are not worth
        // failing a live connection for.
        if let Some(on) = no_delay {
            let _ = set_no_delay(&self.io, on);
        }
        if let Some((on, secs)) = keep_alive {
            let _ = set_keep_alive(&self.io, on, secs);
        }
        self.update_active(lp);
        self.touch(lp);
        self.emitter().emit::<event::Connect>(lp, ());
        if self.destroyed() {
            return;
        }
        self.flush_write(lp);
        let final_ = self
            .io
            .borrow_mut()
            .cold
            .as_mut()
            .and_then(|c| c.final_.take());
        if let Some(done) = final_ {
            self.shutdown(lp, done);
        }
        self.after_open(lp);
    }

    /// Starts reading as Node does after `'connect'` or on accept
    /// (`read(0)`): data is buffered up to the high-water mark until
    /// someone consumes it.
    fn after_open(&self, lp: &mut Loop) {
        if !self.destroyed() && !self.readable().is_paused() {
            self.readable().read(lp, Some(0));
        }
    }

    /// Node's `_read`: start reading (`uv_read_start`). Data comes in the
    /// poll phase; if some may already be waiting, re-arm to get an edge.
    fn read_start(&self, lp: &mut Loop) {
        let rearm = {
            let mut io = self.io.borrow_mut();
            if io.reading || io.eof {
                return;
            }
            io.reading = true;
            io.phase == Phase::Open && io.may_read
        };
        self.update_active(lp);
        if rearm {
            self.rearm(lp);
        }
    }

    /// Re-registers the socket so that epoll reports its current readiness
    /// again (`EPOLL_CTL_MOD` re-checks an edge-triggered source): how a
    /// socket yields after its bounded share of work and gets back in line
    /// behind the others.
    fn rearm(&self, lp: &mut Loop) {
        let r = {
            let mut io = self.io.borrow_mut();
            let io = &mut *io;
            match (io.watcher, io.stream.as_mut()) {
                (Some(w), Some(s)) => w.reregister(lp, s, Interest::READABLE | Interest::WRITABLE),
                _ => Ok(()),
            }
        };
        self.update_active(lp);
        if let Err(e) = r {
            self.destroy(lp, Some(e.into()));
        }
    }

    /// Starts or stops the handle according to what the socket is doing.
    fn update_active(&self, lp: &mut Loop) {
        let io = self.io.borrow();
        if let Some(w) = io.watcher {
            if io.wants_active() {
                lp.handles.start(w.id());
            } else {
                lp.handles.stop(w.id());
            }
        }
    }

    /// Reads until the kernel has nothing more, the stream has enough, or
    /// the per-event budget is spent. With `stop_short`, a read that does
    /// not fill the buffer ends the round, as libuv's `uv__read` does:
    /// that saves the `EAGAIN` read per message of a request/response
    /// connection.
    fn read_some(&self, lp: &mut Loop, stop_short: bool) {
        // The loop's read buffer, uninitialised (a zeroed buffer cost a
        // 64 KiB memset per message in the echo profile). Taken, not
        // borrowed: a `data` listener may reach another socket's read.
        let mut buf = std::mem::take(&mut lp.read_buf);
        if buf.capacity() < READ_SIZE {
            buf = Vec::with_capacity(READ_SIZE);
        }
        self.read_into(lp, &mut buf, stop_short);
        buf.clear();
        lp.read_buf = buf;
    }

    fn read_into(&self, lp: &mut Loop, buf: &mut Vec<u8>, stop_short: bool) {
        for _ in 0..READS_PER_EVENT {
            let r = {
                let io = self.io.borrow();
                match io.stream.as_ref() {
                    Some(s) if io.reading => {
                        sys_recv(s, &mut buf.spare_capacity_mut()[..READ_SIZE])
                    }
                    _ => return,
                }
            };
            match r {
                Ok(0) => {
                    {
                        let mut io = self.io.borrow_mut();
                        io.eof = true;
                        io.reading = false;
                        io.may_read = false;
                    }
                    self.update_active(lp);
                    // As Node's `onStreamRead`: `read(0)` after the EOF, so
                    // that a socket nobody reads still emits 'end' (and can
                    // finish closing) when nothing is left unread.
                    self.readable().push_eof(lp);
                    if !self.destroyed() {
                        self.readable().read(lp, Some(0));
                    }
                    return;
                }
                Ok(n) => {
                    self.io.borrow_mut().bytes_read += n as u64;
                    self.touch(lp);
                    // SAFETY: `recv` initialised the first `n` bytes (the
                    // buffer was empty).
                    unsafe { buf.set_len(n) };
                    // Reading, and it goes on unless `push` says stop.
                    let more = self.readable().push_from_buffer(lp, buf, true);
                    buf.clear();
                    if more && stop_short && n < READ_SIZE {
                        self.io.borrow_mut().may_read = false;
                        return;
                    }
                    if !more {
                        let mut io = self.io.borrow_mut();
                        io.reading = false;
                        io.may_read = true;
                        drop(io);
                        self.update_active(lp);
                        return;
                    }
                }
                Err(e) if would_block(&e) => {
                    self.io.borrow_mut().may_read = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.destroy(lp, Some(e.into()));
                    return;
                }
            }
        }
        // Budget spent with data possibly left: let the others go first.
        let open = {
            let mut io = self.io.borrow_mut();
            io.may_read = true;
            io.reading && io.phase == Phase::Open
        };
        if open {
            self.rearm(lp);
        }
    }

    /// Node's `_write`: one chunk at a time (the stream buffers the rest).
    /// Tried at once, as Node's `uv_try_write` does, straight from the
    /// chunk: only what the kernel does not take is kept, to wait for a
    /// writable edge. A chunk finished or failed during this call completes
    /// inside it, as in Node (`afterWriteDispatched` calls the callback
    /// synchronously); the stream defers the user's callback to a tick.
    ///
    /// `sent` is what [`send_now`] did with the chunk.
    fn write_rest(
        &self,
        lp: &mut Loop,
        data: impl Into<Vec<u8>>,
        done: WriteDone,
        sent: (usize, Option<Result<(), StreamError>>, bool),
    ) {
        let (off, outcome, blocked) = sent;
        if let Some(result) = outcome {
            self.touch(lp);
            done.call(lp, result);
            return;
        }
        if off > 0 {
            self.touch(lp);
        }
        let data = data.into();
        self.io.borrow_mut().write = Some(Box::new(PendingWrite { data, off, done }));
        if blocked {
            self.update_active(lp);
        } else {
            // Budget spent with bytes left: yield to the other sockets.
            self.rearm(lp);
        }
    }

    /// Writes the rest of the pending chunk on a writable event; a chunk
    /// finished or failed here completes right away, in the poll phase.
    fn flush_write(&self, lp: &mut Loop) {
        let (outcome, blocked, progress) = {
            let mut io = self.io.borrow_mut();
            let io = &mut *io;
            let (Some(s), Some(w)) = (io.stream.as_ref(), io.write.as_mut()) else {
                return;
            };
            let before = w.off;
            let (off, outcome, blocked) = send_some(s, &w.data, w.off);
            w.off = off;
            io.bytes_written += (off - before) as u64;
            (outcome, blocked, off > before)
        };
        if progress {
            self.touch(lp);
        }
        let Some(result) = outcome else {
            if !blocked {
                // Budget spent with bytes left: yield to the other sockets.
                self.rearm(lp);
            }
            return;
        };
        let w = self.io.borrow_mut().write.take();
        self.update_active(lp);
        if let Some(w) = w {
            w.done.call(lp, result);
        }
    }

    /// Node's `_final`: half-closes once every write is done (the stream
    /// calls it only then). Completes in the pending phase.
    fn shutdown(&self, lp: &mut Loop, done: FinalDone) {
        let r = {
            let mut io = self.io.borrow_mut();
            match io.phase {
                Phase::Resolving | Phase::Connecting => {
                    io.cold().final_ = Some(done);
                    return;
                }
                Phase::Closed => Err(io::Error::from(io::ErrorKind::NotConnected)),
                Phase::Open => match io.stream.as_ref() {
                    Some(s) => T::shutdown_write(s),
                    None => Err(io::Error::from(io::ErrorKind::NotConnected)),
                },
            }
        };
        // A peer that already went away is no reason to fail `end` (Node
        // ignores ENOTCONN here too).
        let r = match r {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r.map_err(StreamError::from),
        };
        lp.defer_pending(Task::new(move |lp| done.call(lp, r)));
    }

    /// Node's `_destroy`: closes the descriptor now and the handle in the
    /// close phase, whose callback emits `'close'`.
    fn close_handle(&self, lp: &mut Loop) {
        let (stream, watcher, write, final_, timer) = {
            let mut io = self.io.borrow_mut();
            io.phase = Phase::Closed;
            io.reading = false;
            (
                io.stream.take(),
                io.watcher.take(),
                io.write.take(),
                io.cold.as_mut().and_then(|c| c.final_.take()),
                io.cold.as_mut().and_then(|c| c.timer.take()),
            )
        };
        if let Some(t) = timer {
            lp.clear_timeout(t);
        }
        let me = self.clone();
        let closed = move |lp: &mut Loop| {
            // Writes cut short are failed before 'close' (libuv cancels
            // them when the handle finishes closing).
            if let Some(w) = write {
                w.done.call(lp, Err(StreamError::Destroyed("write")));
            }
            if let Some(f) = final_ {
                f.call(lp, Err(StreamError::Destroyed("end")));
            }
            let hook = me.io.borrow_mut().closed_hook.take();
            me.emitter().emit::<sev::Close>(lp, ());
            if let Some(h) = hook {
                h.socket_closed(lp);
            }
        };
        match watcher {
            Some(w) => {
                if w.close(lp, closed).is_err() {
                    log::error!("nodeloop: socket handle closed twice");
                }
            }
            None => lp.next_tick(closed),
        }
        // Closing the descriptor takes it out of epoll.
        drop(stream);
    }

    /// Records activity for the idle timeout, re-arming it if it fired.
    fn touch(&self, lp: &mut Loop) {
        let rearm = {
            let mut io = self.io.borrow_mut();
            let closed = io.phase == Phase::Closed;
            let Some(c) = io.cold.as_mut() else { return };
            c.last_active = lp.now();
            (c.timeout_ms > 0 && c.timer.is_none() && !closed).then_some(c.timeout_ms)
        };
        if let Some(ms) = rearm {
            self.arm_timer(lp, ms);
        }
    }

    fn arm_timer(&self, lp: &mut Loop, ms: u64) {
        let weak = Rc::downgrade(&self.io);
        let r = self.r.clone();
        let t = lp.set_timeout(ms, move |lp| {
            if let Some(io) = weak.upgrade() {
                Conn { r, io }.on_timer(lp);
            }
        });
        // An idle timer alone does not keep the loop alive (Node's
        // unref'd socket timers).
        t.unref(lp);
        self.io.borrow_mut().cold().timer = Some(t);
    }

    fn on_timer(&self, lp: &mut Loop) {
        let idle_left = {
            let mut io = self.io.borrow_mut();
            let closed = io.phase == Phase::Closed;
            let c = io.cold();
            c.timer = None;
            if c.timeout_ms == 0 || closed {
                return;
            }
            let idle = lp.now().saturating_sub(c.last_active);
            c.timeout_ms.checked_sub(idle).filter(|&left| left > 0)
        };
        match idle_left {
            // Activity since the timer was set: wait out the rest.
            Some(left) => self.arm_timer(lp, left),
            // Fires once per idle period; the next activity re-arms it.
            None => {
                self.emitter().emit::<event::Timeout>(lp, ());
            }
        }
    }
}

impl<T: Transport> Socket<T> {
    /// The socket as a stream: a duplex of bytes.
    ///
    /// ```
    /// # use nodeloop::net::{SocketOptions, TcpSocket};
    /// # let mut lp = nodeloop::Loop::new();
    /// # let addr = "127.0.0.1:9".parse::<std::net::SocketAddr>().unwrap();
    /// let s = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
    /// assert_eq!(s.duplex().writable().writable_high_water_mark(), 16 * 1024);
    /// # s.on_error(|_, _| {});
    /// # lp.run_default();
    /// ```
    pub fn duplex(&self) -> &Duplex<Bytes, Bytes> {
        &self.duplex
    }

    /// The readable side (for `pipe`, `read`, `iter`...).
    pub fn readable(&self) -> &Readable<Bytes> {
        self.duplex.readable()
    }

    /// The writable side.
    pub fn writable(&self) -> &Writable<Bytes> {
        self.duplex.writable()
    }

    /// The socket's event emitter.
    pub fn emitter(&self) -> &EventEmitter {
        self.duplex.emitter()
    }

    /// Adds a listener for any event, with the readable side's rules (a
    /// `Data` listener starts the flow).
    pub fn on<E: Event>(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
    ) -> ListenerId {
        self.readable().on::<E>(lp, f)
    }

    /// `on('data')`: chunks as they arrive (starts the flow).
    pub fn on_data(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &Vec<u8>) + 'static,
    ) -> ListenerId {
        self.readable().on_data(lp, f)
    }

    /// `on('end')`: the peer ended its side and every chunk was consumed.
    pub fn on_end(&self, lp: &mut Loop, mut f: impl FnMut(&mut Loop) + 'static) -> ListenerId {
        self.readable().on::<sev::End>(lp, move |lp, _| f(lp))
    }

    /// `on('error')`.
    pub fn on_error(&self, f: impl FnMut(&mut Loop, &StreamError) + 'static) -> ListenerId {
        self.emitter().on::<sev::Error>(f)
    }

    /// `on('close')`: the handle is closed (close phase).
    pub fn on_close(&self, mut f: impl FnMut(&mut Loop) + 'static) -> ListenerId {
        self.emitter().on::<sev::Close>(move |lp, _| f(lp))
    }

    /// `on('connect')`.
    pub fn on_connect(&self, mut f: impl FnMut(&mut Loop) + 'static) -> ListenerId {
        self.emitter().on::<event::Connect>(move |lp, _| f(lp))
    }

    /// `on('timeout')`; see [`Socket::set_timeout`].
    pub fn on_timeout(&self, mut f: impl FnMut(&mut Loop) + 'static) -> ListenerId {
        self.emitter().on::<event::Timeout>(move |lp, _| f(lp))
    }

    /// Writes bytes; false once the buffer reached the high-water mark
    /// (wait for `Drain`).
    pub fn write(&self, lp: &mut Loop, data: Vec<u8>) -> bool {
        self.writable().write(lp, data)
    }

    /// Writes bytes the caller keeps, as Node's `socket.write(buffer)`
    /// does: when nothing is queued they go straight to the kernel, and
    /// only what it does not take at once is copied. Otherwise the same as
    /// [`Socket::write`], events and return value included; an echo server
    /// can write a `data` chunk back without allocating.
    ///
    /// ```
    /// use nodeloop::net::{ServerOptions, SocketOptions, UnixServer, UnixSocket};
    /// use nodeloop::Loop;
    /// use std::{cell::RefCell, rc::Rc};
    /// let path = std::env::temp_dir().join(format!("nodeloop-doc-wb-{}.sock", std::process::id()));
    /// let mut lp = Loop::new();
    /// let server = UnixServer::new(ServerOptions::default());
    /// // Echo each chunk back from the loop's read buffer.
    /// server.on_connection(&mut lp, |lp, sock| {
    ///     let s = sock.clone();
    ///     sock.on_data(lp, move |lp, chunk| { s.write_bytes(lp, chunk); });
    /// });
    /// server.listen(&mut lp, path.clone(), 8).unwrap();
    /// let client = UnixSocket::connect(&mut lp, &path, SocketOptions::default());
    /// let got = Rc::new(RefCell::new(Vec::new()));
    /// let (g, c) = (got.clone(), client.clone());
    /// client.on_data(&mut lp, move |lp, chunk| {
    ///     g.borrow_mut().extend_from_slice(chunk);
    ///     c.destroy(lp, None);
    /// });
    /// client.write_bytes(&mut lp, b"ping"); // held until connected
    /// let srv = server.clone();
    /// client.on_close(move |lp| srv.close(lp, |_, _| {}));
    /// lp.run_default();
    /// assert_eq!(*got.borrow(), b"ping");
    /// ```
    pub fn write_bytes(&self, lp: &mut Loop, data: &[u8]) -> bool {
        let w = self.writable();
        if !w.would_write_now() {
            return w.write(lp, data.to_vec());
        }
        let io = self.io.clone();
        w.write_direct(lp, data.len(), |lp, w, done| {
            write_chunk(lp, w, io, data, done)
        })
    }

    /// Writes bytes and calls back when the kernel has taken them all (or
    /// with the error).
    pub fn write_with(
        &self,
        lp: &mut Loop,
        data: Vec<u8>,
        cb: impl FnOnce(&mut Loop, Result<(), StreamError>) + 'static,
    ) -> bool {
        self.writable().write_with(lp, data, cb)
    }

    /// Writes bytes, as an awaitable of [`Socket::write_with`]'s outcome.
    ///
    /// ```
    /// use nodeloop::net::{ServerOptions, SocketOptions, UnixServer, UnixSocket};
    /// use nodeloop::Loop;
    /// let path = std::env::temp_dir().join(format!("nodeloop-doc-rw-{}.sock", std::process::id()));
    /// let mut lp = Loop::new();
    /// let server = UnixServer::new(ServerOptions::default());
    /// server.listen(&mut lp, path.clone(), 8).unwrap();
    /// let client = UnixSocket::connect(&mut lp, &path, SocketOptions::default());
    /// let accept = server.accept_async(&mut lp);
    /// let write = client.write_async(&mut lp, b"ping".to_vec());
    /// let task = lp.spawn(async move {
    ///     let conn = accept.await.unwrap();
    ///     write.await.unwrap();
    ///     let got = nodeloop::with_loop(|lp| conn.read_async(lp)).await.unwrap();
    ///     assert_eq!(got.as_deref(), Some(&b"ping"[..]));
    ///     nodeloop::with_loop(|lp| { client.destroy(lp, None); conn.destroy(lp, None); server.close(lp, |_, _| {}) });
    /// });
    /// lp.run_default();
    /// assert!(task.is_finished());
    /// ```
    pub fn write_async(
        &self,
        lp: &mut Loop,
        data: Vec<u8>,
    ) -> FromCallback<Result<(), StreamError>> {
        lp.from_callback(|lp, done| {
            self.write_with(lp, data, move |lp, r| done.complete(lp, r));
        })
    }

    /// Reads what is buffered, or waits for the next data: calls back with
    /// `Some(bytes)`, `None` at the end, or the error. For paused-mode use:
    /// it takes the socket out of flowing mode, so do not mix it with
    /// `Data` listeners.
    ///
    /// ```
    /// use nodeloop::net::{UnixSocket};
    /// use nodeloop::Loop;
    /// use std::io::Write;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// b.write_all(b"hi").unwrap();
    /// drop(b);
    /// let mut lp = Loop::new();
    /// let s = UnixSocket::from_std(&mut lp, a, Default::default()).unwrap();
    /// let s2 = s.clone();
    /// s.read_with(&mut lp, move |lp, r| {
    ///     assert_eq!(r.unwrap().unwrap(), b"hi");
    ///     s2.read_with(lp, |_, r| assert_eq!(r.unwrap(), None));
    /// });
    /// lp.run_default();
    /// ```
    pub fn read_with(
        &self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, Result<Option<Vec<u8>>, StreamError>) + 'static,
    ) {
        type Cb = Box<dyn FnOnce(&mut Loop, Result<Option<Vec<u8>>, StreamError>)>;
        let cb: Rc<RefCell<Option<Cb>>> = Rc::new(RefCell::new(Some(Box::new(cb))));
        read_attempt(self.readable().clone(), lp, cb);
    }

    /// [`Socket::read_with`] as an awaitable.
    pub fn read_async(&self, lp: &mut Loop) -> FromCallback<Result<Option<Vec<u8>>, StreamError>> {
        lp.from_callback(|lp, done| self.read_with(lp, move |lp, r| done.complete(lp, r)))
    }

    /// Ends the writable side once everything is written (`shutdown`, a
    /// half-close): the peer sees EOF; reading goes on.
    pub fn end(&self, lp: &mut Loop) {
        self.writable().end(lp);
    }

    /// `end(chunk, cb)`: writes a last chunk, then ends; `cb` runs at
    /// `'finish'` or with the error that prevented it.
    pub fn end_with(
        &self,
        lp: &mut Loop,
        chunk: Option<Vec<u8>>,
        cb: impl FnOnce(&mut Loop, Result<(), StreamError>) + 'static,
    ) {
        self.writable().end_with(lp, chunk, Some(Box::new(cb)));
    }

    /// Closes the connection now, discarding unwritten data: `Error` (with
    /// `Some`) on the next tick, `Close` in the close phase.
    pub fn destroy(&self, lp: &mut Loop, err: Option<StreamError>) {
        self.duplex.destroy(lp, err);
    }

    /// Whether `destroy` ran (explicitly, by an error, or after both sides
    /// ended).
    pub fn destroyed(&self) -> bool {
        self.readable().destroyed()
    }

    /// Stops `Data` events; reading from the kernel stops once the
    /// readable buffer is full (backpressure to the peer).
    pub fn pause(&self, lp: &mut Loop) {
        self.readable().pause(lp);
    }

    /// Resumes `Data` events.
    pub fn resume(&self, lp: &mut Loop) {
        self.readable().resume(lp);
    }

    /// Whether the connection is still being set up (resolving or
    /// connecting), Node's `socket.connecting`.
    pub fn connecting(&self) -> bool {
        matches!(self.io.borrow().phase, Phase::Resolving | Phase::Connecting)
    }

    /// Disables Nagle's algorithm (`TCP_NODELAY`); a no-op for Unix
    /// sockets. Asked before the connection is up, it applies once it is.
    ///
    /// ```
    /// # use nodeloop::net::{SocketOptions, TcpSocket};
    /// # let mut lp = nodeloop::Loop::new();
    /// # let addr = "127.0.0.1:9".parse::<std::net::SocketAddr>().unwrap();
    /// let s = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
    /// s.set_no_delay(true).unwrap();
    /// # s.on_error(|_, _| {});
    /// # lp.run_default();
    /// ```
    pub fn set_no_delay(&self, on: bool) -> io::Result<()> {
        set_no_delay(&self.io, on)
    }

    /// Enables TCP keep-alive probes after `initial_delay` of silence
    /// (whole seconds; zero keeps the system default); a no-op for Unix
    /// sockets. Asked before the connection is up, it applies once it is.
    pub fn set_keep_alive(&self, on: bool, initial_delay: Duration) -> io::Result<()> {
        let secs = u32::try_from(initial_delay.as_secs()).unwrap_or(u32::MAX);
        set_keep_alive(&self.io, on, secs)
    }
    /// Emits [`event::Timeout`] after `ms` milliseconds without reads or
    /// writes (Node's `setTimeout`); 0 turns it off. The timer does not keep
    /// the loop alive. It fires once per idle period.
    ///
    /// ```
    /// use nodeloop::net::UnixSocket;
    /// use nodeloop::Loop;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let s = UnixSocket::from_std(&mut lp, a, Default::default()).unwrap();
    /// s.set_timeout(&mut lp, 5_000);
    /// s.on_timeout(|lp| assert_eq!(lp.now(), 5_000));
    /// let s2 = s.clone();
    /// s.on_timeout(move |lp| s2.destroy(lp, None));
    /// lp.run_default();
    /// assert!(s.destroyed());
    /// ```
    pub fn set_timeout(&self, lp: &mut Loop, ms: u64) {
        let old = {
            let mut io = self.io.borrow_mut();
            let c = io.cold();
            c.timeout_ms = ms;
            c.last_active = lp.now();
            c.timer.take()
        };
        if let Some(t) = old {
            lp.clear_timeout(t);
        }
        if ms > 0 && self.io.borrow().phase != Phase::Closed {
            self.conn().arm_timer(lp, ms);
        }
    }

    /// The local address (`socket.address()`).
    pub fn local_address(&self) -> io::Result<T::Addr> {
        match self.io.borrow().stream.as_ref() {
            Some(s) => T::local_addr(s),
            None => Err(closed_error()),
        }
    }

    /// The peer's address (`remoteAddress`/`remotePort`).
    pub fn remote_address(&self) -> io::Result<T::Addr> {
        match self.io.borrow().stream.as_ref() {
            Some(s) => T::peer_addr(s),
            None => Err(closed_error()),
        }
    }

    /// Bytes received from the kernel so far (`bytesRead`).
    pub fn bytes_read(&self) -> u64 {
        self.io.borrow().bytes_read
    }

    /// Bytes handed to the kernel so far. Unlike Node's `bytesWritten`, it
    /// does not count bytes still buffered in the stream.
    pub fn bytes_written(&self) -> u64 {
        self.io.borrow().bytes_written
    }

    /// Keeps the loop alive while the socket is active (the default).
    pub fn ref_(&self, lp: &mut Loop) {
        self.set_ref(lp, true);
    }

    /// Lets the loop exit even while the socket is active.
    pub fn unref(&self, lp: &mut Loop) {
        self.set_ref(lp, false);
    }

    fn set_ref(&self, lp: &mut Loop, on: bool) {
        let w = {
            let mut io = self.io.borrow_mut();
            io.refd = on;
            io.watcher
        };
        super::set_watcher_ref(lp, w, on);
    }

    /// Whether the socket is referenced ([`Socket::unref`]).
    pub fn has_ref(&self) -> bool {
        self.io.borrow().refd
    }
}

impl Socket<super::Unix> {
    /// Adopts a connected std Unix stream (for instance one end of
    /// `UnixStream::pair`), as Node's `new net.Socket({ fd })`.
    ///
    /// ```
    /// use nodeloop::net::UnixSocket;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let mut lp = nodeloop::Loop::new();
    /// let s = UnixSocket::from_std(&mut lp, a, Default::default()).unwrap();
    /// assert!(!s.connecting());
    /// s.destroy(&mut lp, None);
    /// lp.run_default();
    /// ```
    pub fn from_std(
        lp: &mut Loop,
        stream: std::os::unix::net::UnixStream,
        opts: SocketOptions,
    ) -> io::Result<Socket<super::Unix>> {
        stream.set_nonblocking(true)?;
        Socket::accepted(
            lp,
            mio::net::UnixStream::from_std(stream),
            &opts,
            &SocketImpls::new::<super::Unix>(),
        )
    }
}

impl Socket<super::Tcp> {
    /// Adopts a connected std TCP stream.
    ///
    /// ```
    /// use nodeloop::net::TcpSocket;
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let mut lp = nodeloop::Loop::new();
    /// let s = TcpSocket::from_std(&mut lp, a, Default::default()).unwrap();
    /// assert_eq!(s.remote_address().unwrap(), l.local_addr().unwrap());
    /// s.destroy(&mut lp, None);
    /// lp.run_default();
    /// ```
    pub fn from_std(
        lp: &mut Loop,
        stream: std::net::TcpStream,
        opts: SocketOptions,
    ) -> io::Result<Socket<super::Tcp>> {
        stream.set_nonblocking(true)?;
        Socket::accepted(
            lp,
            mio::net::TcpStream::from_std(stream),
            &opts,
            &SocketImpls::new::<super::Tcp>(),
        )
    }
}

fn set_no_delay<T: Transport>(io: &RefCell<Io<T>>, on: bool) -> io::Result<()> {
    let mut io = io.borrow_mut();
    match (io.phase, io.stream.as_ref()) {
        (Phase::Open, Some(s)) => T::set_no_delay(s, on),
        (Phase::Closed, _) => Err(closed_error()),
        _ => {
            io.cold().no_delay = Some(on);
            Ok(())
        }
    }
}

fn set_keep_alive<T: Transport>(io: &RefCell<Io<T>>, on: bool, secs: u32) -> io::Result<()> {
    let mut io = io.borrow_mut();
    match (io.phase, io.stream.as_ref()) {
        (Phase::Open, Some(s)) => T::set_keep_alive(s, on, secs),
        (Phase::Closed, _) => Err(closed_error()),
        _ => {
            io.cold().keep_alive = Some((on, secs));
            Ok(())
        }
    }
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket is not connected")
}

type ReadCb = Rc<RefCell<Option<Box<dyn FnOnce(&mut Loop, Result<Option<Vec<u8>>, StreamError>)>>>>;

/// One step of `read_with`: deliver what is there, or wait for the first
/// of `readable`, `end`, `error`, `close` and look again.
fn read_attempt(r: Readable<Bytes>, lp: &mut Loop, cb: ReadCb) {
    let outcome = if let Some(e) = r.errored() {
        Some(Err(e))
    } else if let Some(chunk) = r.read(lp, None) {
        Some(Ok(Some(chunk)))
    } else if r.readable_ended() {
        Some(Ok(None))
    } else if r.destroyed() {
        Some(Err(StreamError::PrematureClose))
    } else {
        None
    };
    if let Some(out) = outcome {
        if let Some(f) = cb.borrow_mut().take() {
            f(lp, out);
        }
        return;
    }
    let ids: Rc<RefCell<Vec<ListenerId>>> = Rc::default();
    let wake = {
        let (r, ids) = (r.clone(), ids.clone());
        Rc::new(move |lp: &mut Loop| {
            let list = std::mem::take(&mut *ids.borrow_mut());
            if list.is_empty() {
                return; // another of the four already ran
            }
            for id in list {
                r.off(lp, id);
            }
            read_attempt(r.clone(), lp, cb.clone());
        })
    };
    let w = wake.clone();
    let a = r.once::<sev::Readable>(lp, move |lp, _| w(lp));
    let w = wake.clone();
    let b = r.emitter().once::<sev::End>(move |lp, _| w(lp));
    let w = wake.clone();
    let c = r.emitter().once::<sev::Error>(move |lp, _| w(lp));
    let w = wake;
    let d = r.emitter().once::<sev::Close>(move |lp, _| w(lp));
    *ids.borrow_mut() = vec![a, b, c, d];
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use std::mem::size_of;

    /// The state every connection carries, with each struct's `Rc`/`RefCell`
    /// wrapper: an idle connection's memory is mostly these (see
    /// `tests/net_memory.rs` for the whole), so a field added to one of
    /// them should be a decision, not an accident. The bounds are the sizes
    /// when they were set (x86-64), in a release build.
    #[test]
    fn per_connection_structs_stay_small() {
        // mio adds a field to every stream when it is built with debug
        // assertions (`IoSource::selector_id`, which checks that a source
        // is registered with one poller only), so the I/O state, which
        // holds the stream, is larger in a debug build by that field
        // rounded up to the struct's alignment; in release the difference
        // is 0 and the bound is exact.
        let mio_debug_extra = size_of::<mio::net::TcpStream>() - size_of::<std::net::TcpStream>();
        let sizes = [
            (
                "socket I/O state",
                size_of::<RefCell<Io<super::super::Tcp>>>(),
                80 + mio_debug_extra.next_multiple_of(8),
            ),
            ("handle table slot", size_of::<crate::handle::Slot>(), 64),
            ("stream core", size_of::<crate::stream::core::Core>(), 104),
            (
                "readable state",
                size_of::<RefCell<crate::stream::readable::ReadState<Bytes>>>(),
                104,
            ),
            (
                "writable state",
                size_of::<RefCell<crate::stream::writable::WriteState<Bytes>>>(),
                120,
            ),
        ];
        for (what, size, max) in sizes {
            assert!(size <= max, "{what}: {size} bytes > {max}");
        }
    }
}
