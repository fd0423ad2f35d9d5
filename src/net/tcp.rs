//! TCP: the [`Tcp`] transport and its socket and server types.
//!
//! ```
//! use nodeloop::net::{ServerOptions, SocketOptions, TcpServer, TcpSocket};
//! use nodeloop::Loop;
//! let mut lp = Loop::new();
//! let server = TcpServer::new(ServerOptions::default());
//! server.on_connection(&mut lp, |lp, sock| sock.end(lp));
//! server.listen(&mut lp, "127.0.0.1:0".parse().unwrap(), 16).unwrap();
//! let port = server.address().unwrap().port();
//! // A host name goes through `dns::lookup` first.
//! let c = TcpSocket::connect(&mut lp, ("localhost", port), SocketOptions::default());
//! let s = server.clone();
//! c.on_end(&mut lp, move |lp| s.close(lp, |_, _| {}));
//! c.resume(&mut lp);
//! lp.run_default();
//! ```

use std::io;
use std::net::{IpAddr, SocketAddr};

use super::{set_int_opt, Server, Socket, Transport};
use crate::dns::{self, Family};
use crate::{Loop, NodeCallback};

/// The TCP transport (`uv_tcp_t`).
#[derive(Debug, Clone, Copy)]
pub struct Tcp;

/// A TCP connection.
pub type TcpSocket = Socket<Tcp>;
/// A TCP server.
pub type TcpServer = Server<Tcp>;

/// Where a TCP client connects: an address, or a host name and port that
/// [`dns::lookup`] resolves (the first address it returns is used, as
/// Node does by default).
///
/// ```
/// use nodeloop::net::TcpTarget;
/// let a: TcpTarget = "127.0.0.1:80".parse::<std::net::SocketAddr>().unwrap().into();
/// let b: TcpTarget = ("example.org", 80).into();
/// assert!(matches!(a, TcpTarget::Addr(_)));
/// assert!(matches!(b, TcpTarget::Host(ref h, 80) if h == "example.org"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpTarget {
    /// A resolved address.
    Addr(SocketAddr),
    /// A host name (or an IP literal) and a port.
    Host(String, u16),
}

impl From<SocketAddr> for TcpTarget {
    fn from(a: SocketAddr) -> TcpTarget {
        TcpTarget::Addr(a)
    }
}

impl From<(IpAddr, u16)> for TcpTarget {
    fn from((ip, port): (IpAddr, u16)) -> TcpTarget {
        TcpTarget::Addr(SocketAddr::new(ip, port))
    }
}

impl From<(&str, u16)> for TcpTarget {
    fn from((host, port): (&str, u16)) -> TcpTarget {
        TcpTarget::Host(host.to_owned(), port)
    }
}

impl From<(String, u16)> for TcpTarget {
    fn from((host, port): (String, u16)) -> TcpTarget {
        TcpTarget::Host(host, port)
    }
}

impl super::sealed::Sealed for Tcp {}

impl Transport for Tcp {
    const NAME: &'static str = "tcp";
    type Addr = SocketAddr;
    type Target = TcpTarget;
    type BindAddr = SocketAddr;
    type Stream = mio::net::TcpStream;
    type Listener = mio::net::TcpListener;
    type Resolved = SocketAddr;

    fn bind(addr: &SocketAddr) -> io::Result<mio::net::TcpListener> {
        // std sets SO_REUSEADDR, so a restarted server can rebind a port
        // whose old connections linger in TIME_WAIT.
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(mio::net::TcpListener::from_std(l))
    }

    fn accept(l: &mio::net::TcpListener) -> io::Result<mio::net::TcpStream> {
        l.accept().map(|(s, _)| s)
    }

    fn listener_addr(l: &mio::net::TcpListener) -> io::Result<SocketAddr> {
        l.local_addr()
    }

    fn unbind(_: &SocketAddr) {}

    fn resolve(lp: &mut Loop, target: TcpTarget, cb: NodeCallback<SocketAddr, io::Error>) {
        match target {
            TcpTarget::Addr(a) => lp.next_tick(move |lp| cb(lp, Ok(a))),
            TcpTarget::Host(host, port) => dns::lookup(lp, &host, Family::Any, move |lp, r| {
                cb(lp, r.map(|ips| SocketAddr::new(ips[0], port)))
            }),
        }
    }

    fn connect(to: &SocketAddr) -> io::Result<mio::net::TcpStream> {
        mio::net::TcpStream::connect(*to)
    }

    fn local_addr(s: &mio::net::TcpStream) -> io::Result<SocketAddr> {
        s.local_addr()
    }

    fn peer_addr(s: &mio::net::TcpStream) -> io::Result<SocketAddr> {
        s.peer_addr()
    }

    fn take_error(s: &mio::net::TcpStream) -> io::Result<Option<io::Error>> {
        s.take_error()
    }

    fn shutdown_write(s: &mio::net::TcpStream) -> io::Result<()> {
        s.shutdown(std::net::Shutdown::Write)
    }

    fn set_no_delay(s: &mio::net::TcpStream, on: bool) -> io::Result<()> {
        s.set_nodelay(on)
    }

    fn set_keep_alive(s: &mio::net::TcpStream, on: bool, idle_secs: u32) -> io::Result<()> {
        set_int_opt(s, libc::SOL_SOCKET, libc::SO_KEEPALIVE, on as libc::c_int)?;
        if on && idle_secs > 0 {
            let secs = libc::c_int::try_from(idle_secs).unwrap_or(libc::c_int::MAX);
            set_int_opt(s, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs)?;
        }
        Ok(())
    }
}
