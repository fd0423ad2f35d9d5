//! Node's `dns/promises`: [`lookup`] as an awaitable, built on the callback
//! form [`dns::lookup`](super::lookup) through [`Loop::from_request`].
//!
//! As with [`fs::promises`](crate::fs::promises), the function borrows the
//! loop polling the current task, so it must be called inside a task; the
//! lookup starts at the call. Dropping the future early is harmless: a
//! lookup no worker has started is cancelled, a running one finishes and
//! its result is dropped. This matters more here than for files, since a
//! stalled resolver can hold a lookup for seconds: wrapping one in a
//! timeout and dropping it frees its place in the queue.

use std::io;
use std::net::IpAddr;

use super::Family;
use crate::bridge::WorkFuture;
use crate::{current, Loop};

/// Resolves `host` (`dnsPromises.lookup` with `all: true`): the addresses,
/// never an empty list, or a [`DnsError`](super::DnsError). An IP literal
/// comes back as is, without the pool. See [`dns::lookup`](super::lookup).
///
/// ```
/// use nodeloop::{dns, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { dns::promises::lookup("localhost", dns::Family::V4).await.unwrap() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap()[0], std::net::Ipv4Addr::LOCALHOST);
/// ```
#[track_caller]
pub fn lookup(host: &str, family: Family) -> WorkFuture<io::Result<Vec<IpAddr>>> {
    current::with_loop(|lp: &mut Loop| {
        lp.from_request(|lp, done| {
            super::start_lookup(lp, host, family, move |lp, r| done.complete(lp, r))
        })
    })
}
