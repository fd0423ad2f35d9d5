//! Promise and future kinds: promise_chain, spawn_await.

use nodeloop::{spawn, Loop, Promise};
use std::time::{Duration, Instant};

pub fn run(kind: &str, n: u64) -> Option<Duration> {
    Some(match kind {
        "promise_chain" => promise_chain(n),
        "spawn_await" => spawn_await(n),
        _ => return None,
    })
}

/// `let p = Promise.resolve(0); for (..n) p = p.then(v => v + 1)`, until the
/// last reaction has run: N chained then-reactions.
fn promise_chain(n: u64) -> Duration {
    let mut lp = Loop::new();
    let start = Instant::now();
    let mut p = Promise::resolve(0u64);
    for _ in 0..n {
        p = p.then(&mut lp, |_, v| v + 1);
    }
    lp.run_default();
    let elapsed = start.elapsed();
    assert_eq!(p.peek().unwrap().unwrap(), n, "every reaction ran once");
    elapsed
}

/// One task spawning a child and awaiting it, N times in a row
/// (`for (..n) s += await child(i)` with `async function child(i)`).
fn spawn_await(n: u64) -> Duration {
    let mut lp = Loop::new();
    let start = Instant::now();
    let p = lp
        .spawn(async move {
            let mut sum = 0u64;
            for i in 0..n {
                sum += spawn(async move { i }).await.unwrap();
            }
            sum
        })
        .into_promise(&mut lp);
    lp.run_default();
    let elapsed = start.elapsed();
    assert_eq!(p.peek().unwrap().unwrap(), n * (n - 1) / 2);
    elapsed
}
