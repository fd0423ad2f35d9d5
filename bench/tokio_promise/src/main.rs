//! tokio twin of nodeloop's promise micro kinds, on a current_thread runtime
//! with a LocalSet (`spawn_local`, the !Send setting nodeloop has):
//! - promise_chain N: N local tasks, task i awaits task i-1's JoinHandle and
//!   returns its value + 1 (tokio has no promises; a JoinHandle awaited by
//!   one continuation is the closest "then");
//! - spawn_await N: one task doing `spawn_local(async move { i }).await` N
//!   times.
//! Prints `ops=N secs=S ops_per_sec=R`; exit 3 for an unknown kind.

use std::time::Instant;
use tokio::task::{spawn_local, JoinHandle, LocalSet};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(Ok(n))) = (args.get(1), args.get(2).map(|s| s.parse::<u64>())) else {
        eprintln!("usage: tokio_promise promise_chain|spawn_await N");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let local = LocalSet::new();
    let secs = match kind.as_str() {
        "promise_chain" => local.block_on(&rt, async move {
            let start = Instant::now();
            let mut prev: JoinHandle<u64> = spawn_local(async { 0 });
            for _ in 0..n {
                let p = prev;
                prev = spawn_local(async move { p.await.unwrap() + 1 });
            }
            assert_eq!(prev.await.unwrap(), n);
            start.elapsed()
        }),
        "spawn_await" => local.block_on(&rt, async move {
            let start = Instant::now();
            let sum = spawn_local(async move {
                let mut sum = 0u64;
                for i in 0..n {
                    sum += spawn_local(async move { i }).await.unwrap();
                }
                sum
            })
            .await
            .unwrap();
            assert_eq!(sum, n * (n - 1) / 2);
            start.elapsed()
        }),
        _ => std::process::exit(3),
    }
    .as_secs_f64();
    println!("ops={n} secs={secs:.6} ops_per_sec={:.0}", n as f64 / secs);
}
