//! The futures executor, promises' unhandled-rejection detection and the
//! flow helpers, through the public API.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use nodeloop::{
    parallel, parallel_limit, series, sleep, spawn, with_loop, Auto, AutoError, Loop, Promise,
    PromiseState, Rejection, RejectionKind, RunMode, Step, UnhandledRejection, UnhandledRejections,
};

fn vloop() -> Loop {
    Loop::builder().virtual_clock(true).build().unwrap()
}

/// A future that counts its polls, hands out its waker, and finishes when
/// told to.
#[derive(Clone, Default)]
struct Probe {
    polls: Rc<Cell<u32>>,
    waker: Rc<RefCell<Option<Waker>>>,
    done: Rc<Cell<bool>>,
}

impl Future for Probe {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls.set(self.polls.get() + 1);
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        if self.done.get() {
            Poll::Ready(self.polls.get())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn wakers_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>(_: &T) {}
    let mut lp = Loop::new();
    let probe = Probe::default();
    lp.spawn(probe.clone());
    let w = probe.waker.borrow().clone().unwrap();
    check(&w);
    std::thread::spawn(move || drop(w)).join().unwrap();
}

#[test]
fn spawn_polls_at_once_like_an_async_function_call() {
    let mut lp = Loop::new();
    let probe = Probe::default();
    lp.spawn(probe.clone());
    assert_eq!(probe.polls.get(), 1);
    assert_eq!(lp.task_count(), 1);
}

#[test]
fn many_wakes_before_a_poll_cause_one_poll() {
    let mut lp = Loop::new();
    let probe = Probe::default();
    lp.spawn(probe.clone());
    let p = probe.clone();
    lp.queue_microtask(move |_| {
        let w = p.waker.borrow().clone().unwrap();
        w.wake_by_ref();
        w.wake_by_ref();
        #[allow(
            clippy::waker_clone_wake,
            reason = "exercises the consuming `wake` path"
        )]
        w.clone().wake();
        std::thread::spawn(move || w.wake()).join().unwrap();
    });
    lp.run_default();
    assert_eq!(
        probe.polls.get(),
        2,
        "one spawn poll and one poll for all four wakes"
    );
}

