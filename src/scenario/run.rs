//! Runs a parsed scenario on a fresh [`Loop`], mapping each op onto the
//! loop's Node API exactly as `oracle.js` maps it onto Node's.

use super::{Block, Combinator, Op, Scenario, Step};
use crate::promise::{Rejection, RejectionKind, Resolution, Resolver};
use crate::{with_loop, BareHandle, Handle, Immediate, Loop, Promise, Timeout, TIMEOUT_MAX};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

/// The latest handle created under an id, for `clear`.
#[derive(Clone, Copy)]
enum Named {
    Timer(Timeout),
    Immediate(Immediate),
}

/// The latest promise created under a promise id. Combinator results have
/// their own value types; the format keeps them out of `resolve.with`,
/// `combine.of` and `return`, which need a `Promise<()>`.
#[derive(Clone)]
enum NamedPromise {
    Unit(Promise<()>, Option<Rc<RefCell<Option<Resolver<()>>>>>),
    List(Promise<Vec<()>>),
    Settled(Promise<Vec<Result<(), Rejection>>>),
}

/// A JavaScript `Error` with the scenario's message.
#[derive(Debug)]
struct ScenarioError(String);

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

fn error(msg: &str) -> Rejection {
    Rejection::new(ScenarioError(msg.to_string()))
}

/// What Node's `reason.message` would say.
fn message(r: &Rejection) -> String {
    match r.kind() {
        RejectionKind::Aggregate(_) => "All promises were rejected".to_string(),
        RejectionKind::Panicked(m) => m.clone(),
        _ if r.downcast_ref::<crate::promise::ChainingCycle>().is_some() => {
            "Chaining cycle detected for promise #<Promise>".to_string()
        }
        _ => r.to_string(),
    }
}

/// How a step or async body ended.
enum Flow {
    Done,
    Throw(String),
    Return(String),
}

struct Ctx {
    trace: RefCell<Vec<String>>,
    /// When each line of `trace` was logged ([`Loop::hrtime`]).
    times: RefCell<Vec<Duration>>,
    ids: RefCell<HashMap<String, Named>>,
    promises: RefCell<HashMap<String, NamedPromise>>,
    /// What an `io` op stats, like the oracle's `fs.stat(__filename)`.
    stat_target: PathBuf,
}

impl Scenario {
    /// Runs the scenario to completion and returns its trace. With
    /// `virtual_clock` the loop never sleeps and busy-waits take no time.
    ///
    /// ```
    /// use nodeloop::scenario::Scenario;
    /// let s = Scenario::parse(r#"{"program": [
    ///     {"timeout": {"ms": 5, "do": [{"log": "timeout"}]}},
    ///     {"immediate": {"do": [{"log": "immediate"}]}}
    /// ]}"#).unwrap();
    /// assert_eq!(s.run(true).unwrap(), ["immediate", "timeout"]);
    /// ```
    pub fn run(&self, virtual_clock: bool) -> io::Result<Vec<String>> {
        Ok(self
            .run_timed(virtual_clock)?
            .into_iter()
            .map(|(line, _)| line)
            .collect())
    }

    /// Like [`Scenario::run`], with the loop time ([`Loop::hrtime`]) at
    /// which each line was logged. On the real clock this shows how late a
    /// run was compared with the virtual clock's schedule, which is how a
    /// test tells a run disturbed by a loaded machine from a wrong order.
    ///
    /// ```
    /// use nodeloop::scenario::Scenario;
    /// use std::time::Duration;
    /// let s = Scenario::parse(r#"{"program": [
    ///     {"log": "main"},
    ///     {"timeout": {"ms": 30, "do": [{"log": "timeout"}]}}
    /// ]}"#).unwrap();
    /// let timed = s.run_timed(true).unwrap();
    /// assert_eq!(timed[0], ("main".to_string(), Duration::ZERO));
    /// assert_eq!(timed[1], ("timeout".to_string(), Duration::from_millis(30)));
    /// ```
    pub fn run_timed(&self, virtual_clock: bool) -> io::Result<Vec<(String, Duration)>> {
        let mut lp = Loop::builder().virtual_clock(virtual_clock).build()?;
        let ctx = Rc::new(Ctx {
            trace: RefCell::default(),
            times: RefCell::default(),
            ids: RefCell::default(),
            promises: RefCell::default(),
            stat_target: std::env::current_exe()?,
        });
        let c = ctx.clone();
        lp.on_unhandled_rejection(move |lp, r| log(lp, &c, format!("unhandled {}", message(&r))));
        run_block(&mut lp, &ctx, &self.program);
        lp.run_default();
        drop(lp);
        let trace = std::mem::take(&mut *ctx.trace.borrow_mut());
        let times = std::mem::take(&mut *ctx.times.borrow_mut());
        Ok(trace.into_iter().zip(times).collect())
    }
}

