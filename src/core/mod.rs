//! The libuv-style core: one module per phase of an iteration.

pub(crate) mod close;
pub(crate) mod pending;
pub(crate) mod poll;
pub(crate) mod timers;
pub(crate) mod watchers;
