//! `Server`: a listening socket that accepts connections in the poll phase
//! (Node's `net.Server` over libuv's `uv_listen`).
//!
//! Accepting is bounded per readiness event and re-armed, so a flood of
//! connections cannot monopolise an iteration; when nobody would take a
//! connection (no `connection` listener, no pending `accept`), the server
//! leaves it in the kernel's backlog. Descriptor exhaustion is handled by
//! the reserve-descriptor trick of [`super::emfile`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::rc::Rc;

use super::emfile::{self, Reserve};
use super::socket::{ClosedHook, SocketImpls};
use super::{event, set_backlog, Socket, SocketOptions, Transport};
use crate::bridge::FromCallback;
use crate::emitter::{Event, EventEmitter, ListenerId};
use crate::stream::{event as sev, StreamError};
use crate::{Handle, Interest, IoWatcher, Loop};

/// Connections accepted for one readiness event before the server yields.
pub(crate) const ACCEPTS_PER_EVENT: usize = 64;

/// Options for a [`Server`].
///
/// ```
/// use nodeloop::net::{ServerOptions, SocketOptions};
/// let o = ServerOptions {
///     connection: SocketOptions { allow_half_open: true, ..Default::default() },
///     max_connections: Some(100),
/// };
/// assert!(o.connection.allow_half_open);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Options of the accepted sockets.
    pub connection: SocketOptions,
    /// Connections beyond this many are closed at once (Node's
    /// `maxConnections`); unlimited when `None`.
    pub max_connections: Option<usize>,
}

type AcceptCb<T> = Box<dyn FnOnce(&mut Loop, io::Result<Socket<T>>)>;
type CloseCb = Box<dyn FnOnce(&mut Loop, io::Result<()>)>;

struct Inner<T: Transport> {
    listener: Option<T::Listener>,
    watcher: Option<IoWatcher>,
    bind_addr: Option<T::BindAddr>,
    reserve: Option<Reserve>,
    opts: SocketOptions,
    max_connections: Option<usize>,
    connections: usize,
    dropped: u64,
    refd: bool,
    /// A readiness event was left unserved because nobody would take a
    /// connection; the next taker re-arms.
    starved: bool,
    /// `close` was called and `'close'` is not emitted yet.
    closing: bool,
    close_cbs: Vec<CloseCb>,
    acceptors: VecDeque<AcceptCb<T>>,
    /// Shared by every accepted socket.
    impls: SocketImpls,
    /// The server's emitter, so that the state alone can stand for the
    /// server as an accepted socket's closed hook.
    emitter: EventEmitter,
}

impl<T: Transport> ClosedHook for RefCell<Inner<T>> {
    fn socket_closed(self: Rc<Self>, lp: &mut Loop) {
        let emitter = self.borrow().emitter.clone();
        let server = Server {
            inner: self,
            emitter,
        };
        server.inner.borrow_mut().connections -= 1;
        server.emit_close_if_drained(lp);
    }
}

/// A stream server: TCP ([`TcpServer`](super::TcpServer)) or Unix-domain
/// ([`UnixServer`](super::UnixServer)), Node's `net.Server`.
///
/// Events: [`event::Connection`] (use [`Server::on_connection`]),
/// [`event::Listening`], [`event::Drop`], and `Error` and `Close` from
/// [`crate::stream::event`]. Accept errors other than running out of
/// descriptors go to `Error` listeners (logged if there are none).
///
/// A listening server stays alive (the loop holds it) until closed.
///
/// ```
/// use nodeloop::net::{ServerOptions, SocketOptions, TcpServer, TcpSocket};
/// use nodeloop::Loop;
/// let mut lp = Loop::new();
/// let server = TcpServer::new(ServerOptions::default());
/// server.on_connection(&mut lp, |lp, s| s.end(lp));
/// server.listen(&mut lp, "127.0.0.1:0".parse().unwrap(), 8).unwrap();
/// assert!(server.listening());
/// let c = TcpSocket::connect(&mut lp, server.address().unwrap(), SocketOptions::default());
/// c.resume(&mut lp);
/// let s = server.clone();
/// c.on_close(move |lp| s.close(lp, |_, r| r.unwrap()));
/// lp.run_default();
/// assert!(!server.listening());
/// ```
pub struct Server<T: Transport> {
    inner: Rc<RefCell<Inner<T>>>,
    emitter: EventEmitter,
}

impl<T: Transport> Clone for Server<T> {
    fn clone(&self) -> Self {
        Server {
            inner: self.inner.clone(),
            emitter: self.emitter.clone(),
        }
    }
}

