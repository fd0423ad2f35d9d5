//! Async handles: sends from any thread, libuv's coalescing rule, ref/unref
//! and close.

use nodeloop::{Async, AsyncClosed, Handle, Loop};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

const THREADS: usize = 8;
const SENDS: usize = 10_000;

/// Sends that all happen before the callback runs coalesce into one call:
/// the first call releases 8 threads × 10,000 sends and waits for them all
/// inside the callback, so exactly one more call follows.
#[test]
fn eighty_thousand_sends_during_one_callback_cause_exactly_one_more_call() {
    let mut lp = Loop::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let h = Async::new(&mut lp, move |lp, h| {
        c.set(c.get() + 1);
        if c.get() == 1 {
            let tx = h.sender(lp).unwrap();
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let tx = tx.clone();
                    thread::spawn(move || (0..SENDS).all(|_| tx.send().is_ok()))
                })
                .collect();
            for t in threads {
                assert!(t.join().unwrap(), "every send succeeds");
            }
        } else {
            h.close(lp, |_| {}).unwrap();
        }
    });
    h.sender(&lp).unwrap().send().unwrap();
    lp.run_default();
    assert_eq!(calls.get(), 2);
}

/// 8 threads × 10,000 sends while the loop runs: no send is lost (the last
/// call sees all of them) and no call happens without a send before it.
#[test]
fn eight_threads_sending_concurrently_lose_no_send() {
    let mut lp = Loop::new();
    let sent = Arc::new(AtomicUsize::new(0));
    let calls = Rc::new(Cell::new(0usize));
    let (s, c) = (sent.clone(), calls.clone());
    let h = Async::new(&mut lp, move |lp, h| {
        c.set(c.get() + 1);
        let seen = s.load(Ordering::SeqCst);
        assert!(c.get() <= seen, "a call without a send before it");
        if seen == THREADS * SENDS {
            h.close(lp, |_| {}).unwrap();
        }
    });
    let tx = h.sender(&lp).unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (tx, sent) = (tx.clone(), sent.clone());
            thread::spawn(move || {
                for _ in 0..SENDS {
                    sent.fetch_add(1, Ordering::SeqCst);
                    tx.send().unwrap();
                }
            })
        })
        .collect();
    lp.run_default();
    for t in threads {
        t.join().unwrap();
    }
    assert!(calls.get() >= 1 && calls.get() <= THREADS * SENDS);
    assert_eq!(
        tx.send(),
        Err(AsyncClosed),
        "senders fail once the handle is closed"
    );
}

#[test]
fn a_send_from_inside_the_callback_causes_one_more_call() {
    let mut lp = Loop::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let h = Async::new(&mut lp, move |lp, h| {
        c.set(c.get() + 1);
        if c.get() == 1 {
            let tx = h.sender(lp).unwrap();
            tx.send().unwrap();
            tx.send().unwrap();
        } else {
            h.close(lp, |_| {}).unwrap();
        }
    });
    h.sender(&lp).unwrap().send().unwrap();
    lp.run_default();
    assert_eq!(calls.get(), 2);
}

#[test]
fn an_unrefd_async_does_not_keep_the_loop_alive_and_ref_restores_it() {
    let mut lp = Loop::new();
    let h = Async::new(&mut lp, |_, _| {});
    assert!(lp.alive());
    h.unref(&mut lp);
    assert!(!lp.alive());
    assert!(!lp.run_default());
    h.ref_(&mut lp);
    assert!(lp.alive());
    h.close(&mut lp, |_| {}).unwrap();
    assert!(h.sender(&lp).is_none());
    lp.run_default();
    assert!(!lp.alive());
}

/// A panicking async callback propagates out of `run`; another handle sent
/// in the same wake-up is still called by the next `run`.
#[test]
fn a_handle_sent_alongside_a_panicking_one_runs_on_the_next_run() {
    let mut lp = Loop::new();
    let bad = Async::new(&mut lp, |lp, h| {
        h.close(lp, |_| {}).unwrap();
        panic!("async callback panics");
    });
    let called = Rc::new(Cell::new(false));
    let c = called.clone();
    let good = Async::new(&mut lp, move |lp, h| {
        c.set(true);
        h.close(lp, |_| {}).unwrap();
    });
    bad.sender(&lp).unwrap().send().unwrap();
    good.sender(&lp).unwrap().send().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run_default()));
    assert!(r.is_err());
    assert!(!called.get());
    // Bounded in case the wake-up were lost.
    let (c, start) = (called.clone(), std::time::Instant::now());
    lp.set_interval(1, move |lp| {
        if c.get() || start.elapsed() > std::time::Duration::from_secs(2) {
            lp.stop();
        }
    });
    lp.run_default();
    assert!(called.get());
}
