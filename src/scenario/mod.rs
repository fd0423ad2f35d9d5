//! Ordering scenarios: small programs, written as JSON, that schedule
//! callbacks and log lines, run identically by Node (the oracle,
//! `tests/conformance/oracle.js`) and by this loop. The format is described in
//! `docs/conformance.md`.
//!
//! ```
//! use nodeloop::scenario::Scenario;
//! let s = Scenario::parse(r#"{"program": [
//!     {"then": [[{"log": "promise"}]]},
//!     {"nextTick": [{"log": "tick"}]},
//!     {"log": "main"}
//! ]}"#).unwrap();
//! assert_eq!(s.run(true).unwrap(), ["main", "tick", "promise"]);
//! ```

mod parse;
mod run;

pub use parse::ParseError;

use std::rc::Rc;

/// A sequence of ops run in order.
pub type Block = Rc<[Op]>;

/// One step of a scenario program.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Appends a line to the trace.
    Log(String),
    /// `process.nextTick(() => run(block))`.
    NextTick(Block),
    /// `queueMicrotask(() => run(block))`.
    Microtask(Block),
    /// `Promise.resolve().then(b1).then(b2)...`.
    Then(Vec<Block>),
    /// `setTimeout(() => run(body), ms)`.
    Timeout {
        /// Delay as written; Node's clamping is applied when it runs.
        ms: f64,
        /// Name for `clear`.
        id: Option<String>,
        /// What the callback runs.
        body: Block,
    },
    /// `setInterval` that clears itself right after its `times`-th run.
    Interval {
        /// Period as written.
        ms: f64,
        /// Number of runs before the self-clear.
        times: u64,
        /// Name for `clear`.
        id: Option<String>,
        /// What each run does.
        body: Block,
    },
    /// `setImmediate(() => run(body))`.
    Immediate {
        /// Name for `clear`.
        id: Option<String>,
        /// What the callback runs.
        body: Block,
    },
    /// Cancels the latest timer, interval or immediate created with this id.
    Clear(String),
    /// A thread-pool job (a `stat` of the running program) whose completion
    /// runs the block in the poll phase.
    Io(Block),
    /// Busy-waits this many milliseconds on the loop thread.
    BusyWait(f64),
    /// Closes a handle; the close callback runs the block.
    Close(Block),
}

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The scenario's `name`, if it has one.
    pub name: Option<String>,
    /// The main program.
    pub program: Block,
}
