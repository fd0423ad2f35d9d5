//! UDP sockets on the loop, as Node's `dgram` module.
//!
//! A [`UdpSocket`] is bound when created and watched by the reactor from
//! then on: like a Node `dgram.Socket` it keeps the loop alive until it is
//! closed (or [`UdpSocket::unref`]'d). Datagrams arrive as [`Message`]
//! events carrying the sender's address, or one at a time through
//! [`UdpSocket::recv_once`] / [`UdpSocket::recv_from`]. Sends go out at once
//! when the kernel takes them and are queued (in order) when it would block;
//! their callback runs in a later phase, never inside `send`.
//!
//! ```
//! use nodeloop::net::udp::{Message, UdpSocket};
//! use nodeloop::Loop;
//! use std::{cell::RefCell, rc::Rc};
//!
//! let mut lp = Loop::new();
//! let server = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
//! let client = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
//! let client_addr = client.local_addr().unwrap();
//! let got = Rc::new(RefCell::new(None));
//! let (g, s, c) = (got.clone(), server.clone(), client.clone());
//! server.on::<Message>(&mut lp, move |lp, m| {
//!     *g.borrow_mut() = Some((m.data.clone(), m.from));
//!     s.close(lp, |_| {});
//!     c.close(lp, |_| {});
//! });
//! client.send(&mut lp, b"hi", server.local_addr().unwrap(), |_, r| {
//!     assert_eq!(r.unwrap(), 2);
//! });
//! lp.run_default();
//! let (data, from) = got.borrow_mut().take().unwrap();
//! assert_eq!((data.as_slice(), from), (&b"hi"[..], client_addr));
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;

use mio::Interest;

use crate::emitter::{Event, EventEmitter, ListenerId};
use crate::task::Task;
use crate::{FromCallback, Handle, HandleError, IoWatcher, Loop, Ready};

/// At most this many datagrams are read per readiness event, so one busy
/// socket cannot starve the rest of the loop (libuv reads 32 too). The rest
/// waits for the next poll phase.
const READS_PER_EVENT: usize = 32;

/// Largest UDP payload over IPv4 (65535 - 8 byte UDP header - 20 byte IP
/// header); over IPv6 it is 65527, so this buffer fits both.
const RECV_BUF: usize = 65_536;

/// One received datagram and who sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The payload.
    pub data: Vec<u8>,
    /// The sender's address.
    pub from: SocketAddr,
}

/// `'message'`: a datagram arrived.
///
/// ```
/// use nodeloop::emitter::Event;
/// assert_eq!(nodeloop::net::udp::Message::NAME, "message");
/// ```
pub struct Message;
impl Event for Message {
    type Payload = Datagram;
    const NAME: &'static str = "message";
}

/// `'error'`: receiving failed. Errors of a send go to that send's callback
/// instead. With no listener the error is logged (not thrown as in Node:
/// the socket goes on receiving).
///
/// ```
/// use nodeloop::emitter::Event;
/// assert!(nodeloop::net::udp::Error::IS_ERROR);
/// ```
pub struct Error;
impl Event for Error {
    type Payload = io::Error;
    const NAME: &'static str = "error";
    const IS_ERROR: bool = true;
}

/// `'close'`: emitted in the close phase, after the pending sends and
/// receives were cancelled and before the close callback.
///
/// ```
/// use nodeloop::emitter::Event;
/// assert_eq!(nodeloop::net::udp::Close::NAME, "close");
/// ```
pub struct Close;
impl Event for Close {
    type Payload = ();
    const NAME: &'static str = "close";
}

type SendCb = Box<dyn FnOnce(&mut Loop, io::Result<usize>)>;
type RecvCb = Box<dyn FnOnce(&mut Loop, io::Result<Datagram>)>;

struct QueuedSend {
    data: Vec<u8>,
    to: SocketAddr,
    cb: SendCb,
}

struct Inner {
    /// `None` once closed: the descriptor is closed at `close` time.
    sock: RefCell<Option<mio::net::UdpSocket>>,
    watcher: Cell<Option<IoWatcher>>,
    emitter: EventEmitter,
    sends: RefCell<VecDeque<QueuedSend>>,
    waiters: RefCell<VecDeque<RecvCb>>,
    /// The kernel may hold datagrams nobody has read: reading stopped at the
    /// per-event bound or for want of a consumer.
    unread: Cell<bool>,
    /// Reused for every receive; its length is `RECV_BUF`.
    buf: RefCell<Vec<u8>>,
    local: SocketAddr,
}

