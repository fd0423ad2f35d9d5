//! Runs a parsed scenario on a fresh [`Loop`], mapping each op onto the
//! loop's Node API exactly as `oracle.js` maps it onto Node's.

use super::{Block, Op, Scenario};
use crate::{BareHandle, Handle, Immediate, Loop, Timeout, TIMEOUT_MAX};
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

struct Ctx {
    trace: RefCell<Vec<String>>,
    ids: RefCell<HashMap<String, Named>>,
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
        let mut lp = Loop::builder().virtual_clock(virtual_clock).build()?;
        let ctx = Rc::new(Ctx {
            trace: RefCell::default(),
            ids: RefCell::default(),
            stat_target: std::env::current_exe()?,
        });
        run_block(&mut lp, &ctx, &self.program);
        lp.run_default();
        drop(lp);
        let trace = std::mem::take(&mut *ctx.trace.borrow_mut());
        Ok(trace)
    }
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
        Op::Log(line) => ctx.trace.borrow_mut().push(line.clone()),
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
