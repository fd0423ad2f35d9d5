//! A seeded generator of ordering scenarios that are deterministic in Node.
//!
//! Node's order is only fixed when nothing depends on how long things take
//! (see `docs/conformance.md`). The generator keeps a model of virtual time
//! and of every timer due time, and builds only programs where:
//!
//! - every timer due time is at least `GAP` ms away from every other due time,
//!   from the start of the loop and from the end of every busy-wait, so the
//!   jitter of a real clock cannot reorder timers (or a timer and an
//!   immediate, or a timer and the end of a `block`);
//! - delays are at least `GAP`, so a timer never races the immediates or
//!   close callbacks queued next to it;
//! - `block` appears only in the main program, before any interval (an
//!   overdue interval's later runs would shift by real-clock jitter);
//! - an interval's body creates no timers (each run would create them at a
//!   different time) and no ids (the format forbids it);
//! - there is no `io`: a pool job's latency races everything else, so the
//!   io rules are proved by the hand-written corpus instead.
//!
//! Candidates are then run several times in Node, also beside a CPU hog, and
//! only those whose trace never changes are kept.

use serde_json::{json, Value};

/// Minimum distance between two timer due times, and between a due time and
/// a moment when the loop's progress depends on the real clock.
pub const GAP: u64 = 12;
const MAX_DEPTH: u32 = 3;

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// The main program or a tick/microtask/then queued from it.
    Main,
    /// A timer callback or something queued from one.
    Timer,
    /// An interval body: no timers, no ids.
    IntervalBody,
    /// An immediate or close callback or something queued from one.
    CheckOrClose,
}

