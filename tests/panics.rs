//! Panics in callbacks: propagation out of `run`, a safe loop afterwards, and
//! the uncaught-panic handler.

use nodeloop::{Handle, Loop, RunMode, Timer};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

fn message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Counts drops, to check nothing is dropped twice or leaked.
struct DropCount(Rc<RefCell<u32>>);
impl Drop for DropCount {
    fn drop(&mut self) {
        *self.0.borrow_mut() += 1;
    }
}

#[test]
fn panic_propagates_out_of_run_with_its_payload() {
    let mut lp = Loop::new();
    lp.set_timeout(1, |_| panic!("boom in timer"));
    let err = catch_unwind(AssertUnwindSafe(|| lp.run_default())).unwrap_err();
    assert_eq!(message(&*err), "boom in timer");
}

#[test]
fn every_kind_of_callback_propagates() {
    type Setup = fn(&mut Loop);
    let setups: [(&str, Setup); 6] = [
        ("tick", |lp| lp.next_tick(|_| panic!("tick"))),
        ("microtask", |lp| {
            lp.queue_microtask(|_| panic!("microtask"))
        }),
        ("immediate", |lp| {
            lp.set_immediate(|_| panic!("immediate"));
        }),
        ("close", |lp| {
            nodeloop::BareHandle::new(lp)
                .close(lp, |_| panic!("close"))
                .unwrap()
        }),
        ("work", |lp| {
            lp.queue_work(|| 1, |_, _| panic!("work"));
        }),
        ("timer", |lp| {
            Timer::new(lp)
                .start(lp, 0, 0, |_, _| panic!("timer"))
                .unwrap()
        }),
    ];
    for (name, setup) in setups {
        let mut lp = Loop::new();
        setup(&mut lp);
        let err = catch_unwind(AssertUnwindSafe(|| lp.run_default())).expect_err(name);
        assert_eq!(message(&*err), name);
        // The loop is usable and droppable afterwards.
        assert!(!lp.run(RunMode::Default), "{name}: nothing left");
    }
}

#[test]
fn work_after_a_panic_is_kept_for_the_next_run() {
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    let trace: Rc<RefCell<Vec<&str>>> = Rc::default();
    let t = trace.clone();
    lp.set_timeout(5, move |_| t.borrow_mut().push("a"));
    lp.set_timeout(5, |_| panic!("b"));
    let t = trace.clone();
    lp.set_timeout(5, move |_| t.borrow_mut().push("c"));
    let t = trace.clone();
    lp.set_immediate(move |_| t.borrow_mut().push("immediate"));
    let t = trace.clone();
    lp.next_tick(move |_| t.borrow_mut().push("tick"));
    assert!(catch_unwind(AssertUnwindSafe(|| lp.run_default())).is_err());
    assert_eq!(*trace.borrow(), ["tick", "immediate", "a"]);
    // Like Node after an uncaught exception that is caught by the embedder,
    // the remaining callbacks are still queued and run on the next run.
    lp.run_default();
    assert_eq!(*trace.borrow(), ["tick", "immediate", "a", "c"]);
}

#[test]
fn dropping_a_loop_after_a_panic_drops_everything_once() {
    let drops = Rc::new(RefCell::new(0));
    {
        let mut lp = Loop::new();
        for i in 0..10 {
            let d = DropCount(drops.clone());
            lp.set_timeout(1 + i, move |_| drop(d));
            let d = DropCount(drops.clone());
            lp.set_immediate(move |_| drop(d));
            let d = DropCount(drops.clone());
            lp.next_tick(move |_| drop(d));
        }
        lp.next_tick(|_| panic!("early"));
        assert!(catch_unwind(AssertUnwindSafe(|| lp.run_default())).is_err());
    }
    assert_eq!(
        *drops.borrow(),
        30,
        "every closure dropped exactly once, run or not"
    );
}

#[test]
fn handler_catches_and_the_loop_carries_on() {
    // Virtual clock: the timers fall due only when nothing but timers is
    // left, so the order below does not depend on how long the machine
    // takes between `set_timeout` and the first loop iteration (on the real
    // clock a stall of 2 ms there let the panicking timer run before the
    // immediates).
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    let events: Rc<RefCell<Vec<String>>> = Rc::default();
    let e = events.clone();
    lp.on_uncaught_panic(move |_, p| e.borrow_mut().push(format!("caught {}", message(&*p))));
    lp.set_immediate(|_| panic!("first"));
    let e = events.clone();
    lp.set_immediate(move |_| e.borrow_mut().push("second immediate".into()));
    lp.set_timeout(2, |_| panic!("timer"));
    let e = events.clone();
    lp.set_timeout(3, move |_| e.borrow_mut().push("later timer".into()));
    let e = events.clone();
    lp.queue_work(|| (), move |_, _| e.borrow_mut().push("work".into()));
    assert!(!lp.run(RunMode::Default));
    let mut events = events.borrow().clone();
    // The pool job's completion may come in any poll phase: it must come,
    // once, but its place is the thread pool's business.
    let work = events.iter().position(|e| e == "work").expect("work ran");
    events.remove(work);
    assert_eq!(
        events,
        [
            "caught first",
            "second immediate",
            "caught timer",
            "later timer"
        ]
    );
    assert!(lp.now() >= 3, "both timers ran at their due times");
}

#[test]
fn panic_in_the_handler_itself_propagates() {
    let mut lp = Loop::new();
    lp.on_uncaught_panic(|_, _| panic!("handler gave up"));
    lp.set_immediate(|_| panic!("first"));
    let err = catch_unwind(AssertUnwindSafe(|| lp.run_default())).unwrap_err();
    assert_eq!(message(&*err), "handler gave up");
    lp.clear_uncaught_panic_handler();
}

#[test]
fn panic_inside_a_timer_leaves_other_timer_handles_armed() {
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    let a = Timer::new(&mut lp);
    let b = Timer::new(&mut lp);
    a.start(&mut lp, 10, 0, |_, _| panic!("a")).unwrap();
    let fired = Rc::new(RefCell::new(false));
    let f = fired.clone();
    b.start(&mut lp, 10, 0, move |_, _| *f.borrow_mut() = true)
        .unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| lp.run_default())).is_err());
    assert!(
        b.is_active(&lp),
        "b was due in the same phase and is still armed"
    );
    lp.run_default();
    assert!(*fired.borrow());
}