fn log(lp: &Loop, ctx: &Ctx, line: String) {
    ctx.trace.borrow_mut().push(line);
    ctx.times.borrow_mut().push(lp.hrtime());
}

/// Node's delay rule (`lib/internal/timers.js`): outside 1..=TIMEOUT_MAX means
/// 1; fractions are dropped when the timer joins its per-duration list.
fn delay(ms: f64) -> u64 {
    if (1.0..=TIMEOUT_MAX as f64).contains(&ms) {
        ms.trunc() as u64
    } else {
        1
    }
}

fn run_block(lp: &mut Loop, ctx: &Rc<Ctx>, block: &Block) {
    for op in block.iter() {
        run_op(lp, ctx, op);
    }
}

fn later(ctx: &Rc<Ctx>, block: &Block) -> impl FnOnce(&mut Loop) + 'static {
    let (ctx, block) = (ctx.clone(), block.clone());
    move |lp| run_block(lp, &ctx, &block)
}

fn run_op(lp: &mut Loop, ctx: &Rc<Ctx>, op: &Op) {
    match op {
        Op::Log(line) => log(lp, ctx, line.clone()),
        Op::NextTick(b) => lp.next_tick(later(ctx, b)),
        Op::Microtask(b) => lp.queue_microtask(later(ctx, b)),
        Op::Then(steps) => then_step(lp, ctx, Rc::from(steps.as_slice()), 0),
        Op::Timeout { ms, id, body } => {
            let t = lp.set_timeout(delay(*ms), later(ctx, body));
            remember(ctx, id, Named::Timer(t));
        }
        Op::Interval {
            ms,
            times,
            id,
            body,
        } => {
            let me: Rc<Cell<Option<Timeout>>> = Rc::default();
            let (c, b, m, times) = (ctx.clone(), body.clone(), me.clone(), *times);
            let mut runs = 0;
            let t = lp.set_interval(delay(*ms), move |lp| {
                run_block(lp, &c, &b);
                runs += 1;
                // Clearing twice is harmless, as in Node.
                if runs == times {
                    lp.clear_interval(m.get().expect("set before the first run"));
                }
            });
            me.set(Some(t));
            remember(ctx, id, Named::Timer(t));
        }
        Op::Immediate { id, body } => {
            let im = lp.set_immediate(later(ctx, body));
            remember(ctx, id, Named::Immediate(im));
        }
        Op::Clear(id) => match ctx.ids.borrow().get(id).copied() {
            Some(Named::Timer(t)) => lp.clear_timeout(t),
            Some(Named::Immediate(im)) => lp.clear_immediate(im),
            None => {}
        },
        Op::Io(b) => {
            let path = ctx.stat_target.clone();
            let done = later(ctx, b);
            // The stat's outcome does not matter, only that a pool job ran.
            lp.queue_work(
                move || std::fs::metadata(path).is_ok(),
                move |lp, _| done(lp),
            );
        }
        Op::BusyWait(ms) => lp.block(Duration::from_secs_f64(ms / 1000.0)),
        Op::Close(b) => {
            let h = BareHandle::new(lp);
            h.close(lp, later(ctx, b))
                .expect("a new handle can be closed");
        }
        Op::Promise(id) => {
            let (p, r) = Promise::with_resolvers();
            let r = Some(Rc::new(RefCell::new(Some(r))));
            ctx.promises
                .borrow_mut()
                .insert(id.clone(), NamedPromise::Unit(p, r));
        }
        Op::Resolve { id, with } => {
            if let Some(r) = resolver(ctx, id) {
                match with.as_deref().and_then(|w| unit(ctx, w)) {
                    Some(q) => r.adopt(lp, q),
                    None => r.resolve(lp, ()),
                }
            }
        }
        Op::Reject { id, reason } => {
            if let Some(r) = resolver(ctx, id) {
                r.reject(lp, error(reason));
            }
        }
        Op::Chain { on, id, steps } => {
            let mut p = chain_start(lp, ctx, on, &steps[..]);
            for step in steps.iter().skip(1) {
                p = chain_step(lp, ctx, &p, step);
            }
            if let Some(id) = id {
                ctx.promises
                    .borrow_mut()
                    .insert(id.clone(), NamedPromise::Unit(p, None));
            }
        }
        Op::Combine { id, kind, of } => {
            let inputs: Vec<Promise<()>> = of
                .iter()
                .map(|i| unit(ctx, i).unwrap_or_else(|| Promise::resolve(())))
                .collect();
            let named = match kind {
                Combinator::All => NamedPromise::List(Promise::all(lp, inputs)),
                Combinator::AllSettled => NamedPromise::Settled(Promise::all_settled(lp, inputs)),
                Combinator::Race => NamedPromise::Unit(Promise::race(lp, inputs), None),
                Combinator::Any => NamedPromise::Unit(Promise::any(lp, inputs), None),
            };
            ctx.promises.borrow_mut().insert(id.clone(), named);
        }
        Op::Async { id, body } => {
            let (p, r) = Promise::with_resolvers();
            if let Some(id) = id {
                ctx.promises
                    .borrow_mut()
                    .insert(id.clone(), NamedPromise::Unit(p, None));
            }
            let (ctx, body) = (ctx.clone(), body.clone());
            // Spawning runs the body at once up to its first pending await,
            // as calling a JavaScript async function does.
            lp.spawn(async move {
                let settle = |res: Resolution<()>| with_loop(|lp| r.resolve_with(lp, res));
                for op in body.iter() {
                    match op {
                        Op::Await(target) => {
                            let awaited = target.as_deref().and_then(|t| awaitable(&ctx, t));
                            let outcome = match awaited {
                                Some(f) => f.await,
                                None => Promise::resolve(()).await,
                            };
                            if let Err(e) = outcome {
                                return settle(Resolution::Reject(e));
                            }
                        }
                        Op::Throw(msg) => return settle(Resolution::Reject(error(msg))),
                        Op::Return(target) => return settle(returned(&ctx, target)),
                        other => with_loop(|lp| run_op(lp, &ctx, other)),
                    }
                }
                settle(Resolution::Value(()))
            });
        }
        // Only meaningful at the top level of steps and async bodies, which
        // `run_step` and the async task handle themselves.
        Op::Await(_) | Op::Throw(_) | Op::Return(_) => {}
    }
}

