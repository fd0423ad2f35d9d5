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
    /// Creates a pending promise named `id`, settled by `Resolve`/`Reject`.
    Promise(String),
    /// Resolves promise `id` (made by `Promise`), with promise `with` (which
    /// it then adopts) or with no value.
    Resolve {
        /// The promise to resolve.
        id: String,
        /// A promise to adopt.
        with: Option<String>,
    },
    /// Rejects promise `id` (made by `Promise`) with an error saying `reason`.
    Reject {
        /// The promise to reject.
        id: String,
        /// The error message.
        reason: String,
    },
    /// `promise_of(on).then(..).catch(..).finally(..)`, named `id`.
    Chain {
        /// The promise the chain starts from.
        on: String,
        /// Name of the chain's last promise.
        id: Option<String>,
        /// The reactions, in order.
        steps: Vec<Step>,
    },
    /// `Promise.all/allSettled/race/any` of the named promises.
    Combine {
        /// Name of the combined promise.
        id: String,
        /// Which combinator.
        kind: Combinator,
        /// The inputs; a name not created yet stands for an immediate value.
        of: Vec<String>,
    },
    /// Calls an async function whose body is `body`, naming its promise `id`.
    Async {
        /// Name of the function's promise.
        id: Option<String>,
        /// Ops, `Await`, `Throw` and `Return` at its top level.
        body: Block,
    },
    /// `await` a named promise (`None`: `await undefined`); async bodies only.
    Await(Option<String>),
    /// Throws an error saying the text; ends a step or async body.
    Throw(String),
    /// Returns the named promise; ends a step or async body.
    Return(String),
}

/// One reaction of a [`Op::Chain`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Runs on fulfilment; a rejection passes through.
    Then(Block),
    /// Runs on rejection; a fulfilment passes through.
    Catch(Block),
    /// Runs either way; the outcome passes through unless the block throws.
    Finally(Block),
}

/// The promise combinators of [`Op::Combine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combinator {
    /// `Promise.all`.
    All,
    /// `Promise.allSettled`.
    AllSettled,
    /// `Promise.race`.
    Race,
    /// `Promise.any`.
    Any,
}

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The scenario's `name`, if it has one.
    pub name: Option<String>,
    /// The main program.
    pub program: Block,
}