#[test]
fn a_wake_during_a_poll_causes_exactly_one_more_poll() {
    struct SelfWaking(u32);
    impl Future for SelfWaking {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0 += 1;
            if self.0 == 3 {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    let mut lp = Loop::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    let h = lp.spawn(async move {
        SelfWaking(0).await;
        o.borrow_mut().push("task done");
    });
    let o = order.clone();
    lp.queue_microtask(move |_| o.borrow_mut().push("microtask"));
    lp.run_default();
    // The re-poll is queued behind the microtask queued before it.
    assert_eq!(*order.borrow(), ["microtask", "task done"]);
    assert!(h.is_finished());
}

#[test]
fn waking_a_finished_task_is_harmless() {
    let mut lp = Loop::new();
    let probe = Probe::default();
    probe.done.set(false);
    let h = lp.spawn(probe.clone());
    let w = probe.waker.borrow().clone().unwrap();
    probe.done.set(true);
    w.wake_by_ref();
    lp.run_default();
    assert!(h.is_finished());
    assert_eq!(lp.task_count(), 0);
    let polls = probe.polls.get();
    // From the loop thread, inside and outside a task, and from another one.
    w.wake_by_ref();
    let w2 = w.clone();
    lp.spawn(async move { w2.wake() });
    std::thread::spawn(move || w.wake()).join().unwrap();
    lp.run_default();
    assert_eq!(probe.polls.get(), polls);
    // Another task reusing the slot is not disturbed by the stale waker.
    let probe2 = Probe::default();
    lp.spawn(probe2.clone());
    lp.run_default();
    assert_eq!(probe2.polls.get(), 1);
}

#[test]
fn a_waker_outliving_its_loop_wakes_nothing() {
    let probe = Probe::default();
    {
        let mut lp = Loop::new();
        lp.spawn(probe.clone());
    }
    let w = probe.waker.borrow_mut().take().unwrap();
    std::thread::spawn(move || w.wake()).join().unwrap();
}

#[test]
fn cross_thread_wakes_come_back_through_the_poll_phase() {
    let mut lp = Loop::new();
    let (tx, rx) = async_channel::unbounded::<u32>();
    const THREADS: u32 = 4;
    const EACH: u32 = 500;
    let h = lp.spawn(async move {
        let mut sum = 0u64;
        let mut n = 0;
        while let Ok(v) = rx.recv().await {
            sum += v as u64;
            n += 1;
        }
        (n, sum)
    });
    h.ref_(&mut lp);
    assert!(h.has_ref(&lp));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    tx.send_blocking(t * EACH + i).unwrap();
                    if i % 100 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let p = h.into_promise(&mut lp);
    lp.run_default(); // kept alive by the referenced task until the channel closes
    for t in threads {
        t.join().unwrap();
    }
    let total = THREADS * EACH;
    let expect = (total as u64) * (total as u64 - 1) / 2;
    assert_eq!(p.peek().unwrap().unwrap(), (total, expect));
}

#[test]
fn a_cross_thread_wake_is_polled_after_the_poll_phase_before_check() {
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<Waker>();
    let ready = Arc::new(AtomicUsize::new(0));
    let r = ready.clone();
    let l = log.clone();
    let h = lp.spawn(std::future::poll_fn(move |cx| {
        if r.load(Ordering::Acquire) == 1 {
            l.borrow_mut().push("task resumed");
            return Poll::Ready(());
        }
        tx.send(cx.waker().clone()).unwrap();
        Poll::Pending
    }));
    h.ref_(&mut lp);
    let waker = rx.recv().unwrap();
    // Wake from another thread before the loop runs: the first iteration's
    // poll phase sees it; the immediate runs in the check phase after.
    std::thread::spawn(move || {
        ready.store(1, Ordering::Release);
        waker.wake();
    })
    .join()
    .unwrap();
    let l = log.clone();
    lp.set_immediate(move |_| l.borrow_mut().push("immediate"));
    lp.run_default();
    assert_eq!(*log.borrow(), ["task resumed", "immediate"]);
}

#[test]
fn an_unreferenced_waiting_task_does_not_keep_the_loop_alive() {
    let mut lp = Loop::new();
    let probe = Probe::default();
    let h = lp.spawn(probe.clone());
    assert!(!h.has_ref(&lp));
    assert!(!lp.run_default());
    assert_eq!(lp.task_count(), 1);
}

#[test]
fn a_panic_inside_a_task_fails_it_and_the_loop_carries_on() {
    let mut lp = vloop();
    let log = Rc::new(RefCell::new(Vec::new()));
    let failing = lp.spawn(async {
        sleep(5).await;
        let v: Vec<u8> = Vec::new();
        v[3] // index out of bounds
    });
    let l = log.clone();
    lp.spawn(async move {
        let e = failing.await.unwrap_err();
        assert!(e.is_panic());
        l.borrow_mut().push(format!("caught: {e}"));
    });
    let l = log.clone();
    lp.set_timeout(10, move |_| l.borrow_mut().push("timer still runs".into()));
    lp.run_default();
    let log = log.borrow();
    assert!(
        log[0].starts_with("caught: panicked: index out of bounds"),
        "{log:?}"
    );
    assert_eq!(log[1], "timer still runs");
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn an_unawaited_panicking_task_is_an_unhandled_rejection() {
    let mut lp = vloop();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.on_unhandled_rejection(move |_, r| s.borrow_mut().push(r.to_string()));
    drop(lp.spawn(async {
        sleep(1).await;
        panic!("nobody waits for me")
    }));
    let awaited = lp.spawn(async {
        sleep(1).await;
        panic!("somebody waits")
    });
    lp.spawn(async move {
        let _ = awaited.await;
    });
    lp.run_default();
    assert_eq!(*seen.borrow(), ["panicked: nobody waits for me"]);
}

#[test]
fn unhandled_rejection_is_decided_after_the_microtask_drain() {
    let mut lp = vloop();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.on_unhandled_rejection(move |_, r| s.borrow_mut().push(r.to_string()));
    // Handled in a later microtask of the same drain: not reported.
    let a: Promise<()> = Promise::reject(&mut lp, Rejection::panicked("a"));
    lp.queue_microtask(move |lp| {
        lp.queue_microtask(move |lp| {
            a.catch(lp, |_, _| ());
        });
    });
    // Handled only in a timer: reported when the main drain ends.
    let b: Promise<()> = Promise::reject(&mut lp, Rejection::panicked("b"));
    let s = seen.clone();
    lp.set_timeout(1, move |lp| {
        s.borrow_mut().push("timer".into());
        b.catch(lp, |_, _| ());
    });
    // A then without a catch handles the source but rejects its derived
    // promise, which is what gets reported (as in JavaScript).
    let c: Promise<u8> = Promise::reject(&mut lp, Rejection::panicked("c"));
    let _derived = c.then(&mut lp, |_, v| v + 1);
    lp.run_default();
    assert_eq!(*seen.borrow(), ["panicked: b", "panicked: c", "timer"]);
}

#[test]
fn a_rejection_from_a_reaction_panic_is_reported_once() {
    let mut lp = Loop::new();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    lp.on_unhandled_rejection(move |_, r| {
        assert!(r.is_panic());
        c.set(c.get() + 1)
    });
    Promise::resolve(1).then(&mut lp, |_, _: i32| -> i32 { panic!("thrown in then") });
    lp.run_default();
    lp.run_default();
    assert_eq!(count.get(), 1);
}

#[test]
fn panic_mode_raises_an_uncaught_panic() {
    let mut lp = Loop::new();
    lp.set_unhandled_rejections(UnhandledRejections::Panic);
    let caught = Rc::new(RefCell::new(Vec::new()));
    let c = caught.clone();
    lp.on_uncaught_panic(move |_, payload| {
        let u = payload.downcast::<UnhandledRejection>().unwrap();
        c.borrow_mut().push(u.message.clone());
    });
    let _p: Promise<()> = Promise::reject(&mut lp, Rejection::panicked("x"));
    let c = caught.clone();
    lp.set_immediate(move |_| c.borrow_mut().push("loop went on".into()));
    lp.run_default();
    assert_eq!(*caught.borrow(), ["panicked: x", "loop went on"]);
}

#[test]
fn panic_mode_without_a_handler_propagates_out_of_run() {
    let mut lp = Loop::new();
    lp.set_unhandled_rejections(UnhandledRejections::Panic);
    let _p: Promise<()> = Promise::reject(&mut lp, std::fmt::Error);
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run_default())).unwrap_err();
    let u = err.downcast::<UnhandledRejection>().unwrap();
    assert_eq!(
        u.to_string(),
        "unhandled promise rejection: an error occurred when formatting an argument"
    );
    // The loop is usable afterwards.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    lp.set_immediate(move |_| r.set(true));
    lp.run_default();
    assert!(ran.get());
}

#[test]
fn resolving_a_promise_with_itself_rejects_with_a_chaining_cycle() {
    let mut lp = Loop::new();
    let (p, r) = Promise::<u8>::with_resolvers();
    let same = r.promise();
    r.adopt(&mut lp, same);
    p.catch(&mut lp, |_, _| 0);
    lp.run_default();
    let e = p.peek().unwrap().unwrap_err();
    assert!(e.downcast_ref::<nodeloop::ChainingCycle>().is_some());
}

#[test]
fn ecosystem_combinators_run_on_the_executor() {
    use futures_util::future::{self, Either};
    let mut lp = vloop();
    let p = Promise::from_future(&mut lp, async {
        // join: both run concurrently, total time is the longer one.
        let (a, b) = future::join(
            async {
                sleep(30).await;
                1
            },
            async {
                sleep(20).await;
                2
            },
        )
        .await;
        let t_join = with_loop(|lp| lp.now());
        // select: the loser's timer is cleared when it is dropped.
        let r = future::select(Box::pin(sleep(10)), Box::pin(sleep(10_000))).await;
        let first_won = matches!(r, Either::Left(_));
        drop(r);
        let t_select = with_loop(|lp| lp.now());
        // join_all over spawned tasks.
        let hs: Vec<_> = (0..5u64)
            .map(|i| {
                spawn(async move {
                    sleep(5 * i).await;
                    i * i
                })
            })
            .collect();
        let squares: Vec<u64> = future::join_all(hs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        Ok::<_, Rejection>((a + b, t_join, first_won, t_select, squares))
    });
    lp.run_default();
    let (sum, t_join, first_won, t_select, squares) = p.peek().unwrap().unwrap();
    assert_eq!((sum, t_join, first_won, t_select), (3, 30, true, 40));
    assert_eq!(squares, [0, 1, 4, 9, 16]);
    assert_eq!(
        lp.now(),
        60,
        "the 10 s timer of the lost select was cleared"
    );
}

#[test]
fn async_channel_between_two_tasks_on_the_loop() {
    let mut lp = vloop();
    let (tx, rx) = async_channel::bounded::<u32>(2);
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    lp.spawn(async move {
        for i in 0..5 {
            tx.send(i).await.unwrap();
            l.borrow_mut().push(format!("sent {i}"));
        }
    });
    let l = log.clone();
    let consumer = lp.spawn(async move {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv().await {
            sleep(1).await;
            got.push(v);
        }
        l.borrow_mut().push("closed".into());
        got
    });
    let p = consumer.into_promise(&mut lp);
    lp.run_default();
    assert_eq!(p.peek().unwrap().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(log.borrow().last().unwrap(), "closed");
}

#[test]
fn run_work_awaits_the_pool_and_reports_panics() {
    let mut lp = Loop::new();
    let p = Promise::from_future(&mut lp, async {
        let a = nodeloop::run_work(|| 40 + 2).await?;
        let b = nodeloop::run_work(|| -> u32 { panic!("in the pool") }).await;
        Ok::<_, Rejection>((a, b))
    });
    lp.run_default();
    let (a, b) = p.peek().unwrap().unwrap();
    assert_eq!(a, 42);
    assert!(matches!(b, Err(nodeloop::WorkError::Panicked(m)) if m.contains("in the pool")));
}

#[test]
fn dropping_a_run_work_future_whose_job_is_queued_cancels_the_job() {
    // One worker, held busy: the second job cannot start before its future
    // is dropped, so the drop cancels it and it never runs.
    let ran = Arc::new(AtomicUsize::new(0));
    let (release, held) = std::sync::mpsc::channel::<()>();
    let mut lp = Loop::builder().threadpool_size(1).build().unwrap();
    let r = ran.clone();
    let p = Promise::from_future(&mut lp, async move {
        let blocker = with_loop(|lp| lp.run_work(move || held.recv().unwrap()));
        let r2 = r.clone();
        let queued = with_loop(|lp| lp.run_work(move || r2.fetch_add(1, Ordering::SeqCst)));
        assert!(!queued.is_complete());
        drop(queued);
        release.send(()).unwrap();
        blocker.await.unwrap();
        // The pool still serves the next job.
        let r3 = r.clone();
        let after = nodeloop::run_work(move || r3.fetch_add(10, Ordering::SeqCst)).await;
        Ok::<_, Rejection>(after.unwrap())
    });
    lp.run_default();
    assert_eq!(
        p.peek().unwrap().unwrap(),
        0,
        "the later job saw no earlier run"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 10, "the dropped job never ran");
    assert_eq!(lp.task_count(), 0);
}

#[test]
#[should_panic(expected = "no loop is polling this future")]
fn loop_access_outside_a_task_is_a_clear_error() {
    with_loop(|_| ());
}

#[test]
fn a_promise_awaited_by_a_foreign_executor_still_settles() {
    // `Promise` is a plain future: polled outside the loop it registers the
    // foreign waker, and the loop wakes that waker when it settles.
    struct Flag(std::sync::atomic::AtomicBool);
    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let mut lp = vloop();
    let mut p = lp.set_timeout_promise(5, 9);
    let flag = Arc::new(Flag(false.into()));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut p).poll(&mut cx).is_pending());
    lp.run_default();
    assert!(flag.0.load(Ordering::SeqCst));
    assert!(matches!(Pin::new(&mut p).poll(&mut cx), Poll::Ready(Ok(9))));
}

// ---- flow helpers ----

fn timed(log: &Rc<RefCell<Vec<String>>>, name: &'static str, ms: u64, v: u32) -> Step<u32> {
    let log = log.clone();
    Box::new(move |lp| {
        log.borrow_mut().push(format!("start {name} @{}", lp.now()));
        let log = log.clone();
        lp.set_timeout_promise(ms, v).then(lp, move |lp, v| {
            log.borrow_mut().push(format!("end {name} @{}", lp.now()));
            v
        })
    })
}

fn failing(log: &Rc<RefCell<Vec<String>>>, name: &'static str, ms: u64) -> Step<u32> {
    let log = log.clone();
    Box::new(move |lp| {
        log.borrow_mut().push(format!("start {name} @{}", lp.now()));
        lp.set_timeout_promise(ms, ())
            .then_try(lp, move |_, ()| Err(Rejection::panicked(name)))
    })
}

#[test]
fn series_runs_one_after_another_and_stops_at_the_first_error() {
    let mut lp = vloop();
    let log = Rc::new(RefCell::new(Vec::new()));
    let ok = series(
        &mut lp,
        vec![timed(&log, "a", 10, 1), timed(&log, "b", 5, 2)],
    );
    lp.run_default();
    assert_eq!(ok.peek().unwrap().unwrap(), [1, 2]);
    assert_eq!(
        *log.borrow(),
        ["start a @0", "end a @10", "start b @10", "end b @15"]
    );

    log.borrow_mut().clear();
    let bad = series(
        &mut lp,
        vec![failing(&log, "x", 1), timed(&log, "never", 1, 0)],
    );
    bad.catch(&mut lp, |_, _| Vec::new());
    lp.run_default();
    assert_eq!(bad.peek().unwrap().unwrap_err().to_string(), "panicked: x");
    assert_eq!(*log.borrow(), ["start x @15"]);
}

#[test]
fn parallel_first_error_wins_and_later_results_are_dropped() {
    let mut lp = vloop();
    let log = Rc::new(RefCell::new(Vec::new()));
    let p = parallel(
        &mut lp,
        vec![
            timed(&log, "slow", 30, 1),
            failing(&log, "first error", 10),
            failing(&log, "second error", 20),
        ],
    );
    p.catch(&mut lp, |_, _| Vec::new());
    lp.run_default();
    assert_eq!(
        p.peek().unwrap().unwrap_err().to_string(),
        "panicked: first error"
    );
    // Everything started at once; the slow one still ran to its end.
    assert_eq!(
        log.borrow()[..3],
        [
            "start slow @0",
            "start first error @0",
            "start second error @0"
        ]
    );
    assert_eq!(log.borrow()[3], "end slow @30");
}

#[test]
fn parallel_limit_bounds_the_steps_in_flight() {
    let mut lp = vloop();
    let in_flight = Rc::new(Cell::new(0));
    let max = Rc::new(Cell::new(0));
    let steps: Vec<Step<usize>> = (0..10usize)
        .map(|i| {
            let (f, m) = (in_flight.clone(), max.clone());
            Box::new(move |lp: &mut Loop| {
                f.set(f.get() + 1);
                m.set(m.get().max(f.get()));
                let f = f.clone();
                lp.set_timeout_promise(1 + (i as u64 % 3), i)
                    .then(lp, move |_, v| {
                        f.set(f.get() - 1);
                        v
                    })
            }) as Step<usize>
        })
        .collect();
    let p = parallel_limit(&mut lp, steps, 3);
    lp.run_default();
    assert_eq!(p.peek().unwrap().unwrap(), (0..10).collect::<Vec<_>>());
    assert_eq!(max.get(), 3);

    let zero = parallel_limit::<u8>(&mut lp, Vec::new(), 0);
    zero.catch(&mut lp, |_, _| Vec::new());
    lp.run_default();
    let e = zero.peek().unwrap().unwrap_err();
    assert_eq!(e.downcast_ref::<AutoError>(), Some(&AutoError::ZeroLimit));
}

#[test]
fn auto_runs_the_graph_in_parallel_where_possible() {
    let mut lp = vloop();
    let log = Rc::new(RefCell::new(Vec::new()));
    let step = |name: &'static str, ms: u64| {
        let log = log.clone();
        move |lp: &mut Loop, r: &std::collections::HashMap<String, String>| {
            let mut seen: Vec<_> = r.keys().cloned().collect();
            seen.sort();
            log.borrow_mut()
                .push(format!("{name} @{} sees {seen:?}", lp.now()));
            lp.set_timeout_promise(ms, name.to_uppercase())
        }
    };
    let p = Auto::new()
        .task("get_data", &[], step("get_data", 20))
        .task("make_folder", &[], step("make_folder", 10))
        .task(
            "write_file",
            &["get_data", "make_folder"],
            step("write_file", 5),
        )
        .task("email", &["write_file"], step("email", 1))
        .run(&mut lp);
    lp.run_default();
    let r = p.peek().unwrap().unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(r["email"], "EMAIL");
    assert_eq!(
        *log.borrow(),
        [
            "get_data @0 sees []",
            "make_folder @0 sees []",
            r#"write_file @20 sees ["get_data", "make_folder"]"#,
            r#"email @25 sees ["get_data", "make_folder", "write_file"]"#,
        ]
    );
}

