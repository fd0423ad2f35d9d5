//! The libuv layer: run modes, liveness, phase order, handles and stale ids.

use nodeloop::{BareHandle, Check, Handle, HandleError, Idle, Loop, Prepare, RunMode, Timer};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

type Trace = Rc<RefCell<Vec<String>>>;

fn log(t: &Trace, s: impl Into<String>) {
    t.borrow_mut().push(s.into());
}

fn vloop() -> Loop {
    Loop::builder().virtual_clock(true).build().unwrap()
}

#[test]
fn empty_loop_is_not_alive_and_run_returns_false() {
    let mut lp = Loop::new();
    assert!(!lp.alive());
    assert!(!lp.run(RunMode::Default));
    assert!(!lp.run(RunMode::NoWait));
    assert!(!lp.run(RunMode::Once));
}

#[test]
fn phases_run_in_libuv_order() {
    let mut lp = vloop();
    let trace: Trace = Rc::default();
    let iterations = Rc::new(RefCell::new(0));
    let t = Timer::new(&mut lp);
    let tr = trace.clone();
    t.start(&mut lp, 0, 0, move |_, _| log(&tr, "timer"))
        .unwrap();
    let idle = Idle::new(&mut lp);
    let (tr, it) = (trace.clone(), iterations.clone());
    idle.start(&mut lp, move |lp, idle| {
        log(&tr, "idle");
        *it.borrow_mut() += 1;
        if *it.borrow() == 2 {
            idle.stop(lp);
        }
    })
    .unwrap();
    let prep = Prepare::new(&mut lp);
    let tr = trace.clone();
    prep.start(&mut lp, move |lp, p| {
        log(&tr, "prepare");
        let tr2 = tr.clone();
        // Closed in an iteration: its callback runs in that iteration's close phase.
        BareHandle::new(lp)
            .close(lp, move |_| log(&tr2, "close"))
            .unwrap();
        p.stop(lp);
    })
    .unwrap();
    let check = Check::new(&mut lp);
    let tr = trace.clone();
    check
        .start(&mut lp, move |lp, c| {
            log(&tr, "check");
            let tr2 = tr.clone();
            let t2 = Timer::new(lp);
            t2.start(lp, 0, 0, move |_, _| log(&tr2, "timer 2"))
                .unwrap();
            c.stop(lp);
        })
        .unwrap();
    assert!(!lp.run(RunMode::Default));
    // Default mode runs due timers once before the first iteration (libuv
    // 1.45+), then: idle, prepare, poll, check, close, timers.
    assert_eq!(
        *trace.borrow(),
        ["timer", "idle", "prepare", "check", "close", "timer 2", "idle"]
    );
}

#[test]
fn unref_handle_does_not_keep_the_loop_alive() {
    let mut lp = Loop::new();
    let t = Timer::new(&mut lp);
    t.start(&mut lp, 60_000, 0, |_, _| panic!("must not fire"))
        .unwrap();
    assert!(lp.alive() && t.has_ref(&lp));
    t.unref(&mut lp);
    assert!(!t.has_ref(&lp) && t.is_active(&lp));
    assert!(!lp.alive());
    assert!(!lp.run(RunMode::Default), "returns at once");
    t.ref_(&mut lp);
    assert!(lp.alive());
    t.stop(&mut lp);
    assert!(!lp.alive(), "a stopped ref'd handle does not keep it alive");
}

#[test]
fn closing_handle_keeps_the_loop_alive_until_its_callback() {
    let mut lp = Loop::new();
    let h = BareHandle::new(&mut lp);
    let done = Rc::new(RefCell::new(false));
    let d = done.clone();
    h.close(&mut lp, move |_| *d.borrow_mut() = true).unwrap();
    assert!(lp.alive() && h.is_closing(&lp));
    assert!(!lp.run(RunMode::NoWait));
    assert!(*done.borrow() && h.is_closed(&lp));
    assert_eq!(lp.handle_count(), Loop::new().handle_count());
}

#[test]
fn closing_twice_and_using_closed_handles_are_errors() {
    let mut lp = Loop::new();
    let t = Timer::new(&mut lp);
    assert_eq!(t.again(&mut lp), Err(HandleError::NeverStarted));
    t.close(&mut lp, |_| {}).unwrap();
    assert_eq!(t.close(&mut lp, |_| {}), Err(HandleError::Closing));
    assert_eq!(t.start(&mut lp, 1, 0, |_, _| {}), Err(HandleError::Closing));
    lp.run_default();
    assert_eq!(t.close(&mut lp, |_| {}), Err(HandleError::Closed));
    assert_eq!(t.start(&mut lp, 1, 0, |_, _| {}), Err(HandleError::Closed));
    t.stop(&mut lp); // harmless
}