pub struct Generator {
    rng: fastrand::Rng,
    labels: u32,
    ids: Vec<String>,
    /// Promises made by `promise` (which `resolve`/`reject` can settle) and
    /// by `chain`/`async`; `combine` results go to `combined`, which the
    /// format keeps out of `resolve.with`, `combine.of` and `return`.
    settleable: Vec<String>,
    promises: Vec<String>,
    combined: Vec<String>,
    dues: Vec<u64>,
    /// Moments the loop's progress depends on the real clock.
    fixed_points: Vec<u64>,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            labels: 0,
            ids: vec![],
            settleable: vec![],
            promises: vec![],
            combined: vec![],
            dues: vec![],
            fixed_points: vec![],
        }
    }

    /// One scenario as JSON text.
    pub fn scenario(&mut self, name: &str) -> String {
        self.labels = 0;
        self.ids.clear();
        self.settleable.clear();
        self.promises.clear();
        self.combined.clear();
        self.dues.clear();
        self.fixed_points = vec![0];
        // Plan main's busy-waits first, so callbacks queued from main know
        // when main ends.
        let n_ops = self.rng.usize(2..=6);
        let mut blocks = vec![0u64; n_ops];
        if self.rng.u8(0..3) == 0 {
            for _ in 0..self.rng.usize(1..=2) {
                blocks[self.rng.usize(0..n_ops)] += self.rng.u64(GAP..=50);
            }
        }
        let main_end: u64 = blocks.iter().sum();
        // Every block end is known before any timer is placed.
        self.fixed_points.extend(blocks.iter().scan(0, |t, b| {
            *t += b;
            Some(*t)
        }));
        let mut t = 0;
        let mut program = Vec::new();
        let mut blocks_done = main_end == 0;
        for (i, b) in blocks.iter().enumerate() {
            let op = self.op(0, Ctx::Main, t, main_end, blocks_done);
            program.push(op);
            if *b > 0 {
                t += b;
                program.push(json!({ "block": b }));
            }
            blocks_done = blocks[i + 1..].iter().all(|&b| b == 0);
        }
        serde_json::to_string_pretty(&json!({ "name": name, "program": program })).expect("json")
    }

    fn label(&mut self) -> Value {
        self.labels += 1;
        json!({ "log": format!("L{}", self.labels) })
    }

    fn block(&mut self, depth: u32, ctx: Ctx, t: u64) -> Vec<Value> {
        let n = if depth >= MAX_DEPTH {
            1
        } else {
            self.rng.usize(1..=3)
        };
        let mut ops = vec![self.label()];
        for _ in 1..n {
            ops.push(self.op(depth, ctx, t, t, true));
        }
        ops
    }

    /// Is a timer due at `due` far enough from everything clock-dependent?
    fn due_ok(&self, due: u64) -> bool {
        self.dues
            .iter()
            .chain(&self.fixed_points)
            .all(|&d| d.abs_diff(due) >= GAP)
    }

    fn pick_delay(&mut self, t: u64, runs: u64) -> Option<u64> {
        for _ in 0..8 {
            let ms = self.rng.u64(GAP..=60);
            if (1..=runs).all(|k| self.due_ok(t + k * ms)) {
                self.dues.extend((1..=runs).map(|k| t + k * ms));
                return Some(ms);
            }
        }
        None
    }

    fn id(&mut self, ctx: Ctx) -> Option<String> {
        if ctx == Ctx::IntervalBody || self.rng.u8(0..3) != 0 {
            return None;
        }
        let id = format!("h{}", self.ids.len());
        self.ids.push(id.clone());
        Some(id)
    }

    /// `t`: when this op runs; `deferred_t`: when things it queues run (main's
    /// end for main); `intervals_ok`: no busy-wait follows in main.
    fn op(&mut self, depth: u32, ctx: Ctx, t: u64, deferred_t: u64, intervals_ok: bool) -> Value {
        if depth >= MAX_DEPTH {
            return self.label();
        }
        let d = depth + 1;
        // Contexts queued from here inherit the timer-ness of this one.
        let queued = if ctx == Ctx::IntervalBody {
            Ctx::IntervalBody
        } else {
            ctx
        };
        // Promise ops that name a promise stay out of interval bodies, like
        // timer ids.
        let naming_ok = ctx != Ctx::IntervalBody;
        match self.rng.u8(0..16) {
            10 if naming_ok => {
                let id = format!("p{}", self.promises.len());
                self.promises.push(id.clone());
                self.settleable.push(id.clone());
                json!({ "promise": id })
            }
            11 if !self.settleable.is_empty() => {
                let id = self.pick(&self.settleable.clone());
                match self.rng.u8(0..3) {
                    0 => json!({ "reject": { "id": id, "reason": format!("R{}", self.labels) } }),
                    1 if self.promises.len() > 1 => {
                        // Not with itself: that is a TypeError whose message
                        // only V8 words that way.
                        let others: Vec<String> = self
                            .promises
                            .iter()
                            .filter(|p| **p != id)
                            .cloned()
                            .collect();
                        json!({ "resolve": { "id": id, "with": self.pick(&others) } })
                    }
                    _ => json!({ "resolve": { "id": id } }),
                }
            }
            12 => {
                let on = self.any_promise();
                let steps: Vec<Value> = (0..self.rng.usize(1..=3))
                    .map(|_| {
                        let kind = ["then", "catch", "finally"][self.rng.usize(0..3)];
                        let mut b = self.block(d, queued, deferred_t);
                        self.maybe_end(&mut b);
                        json!({ kind: b })
                    })
                    .collect();
                let mut v = json!({ "on": on, "steps": steps });
                if naming_ok && self.rng.bool() {
                    let id = format!("p{}", self.promises.len());
                    self.promises.push(id.clone());
                    v["id"] = json!(id);
                }
                json!({ "chain": v })
            }
            13 => {
                let mut body = Vec::new();
                for _ in 0..self.rng.usize(1..=3) {
                    body.push(self.label());
                    let target = if self.rng.u8(0..3) == 0 {
                        Value::Null
                    } else {
                        json!(self.any_promise())
                    };
                    body.push(json!({ "await": target }));
                }
                body.push(self.label());
                self.maybe_end(&mut body);
                let mut v = json!({ "do": body });
                if naming_ok && self.rng.bool() {
                    let id = format!("p{}", self.promises.len());
                    self.promises.push(id.clone());
                    v["id"] = json!(id);
                }
                json!({ "async": v })
            }
            14 if naming_ok && !self.promises.is_empty() => {
                let of: Vec<String> = (0..self.rng.usize(1..=3))
                    .map(|_| self.pick(&self.promises.clone()))
                    .collect();
                let kind = ["all", "allSettled", "race", "any"][self.rng.usize(0..4)];
                let id = format!("c{}", self.combined.len());
                self.combined.push(id.clone());
                json!({ "combine": { "id": id, "kind": kind, "of": of } })
            }
            0 => self.label(),
            1 => json!({ "nextTick": self.block(d, queued, deferred_t) }),
            2 => json!({ "microtask": self.block(d, queued, deferred_t) }),
            3 => {
                let steps: Vec<Value> = (0..self.rng.usize(1..=3))
                    .map(|_| Value::Array(self.block(d, queued, deferred_t)))
                    .collect();
                json!({ "then": steps })
            }
            4 | 5 if ctx != Ctx::IntervalBody => match self.pick_delay(t, 1) {
                Some(ms) => {
                    // A timer made overdue by main's busy-waits runs when
                    // the loop starts, not at its due time.
                    let body = self.block(d, Ctx::Timer, (t + ms).max(deferred_t));
                    with_id(json!({ "ms": ms, "do": body }), self.id(ctx), "timeout")
                }
                None => self.label(),
            },
            6 if ctx != Ctx::IntervalBody && intervals_ok => {
                let times = self.rng.u64(1..=3);
                match self.pick_delay(t, times) {
                    Some(ms) => {
                        let body = self.block(d, Ctx::IntervalBody, t + ms);
                        let v = json!({ "ms": ms, "times": times, "do": body });
                        with_id(v, self.id(ctx), "interval")
                    }
                    None => self.label(),
                }
            }
            7 => {
                let inner = if ctx == Ctx::IntervalBody {
                    Ctx::IntervalBody
                } else {
                    Ctx::CheckOrClose
                };
                let body = self.block(d, inner, deferred_t);
                with_id(json!({ "do": body }), self.id(ctx), "immediate")
            }
            8 => {
                let inner = if ctx == Ctx::IntervalBody {
                    Ctx::IntervalBody
                } else {
                    Ctx::CheckOrClose
                };
                json!({ "close": self.block(d, inner, deferred_t) })
            }
            _ => {
                let target = if self.ids.is_empty() || self.rng.u8(0..5) == 0 {
                    "unknown".to_string()
                } else {
                    self.ids[self.rng.usize(0..self.ids.len())].clone()
                };
                json!({ "clear": target })
            }
        }
    }
}

impl Generator {
    fn pick(&mut self, from: &[String]) -> String {
        from[self.rng.usize(0..from.len())].clone()
    }

    /// A promise to chain on or await: any kind, or a name never created.
    fn any_promise(&mut self) -> String {
        let n = self.promises.len() + self.combined.len();
        match self.rng.usize(0..=n) {
            i if i < self.promises.len() => self.promises[i].clone(),
            i if i < n => self.combined[i - self.promises.len()].clone(),
            _ => "none".to_string(),
        }
    }

    /// Maybe ends a step or async body with a `throw` or a `return`.
    fn maybe_end(&mut self, body: &mut Vec<Value>) {
        match self.rng.u8(0..4) {
            0 => body.push(json!({ "throw": format!("E{}", self.labels) })),
            1 if !self.promises.is_empty() => {
                body.push(json!({ "return": self.pick(&self.promises.clone()) }))
            }
            _ => {}
        }
    }
}

fn with_id(mut v: Value, id: Option<String>, kind: &str) -> Value {
    if let Some(id) = id {
        v["id"] = json!(id);
    }
    json!({ kind: v })
}