#[test]
fn auto_first_error_wins_and_dependents_never_start() {
    let mut lp = vloop();
    let started = Rc::new(RefCell::new(Vec::new()));
    let s1 = started.clone();
    let s2 = started.clone();
    let p: Promise<_> = Auto::<u32>::new()
        .task("slow", &[], |lp, _| lp.set_timeout_promise(50, 1))
        .task("bad", &[], |lp, _| {
            lp.set_timeout_promise(10, ())
                .then_try(lp, |_, ()| Err(std::fmt::Error.into()))
        })
        .task("after_bad", &["bad"], move |_, _| {
            s1.borrow_mut().push("after_bad");
            Promise::resolve(0)
        })
        .task("after_slow", &["slow"], move |_, _| {
            s2.borrow_mut().push("after_slow");
            Promise::resolve(0)
        })
        .run(&mut lp);
    p.catch(&mut lp, |_, _| Default::default());
    lp.run_default();
    assert!(p
        .peek()
        .unwrap()
        .unwrap_err()
        .downcast_ref::<std::fmt::Error>()
        .is_some());
    assert!(started.borrow().is_empty());
}

#[test]
fn auto_rejects_malformed_graphs_without_running_anything() {
    let mut lp = vloop();
    let ran = Rc::new(Cell::new(false));
    let mk = |ran: &Rc<Cell<bool>>| {
        let ran = ran.clone();
        move |_: &mut Loop, _: &std::collections::HashMap<String, u8>| {
            ran.set(true);
            Promise::resolve(0)
        }
    };
    let cases = [
        (
            Auto::new()
                .task("a", &[], mk(&ran))
                .task("a", &[], mk(&ran)),
            AutoError::DuplicateTask("a".into()),
        ),
        (
            Auto::new().task("a", &["nope"], mk(&ran)),
            AutoError::UnknownDependency {
                task: "a".into(),
                dependency: "nope".into(),
            },
        ),
        (
            Auto::new()
                .task("free", &[], mk(&ran))
                .task("a", &["b"], mk(&ran))
                .task("b", &["a"], mk(&ran)),
            AutoError::Cycle(vec!["a".into(), "b".into()]),
        ),
    ];
    for (graph, want) in cases {
        let p = graph.run(&mut lp);
        p.catch(&mut lp, |_, _| Default::default());
        lp.run_default();
        let e = p.peek().unwrap().unwrap_err();
        assert_eq!(e.downcast_ref::<AutoError>(), Some(&want));
    }
    assert!(!ran.get());
}

