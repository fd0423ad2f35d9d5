//! Core-loop kinds: ticks, microtasks, immediates, timers, timers_cancel, pool.

use nodeloop::Loop;
use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn run(kind: &str, n: u64) -> Option<Duration> {
    Some(match kind {
        "ticks" => ticks(n),
        "microtasks" => microtasks(n),
        "immediates" => immediates(n),
        "timers" => timers(n),
        "timers_cancel" => timers_cancel(n),
        "pool" => pool(n),
        _ => return None,
    })
}

fn ticks(n: u64) -> Duration {
    fn step(lp: &mut Loop, left: u64) {
        if left > 1 {
            lp.next_tick(move |lp| step(lp, left - 1));
        }
    }
    let mut lp = Loop::new();
    let start = Instant::now();
    lp.next_tick(move |lp| step(lp, n));
    lp.run_default();
    start.elapsed()
}

fn microtasks(n: u64) -> Duration {
    fn step(lp: &mut Loop, left: u64) {
        if left > 1 {
            lp.queue_microtask(move |lp| step(lp, left - 1));
        }
    }
    let mut lp = Loop::new();
    let start = Instant::now();
    lp.queue_microtask(move |lp| step(lp, n));
    lp.run_default();
    start.elapsed()
}

fn immediates(n: u64) -> Duration {
    fn step(lp: &mut Loop, left: u64) {
        if left > 1 {
            lp.set_immediate(move |lp| step(lp, left - 1));
        }
    }
    let mut lp = Loop::new();
    let start = Instant::now();
    lp.set_immediate(move |lp| step(lp, n));
    lp.run_default();
    start.elapsed()
}

fn timers(n: u64) -> Duration {
    let mut lp = Loop::new();
    let fired = Rc::new(Cell::new(0u64));
    let start = Instant::now();
    for i in 0..n {
        let fired = fired.clone();
        lp.set_timeout(1 + (i * 7919 % 100), move |_| fired.set(fired.get() + 1));
    }
    lp.run_default();
    let elapsed = start.elapsed();
    assert_eq!(fired.get(), n, "every timer fires exactly once");
    elapsed
}

fn timers_cancel(n: u64) -> Duration {
    let mut lp = Loop::new();
    let start = Instant::now();
    for _ in 0..n {
        let t = lp.set_timeout(10_000, |_| unreachable!("cancelled timer fired"));
        lp.clear_timeout(t);
    }
    lp.run_default();
    start.elapsed()
}

fn pool(n: u64) -> Duration {
    const IN_FLIGHT: u64 = 64;
    // Shared, not cloned per job: a path allocation per job would be
    // measured as hand-off cost (the C peer stats a static string).
    let exe: Arc<Path> = std::env::current_exe().expect("own executable path").into();
    let mut lp = Loop::builder().threadpool_size(4).build().expect("loop");
    let submitted = Rc::new(Cell::new(0u64));
    let done = Rc::new(Cell::new(0u64));

    fn submit(
        lp: &mut Loop,
        exe: Arc<Path>,
        submitted: Rc<Cell<u64>>,
        done: Rc<Cell<u64>>,
        n: u64,
    ) {
        submitted.set(submitted.get() + 1);
        let path = exe.clone();
        lp.queue_work(
            move || std::fs::metadata(&path).map(|m| m.len()),
            move |lp, res| {
                res.expect("work ran").expect("stat of own executable");
                done.set(done.get() + 1);
                if submitted.get() < n {
                    submit(lp, exe, submitted, done, n);
                }
            },
        );
    }

    let start = Instant::now();
    for _ in 0..IN_FLIGHT.min(n) {
        submit(&mut lp, exe.clone(), submitted.clone(), done.clone(), n);
    }
    lp.run_default();
    let elapsed = start.elapsed();
    assert_eq!(done.get(), n);
    elapsed
}
