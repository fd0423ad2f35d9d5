//! Sockets on the reactor: TCP ([`tcp`]) and Unix-domain ([`unix`])
//! servers and connections, Node's `net` module, and UDP ([`udp`]), Node's
//! `dgram`.
//!
//! A [`Socket`] is a Node [`Duplex`](crate::stream::Duplex) of bytes: `data`,
//! `end`, `drain`, `finish`, `error` and `close` events, `write` with
//! backpressure, `end` as a half-close. A [`Server`] listens and hands out
//! sockets through [`event::Connection`] or [`Server::accept_async`]. Both are
//! generic over a [`Transport`] ([`Tcp`] or [`Unix`]), so the two families
//! share one implementation; `docs/net.md` describes how a socket moves
//! through the loop's phases.
//!
//! ```
//! use nodeloop::net::{event, TcpServer, TcpSocket, SocketOptions, ServerOptions};
//! use nodeloop::Loop;
//! use std::{cell::RefCell, rc::Rc};
//!
//! let mut lp = Loop::new();
//! let server = TcpServer::new(ServerOptions::default());
//! server.on_connection(&mut lp, |lp, sock| {
//!     // Echo, then close our side when the client closes its side.
//!     let s = sock.clone();
//!     sock.on_data(lp, move |lp, chunk| { s.write(lp, chunk.clone()); });
//! });
//! server.listen(&mut lp, "127.0.0.1:0".parse().unwrap(), 128).unwrap();
//! let addr = server.address().unwrap();
//!
//! let got = Rc::new(RefCell::new(Vec::new()));
//! let client = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
//! client.write(&mut lp, b"hello".to_vec());
//! let (g, c, srv) = (got.clone(), client.clone(), server.clone());
//! client.on_data(&mut lp, move |lp, chunk| {
//!     g.borrow_mut().extend_from_slice(chunk);
//!     c.end(lp);
//!     srv.close(lp, |_, r| r.unwrap());
//! });
//! lp.run_default();
//! assert_eq!(*got.borrow(), b"hello");
//! ```

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;

use crate::{Handle, IoWatcher, Loop, NodeCallback};

mod emfile;
pub mod event;
mod server;
mod socket;
pub mod tcp;
pub mod udp;
pub mod unix;

pub use self::server::{Server, ServerOptions};
pub use self::socket::{Socket, SocketOptions};
pub use self::tcp::{Tcp, TcpServer, TcpSocket, TcpTarget};
pub use self::unix::{Unix, UnixServer, UnixSocket};

/// Applies a socket's or server's ref flag to its watcher, if it has one
/// yet: the flag is kept by the caller so that a watcher made later (at
/// `listen` or `connect`) starts with it.
fn set_watcher_ref(lp: &mut Loop, watcher: Option<IoWatcher>, on: bool) {
    if let Some(w) = watcher {
        if on {
            w.ref_(lp);
        } else {
            w.unref(lp);
        }
    }
}

mod sealed {
    /// Keeps [`Transport`](super::Transport) implemented only here.
    pub trait Sealed {}
}

/// A family of stream sockets: [`Tcp`] or [`Unix`]. It fixes the address
/// types; [`Socket`] and [`Server`] do the rest the same way for both.
///
/// The items marked hidden are the system calls each family makes; they
/// are public only because the trait's methods must be.
///
/// ```
/// use nodeloop::net::{Tcp, Transport, Unix};
/// fn name<T: Transport>() -> &'static str { T::NAME }
/// assert_eq!((name::<Tcp>(), name::<Unix>()), ("tcp", "unix"));
/// ```
pub trait Transport: sealed::Sealed + Sized + 'static {
    /// The family's name, for messages.
    const NAME: &'static str;
    /// A socket's or server's address.
    type Addr: Clone + fmt::Debug + 'static;
    /// What a client connects to (for TCP, an address or a host name).
    type Target: Clone + fmt::Debug + 'static;
    /// What a server listens on.
    type BindAddr: Clone + fmt::Debug + 'static;
    #[doc(hidden)]
    type Stream: mio::event::Source + AsRawFd + 'static;
    #[doc(hidden)]
    type Listener: mio::event::Source + AsRawFd + 'static;
    #[doc(hidden)]
    type Resolved: 'static;

    #[doc(hidden)]
    fn bind(addr: &Self::BindAddr) -> io::Result<Self::Listener>;
    #[doc(hidden)]
    fn accept(l: &Self::Listener) -> io::Result<Self::Stream>;
    #[doc(hidden)]
    fn listener_addr(l: &Self::Listener) -> io::Result<Self::Addr>;
    /// Called once the listener's descriptor is closed.
    #[doc(hidden)]
    fn unbind(addr: &Self::BindAddr);
    /// Turns a target into something to connect to, calling back (at the
    /// earliest on the next tick, never synchronously).
    #[doc(hidden)]
    fn resolve(lp: &mut Loop, target: Self::Target, cb: NodeCallback<Self::Resolved, io::Error>);
    /// Starts a non-blocking connect.
    #[doc(hidden)]
    fn connect(to: &Self::Resolved) -> io::Result<Self::Stream>;
    #[doc(hidden)]
    fn local_addr(s: &Self::Stream) -> io::Result<Self::Addr>;
    #[doc(hidden)]
    fn peer_addr(s: &Self::Stream) -> io::Result<Self::Addr>;
    #[doc(hidden)]
    fn take_error(s: &Self::Stream) -> io::Result<Option<io::Error>>;
    #[doc(hidden)]
    fn shutdown_write(s: &Self::Stream) -> io::Result<()>;
    /// `TCP_NODELAY`; a no-op for families without it.
    #[doc(hidden)]
    fn set_no_delay(s: &Self::Stream, on: bool) -> io::Result<()>;
    /// `SO_KEEPALIVE` (and the idle time before probes); a no-op for
    /// families without it.
    #[doc(hidden)]
    fn set_keep_alive(s: &Self::Stream, on: bool, idle_secs: u32) -> io::Result<()>;
}

/// `setsockopt` with an `int` value.
pub(crate) fn set_int_opt(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid descriptor and a pointer to an int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the listen backlog of a socket that is already listening: Linux
/// lets `listen` be called again to change it, which saves building the
/// socket by hand just to choose the number.
pub(crate) fn set_backlog(fd: &impl AsRawFd, backlog: u32) -> io::Result<()> {
    let n = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: plain system call on a valid descriptor.
    if unsafe { libc::listen(fd.as_raw_fd(), n) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
