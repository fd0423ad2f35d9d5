//! Node's queues on top of the libuv-style core: `process.nextTick`, the
//! microtask queue, timers and immediates, built the way Node builds them on
//! libuv (one libuv timer for all timers, a check handle and an idle handle
//! for immediates), so that their ordering follows from the same mechanics.

pub(crate) mod immediate;
pub(crate) mod task_queues;
pub(crate) mod timers;

use std::collections::VecDeque;

use crate::task::Task;
use crate::Loop;

pub use immediate::Immediate;
pub use timers::{Timeout, TIMEOUT_MAX};

pub(crate) struct NodeState {
    pub(crate) ticks: VecDeque<Task>,
    pub(crate) microtasks: VecDeque<Task>,
    pub(crate) draining: bool,
    pub(crate) timers: timers::NodeTimers,
    pub(crate) immediates: immediate::Immediates,
}

impl NodeState {
    /// An empty state for the moment between allocating the loop and
    /// creating the handles Node's layer needs.
    pub(crate) fn placeholder() -> NodeState {
        NodeState {
            ticks: VecDeque::new(),
            microtasks: VecDeque::new(),
            draining: false,
            timers: timers::NodeTimers::placeholder(),
            immediates: immediate::Immediates::placeholder(),
        }
    }

    /// Creates the loop handles Node's layer runs on
    /// (`Environment::InitializeLibuv`).
    pub(crate) fn new(lp: &mut Loop) -> NodeState {
        NodeState {
            ticks: VecDeque::with_capacity(64),
            microtasks: VecDeque::with_capacity(64),
            draining: false,
            timers: timers::NodeTimers::new(lp),
            immediates: immediate::Immediates::new(lp),
        }
    }
}