#[test]
fn any_of_only_rejections_aggregates_them_in_order() {
    let mut lp = vloop();
    let a = lp
        .set_timeout_promise(20, ())
        .then_try(&mut lp, |_, ()| -> Result<u8, _> {
            Err(Rejection::panicked("a"))
        });
    let b = lp
        .set_timeout_promise(10, ())
        .then_try(&mut lp, |_, ()| -> Result<u8, _> {
            Err(Rejection::panicked("b"))
        });
    let any = Promise::any(&mut lp, vec![a, b]);
    any.catch(&mut lp, |_, _| 0);
    lp.run_default();
    let e = any.peek().unwrap().unwrap_err();
    let RejectionKind::Aggregate(all) = e.kind() else {
        panic!("{e:?}")
    };
    let msgs: Vec<_> = all.iter().map(|r| r.to_string()).collect();
    assert_eq!(msgs, ["panicked: a", "panicked: b"]);
    assert_eq!(any.state(), PromiseState::Rejected);
}

#[test]
fn promise_forms_share_the_callback_forms_timing() {
    // An immediate promise resolves in the check phase: after a timer that
    // was due, before a timer of the next iteration.
    let mut lp = vloop();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    lp.set_immediate_promise("immediate")
        .then(&mut lp, move |_, v| l.borrow_mut().push(v));
    let l = log.clone();
    lp.set_immediate(move |_| l.borrow_mut().push("callback immediate"));
    let l = log.clone();
    lp.set_timeout_promise(1, "timeout")
        .then(&mut lp, move |_, v| l.borrow_mut().push(v));
    lp.run_default();
    assert_eq!(
        *log.borrow(),
        ["immediate", "callback immediate", "timeout"]
    );
}

