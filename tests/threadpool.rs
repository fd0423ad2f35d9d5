//! The thread pool as the loop sees it: `queue_work`, `cancel_work`,
//! panics, liveness, ordering and what dropping the loop does.

use nodeloop::{CancelError, Loop, WorkError};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Heavy cases scale with NODELOOP_TEST_SCALE (default 1).
fn scaled(n: usize) -> usize {
    let k = std::env::var("NODELOOP_TEST_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1);
    n * k.max(1)
}

#[test]
fn every_one_of_100_000_jobs_completes_exactly_once() {
    let n = scaled(100_000);
    let mut lp = Loop::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Rc::new(RefCell::new(vec![0u8; n]));
    for i in 0..n {
        let ran = ran.clone();
        let seen = seen.clone();
        lp.queue_work(
            move || {
                ran.fetch_add(1, Ordering::Relaxed);
                i
            },
            move |_, r| seen.borrow_mut()[r.unwrap()] += 1,
        );
    }
    assert!(!lp.run_default(), "the loop ends when the last job is done");
    assert_eq!(ran.load(Ordering::Relaxed), n);
    let seen = seen.borrow();
    let wrong: Vec<usize> = (0..n).filter(|&i| seen[i] != 1).collect();
    assert!(
        wrong.is_empty(),
        "jobs not completed exactly once: {:?}",
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn after_runs_on_the_loop_thread_with_ticks_drained_after_it() {
    let mut lp = Loop::new();
    let trace = Rc::new(RefCell::new(Vec::new()));
    let loop_thread = std::thread::current().id();
    let t = trace.clone();
    lp.queue_work(
        move || std::thread::current().id(),
        move |lp, r| {
            assert_ne!(r.unwrap(), loop_thread, "work runs on a worker");
            assert_eq!(std::thread::current().id(), loop_thread);
            t.borrow_mut().push("after");
            let t2 = t.clone();
            lp.next_tick(move |_| t2.borrow_mut().push("tick"));
            let t3 = t.clone();
            lp.set_immediate(move |_| t3.borrow_mut().push("immediate"));
        },
    );
    lp.run_default();
    assert_eq!(*trace.borrow(), ["after", "tick", "immediate"]);
}

#[test]
fn cancelling_a_running_job_is_busy_and_a_queued_one_is_cancelled() {
    let mut lp = Loop::builder().threadpool_size(1).build().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let results = Rc::new(RefCell::new(Vec::new()));
    let r1 = results.clone();
    let running = lp.queue_work(
        move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            "ran"
        },
        move |_, r| r1.borrow_mut().push(("first", r)),
    );
    let queued_ran = Arc::new(AtomicBool::new(false));
    let q = queued_ran.clone();
    let r2 = results.clone();
    let queued = lp.queue_work(
        move || {
            q.store(true, Ordering::SeqCst);
            "ran"
        },
        move |_, r| r2.borrow_mut().push(("second", r)),
    );
    started_rx.recv().unwrap();
    assert_eq!(lp.cancel_work(running), Err(CancelError::Busy));
    assert_eq!(lp.cancel_work(queued), Ok(()));
    assert!(
        results.borrow().is_empty(),
        "cancellation is reported later, not from inside cancel_work"
    );
    release_tx.send(()).unwrap();
    lp.run_default();
    assert!(
        !queued_ran.load(Ordering::SeqCst),
        "a cancelled job never runs"
    );
    let got = results.borrow();
    assert!(got.contains(&("first", Ok("ran"))));
    assert!(got.contains(&("second", Err(WorkError::Cancelled))));
    assert_eq!(lp.cancel_work(running), Err(CancelError::Finished));
}

#[test]
fn cancel_racing_with_workers_starting_jobs_is_consistent() {
    // Each cancel races a worker picking the job up: whichever wins, the
    // outcome must agree with what the work and the callback saw. The
    // first two jobs hold both workers until half the cancels are issued,
    // so those cancels certainly find queued jobs however the threads are
    // scheduled; the second half races the released workers.
    let n = scaled(5_000);
    let mut lp = Loop::builder().threadpool_size(2).build().unwrap();
    let gate = Arc::new(AtomicBool::new(false));
    let outcomes = Rc::new(RefCell::new(vec![None; n]));
    let mut flags = Vec::new();
    let mut reqs = Vec::new();
    for i in 0..n {
        let ran = Arc::new(AtomicBool::new(false));
        flags.push(ran.clone());
        let o = outcomes.clone();
        let gate = (i < 2).then(|| gate.clone());
        reqs.push(lp.queue_work(
            move || {
                if let Some(gate) = gate {
                    while !gate.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                }
                ran.store(true, Ordering::SeqCst)
            },
            move |_, r: Result<(), WorkError>| o.borrow_mut()[i] = Some(r),
        ));
    }
    let mut cancels = Vec::new();
    for (i, &r) in reqs.iter().enumerate() {
        if i == n / 2 {
            gate.store(true, Ordering::SeqCst);
        }
        cancels.push(lp.cancel_work(r));
    }
    gate.store(true, Ordering::SeqCst);
    lp.run_default();
    let outcomes = outcomes.borrow();
    let mut cancelled = 0;
    for i in 0..n {
        let ran = flags[i].load(Ordering::SeqCst);
        match (&cancels[i], &outcomes[i]) {
            (Ok(()), Some(Err(WorkError::Cancelled))) => {
                assert!(!ran, "job {i} was cancelled yet ran");
                cancelled += 1;
            }
            (Err(CancelError::Busy), Some(Ok(()))) => {
                assert!(ran, "job {i} reported done but never ran")
            }
            other => panic!("job {i}: inconsistent cancel/outcome {other:?}"),
        }
    }
    // Jobs 2 .. n/2 were behind the two held workers when cancelled.
    assert!(
        cancelled >= n / 2 - 2,
        "only {cancelled} of the {} jobs queued behind held workers were cancelled",
        n / 2 - 2
    );
}

#[test]
fn a_panic_in_work_reaches_after_and_the_worker_survives() {
    let mut lp = Loop::builder().threadpool_size(1).build().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    lp.queue_work(
        || -> u32 { panic!("boom {}", 42) },
        move |_, r| g.borrow_mut().push(r),
    );
    let g = got.clone();
    lp.queue_work(|| 7u32, move |_, r| g.borrow_mut().push(r));
    lp.run_default();
    assert_eq!(
        *got.borrow(),
        [Err(WorkError::Panicked("boom 42".into())), Ok(7)],
        "the single worker ran the second job after the first panicked"
    );
}

#[test]
fn outstanding_jobs_keep_the_loop_alive_until_the_last_after() {
    let mut lp = Loop::new();
    let done = Rc::new(Cell::new(0));
    let start = Instant::now();
    for ms in [30u64, 60] {
        let d = done.clone();
        lp.queue_work(
            move || std::thread::sleep(Duration::from_millis(ms)),
            move |lp, _| {
                d.set(d.get() + 1);
                assert!(lp.alive() || d.get() == 2);
            },
        );
    }
    assert!(lp.alive());
    assert!(!lp.run_default());
    assert_eq!(done.get(), 2);
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert!(!lp.alive());
}

#[test]
fn under_the_virtual_clock_completions_follow_submission_order() {
    let mut lp = Loop::builder()
        .virtual_clock(true)
        .threadpool_size(4)
        .build()
        .unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    // Later jobs finish first on the real clock.
    for i in 0..8u64 {
        let o = order.clone();
        lp.queue_work(
            move || std::thread::sleep(Duration::from_millis(40 - 5 * i)),
            move |_, _| o.borrow_mut().push(i),
        );
    }
    let o = order.clone();
    lp.set_timeout(1, move |_| o.borrow_mut().push(100));
    lp.run_default();
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4, 5, 6, 7, 100]);
}