/// `Promise.resolve().then(s0).then(s1)...`: each step's reaction is queued
/// only when the previous one has run, since that is when its promise settles.
fn then_step(lp: &mut Loop, ctx: &Rc<Ctx>, steps: Rc<[Block]>, i: usize) {
    if i < steps.len() {
        let ctx = ctx.clone();
        lp.queue_microtask(move |lp| {
            run_block(lp, &ctx, &steps[i]);
            then_step(lp, &ctx, steps, i + 1);
        });
    }
}

fn remember(ctx: &Ctx, id: &Option<String>, h: Named) {
    if let Some(id) = id {
        ctx.ids.borrow_mut().insert(id.clone(), h);
    }
}

/// Runs a step body: ops until a `throw` or `return`.
fn run_step(lp: &mut Loop, ctx: &Rc<Ctx>, block: &Block) -> Flow {
    for op in block.iter() {
        match op {
            Op::Throw(msg) => return Flow::Throw(msg.clone()),
            Op::Return(id) => return Flow::Return(id.clone()),
            other => run_op(lp, ctx, other),
        }
    }
    Flow::Done
}

/// A step's outcome as JavaScript sees the reaction's completion.
fn step_resolution(lp: &mut Loop, ctx: &Rc<Ctx>, block: &Block) -> Resolution<()> {
    match run_step(lp, ctx, block) {
        Flow::Done => Resolution::Value(()),
        Flow::Throw(msg) => Resolution::Reject(error(&msg)),
        Flow::Return(id) => returned(ctx, &id),
    }
}

/// `return promiseOf(id)`: a promise is followed; a name not created yet is
/// `undefined`.
fn returned(ctx: &Ctx, id: &str) -> Resolution<()> {
    match unit(ctx, id) {
        Some(q) => Resolution::Adopt(q),
        None => Resolution::Value(()),
    }
}

