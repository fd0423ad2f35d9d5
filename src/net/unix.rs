//! Unix-domain stream sockets: the [`Unix`] transport and its socket and
//! server types (libuv's `uv_pipe_t`, Node's `net` with a `path`). They
//! behave as TCP sockets do, minus `set_no_delay`/`set_keep_alive` (no-ops).
//!
//! ```
//! use nodeloop::net::{ServerOptions, SocketOptions, UnixServer, UnixSocket};
//! use nodeloop::Loop;
//! let path = std::env::temp_dir().join(format!("nodeloop-doc-unix-{}.sock", std::process::id()));
//! let mut lp = Loop::new();
//! let server = UnixServer::new(ServerOptions::default());
//! server.on_connection(&mut lp, |lp, sock| sock.end(lp));
//! server.listen(&mut lp, path.clone(), 16).unwrap();
//! let c = UnixSocket::connect(&mut lp, &path, SocketOptions::default());
//! let s = server.clone();
//! c.on_end(&mut lp, move |lp| s.close(lp, |_, _| {}));
//! c.resume(&mut lp);
//! lp.run_default();
//! assert!(!path.exists(), "closing the server removes its socket file");
//! ```

use std::io;
use std::os::unix::net::SocketAddr;
use std::path::PathBuf;

use super::{Server, Socket, Transport};
use crate::{Loop, NodeCallback};

/// The Unix-domain stream transport.
#[derive(Debug, Clone, Copy)]
pub struct Unix;

/// A Unix-domain stream connection.
pub type UnixSocket = Socket<Unix>;
/// A Unix-domain stream server.
pub type UnixServer = Server<Unix>;

impl super::sealed::Sealed for Unix {}

impl Transport for Unix {
    const NAME: &'static str = "unix";
    type Addr = SocketAddr;
    type Target = PathBuf;
    type BindAddr = PathBuf;
    type Stream = mio::net::UnixStream;
    type Listener = mio::net::UnixListener;
    type Resolved = PathBuf;

    fn bind(path: &PathBuf) -> io::Result<mio::net::UnixListener> {
        mio::net::UnixListener::bind(path)
    }

    fn accept(l: &mio::net::UnixListener) -> io::Result<mio::net::UnixStream> {
        l.accept().map(|(s, _)| s)
    }

    fn listener_addr(l: &mio::net::UnixListener) -> io::Result<SocketAddr> {
        l.local_addr()
    }

    fn unbind(path: &PathBuf) {
        // As libuv does when a pipe server closes: the name would otherwise
        // make the next bind fail with EADDRINUSE.
        let _ = std::fs::remove_file(path);
    }

    fn resolve(lp: &mut Loop, path: PathBuf, cb: NodeCallback<PathBuf, io::Error>) {
        lp.next_tick(move |lp| cb(lp, Ok(path)));
    }

    fn connect(path: &PathBuf) -> io::Result<mio::net::UnixStream> {
        mio::net::UnixStream::connect(path)
    }

    fn local_addr(s: &mio::net::UnixStream) -> io::Result<SocketAddr> {
        s.local_addr()
    }

    fn peer_addr(s: &mio::net::UnixStream) -> io::Result<SocketAddr> {
        s.peer_addr()
    }

    fn take_error(s: &mio::net::UnixStream) -> io::Result<Option<io::Error>> {
        s.take_error()
    }

    fn shutdown_write(s: &mio::net::UnixStream) -> io::Result<()> {
        s.shutdown(std::net::Shutdown::Write)
    }

    fn set_no_delay(_: &mio::net::UnixStream, _: bool) -> io::Result<()> {
        Ok(())
    }

    fn set_keep_alive(_: &mio::net::UnixStream, _: bool, _: u32) -> io::Result<()> {
        Ok(())
    }
}