/// A UDP socket (Node's `dgram.Socket`). Cloning gives another handle to the
/// same socket; dropping the handles does not close it, [`UdpSocket::close`]
/// does.
///
/// ```
/// use nodeloop::net::udp::UdpSocket;
/// let mut lp = nodeloop::Loop::new();
/// let s = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
/// assert_ne!(s.local_addr().unwrap().port(), 0);
/// s.close(&mut lp, |_| println!("closed"));
/// lp.run_default();
/// ```
#[derive(Clone)]
pub struct UdpSocket {
    inner: Rc<Inner>,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.inner.local)
            .field("closed", &self.inner.sock.borrow().is_none())
            .finish()
    }
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, HandleError::Closed)
}

fn cancelled() -> io::Error {
    io::Error::from_raw_os_error(libc::ECANCELED)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0 picks a free port) and starts
    /// watching it (Node's `createSocket` + `bind`).
    ///
    /// ```
    /// use nodeloop::net::udp::UdpSocket;
    /// let mut lp = nodeloop::Loop::new();
    /// let a = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// // The same address again: the OS refuses, and that is a value.
    /// let err = UdpSocket::bind(&mut lp, a.local_addr().unwrap()).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    /// a.close(&mut lp, |_| {});
    /// lp.run_default();
    /// ```
    pub fn bind(lp: &mut Loop, addr: SocketAddr) -> io::Result<UdpSocket> {
        let sock = mio::net::UdpSocket::bind(addr)?;
        let local = sock.local_addr()?;
        let inner = Rc::new(Inner {
            sock: RefCell::new(Some(sock)),
            watcher: Cell::new(None),
            emitter: EventEmitter::new(),
            sends: RefCell::new(VecDeque::new()),
            waiters: RefCell::new(VecDeque::new()),
            unread: Cell::new(false),
            buf: RefCell::new(vec![0; RECV_BUF]),
            local,
        });
        let me = UdpSocket { inner };
        let cb_self = me.clone();
        // Edge-triggered, so watching writability costs nothing while the
        // send queue is empty: the edge comes only when the kernel buffer
        // turns from full to not full.
        let w = IoWatcher::new(
            lp,
            me.inner.sock.borrow_mut().as_mut().expect("just bound"),
            Interest::READABLE | Interest::WRITABLE,
            move |lp, _, ready| cb_self.on_ready(lp, ready),
        )?;
        me.inner.watcher.set(Some(w));
        Ok(me)
    }

    /// The address the socket is bound to (Node's `address()`).
    ///
    /// ```
    /// use nodeloop::net::udp::UdpSocket;
    /// let mut lp = nodeloop::Loop::new();
    /// let s = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// assert!(s.local_addr().unwrap().ip().is_loopback());
    /// # s.close(&mut lp, |_| {}); lp.run_default();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        if self.inner.sock.borrow().is_none() {
            return Err(closed_error());
        }
        Ok(self.inner.local)
    }

    /// Sends one datagram to `to`. `cb` gets the number of bytes sent or the
    /// error (bad address, message too long, socket closed, ...); it always
    /// runs later, in the pending or poll phase, never inside `send`. Sends
    /// complete in the order they were made.
    ///
    /// ```
    /// use nodeloop::net::udp::UdpSocket;
    /// let mut lp = nodeloop::Loop::new();
    /// let s = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// let s2 = s.clone();
    /// // Port 0 is not a valid destination.
    /// s.send(&mut lp, b"x", "127.0.0.1:0".parse().unwrap(), move |lp, r| {
    ///     assert!(r.is_err());
    ///     s2.close(lp, |_| {});
    /// });
    /// lp.run_default();
    /// ```
    pub fn send(
        &self,
        lp: &mut Loop,
        data: &[u8],
        to: SocketAddr,
        cb: impl FnOnce(&mut Loop, io::Result<usize>) + 'static,
    ) {
        let result = {
            let sock = self.inner.sock.borrow();
            match &*sock {
                None => Err(closed_error()),
                // Behind queued sends: keep the order.
                Some(_) if !self.inner.sends.borrow().is_empty() => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Some(s) => s.send_to(data, to),
            }
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.inner.sends.borrow_mut().push_back(QueuedSend {
                    data: data.to_vec(),
                    to,
                    cb: Box::new(cb),
                });
            }
            r => lp.defer_pending(Task::new(move |lp| cb(lp, r))),
        }
    }

    /// [`UdpSocket::send`] as a future of its result.
    ///
    /// ```
    /// use nodeloop::net::udp::UdpSocket;
    /// let mut lp = nodeloop::Loop::new();
    /// let a = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// let b = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// let to = b.local_addr().unwrap();
    /// let task = lp.spawn({
    ///     let (a, b) = (a.clone(), b.clone());
    ///     async move {
    ///         let recv = nodeloop::with_loop(|lp| b.recv_from(lp));
    ///         let sent = nodeloop::with_loop(|lp| a.send_to(lp, b"ping", to)).await.unwrap();
    ///         let d = recv.await.unwrap();
    ///         nodeloop::with_loop(|lp| { a.close(lp, |_| {}); b.close(lp, |_| {}) });
    ///         (sent, d.data)
    ///     }
    /// }).into_promise(&mut lp);
    /// lp.run_default();
    /// assert_eq!(task.peek().unwrap().unwrap(), (4, b"ping".to_vec()));
    /// ```
    pub fn send_to(
        &self,
        lp: &mut Loop,
        data: &[u8],
        to: SocketAddr,
    ) -> FromCallback<io::Result<usize>> {
        lp.from_callback(|lp, done| self.send(lp, data, to, move |lp, r| done.complete(lp, r)))
    }

    /// Receives the next datagram through `cb` (instead of the `message`
    /// event). Waiting receivers are served first, in order; datagrams are
    /// left in the kernel while there is neither a waiting receiver nor a
    /// `message` listener. On close, waiting receivers get an error.
    ///
    /// ```
    /// use nodeloop::net::udp::UdpSocket;
    /// let mut lp = nodeloop::Loop::new();
    /// let s = UdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// let s2 = s.clone();
    /// s.recv_once(&mut lp, move |lp, r| {
    ///     assert_eq!(r.unwrap().data, b"self");
    ///     s2.close(lp, |_| {});
    /// });
    /// s.send(&mut lp, b"self", s.local_addr().unwrap(), |_, r| { r.unwrap(); });
    /// lp.run_default();
    /// ```
    pub fn recv_once(
        &self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, io::Result<Datagram>) + 'static,
    ) {
        if self.inner.sock.borrow().is_none() {
            lp.defer_pending(Task::new(move |lp| cb(lp, Err(closed_error()))));
            return;
        }
        self.inner.waiters.borrow_mut().push_back(Box::new(cb));
        self.rearm_if_unread(lp);
    }

    /// [`UdpSocket::recv_once`] as a future; see [`UdpSocket::send_to`] for
    /// an example.
    pub fn recv_from(&self, lp: &mut Loop) -> FromCallback<io::Result<Datagram>> {
        lp.from_callback(|lp, done| self.recv_once(lp, move |lp, r| done.complete(lp, r)))
    }

    /// Adds a listener for `E` ([`Message`], [`Error`] or [`Close`]).
    /// A `Message` listener starts delivery of datagrams the kernel holds.
    pub fn on<E: Event>(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
    ) -> ListenerId {
        let id = self.inner.emitter.on::<E>(f);
        self.rearm_if_unread(lp);
        id
    }

    /// Adds a listener that runs once.
    pub fn once<E: Event>(
        &self,
        lp: &mut Loop,
        f: impl FnMut(&mut Loop, &E::Payload) + 'static,
    ) -> ListenerId {
        let id = self.inner.emitter.once::<E>(f);
        self.rearm_if_unread(lp);
        id
    }

    /// Removes a listener; false if it was not registered.
    pub fn off(&self, id: ListenerId) -> bool {
        self.inner.emitter.off(id)
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.with_sock(|s| s.set_broadcast(on))
    }

    /// Sets the unicast time-to-live (`IP_TTL`), 1..=255.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        if !(1..=255).contains(&ttl) {
            return Err(invalid(format!("ttl must be in 1..=255, got {ttl}")));
        }
        self.with_sock(|s| s.set_ttl(ttl))
    }

    /// Sets the time-to-live of outgoing multicast datagrams, 0..=255
    /// (`IP_MULTICAST_TTL`; IPv4 sockets only).
    pub fn set_multicast_ttl(&self, ttl: u32) -> io::Result<()> {
        if ttl > 255 {
            return Err(invalid(format!(
                "multicast ttl must be in 0..=255, got {ttl}"
            )));
        }
        self.with_sock(|s| s.set_multicast_ttl_v4(ttl))
    }

    /// Whether this host's own multicast datagrams are looped back to its
    /// sockets (`IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`).
    pub fn set_multicast_loopback(&self, on: bool) -> io::Result<()> {
        match self.inner.local {
            SocketAddr::V4(_) => self.with_sock(|s| s.set_multicast_loop_v4(on)),
            SocketAddr::V6(_) => self.with_sock(|s| s.set_multicast_loop_v6(on)),
        }
    }

    /// Chooses the interface outgoing multicast leaves by: its IPv4
    /// address, or for IPv6 its index (`IP_MULTICAST_IF` /
    /// `IPV6_MULTICAST_IF`).
    pub fn set_multicast_interface(&self, iface: MulticastInterface) -> io::Result<()> {
        let fd = self.with_sock(|s| Ok(s.as_raw_fd()))?;
        let rc = match (iface, self.inner.local) {
            (MulticastInterface::V4(a), SocketAddr::V4(_)) => {
                let v = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                };
                setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &v)
            }
            (MulticastInterface::V6(index), SocketAddr::V6(_)) => {
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &index)
            }
            (i, l) => {
                return Err(invalid(format!(
                    "multicast interface {i:?} does not match the socket's family ({l})"
                )))
            }
        };
        rc
    }

    /// Joins multicast `group` on the interface with address `iface` (IPv4;
    /// `None`: the kernel's choice) or index (IPv6; `None`: 0, any)
    /// (Node's `addMembership`).
    pub fn add_membership(
        &self,
        group: IpAddr,
        iface: Option<MulticastInterface>,
    ) -> io::Result<()> {
        self.membership(group, iface, true)
    }

    /// Leaves a group joined with [`UdpSocket::add_membership`].
    pub fn drop_membership(
        &self,
        group: IpAddr,
        iface: Option<MulticastInterface>,
    ) -> io::Result<()> {
        self.membership(group, iface, false)
    }

    fn membership(
        &self,
        group: IpAddr,
        iface: Option<MulticastInterface>,
        join: bool,
    ) -> io::Result<()> {
        if !group.is_multicast() {
            return Err(invalid(format!("{group} is not a multicast address")));
        }
        match (group, iface) {
            (IpAddr::V4(g), None | Some(MulticastInterface::V4(_))) => {
                let i = match iface {
                    Some(MulticastInterface::V4(i)) => i,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                self.with_sock(|s| match join {
                    true => s.join_multicast_v4(&g, &i),
                    false => s.leave_multicast_v4(&g, &i),
                })
            }
            (IpAddr::V6(g), None | Some(MulticastInterface::V6(_))) => {
                let i = match iface {
                    Some(MulticastInterface::V6(i)) => i,
                    _ => 0,
                };
                self.with_sock(|s| match join {
                    true => s.join_multicast_v6(&g, i),
                    false => s.leave_multicast_v6(&g, i),
                })
            }
            (g, Some(i)) => Err(invalid(format!(
                "interface {i:?} is not of the same family as group {g}"
            ))),
        }
    }

    /// Lets the loop exit while this socket is open.
    pub fn unref(&self, lp: &mut Loop) {
        if let Some(w) = self.inner.watcher.get() {
            w.unref(lp);
        }
    }

    /// Makes the socket keep the loop alive again (the default).
    pub fn ref_(&self, lp: &mut Loop) {
        if let Some(w) = self.inner.watcher.get() {
            w.ref_(lp);
        }
    }

    /// Whether the socket keeps the loop alive.
    pub fn has_ref(&self, lp: &Loop) -> bool {
        self.inner.watcher.get().is_some_and(|w| w.has_ref(lp))
    }

    /// Whether [`UdpSocket::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.sock.borrow().is_none()
    }

    /// Closes the socket now (no more datagrams are sent or received); in
    /// the close phase, queued sends and waiting receives get an
    /// `ECANCELED` error, `close` is emitted, then `cb` runs. Closing twice
    /// is a no-op the second time (`cb` is dropped).
    pub fn close(&self, lp: &mut Loop, cb: impl FnOnce(&mut Loop) + 'static) {
        let Some(sock) = self.inner.sock.borrow_mut().take() else {
            return;
        };
        // Closing the descriptor takes it out of epoll; events already
        // reported for it are dropped because the watcher is closing.
        drop(sock);
        let Some(w) = self.inner.watcher.take() else {
            return;
        };
        let me = self.clone();
        let _ = lp.close_handle(
            w.id(),
            Some(Task::new(move |lp| {
                let sends = std::mem::take(&mut *me.inner.sends.borrow_mut());
                for s in sends {
                    (s.cb)(lp, Err(cancelled()));
                }
                let waiters = std::mem::take(&mut *me.inner.waiters.borrow_mut());
                for w in waiters {
                    w(lp, Err(cancelled()));
                }
                me.inner.emitter.emit::<Close>(lp, ());
                // Listeners often hold the socket: drop them to break the cycle.
                me.inner.emitter.remove_all_events();
                cb(lp);
            })),
        );
    }

    fn with_sock<T>(&self, f: impl FnOnce(&mio::net::UdpSocket) -> io::Result<T>) -> io::Result<T> {
        match &*self.inner.sock.borrow() {
            Some(s) => f(s),
            None => Err(closed_error()),
        }
    }

    fn has_consumer(&self) -> bool {
        !self.inner.waiters.borrow().is_empty()
            || self.inner.emitter.listener_count::<Message>() > 0
    }

    /// Asks epoll to report the socket again (re-arming an edge-triggered
    /// registration re-checks readiness), so datagrams left unread are
    /// delivered in the next poll phase rather than synchronously.
    fn rearm_if_unread(&self, lp: &mut Loop) {
        if !self.inner.unread.get() {
            return;
        }
        if let (Some(w), Some(sock)) =
            (self.inner.watcher.get(), &mut *self.inner.sock.borrow_mut())
        {
            if let Err(e) = w.reregister(lp, sock, Interest::READABLE | Interest::WRITABLE) {
                log::warn!("nodeloop: udp: re-arming {} failed: {e}", self.inner.local);
            }
        }
    }

    fn on_ready(&self, lp: &mut Loop, ready: Ready) {
        if ready.writable || ready.error {
            self.flush_sends(lp);
        }
        if ready.readable || ready.error {
            self.inner.unread.set(true);
            self.read_some(lp);
        }
    }

    fn flush_sends(&self, lp: &mut Loop) {
        loop {
            let (result, cb) = {
                let sock = self.inner.sock.borrow();
                let Some(s) = &*sock else { return };
                let mut q = self.inner.sends.borrow_mut();
                let Some(front) = q.front() else { return };
                let r = s.send_to(&front.data, front.to);
                if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                    return;
                }
                (r, q.pop_front().expect("front exists").cb)
            };
            cb(lp, result);
        }
    }

    fn read_some(&self, lp: &mut Loop) {
        let mut left = READS_PER_EVENT;
        while self.has_consumer() {
            if left == 0 {
                // More may be waiting: come back next poll phase.
                self.rearm_if_unread(lp);
                return;
            }
            left -= 1;
            let r = {
                let sock = self.inner.sock.borrow();
                let Some(s) = &*sock else { return };
                let mut buf = self.inner.buf.borrow_mut();
                s.recv_from(&mut buf).map(|(n, from)| Datagram {
                    data: buf[..n].to_vec(),
                    from,
                })
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.inner.unread.set(false);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => self.deliver(lp, r),
            }
        }
    }

    fn deliver(&self, lp: &mut Loop, r: io::Result<Datagram>) {
        let waiter = self.inner.waiters.borrow_mut().pop_front();
        match (waiter, r) {
            (Some(w), r) => w(lp, r),
            (None, Ok(d)) => {
                self.inner.emitter.emit::<Message>(lp, d);
            }
            (None, Err(e)) => {
                if let Err(u) = self.inner.emitter.emit_error::<Error>(lp, e) {
                    log::warn!(
                        "nodeloop: udp {}: receive failed, no error listener: {}",
                        self.inner.local,
                        u.payload
                    );
                }
            }
        }
    }
}

/// The interface multicast goes through: an IPv4 interface's address, or an
/// IPv6 interface's index (0: the kernel's choice).
///
/// ```
/// use nodeloop::net::udp::MulticastInterface;
/// let lo = MulticastInterface::V4(std::net::Ipv4Addr::LOCALHOST);
/// assert_eq!(lo, MulticastInterface::V4("127.0.0.1".parse().unwrap()));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MulticastInterface {
    /// The IPv4 address of the interface.
    V4(Ipv4Addr),
    /// The index of the IPv6 interface.
    V6(u32),
}

impl From<Ipv4Addr> for MulticastInterface {
    fn from(a: Ipv4Addr) -> Self {
        MulticastInterface::V4(a)
    }
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size passed; the kernel
    // only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