#[test]
fn many_threads_waking_many_tasks_lose_no_wake() {
    let mut lp = Loop::new();
    const TASKS: usize = 64;
    let done = Rc::new(Cell::new(0));
    let wakers = Arc::new(Mutex::new(Vec::new()));
    let flags: Arc<Vec<AtomicUsize>> = Arc::new((0..TASKS).map(|_| AtomicUsize::new(0)).collect());
    for i in 0..TASKS {
        let (w, f, d) = (wakers.clone(), flags.clone(), done.clone());
        let h = lp.spawn(std::future::poll_fn(move |cx| {
            if f[i].load(Ordering::Acquire) == 1 {
                d.set(d.get() + 1);
                return Poll::Ready(());
            }
            w.lock().unwrap().push((i, cx.waker().clone()));
            Poll::Pending
        }));
        h.ref_(&mut lp);
    }
    let ws = std::mem::take(&mut *wakers.lock().unwrap());
    let threads: Vec<_> = ws
        .chunks(TASKS / 4)
        .map(|c| {
            let c = c.to_vec();
            let flags = flags.clone();
            std::thread::spawn(move || {
                for (i, w) in c {
                    flags[i].store(1, Ordering::Release);
                    w.wake_by_ref();
                    w.wake();
                }
            })
        })
        .collect();
    lp.run_default();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(done.get(), TASKS);
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn a_wake_from_a_plain_callback_is_polled_in_that_callbacks_drain() {
    let mut lp = vloop();
    let log = Rc::new(RefCell::new(Vec::new()));
    let probe = Probe::default();
    let l = log.clone();
    let pr = probe.clone();
    lp.spawn(async move {
        let n = pr.await;
        l.borrow_mut().push(format!("task resumed after {n} polls"));
    });
    let (l, pr) = (log.clone(), probe.clone());
    lp.set_timeout(1, move |lp| {
        pr.done.set(true);
        pr.waker.borrow().clone().unwrap().wake();
        let l2 = l.clone();
        lp.queue_microtask(move |_| l2.borrow_mut().push("microtask".into()));
        l.borrow_mut().push("timer".into());
    });
    let l = log.clone();
    lp.set_timeout(1, move |_| l.borrow_mut().push("next timer".into()));
    lp.run_default();
    assert_eq!(
        *log.borrow(),
        [
            "timer",
            "microtask",
            "task resumed after 2 polls",
            "next timer"
        ]
    );
}

#[test]
fn a_stale_waker_does_not_wake_the_task_that_reuses_its_slot() {
    let mut lp = Loop::new();
    let old = Probe::default();
    old.done.set(true);
    lp.spawn(old.clone());
    lp.run_default();
    // The finished task's waker is still held (by `old`), so the executor
    // must not hand it to a later task.
    let stale = old.waker.borrow().clone().unwrap();
    let new = Probe::default();
    let _h = lp.spawn(new.clone());
    assert_eq!(new.polls.get(), 1);
    stale.wake_by_ref();
    lp.spawn(async move { stale.wake() });
    lp.run_default();
    assert_eq!(new.polls.get(), 1, "a stale wake polled another task");
    // The new task's own waker still works.
    new.done.set(true);
    new.waker.borrow().clone().unwrap().wake();
    lp.run_default();
    assert_eq!(new.polls.get(), 2);
}

#[test]
fn spawned_tasks_reuse_wakers_without_crosstalk() {
    // Many short tasks, each finishing in its first poll (their wakers go
    // back to the spare list), interleaved with one waiting task whose
    // waker must keep naming it.
    let mut lp = Loop::new();
    let waiting = Probe::default();
    let h = lp.spawn(waiting.clone());
    let w = waiting.waker.borrow().clone().unwrap();
    let sum = lp
        .spawn(async move {
            let mut sum = 0u64;
            for i in 0..1000u64 {
                sum += spawn(async move { i }).await.unwrap();
            }
            sum
        })
        .into_promise(&mut lp);
    lp.run_default();
    assert_eq!(sum.peek().unwrap().unwrap(), 999 * 1000 / 2);
    assert_eq!(waiting.polls.get(), 1);
    waiting.done.set(true);
    w.wake();
    lp.run_default();
    assert!(h.is_finished());
    assert_eq!(waiting.polls.get(), 2);
}

#[test]
fn an_unfinished_future_is_dropped_with_its_loop_even_if_its_handle_lives() {
    struct Guard(Rc<Cell<bool>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let g = Guard(dropped.clone());
    let mut lp = Loop::new();
    let handle = lp.spawn(async move {
        let _g = g;
        std::future::pending::<()>().await
    });
    assert!(!dropped.get());
    drop(lp);
    assert!(dropped.get(), "the future outlived its loop");
    assert!(!handle.is_finished());
}

/// Counts its clones.
struct Counted(Rc<Cell<u32>>);
impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.set(self.0.get() + 1);
        Counted(self.0.clone())
    }
}

#[test]
fn a_reaction_holding_the_last_handle_gets_the_value_moved_not_cloned() {
    let clones = Rc::new(Cell::new(0));
    let mut lp = Loop::new();
    // No handle to the first promise survives `then`: the value moves.
    let p = Promise::resolve(Counted(clones.clone())).then(&mut lp, |_, c| c);
    lp.run_default();
    assert_eq!(clones.get(), 0);
    // With another handle alive (or a second reaction), it is cloned.
    let q = Promise::resolve(Counted(clones.clone()));
    let r = q.then(&mut lp, |_, c| c);
    lp.run_default();
    assert_eq!(clones.get(), 1);
    assert!(p.peek().is_some() && r.peek().is_some() && q.peek().is_some());
}

/// A value that counts how many of it are alive.
struct Live(Rc<Cell<i64>>);
impl Live {
    fn new(n: &Rc<Cell<i64>>) -> Live {
        n.set(n.get() + 1);
        Live(n.clone())
    }
}
impl Clone for Live {
    fn clone(&self) -> Self {
        Live::new(&self.0)
    }
}
impl Drop for Live {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

#[test]
fn promise_values_handlers_and_tasks_are_freed_exactly_once_however_they_end() {
    // Promises and tasks live in a hand-written reference-counted box, so
    // every way a node can end is checked here: each `Live` made must be
    // dropped once (a count below zero is a double drop, above zero a leak).
    let live = Rc::new(Cell::new(0i64));
    let n = &live;

    // 1. A chain that runs to the end, with a rejection and a catch inside.
    let mut lp = Loop::new();
    let mut p = Promise::resolve(Live::new(n));
    for i in 0..50 {
        let held = Live::new(n);
        p = if i == 20 {
            p.then_try(&mut lp, move |_, v| {
                drop((v, held));
                Err(Rejection::new(std::fmt::Error))
            })
        } else if i == 21 {
            p.catch(&mut lp, move |_, _| held)
        } else {
            p.then(&mut lp, move |_, v| {
                drop(held);
                v
            })
        };
    }
    lp.run_default();
    assert_eq!(p.state(), PromiseState::Fulfilled);
    drop((p, lp));
    assert_eq!(live.get(), 0, "after a completed chain");

    // 2. Reactions on a promise that never settles: handlers never run.
    let mut lp = Loop::new();
    let (root, resolver) = Promise::<Live>::with_resolvers();
    let mut p = root.clone();
    for _ in 0..20 {
        let held = Live::new(n);
        p = p.then(&mut lp, move |_, v| {
            drop(held);
            v
        });
    }
    lp.run_default();
    drop((p, root, resolver, lp));
    assert_eq!(live.get(), 0, "after a chain that never settled");

    // 3. The loop dropped with reaction microtasks still queued, adoption
    //    in flight, and tasks suspended on promises.
    let mut lp = Loop::new();
    let (gate, open) = Promise::<Live>::with_resolvers();
    let a = Promise::resolve(Live::new(n)).then(&mut lp, |_, v| v);
    let inner = Promise::resolve(Live::new(n));
    let b = a.then_promise(&mut lp, move |_, v| {
        drop(v);
        inner
    });
    let g = gate.clone();
    let held = Live::new(n);
    let task = lp.spawn(async move {
        let _held = held;
        g.await.ok()
    });
    let finished = lp.spawn({
        let v = Live::new(n);
        async move { v }
    });
    open.resolve(&mut lp, Live::new(n));
    // Nothing has run the queued microtasks yet.
    drop((a, b, gate, task, finished, lp));
    assert_eq!(live.get(), 0, "after dropping a loop with work queued");
}

// A spawned task has no slab entry during its first poll (most finish in
// it); its waker is provisional until `spawn` gives it one. The tests below
// pin down every way a provisional waker can be used.

/// A future whose first poll runs `first` (with its waker) and returns
/// `Pending`; later polls count and finish.
struct FirstPoll<F> {
    first: Option<F>,
    later_polls: Rc<Cell<u32>>,
    log: Rc<RefCell<Vec<String>>>,
    name: &'static str,
}

impl<F: FnOnce(&Waker) + Unpin> Future for FirstPoll<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(f) = self.first.take() {
            f(cx.waker());
            return Poll::Pending;
        }
        self.later_polls.set(self.later_polls.get() + 1);
        self.log.borrow_mut().push(format!("{} polled", self.name));
        Poll::Ready(())
    }
}

