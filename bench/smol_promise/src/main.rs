//! async-executor twin of nodeloop's promise micro kinds, on a
//! `LocalExecutor` (the !Send setting nodeloop has):
//! - promise_chain N: N local tasks, task i awaits task i-1's `Task` and
//!   returns its value + 1 (no promises here either; a task awaited by one
//!   continuation is the closest "then");
//! - spawn_await N: one task doing `ex.spawn(async move { i }).await` N
//!   times.
//!
//! Prints `ops=N secs=S ops_per_sec=R`; exit 3 for an unknown kind.

use std::rc::Rc;
use std::time::Instant;

use async_executor::{LocalExecutor, Task};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(Ok(n))) = (args.get(1), args.get(2).map(|s| s.parse::<u64>())) else {
        eprintln!("usage: smol_promise promise_chain|spawn_await N");
        std::process::exit(2);
    };
    let ex = Rc::new(LocalExecutor::new());
    let secs = match kind.as_str() {
        "promise_chain" => {
            let e = ex.clone();
            futures_lite::future::block_on(ex.run(async move {
                let start = Instant::now();
                let mut prev: Task<u64> = e.spawn(async { 0 });
                for _ in 0..n {
                    let p = prev;
                    prev = e.spawn(async move { p.await + 1 });
                }
                assert_eq!(prev.await, n);
                start.elapsed()
            }))
        }
        "spawn_await" => {
            let e = ex.clone();
            futures_lite::future::block_on(ex.run(async move {
                let start = Instant::now();
                let inner = e.clone();
                let sum = e
                    .spawn(async move {
                        let mut sum = 0u64;
                        for i in 0..n {
                            sum += inner.spawn(async move { i }).await;
                        }
                        sum
                    })
                    .await;
                assert_eq!(sum, n * (n - 1) / 2);
                start.elapsed()
            }))
        }
        _ => std::process::exit(3),
    }
    .as_secs_f64();
    println!("ops={n} secs={secs:.6} ops_per_sec={:.0}", n as f64 / secs);
}