#[test]
fn stale_id_cannot_touch_the_handle_that_reuses_its_slot() {
    let mut lp = vloop();
    let old = Timer::new(&mut lp);
    old.close(&mut lp, |_| {}).unwrap();
    lp.run_default();
    let fired = Rc::new(RefCell::new(0));
    let new = Timer::new(&mut lp);
    let f = fired.clone();
    new.start(&mut lp, 5, 0, move |_, _| *f.borrow_mut() += 1)
        .unwrap();
    // The slab reuses the slot; the generation tells the ids apart.
    assert_ne!(old.id(), new.id());
    old.stop(&mut lp);
    old.unref(&mut lp);
    assert_eq!(old.close(&mut lp, |_| {}), Err(HandleError::Closed));
    assert!(new.is_active(&lp) && new.has_ref(&lp));
    lp.run_default();
    assert_eq!(*fired.borrow(), 1);
}

#[test]
fn timer_repeat_again_and_due_in() {
    let mut lp = vloop();
    let t = Timer::new(&mut lp);
    let times: Rc<RefCell<Vec<u64>>> = Rc::default();
    let tm = times.clone();
    t.start(&mut lp, 10, 25, move |lp, t| {
        tm.borrow_mut().push(lp.now());
        if tm.borrow().len() == 3 {
            t.stop(lp);
        }
    })
    .unwrap();
    assert_eq!(t.due_in(&mut lp), 10);
    assert_eq!(t.repeat(&mut lp), 25);
    lp.run_default();
    assert_eq!(*times.borrow(), [10, 35, 60]);
    // again: restart with the repeat value as the timeout.
    t.set_repeat(&mut lp, 7);
    t.again(&mut lp).unwrap();
    assert_eq!(t.due_in(&mut lp), 7);
    t.stop(&mut lp);
    assert_eq!(t.due_in(&mut lp), 0);
}

#[test]
fn timers_due_together_fire_in_start_order() {
    let mut lp = vloop();
    let trace: Trace = Rc::default();
    for name in ["a", "b", "c"] {
        let tr = trace.clone();
        Timer::new(&mut lp)
            .start(&mut lp, 5, 0, move |_, _| log(&tr, name))
            .unwrap();
    }
    lp.run_default();
    assert_eq!(*trace.borrow(), ["a", "b", "c"]);
}

#[test]
fn stop_from_a_callback_ends_run_but_keeps_the_loop_alive() {
    let mut lp = vloop();
    let idle = Idle::new(&mut lp);
    let n = Rc::new(RefCell::new(0));
    let c = n.clone();
    idle.start(&mut lp, move |lp, _| {
        *c.borrow_mut() += 1;
        lp.stop();
    })
    .unwrap();
    assert!(lp.run(RunMode::Default), "still alive");
    assert_eq!(*n.borrow(), 1);
    assert!(lp.run(RunMode::Default));
    assert_eq!(*n.borrow(), 2);
    idle.close(&mut lp, |_| {}).unwrap();
    assert!(!lp.run(RunMode::Default));
}

#[test]
fn run_once_blocks_until_a_timer_and_nowait_does_not() {
    let mut lp = Loop::new();
    let t = Timer::new(&mut lp);
    t.start(&mut lp, 30, 0, |_, _| {}).unwrap();
    let start = std::time::Instant::now();
    assert!(lp.run(RunMode::NoWait));
    assert!(start.elapsed() < Duration::from_millis(25));
    assert!(!lp.run(RunMode::Once), "the timer fired in that iteration");
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn now_is_cached_and_update_time_refreshes_it() {
    let mut lp = Loop::new();
    lp.update_time();
    let before = lp.now();
    std::thread::sleep(Duration::from_millis(15));
    assert_eq!(lp.now(), before, "cached");
    lp.update_time();
    assert!(lp.now() >= before + 15);
}

#[test]
fn cancelled_timers_do_not_pile_up() {
    let mut lp = Loop::new();
    let keep: Vec<_> = (0..100)
        .map(|i| lp.set_timeout(10_000 + i, |_| {}))
        .collect();
    for _ in 0..1_000_000 {
        let t = lp.set_timeout(10_000, |_| {});
        lp.clear_timeout(t);
    }
    let raw: Vec<Timer> = (0..1000).map(|_| Timer::new(&mut lp)).collect();
    for _ in 0..100 {
        for t in &raw {
            t.start(&mut lp, 50_000, 0, |_, _| {}).unwrap();
            t.stop(&mut lp);
        }
    }
    assert!(
        lp.timer_heap_len() <= 2 + 65, // one live entry: Node's shared timer
        "heap holds {} entries",
        lp.timer_heap_len()
    );
    for t in keep {
        lp.clear_timeout(t);
    }
    for t in raw {
        t.close(&mut lp, |_| {}).unwrap();
    }
    assert!(!lp.run(RunMode::Default));
    assert_eq!(
        lp.handle_count(),
        Loop::new().handle_count(),
        "only the loop's own handles are left"
    );
}
