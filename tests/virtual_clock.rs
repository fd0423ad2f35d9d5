//! The virtual clock: no sleeping, time jumps to the next due timer, busy
//! work advances it, and pool work in flight holds the jump back.

use nodeloop::Loop;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn vloop() -> Loop {
    Loop::builder().virtual_clock(true).build().unwrap()
}

#[test]
fn an_hour_of_timers_takes_no_real_time() {
    let mut lp = vloop();
    let fired: Rc<RefCell<Vec<u64>>> = Rc::default();
    for i in 0..1000u64 {
        let f = fired.clone();
        lp.set_timeout(3_600_000 - i * 3_600, move |lp| {
            f.borrow_mut().push(lp.now())
        });
    }
    let start = Instant::now();
    lp.run_default();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    let fired = fired.borrow();
    assert_eq!(fired.len(), 1000);
    assert!(fired.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*fired.last().unwrap(), 3_600_000);
    assert_eq!(lp.now(), 3_600_000);
}

#[test]
fn block_advances_the_clock_by_its_duration() {
    let mut lp = vloop();
    let seen: Rc<RefCell<Vec<(&str, u64)>>> = Rc::default();
    let s = seen.clone();
    lp.set_timeout(100, move |lp| {
        s.borrow_mut().push(("timer", lp.now()));
        lp.block(Duration::from_millis(250));
        let s2 = s.clone();
        lp.set_immediate(move |lp| s2.borrow_mut().push(("immediate", lp.now())));
    });
    let start = Instant::now();
    lp.run_default();
    assert!(start.elapsed() < Duration::from_millis(200));
    // The loop time is refreshed after the poll phase, so the immediate
    // sees the time the block moved the clock to.
    assert_eq!(*seen.borrow(), [("timer", 100), ("immediate", 350)]);
}

/// What Node does, checked against it: the interval is rescheduled from the
/// time its callback started (10 + 10 = 20), but libuv computes the next poll
/// timeout from the loop time cached before the callback (10), so the poll
/// sleeps 10 ms from the end of the 4 ms callback and the run comes at 24.
#[test]
fn slow_interval_callback_delays_the_next_run_as_in_node() {
    let mut lp = vloop();
    let runs: Rc<RefCell<Vec<u64>>> = Rc::default();
    let r = runs.clone();
    let me: Rc<RefCell<Option<nodeloop::Timeout>>> = Rc::default();
    let m = me.clone();
    let t = lp.set_interval(10, move |lp| {
        r.borrow_mut().push(lp.now());
        if r.borrow().len() == 1 {
            lp.block(Duration::from_millis(4));
        }
        if r.borrow().len() == 3 {
            lp.clear_interval(m.borrow().unwrap());
        }
    });
    *me.borrow_mut() = Some(t);
    lp.run_default();
    assert_eq!(*runs.borrow(), [10, 24, 34]);
}

#[test]
fn pool_work_in_flight_holds_the_clock() {
    let mut lp = vloop();
    let trace: Rc<RefCell<Vec<(&str, u64)>>> = Rc::default();
    let t = trace.clone();
    lp.queue_work(
        || std::thread::sleep(Duration::from_millis(60)),
        move |lp, r| {
            r.unwrap();
            t.borrow_mut().push(("work", lp.now()));
        },
    );
    let t = trace.clone();
    lp.set_timeout(10, move |lp| t.borrow_mut().push(("timer", lp.now())));
    lp.run_default();
    // The clock could not jump to the timer while the job might still post
    // a completion "before" it: the job comes first, at virtual time 0.
    assert_eq!(*trace.borrow(), [("work", 0), ("timer", 10)]);
}

#[test]
fn same_program_prints_the_same_every_run() {
    fn program() -> Vec<String> {
        let mut lp = vloop();
        let out: Rc<RefCell<Vec<String>>> = Rc::default();
        for i in 0..50u64 {
            let o = out.clone();
            lp.set_timeout(1 + (i * 7919) % 100, move |lp| {
                o.borrow_mut().push(format!("t{i}@{}", lp.now()));
                let o2 = o.clone();
                lp.set_immediate(move |lp| o2.borrow_mut().push(format!("i{i}@{}", lp.now())));
            });
            let o = out.clone();
            lp.queue_work(
                move || i * 2,
                move |lp, r| o.borrow_mut().push(format!("w{}@{}", r.unwrap(), lp.now())),
            );
        }
        lp.run_default();
        let v = out.borrow().clone();
        v
    }
    let first = program();
    assert_eq!(first.len(), 150);
    for _ in 0..5 {
        assert_eq!(program(), first);
    }
}