fn first_poll<F: FnOnce(&Waker) + Unpin>(
    log: &Rc<RefCell<Vec<String>>>,
    name: &'static str,
    first: F,
) -> (FirstPoll<F>, Rc<Cell<u32>>) {
    let later = Rc::new(Cell::new(0));
    let fut = FirstPoll {
        first: Some(first),
        later_polls: later.clone(),
        log: log.clone(),
        name,
    };
    (fut, later)
}

fn push(log: &Rc<RefCell<Vec<String>>>, s: &str) {
    log.borrow_mut().push(s.to_string());
}

#[test]
fn a_wake_in_the_first_poll_is_queued_where_it_happens() {
    // The re-poll takes its place in the microtask queue at the wake, before
    // a microtask queued later in the same poll (as once the task has its
    // entry); it must not wait until the spawn has installed the task.
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let (fut, later) = first_poll(&log, "task", move |w| {
        w.wake_by_ref();
        w.wake_by_ref(); // coalesced
        with_loop(|lp| lp.queue_microtask(move |_| push(&l, "microtask after the wake")));
    });
    let h = lp.spawn(fut);
    assert_eq!(lp.task_count(), 1);
    lp.run_default();
    assert_eq!(*log.borrow(), ["task polled", "microtask after the wake"]);
    assert_eq!(later.get(), 1);
    assert!(h.is_finished());
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn a_waker_cloned_in_the_first_poll_names_the_task_once_installed() {
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let kept = Rc::new(RefCell::new(None::<Waker>));
    let k = kept.clone();
    let (fut, later) = first_poll(&log, "task", move |w| *k.borrow_mut() = Some(w.clone()));
    lp.spawn(fut);
    // Another task taking a slab entry in between must not confuse it.
    let other = Probe::default();
    lp.spawn(other.clone());
    let w = kept.borrow_mut().take().unwrap();
    lp.queue_microtask(move |_| w.wake());
    lp.run_default();
    assert_eq!(later.get(), 1);
    assert_eq!(other.polls.get(), 1);
}

#[test]
fn a_cross_thread_wake_during_the_first_poll_comes_through_the_poll_phase() {
    // The other thread wakes the task while it is still in its first poll
    // (joined before the poll returns), so the wake crosses before the task
    // has an entry. It must still poll the task once, from the poll phase
    // like any cross-thread wake: after the main program's microtasks,
    // before the check phase.
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (fut, later) = first_poll(&log, "task", |w| {
        let w = w.clone();
        std::thread::spawn(move || {
            w.wake_by_ref();
            w.wake();
        })
        .join()
        .unwrap();
    });
    lp.spawn(fut);
    let l = log.clone();
    lp.queue_microtask(move |_| push(&l, "main microtask"));
    let l = log.clone();
    lp.set_immediate(move |_| push(&l, "immediate"));
    lp.run_default();
    assert_eq!(
        *log.borrow(),
        ["main microtask", "task polled", "immediate"]
    );
    assert_eq!(later.get(), 1);
}

#[test]
fn a_cross_thread_wake_racing_the_first_poll_is_never_lost() {
    // The wake lands anywhere: during the first poll, between the poll and
    // the install, or after. Each task must be polled exactly once more. A
    // lost wake lets the guard timer end the run instead of hanging it.
    let mut lp = Loop::new();
    const TASKS: usize = 200;
    let log = Rc::new(RefCell::new(Vec::new()));
    let resumed = Rc::new(Cell::new(0));
    let guard = Rc::new(Cell::new(None));
    let mut threads = Vec::new();
    let mut counts = Vec::new();
    for _ in 0..TASKS {
        let (wtx, wrx) = std::sync::mpsc::channel::<Waker>();
        threads.push(std::thread::spawn(move || wrx.recv().unwrap().wake()));
        let (fut, later) = first_poll(&log, "task", move |w| wtx.send(w.clone()).unwrap());
        let (r, g) = (resumed.clone(), guard.clone());
        lp.spawn(async move {
            fut.await;
            r.set(r.get() + 1);
            if r.get() == TASKS {
                with_loop(|lp| lp.clear_timeout(g.take().unwrap()));
            }
        });
        counts.push(later);
    }
    guard.set(Some(lp.set_timeout(20_000, |_| ())));
    lp.run_default();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(resumed.get(), TASKS, "wakes were lost");
    assert!(counts.iter().all(|c| c.get() == 1));
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn a_wake_parked_during_the_first_poll_is_polled_in_the_drain() {
    // Inside `with_loop` the loop is not lent, so the wake is parked; it
    // must come back as a poll of the task once it has its entry.
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let (fut, later) = first_poll(&log, "task", move |w| {
        with_loop(|lp| {
            w.wake_by_ref();
            lp.queue_microtask(move |_| push(&l, "microtask"));
        })
    });
    lp.spawn(fut);
    lp.run_default();
    assert_eq!(*log.borrow(), ["microtask", "task polled"]);
    assert_eq!(later.get(), 1);
}

#[test]
fn a_nested_drain_running_the_wake_of_a_first_poll_still_repolls_it() {
    // The first poll wakes itself, then runs the loop (which drains the
    // microtask of that wake while the task has no entry yet): the poll it
    // asked for happens after the first poll, as for any task polled by a
    // nested drain, and exactly once (the task stays pending after it).
    let mut lp = Loop::new();
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    lp.spawn(std::future::poll_fn(move |cx| {
        p.set(p.get() + 1);
        if p.get() == 1 {
            cx.waker().wake_by_ref();
            with_loop(|lp| lp.run(RunMode::NoWait));
            assert_eq!(p.get(), 1, "polled inside its own first poll");
        }
        Poll::<()>::Pending
    }));
    assert_eq!(polls.get(), 1);
    lp.run_default();
    assert_eq!(polls.get(), 2, "one poll for the wake, and no more");
    assert_eq!(lp.task_count(), 1);
}

#[test]
fn a_waker_kept_by_a_child_that_finished_in_its_first_poll_wakes_nothing() {
    let mut lp = Loop::new();
    let kept = Rc::new(RefCell::new(Vec::<Waker>::new()));
    let k = kept.clone();
    // One child keeps a clone; another wakes itself and finishes anyway, so
    // its wake's microtask is still queued when it is gone.
    let a = lp.spawn(std::future::poll_fn(move |cx| {
        k.borrow_mut().push(cx.waker().clone());
        Poll::Ready(1)
    }));
    let b = lp.spawn(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::Ready(2)
    }));
    assert!(a.is_finished() && b.is_finished());
    assert_eq!(lp.task_count(), 0);
    // Neither waker may be handed to a later task: a stale wake (and the
    // queued microtask) would poll it.
    let (probe, probe2) = (Probe::default(), Probe::default());
    lp.spawn(probe.clone());
    lp.spawn(probe2.clone());
    let stale = kept.borrow()[0].clone();
    stale.wake_by_ref();
    let s2 = stale.clone();
    std::thread::spawn(move || s2.wake()).join().unwrap();
    let l = lp.spawn(async move { stale.wake() });
    lp.run_default();
    assert!(l.is_finished());
    assert_eq!(
        (probe.polls.get(), probe2.polls.get()),
        (1, 1),
        "a stale wake polled another task"
    );
    let p = lp.spawn(async move { a.await.unwrap() + b.await.unwrap() });
    let p = p.into_promise(&mut lp);
    lp.run_default();
    assert_eq!(p.peek().unwrap().unwrap(), 3);
}

