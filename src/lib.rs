//! # nodeloop
//!
//! Node.js's event loop without JavaScript: a single-threaded, libuv-style
//! reactor over [`mio`] with Node's queues on top, reproducing Node 20's
//! queue-ordering rules exactly.
//!
//! - The loop runs libuv 1.46's phases: pending → idle → prepare → poll →
//!   check → close → timers ([`Loop::run`]).
//! - Handles ([`Timer`], [`Idle`], [`Prepare`], [`Check`], [`Async`],
//!   [`IoWatcher`]) can be ref'd, unref'd and closed with a callback.
//! - Node's queues: [`Loop::next_tick`], [`Loop::queue_microtask`],
//!   [`Loop::set_timeout`], [`Loop::set_interval`], [`Loop::set_immediate`],
//!   drained and ordered as Node does.
//! - A thread pool ([`Loop::queue_work`]) whose completions come back in the
//!   poll phase; Node's file system ([`fs`]) and `dns.lookup` ([`dns`]) on it,
//!   each call also awaitable ([`fs::promises`], [`dns::promises`]).
//! - A virtual clock for deterministic tests ([`LoopBuilder::virtual_clock`]).
//! - Promises with JavaScript's microtask timing ([`Promise`]), Rust futures
//!   driven as microtasks ([`Loop::spawn`], [`with_loop`]), awaitable timers
//!   and pool work ([`sleep`], [`Loop::run_work`]), and the `async` library's
//!   helpers ([`promisify`], [`series`], [`parallel`], [`Auto`]); see
//!   `docs/async.md`.
//! - Sockets ([`net`]): TCP and Unix-domain servers and connections
//!   as Node duplex streams, with backpressure, half-close, idle timeouts,
//!   bounded work per readiness event and descriptor-exhaustion handling;
//!   UDP sockets ([`net::udp`]); see `docs/net.md`.
//!
//! ```
//! use nodeloop::Loop;
//! use std::{cell::RefCell, rc::Rc};
//!
//! let trace = Rc::new(RefCell::new(Vec::new()));
//! let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
//! let t = trace.clone();
//! lp.set_timeout(0, move |lp| {
//!     t.borrow_mut().push("timeout");
//!     let t2 = t.clone();
//!     lp.set_immediate(move |_| t2.borrow_mut().push("immediate"));
//!     let t3 = t.clone();
//!     lp.set_timeout(0, move |_| t3.borrow_mut().push("timeout 2"));
//! });
//! lp.run_default();
//! assert_eq!(*trace.borrow(), ["timeout", "immediate", "timeout 2"]);
//! ```

#![warn(missing_docs)]

mod async_handle;
mod awaitable;
mod bridge;
mod clock;
mod core;
mod current;
pub mod dns;
pub mod emitter;
mod event_loop;
mod executor;
mod fast_rc;
mod flow;
pub mod fs;
mod handle;
pub mod net;
mod node;
mod promise;
pub mod stream;
mod task;
#[cfg(test)]
mod test_util;
mod threadpool;
mod work;

#[cfg(feature = "scenario")]
pub mod scenario;

pub use crate::async_handle::{Async, AsyncClosed, AsyncSender};
pub use crate::awaitable::{run_work, sleep, Sleep, Work};
pub use crate::bridge::{promisify, Completer, FromCallback, NodeCallback, WorkFuture};
pub use crate::core::poll::{IoWatcher, Ready};
pub use crate::core::timers::Timer;
pub use crate::core::watchers::{Check, Idle, Prepare};
pub use crate::current::{try_with_loop, with_loop};
pub use crate::event_loop::{Loop, LoopBuilder, PanicPayload, RunMode};
pub use crate::executor::{spawn, JoinHandle};
pub use crate::flow::{parallel, parallel_limit, series, Auto, AutoError, Step};
pub use crate::handle::{BareHandle, Handle, HandleError, HandleId};
pub use crate::node::{Immediate, Timeout, TIMEOUT_MAX};
pub use crate::promise::{
    ChainingCycle, Promise, PromiseState, Rejection, RejectionKind, Resolution, Resolver,
    UnhandledRejection, UnhandledRejections,
};
pub use crate::threadpool::{DEFAULT_THREADPOOL_SIZE, MAX_THREADPOOL_SIZE};
pub use crate::work::{CancelError, WorkError, WorkRequest};
pub use mio::Interest;
