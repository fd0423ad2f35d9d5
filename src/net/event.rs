//! The events sockets and servers emit besides the stream events of
//! [`crate::stream::event`] (`Data`, `End`, `Drain`, `Finish`, `Error`,
//! `Close`, which sockets emit too, and servers emit `Error` and `Close`).
//!
//! ```
//! use nodeloop::emitter::Event;
//! use nodeloop::net::{event, Tcp};
//! assert_eq!(<event::Connection<Tcp> as Event>::NAME, "connection");
//! assert_eq!(<event::Timeout as Event>::NAME, "timeout");
//! ```

use std::marker::PhantomData;

use super::{Socket, Transport};
use crate::emitter::Event;

/// A client socket connected (`'connect'`).
#[derive(Debug)]
pub struct Connect;
impl Event for Connect {
    type Payload = ();
    const NAME: &'static str = "connect";
}

/// A socket saw no activity for the time given to
/// [`Socket::set_timeout`] (`'timeout'`). Nothing is closed: the listener
/// decides (usually `end` or `destroy`).
#[derive(Debug)]
pub struct Timeout;
impl Event for Timeout {
    type Payload = ();
    const NAME: &'static str = "timeout";
}

/// A server accepted a connection (`'connection'`); payload: the socket.
pub struct Connection<T>(PhantomData<fn() -> T>);
impl<T: Transport> Event for Connection<T> {
    type Payload = Socket<T>;
    const NAME: &'static str = "connection";
}

/// A server started listening (`'listening'`), on the tick after `listen`.
#[derive(Debug)]
pub struct Listening;
impl Event for Listening {
    type Payload = ();
    const NAME: &'static str = "listening";
}

/// A server refused a connection because it had reached its maximum
/// (`'drop'`), or shed it because the process ran out of descriptors.
#[derive(Debug)]
pub struct Drop;
impl Event for Drop {
    type Payload = ();
    const NAME: &'static str = "drop";
}