#[test]
fn a_nested_spawn_pending_in_a_first_poll_gets_its_own_entry() {
    // The outer task is in its first poll (no entry) while it spawns an
    // inner one that stays pending (takes an entry first) and wakes the
    // outer through its provisional waker. Each waker must name its own
    // task, and the outer's re-poll keeps its place before a microtask
    // queued after the wake.
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let inner_waker = Rc::new(RefCell::new(None::<Waker>));
    let inner_count = Rc::new(RefCell::new(None::<Rc<Cell<u32>>>));
    let (lg, iw, ic) = (log.clone(), inner_waker.clone(), inner_count.clone());
    let (outer, outer_count) = first_poll(&log, "outer", move |outer_w| {
        let outer_w = outer_w.clone();
        let iw2 = iw.clone();
        let (inner, count) = first_poll(&lg, "inner", move |w| {
            *iw2.borrow_mut() = Some(w.clone());
            outer_w.wake_by_ref();
        });
        *ic.borrow_mut() = Some(count);
        let h = spawn(inner);
        assert!(!h.is_finished());
        assert_eq!(with_loop(|lp| lp.task_count()), 2);
        let l = lg.clone();
        with_loop(|lp| lp.queue_microtask(move |_| push(&l, "microtask")));
    });
    lp.spawn(outer);
    assert_eq!(lp.task_count(), 2);
    lp.run_default();
    assert_eq!(*log.borrow(), ["outer polled", "microtask"]);
    let inner_count = inner_count.borrow_mut().take().unwrap();
    assert_eq!((outer_count.get(), inner_count.get()), (1, 0));
    inner_waker.borrow_mut().take().unwrap().wake();
    lp.run_default();
    assert_eq!((outer_count.get(), inner_count.get()), (1, 1));
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn a_panic_in_the_first_poll_rejects_and_drops_the_future_once() {
    struct Guard(Rc<Cell<u32>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let mut lp = Loop::new();
    let drops = Rc::new(Cell::new(0));
    let g = Guard(drops.clone());
    let h = lp.spawn(async move {
        let _g = g;
        panic!("first poll")
    });
    assert!(h.is_finished());
    assert_eq!(drops.get(), 1);
    let p = lp
        .spawn(async move { h.await.unwrap_err().to_string() })
        .into_promise(&mut lp);
    lp.run_default();
    assert_eq!(p.peek().unwrap().unwrap(), "panicked: first poll");
    assert_eq!(drops.get(), 1);
}

// A task that wakes itself (an `await` of a finished handle does) is polled
// again by `poll_task` itself when its poll request is the next microtask
// the drain would run. These pin down that it is never polled earlier than
// the drain would have polled it.

/// Queues a microtask that logs `s`, from inside a task.
fn log_later(log: &Rc<RefCell<Vec<String>>>, s: &'static str) {
    let l = log.clone();
    with_loop(|lp| lp.queue_microtask(move |_| push(&l, s)));
}

#[test]
fn a_task_that_wakes_itself_is_repolled_in_its_place_among_microtasks() {
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let mut n = 0;
    lp.spawn(std::future::poll_fn(move |cx| {
        n += 1;
        push(&l, &format!("poll {n}"));
        match n {
            // The first poll's wake goes through the provisional path.
            1 => cx.waker().wake_by_ref(),
            2 => {
                log_later(&l, "queued before the wake");
                cx.waker().wake_by_ref();
            }
            3 => {
                cx.waker().wake_by_ref();
                log_later(&l, "queued after the wake");
                let t = l.clone();
                // Waits until the microtask queue is empty.
                with_loop(|lp| lp.next_tick(move |_| push(&t, "tick")));
            }
            4 => cx.waker().wake_by_ref(),
            _ => return Poll::Ready(()),
        }
        Poll::Pending
    }));
    lp.run_default();
    assert_eq!(
        *log.borrow(),
        [
            "poll 1",
            "poll 2",
            "queued before the wake",
            "poll 3",
            "poll 4",
            "queued after the wake",
            "poll 5",
            "tick"
        ]
    );
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn join_of_a_finished_handle_and_a_microtask_keeps_the_drains_order() {
    use futures_util::future::join;
    for handle_first in [true, false] {
        let mut lp = Loop::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        let (la, lb) = (log.clone(), log.clone());
        lp.spawn(async move {
            // Polled from the drain from here on.
            spawn(async {}).await.unwrap();
            let a = async move {
                let v = spawn(async { 7 }).await.unwrap();
                push(&la, &format!("handle gave {v}"));
            };
            // Pending until the microtask its first poll queues has run.
            let ran = Rc::new(Cell::new(false));
            let mut queued = false;
            let b = std::future::poll_fn(move |cx| {
                if ran.get() {
                    push(&lb, "b done");
                    return Poll::Ready(());
                }
                if std::mem::replace(&mut queued, true) {
                    return Poll::Pending;
                }
                let (r, l, w) = (ran.clone(), lb.clone(), cx.waker().clone());
                with_loop(|lp| {
                    lp.queue_microtask(move |_| {
                        push(&l, "b's microtask");
                        r.set(true);
                        w.wake();
                    })
                });
                Poll::Pending
            });
            if handle_first {
                join(a, b).await;
            } else {
                join(b, a).await;
            }
        });
        lp.run_default();
        let want = if handle_first {
            ["handle gave 7", "b's microtask", "b done"]
        } else {
            ["b's microtask", "b done", "handle gave 7"]
        };
        assert_eq!(*log.borrow(), want, "handle first: {handle_first}");
        assert_eq!(lp.task_count(), 0);
    }
}

#[test]
fn a_self_waking_task_in_a_nested_drain_keeps_the_order() {
    // The drain runs inside another task's first poll (which runs the
    // loop); the self-waking task is polled from it.
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let kept = Rc::new(RefCell::new(None::<Waker>));
    let (l, k) = (log.clone(), kept.clone());
    let mut n = 0;
    lp.spawn(std::future::poll_fn(move |cx| {
        n += 1;
        match n {
            1 => *k.borrow_mut() = Some(cx.waker().clone()),
            2 => {
                push(&l, "poll 2");
                log_later(&l, "x");
                cx.waker().wake_by_ref();
            }
            3 => {
                push(&l, "poll 3");
                cx.waker().wake_by_ref();
                log_later(&l, "y");
            }
            _ => {
                push(&l, &format!("poll {n}"));
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }));
    let l = log.clone();
    lp.spawn(async move {
        kept.borrow_mut().take().unwrap().wake();
        with_loop(|lp| lp.run(RunMode::NoWait));
        push(&l, "nested run returned");
    });
    assert_eq!(
        *log.borrow(),
        [
            "poll 2",
            "x",
            "poll 3",
            "poll 4",
            "y",
            "nested run returned"
        ]
    );
    lp.run_default();
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn a_panic_in_a_repoll_fails_the_task_and_the_drain_goes_on() {
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let mut n = 0;
    let h = lp.spawn(std::future::poll_fn(move |cx| {
        n += 1;
        push(&l, &format!("poll {n}"));
        match n {
            1 => cx.waker().wake_by_ref(),
            2 => {
                cx.waker().wake_by_ref();
                log_later(&l, "queued after the wake");
            }
            _ => panic!("in the repoll"),
        }
        Poll::<()>::Pending
    }));
    let l = log.clone();
    lp.spawn(async move {
        let e = h.await.unwrap_err();
        assert!(matches!(e.kind(), RejectionKind::Panicked(m) if m == "in the repoll"));
        push(&l, &e.to_string());
    });
    lp.run_default();
    assert_eq!(
        *log.borrow(),
        [
            "poll 1",
            "poll 2",
            "poll 3",
            "queued after the wake",
            "panicked: in the repoll"
        ]
    );
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn a_self_wake_is_not_repolled_while_a_panic_waits_to_propagate() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("dropping the child");
        }
    }
    let mut lp = Loop::new();
    let polls = Rc::new(Cell::new(0));
    let child = Rc::new(RefCell::new(None));
    let (p, c) = (polls.clone(), child.clone());
    lp.spawn(std::future::poll_fn(move |cx| {
        p.set(p.get() + 1);
        match p.get() {
            1 => cx.waker().wake_by_ref(),
            2 => {
                cx.waker().wake_by_ref();
                // The child panics, and so does dropping it: the loop's
                // panic policy (no handler) makes `run` rethrow that after
                // this callback, with nothing run in between.
                let g = PanicOnDrop;
                *c.borrow_mut() = Some(spawn(std::future::poll_fn(move |_| -> Poll<()> {
                    let _ = &g;
                    panic!("child")
                })));
            }
            _ => return Poll::Ready(()),
        }
        Poll::Pending
    }));
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run_default())).unwrap_err();
    assert_eq!(*err.downcast::<&str>().unwrap(), "dropping the child");
    assert_eq!(polls.get(), 2, "polled again before the panic propagated");
    drop(child.borrow_mut().take());
    lp.run_default();
    assert_eq!(polls.get(), 3, "the wake's poll still runs, once");
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn a_self_wake_counts_as_a_pending_microtask_until_it_runs() {
    // The wake's poll request is not in the queue while the task is
    // polled, but the queue must look the same as if it were.
    let mut lp = Loop::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let mut n = 0;
    lp.spawn(std::future::poll_fn(move |cx| {
        n += 1;
        match n {
            1 => cx.waker().wake_by_ref(),
            2 => {
                s.borrow_mut().push(with_loop(|lp| lp.has_pending_tasks()));
                cx.waker().wake_by_ref();
                s.borrow_mut().push(with_loop(|lp| lp.has_pending_tasks()));
            }
            _ => return Poll::Ready(()),
        }
        Poll::Pending
    }));
    lp.run_default();
    assert_eq!(*seen.borrow(), [false, true]);
    assert!(!lp.has_pending_tasks());
}

#[test]
fn a_task_that_wakes_itself_and_then_panics_leaves_its_wake_queued() {
    // The wake was made, so its (now late) request is queued when the
    // task's destructor runs, as any microtask queued by the poll would be.
    struct DropProbe(Rc<Cell<Option<bool>>>);
    impl Drop for DropProbe {
        fn drop(&mut self) {
            self.0.set(Some(with_loop(|lp| lp.has_pending_tasks())));
        }
    }
    let mut lp = Loop::new();
    let pending_at_drop = Rc::new(Cell::new(None));
    let probe = DropProbe(pending_at_drop.clone());
    let mut n = 0;
    let h = lp.spawn(std::future::poll_fn(move |cx| {
        let _ = &probe;
        n += 1;
        if n == 1 {
            cx.waker().wake_by_ref();
            return Poll::<()>::Pending;
        }
        cx.waker().wake_by_ref();
        panic!("after waking itself")
    }));
    lp.run_default();
    assert_eq!(pending_at_drop.get(), Some(true));
    let p = h.into_promise(&mut lp);
    lp.run_default();
    assert!(p.peek().unwrap().is_err());
}