/// A chain's first link: `Promise.resolve(promiseOf(on)).step(..)`; a
/// native promise is used as it is, whatever its value type.
fn chain_start(lp: &mut Loop, ctx: &Rc<Ctx>, on: &str, steps: &[Step]) -> Promise<()> {
    let start = ctx.promises.borrow().get(on).cloned();
    let Some(first) = steps.first() else {
        // `chain` with no steps names the start promise itself.
        return match start {
            Some(NamedPromise::Unit(p, _)) => p,
            _ => Promise::resolve(()),
        };
    };
    match start {
        Some(NamedPromise::Unit(p, _)) => chain_step(lp, ctx, &p, first),
        Some(NamedPromise::List(p)) => chain_step(lp, ctx, &p, first),
        Some(NamedPromise::Settled(p)) => chain_step(lp, ctx, &p, first),
        None => chain_step(lp, ctx, &Promise::resolve(()), first),
    }
}

/// One `then`, `catch` or `finally` on `p`, with JavaScript's semantics.
fn chain_step<T: Clone + 'static>(
    lp: &mut Loop,
    ctx: &Rc<Ctx>,
    p: &Promise<T>,
    step: &Step,
) -> Promise<()> {
    let (c, c2) = (ctx.clone(), ctx.clone());
    match step {
        Step::Then(b) => {
            let b = b.clone();
            p.then_with(
                lp,
                move |lp, _| step_resolution(lp, &c, &b),
                |_, e| Resolution::Reject(e),
            )
        }
        Step::Catch(b) => {
            let b = b.clone();
            p.then_with(
                lp,
                |_, _| Resolution::Value(()),
                move |lp, _| step_resolution(lp, &c, &b),
            )
        }
        Step::Finally(b) => {
            let (b, b2) = (b.clone(), b.clone());
            p.then_with(
                lp,
                move |lp, _| finally_body(lp, &c, &b, Ok(())),
                move |lp, e| finally_body(lp, &c2, &b2, Err(e)),
            )
        }
    }
}

/// `finally(f)` is `then(v => PromiseResolve(f()).then(() => v), e =>
/// PromiseResolve(f()).then(() => { throw e }))`: after a normal completion
/// the outcome passes through a `then` on what `f` returned and is then
/// followed; a throw rejects at once.
fn finally_body(
    lp: &mut Loop,
    ctx: &Rc<Ctx>,
    b: &Block,
    outcome: Result<(), Rejection>,
) -> Resolution<()> {
    let result = match run_step(lp, ctx, b) {
        Flow::Throw(msg) => return Resolution::Reject(error(&msg)),
        Flow::Return(id) => unit(ctx, &id).unwrap_or_else(|| Promise::resolve(())),
        Flow::Done => Promise::resolve(()),
    };
    let passed = result.then_with(
        lp,
        move |_, _| outcome.map_or_else(Resolution::Reject, Resolution::Value),
        |_, e| Resolution::Reject(e),
    );
    Resolution::Adopt(passed)
}

/// A promise that `resolve.with`, `combine.of` and `return` can use.
fn unit(ctx: &Ctx, id: &str) -> Option<Promise<()>> {
    match ctx.promises.borrow().get(id) {
        Some(NamedPromise::Unit(p, _)) => Some(p.clone()),
        _ => None,
    }
}

/// The resolve functions of a promise made by a `promise` op, if unused
/// (a second `resolve` or `reject` does nothing, as in JavaScript).
fn resolver(ctx: &Ctx, id: &str) -> Option<Resolver<()>> {
    match ctx.promises.borrow().get(id) {
        Some(NamedPromise::Unit(_, Some(r))) => r.borrow_mut().take(),
        _ => None,
    }
}

type Awaited = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Rejection>>>>;

/// `await promiseOf(id)`, whatever the promise's value type.
fn awaitable(ctx: &Ctx, id: &str) -> Option<Awaited> {
    Some(match ctx.promises.borrow().get(id)?.clone() {
        NamedPromise::Unit(p, _) => Box::pin(p),
        NamedPromise::List(p) => Box::pin(async move { p.await.map(|_| ()) }),
        NamedPromise::Settled(p) => Box::pin(async move { p.await.map(|_| ()) }),
    })
}