#[test]
fn the_pool_size_can_be_set_and_is_checked() {
    let lp = Loop::builder().threadpool_size(3).build().unwrap();
    assert_eq!(lp.threadpool_size(), 3);
    let err = Loop::builder().threadpool_size(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(Loop::builder().threadpool_size(1025).build().is_err());
}

/// Dropping the loop with a job running returns at once (the worker is not
/// joined), never calls the outstanding `after` callbacks but drops them on
/// the loop thread, never starts queued jobs, and lets the running job
/// finish on its worker.
#[test]
fn dropping_the_loop_with_jobs_running_neither_hangs_nor_runs_callbacks() {
    struct Guard(Rc<Cell<u32>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let mut lp = Loop::builder().threadpool_size(1).build().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (finished_tx, finished_rx) = mpsc::channel();
    let dropped = Rc::new(Cell::new(0));
    let called = Rc::new(Cell::new(0));
    let (g, c) = (Guard(dropped.clone()), called.clone());
    lp.queue_work(
        move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            finished_tx.send(()).unwrap();
        },
        move |_, _| {
            let _g = g;
            c.set(c.get() + 1);
        },
    );
    let queued_ran = Arc::new(AtomicBool::new(false));
    let q = queued_ran.clone();
    let (g, c) = (Guard(dropped.clone()), called.clone());
    lp.queue_work(
        move || q.store(true, Ordering::SeqCst),
        move |_, _| {
            let _g = g;
            c.set(c.get() + 1);
        },
    );
    started_rx.recv().unwrap();
    let t = Instant::now();
    drop(lp);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "drop does not wait for running work"
    );
    assert_eq!(
        dropped.get(),
        2,
        "both callbacks were dropped, on this thread"
    );
    assert_eq!(called.get(), 0, "no callback ran");
    release_tx.send(()).unwrap();
    finished_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the running job finishes on its worker");
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !queued_ran.load(Ordering::SeqCst),
        "a queued job never starts after the drop"
    );
}

/// A panicking `after` propagates out of `run`; the completions that were
/// waiting behind it are delivered by the next `run`, which does not hang.
#[test]
fn completions_behind_a_panicking_after_are_delivered_by_the_next_run() {
    let mut lp = Loop::builder().threadpool_size(1).build().unwrap();
    let second = Rc::new(Cell::new(false));
    lp.queue_work(|| (), |_, _| panic!("after panics"));
    let s = second.clone();
    lp.queue_work(|| (), move |_, _| s.set(true));
    // Both jobs finish before the loop looks, so one wake-up covers both.
    std::thread::sleep(Duration::from_millis(100));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run_default()));
    assert!(r.is_err(), "the panic propagates");
    assert!(!second.get());
    // Bound the second run in case the wake-up were lost: this interval
    // keeps the loop turning and stops it after 2 s at most.
    let (s, start) = (second.clone(), Instant::now());
    lp.set_interval(1, move |lp| {
        if s.get() || start.elapsed() > Duration::from_secs(2) {
            lp.stop();
        }
    });
    lp.run_default();
    assert!(second.get(), "the second completion was delivered");
    assert!(start.elapsed() < Duration::from_secs(2));
}