impl<T: Transport> fmt::Debug for Server<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.inner.borrow();
        f.debug_struct("Server")
            .field("transport", &T::NAME)
            .field("listening", &i.listener.is_some())
            .field("connections", &i.connections)
            .finish_non_exhaustive()
    }
}

fn not_running() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "server is not running")
}

impl<T: Transport> Server<T> {
    /// A server that is not listening yet.
    pub fn new(opts: ServerOptions) -> Server<T> {
        let emitter = EventEmitter::new();
        Server {
            inner: Rc::new(RefCell::new(Inner {
                listener: None,
                watcher: None,
                bind_addr: None,
                reserve: None,
                opts: opts.connection,
                max_connections: opts.max_connections,
                connections: 0,
                dropped: 0,
                refd: true,
                starved: false,
                closing: false,
                close_cbs: Vec::new(),
                acceptors: VecDeque::new(),
                impls: SocketImpls::new::<T>(),
                emitter: emitter.clone(),
            })),
            emitter,
        }
    }

    /// Binds and listens with a backlog of `backlog` pending connections.
    /// Errors (address in use, permission) are returned at once;
    /// [`event::Listening`] follows on the next tick.
    ///
    /// ```
    /// use nodeloop::net::{ServerOptions, TcpServer};
    /// let mut lp = nodeloop::Loop::new();
    /// let a = TcpServer::new(ServerOptions::default());
    /// a.listen(&mut lp, "127.0.0.1:0".parse().unwrap(), 8).unwrap();
    /// let b = TcpServer::new(ServerOptions::default());
    /// let err = b.listen(&mut lp, a.address().unwrap(), 8).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    /// a.close(&mut lp, |_, _| {});
    /// lp.run_default();
    /// ```
    pub fn listen(&self, lp: &mut Loop, addr: T::BindAddr, backlog: u32) -> io::Result<()> {
        {
            let i = self.inner.borrow();
            if i.listener.is_some() || i.closing {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "server is already listening",
                ));
            }
        }
        let mut l = T::bind(&addr)?;
        let me = self.clone();
        let registered = set_backlog(&l, backlog).and_then(|()| {
            IoWatcher::new(lp, &mut l, Interest::READABLE, move |lp, _, _| {
                me.accept_some(lp)
            })
        });
        let w = match registered {
            Ok(w) => w,
            Err(e) => {
                drop(l);
                T::unbind(&addr);
                return Err(e);
            }
        };
        let refd = {
            let mut i = self.inner.borrow_mut();
            i.listener = Some(l);
            i.watcher = Some(w);
            i.bind_addr = Some(addr);
            i.reserve = Some(Reserve::open());
            i.starved = false;
            i.refd
        };
        if !refd {
            w.unref(lp);
        }
        let em = self.emitter.clone();
        lp.next_tick(move |lp| {
            em.emit::<event::Listening>(lp, ());
        });
        Ok(())
    }

    /// The address listened on; `None` when not listening.
    pub fn address(&self) -> Option<T::Addr> {
        let i = self.inner.borrow();
        i.listener.as_ref().and_then(|l| T::listener_addr(l).ok())
    }

    /// Whether the server is listening.
    pub fn listening(&self) -> bool {
        self.inner.borrow().listener.is_some()
    }

    /// Stops accepting (the listening descriptor is closed now, a Unix
    /// socket file removed); `cb` gets `Ok` once the last connection has
    /// closed too, with `'close'`, or an error at once (next tick) if the
    /// server was not listening. Open connections are left alone.
    ///
    /// ```
    /// use nodeloop::net::{ServerOptions, TcpServer};
    /// let mut lp = nodeloop::Loop::new();
    /// let s = TcpServer::new(ServerOptions::default());
    /// s.close(&mut lp, |_, r| assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::NotConnected));
    /// lp.run_default();
    /// ```
    pub fn close(&self, lp: &mut Loop, cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static) {
        let mut cb: Option<CloseCb> = Some(Box::new(cb));
        let taken = {
            let mut i = self.inner.borrow_mut();
            match i.listener.take() {
                None => None,
                Some(l) => {
                    i.closing = true;
                    i.close_cbs.extend(cb.take());
                    i.reserve = None;
                    let acceptors = std::mem::take(&mut i.acceptors);
                    Some((l, i.watcher.take(), i.bind_addr.take(), acceptors))
                }
            }
        };
        let Some((listener, watcher, addr, acceptors)) = taken else {
            if let Some(cb) = cb {
                lp.next_tick(move |lp| cb(lp, Err(not_running())));
            }
            return;
        };
        if let Some(w) = watcher {
            let _ = w.close(lp, |_| {});
        }
        drop(listener);
        if let Some(a) = addr {
            T::unbind(&a);
        }
        if !acceptors.is_empty() {
            lp.next_tick(move |lp| {
                for a in acceptors {
                    a(lp, Err(not_running()));
                }
            });
        }
        self.emit_close_if_drained(lp);
    }

    /// Node's `_emitCloseIfDrained`: `'close'` on the next tick once
    /// closing and without connections.
    fn emit_close_if_drained(&self, lp: &mut Loop) {
        {
            let i = self.inner.borrow();
            if !i.closing || i.connections > 0 || i.listener.is_some() {
                return;
            }
        }
        let me = self.clone();
        lp.next_tick(move |lp| {
            let cbs = {
                let mut i = me.inner.borrow_mut();
                if !i.closing || i.connections > 0 {
                    return;
                }
                i.closing = false;
                std::mem::take(&mut i.close_cbs)
            };
            me.emitter.emit::<sev::Close>(lp, ());
            for cb in cbs {
                cb(lp, Ok(()));
            }
        });
    }

    /// Open connections accepted by this server (`getConnections`).
    pub fn connections(&self) -> usize {
        self.inner.borrow().connections
    }

    /// The connection limit (`maxConnections`); `None` for none.
    pub fn max_connections(&self) -> Option<usize> {
        self.inner.borrow().max_connections
    }

    /// Sets the connection limit: connections beyond it are closed as soon
    /// as accepted, with [`event::Drop`].
    pub fn set_max_connections(&self, max: Option<usize>) {
        self.inner.borrow_mut().max_connections = max;
    }

    /// Connections closed without being handed out: over the limit, or
    /// shed while the process was out of descriptors.
    pub fn dropped_connections(&self) -> u64 {
        self.inner.borrow().dropped
    }

    /// Keeps the loop alive while listening (the default).
    pub fn ref_(&self, lp: &mut Loop) {
        self.set_ref(lp, true);
    }

    /// Lets the loop exit even while listening.
    ///
    /// ```
    /// use nodeloop::net::{ServerOptions, TcpServer};
    /// let mut lp = nodeloop::Loop::new();
    /// let s = TcpServer::new(ServerOptions::default());
    /// s.listen(&mut lp, "127.0.0.1:0".parse().unwrap(), 8).unwrap();
    /// s.unref(&mut lp);
    /// assert!(!lp.run_default()); // returns although the server listens
    /// assert!(s.listening() && !s.has_ref());
    /// ```
    pub fn unref(&self, lp: &mut Loop) {
        self.set_ref(lp, false);
    }

    fn set_ref(&self, lp: &mut Loop, on: bool) {
        let w = {
            let mut i = self.inner.borrow_mut();
            i.refd = on;
            i.watcher
        };
        super::set_watcher_ref(lp, w, on);
    }

    /// Whether the server is referenced.
    pub fn has_ref(&self) -> bool {
        self.inner.borrow().refd
    }

    /// The server's event emitter. Add `Connection` listeners through
    /// [`Server::on_connection`] or [`Server::on`], which resume accepting
    /// if connections were left waiting for a taker.
    pub fn emitter(&self) -> &EventEmitter {
        &self.emitter
    }

    /// Adds a listener for any server event.
    pub fn on<E: Event>(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
    ) -> ListenerId {
        let id = self.emitter.on::<E>(f);
        self.wake_if_starved(lp);
        id
    }

    /// `on('connection')`: called with each accepted socket.
    pub fn on_connection(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &Socket<T>) + 'static,
    ) -> ListenerId {
        self.on::<event::Connection<T>>(lp, f)
    }

    /// Takes the next connection: calls back with it (or with an error if
    /// the server closes first), ahead of `Connection` listeners.
    ///
    /// ```
    /// use nodeloop::net::{ServerOptions, SocketOptions, UnixServer, UnixSocket};
    /// let path = std::env::temp_dir().join(format!("nodeloop-doc-acc-{}.sock", std::process::id()));
    /// let mut lp = nodeloop::Loop::new();
    /// let server = UnixServer::new(ServerOptions::default());
    /// server.listen(&mut lp, path.clone(), 8).unwrap();
    /// let srv = server.clone();
    /// server.accept_with(&mut lp, move |lp, r| {
    ///     r.unwrap().end(lp);
    ///     srv.close(lp, |_, _| {});
    /// });
    /// let c = UnixSocket::connect(&mut lp, &path, SocketOptions::default());
    /// c.resume(&mut lp);
    /// lp.run_default();
    /// ```
    pub fn accept_with(
        &self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, io::Result<Socket<T>>) + 'static,
    ) {
        if self.inner.borrow().listener.is_none() {
            lp.next_tick(move |lp| cb(lp, Err(not_running())));
            return;
        }
        self.inner.borrow_mut().acceptors.push_back(Box::new(cb));
        self.wake_if_starved(lp);
    }

    /// [`Server::accept_with`] as an awaitable.
    pub fn accept_async(&self, lp: &mut Loop) -> FromCallback<io::Result<Socket<T>>> {
        lp.from_callback(|lp, done| self.accept_with(lp, move |lp, r| done.complete(lp, r)))
    }

    /// Re-arms the listener if connections were left waiting for a taker.
    fn wake_if_starved(&self, lp: &mut Loop) {
        if std::mem::take(&mut self.inner.borrow_mut().starved) {
            self.rearm(lp);
        }
    }

    fn has_taker(&self) -> bool {
        !self.inner.borrow().acceptors.is_empty()
            || self.emitter.listener_count::<event::Connection<T>>() > 0
    }

    /// The poll phase's callback: accept a bounded batch.
    fn accept_some(&self, lp: &mut Loop) {
        for _ in 0..ACCEPTS_PER_EVENT {
            if !self.has_taker() {
                self.inner.borrow_mut().starved = true;
                return;
            }
            let r = {
                let i = self.inner.borrow();
                match i.listener.as_ref() {
                    Some(l) => T::accept(l),
                    None => return,
                }
            };
            match r {
                Ok(stream) => self.take(lp, stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // Interrupted, or the client gave up while queued.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) if emfile::is_fd_exhaustion(&e) => {
                    self.shed(lp);
                    return;
                }
                Err(e) => {
                    // Not retried here: an error that persists would spin.
                    // The next connection's edge tries again.
                    self.report(lp, e);
                    return;
                }
            }
        }
        self.rearm(lp);
    }

    fn rearm(&self, lp: &mut Loop) {
        let mut i = self.inner.borrow_mut();
        let i = &mut *i;
        if let (Some(w), Some(l)) = (i.watcher, i.listener.as_mut()) {
            if let Err(e) = w.reregister(lp, l, Interest::READABLE) {
                log::error!("nodeloop: cannot re-arm a {} server: {e}", T::NAME);
            }
        }
    }

    /// Out of descriptors: shed the queued connections through the spare.
    fn shed(&self, lp: &mut Loop) {
        let n = {
            let mut i = self.inner.borrow_mut();
            let i = &mut *i;
            match (i.reserve.as_mut(), i.listener.as_ref()) {
                (Some(r), Some(l)) => r.shed(|| T::accept(l)),
                _ => 0,
            }
        };
        if n > 0 {
            log::warn!("nodeloop: out of file descriptors; shed {n} connection(s)");
            self.inner.borrow_mut().dropped += n as u64;
            for _ in 0..n {
                self.emitter.emit::<event::Drop>(lp, ());
            }
        }
    }

    fn report(&self, lp: &mut Loop, e: io::Error) {
        let acceptor = self.inner.borrow_mut().acceptors.pop_front();
        match acceptor {
            Some(a) => a(lp, Err(e)),
            None => {
                if let Err(u) = self
                    .emitter
                    .emit_error::<sev::Error>(lp, StreamError::from(e))
                {
                    log::error!("nodeloop: {} server accept failed: {}", T::NAME, u.payload);
                }
            }
        }
    }

    /// Wraps an accepted connection and hands it to the first taker.
    fn take(&self, lp: &mut Loop, stream: T::Stream) {
        let full = {
            let i = self.inner.borrow();
            i.max_connections.is_some_and(|m| i.connections >= m)
        };
        if full {
            drop(stream);
            self.inner.borrow_mut().dropped += 1;
            self.emitter.emit::<event::Drop>(lp, ());
            return;
        }
        let (opts, impls) = {
            let i = self.inner.borrow();
            (i.opts.clone(), i.impls.clone())
        };
        let sock = match Socket::accepted(lp, stream, &opts, &impls) {
            Ok(s) => s,
            Err(e) => {
                self.report(lp, e);
                return;
            }
        };
        self.inner.borrow_mut().connections += 1;
        sock.set_closed_hook(self.inner.clone());
        let acceptor = self.inner.borrow_mut().acceptors.pop_front();
        match acceptor {
            Some(a) => a(lp, Ok(sock)),
            None => {
                self.emitter.emit::<event::Connection<T>>(lp, sock);
            }
        }
    }
}
