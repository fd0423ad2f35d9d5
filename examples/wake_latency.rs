//! Wake latency of the thread pool: from the moment a job's work returns on
//! its worker to the moment its `after` callback starts on the loop thread.
//!
//! One job is in flight at a time, so the loop is asleep in `epoll_wait`
//! when the work ends: each sample is the full hand-off (completion queue,
//! eventfd write, wake-up, dispatch). `bench/wake_latency.c` measures the
//! same with libuv's `uv_queue_work`.
//!
//! ```text
//! cargo run --release --example wake_latency -- [N]
//! samples=N p50_us=.. p99_us=.. mean_us=..
//! ```

use nodeloop::Loop;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn submit(lp: &mut Loop, samples: Rc<RefCell<Vec<Duration>>>, left: usize) {
    lp.queue_work(Instant::now, move |lp, ended| {
        let latency = ended.expect("work ran").elapsed();
        samples.borrow_mut().push(latency);
        if left > 1 {
            submit(lp, samples, left - 1);
        }
    });
}

fn main() {
    let n: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 20_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: wake_latency [N]   (N a positive integer)");
            std::process::exit(2);
        }
    };
    let mut lp = Loop::builder().threadpool_size(4).build().expect("loop");
    // Warm-up: start the workers and fault in the queues.
    let warm = Rc::new(RefCell::new(Vec::new()));
    submit(&mut lp, warm, 1_000);
    lp.run_default();

    let samples = Rc::new(RefCell::new(Vec::with_capacity(n)));
    submit(&mut lp, samples.clone(), n);
    lp.run_default();
    let mut s = samples.borrow_mut();
    s.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let pct = |p: f64| us(s[((s.len() - 1) as f64 * p).round() as usize]);
    let mean = s.iter().map(|&d| us(d)).sum::<f64>() / s.len() as f64;
    println!(
        "samples={} p50_us={:.2} p99_us={:.2} mean_us={:.2}",
        s.len(),
        pct(0.50),
        pct(0.99),
        mean
    );
}
