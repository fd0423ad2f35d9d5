//! Networking on the loop: sockets watched by the reactor, with Node's
//! `net` and `dgram` semantics.

pub mod udp;
