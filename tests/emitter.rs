//! EventEmitter semantics, each as in Node's `lib/events.js`.

use std::cell::RefCell;
use std::rc::Rc;

use nodeloop::emitter::{Event, EventEmitter, ListenerId};
use nodeloop::Loop;

struct Msg;
impl Event for Msg {
    type Payload = u32;
    const NAME: &'static str = "msg";
}

struct Other;
impl Event for Other {
    type Payload = String;
    const NAME: &'static str = "other";
}

struct Failure;
impl Event for Failure {
    type Payload = String;
    const NAME: &'static str = "error";
    const IS_ERROR: bool = true;
}

type Log = Rc<RefCell<Vec<String>>>;

fn listener(log: &Log, tag: &'static str) -> impl FnMut(&mut Loop, &u32) + 'static {
    let log = log.clone();
    move |_, n| log.borrow_mut().push(format!("{tag}{n}"))
}

#[test]
fn emit_runs_listeners_in_registration_order_with_prepend_first() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let log: Log = Rc::default();
    em.on::<Msg>(listener(&log, "a"));
    em.on::<Msg>(listener(&log, "b"));
    em.prepend_listener::<Msg>(listener(&log, "p"));
    assert!(em.emit::<Msg>(&mut lp, 1));
    assert_eq!(*log.borrow(), ["p1", "a1", "b1"]);
    assert!(
        !em.emit::<Other>(&mut lp, "x".into()),
        "no listener for Other"
    );
}

#[test]
fn listener_added_during_emit_does_not_run_in_that_emit() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let log: Log = Rc::default();
    let (em2, log2) = (em.clone(), log.clone());
    em.once::<Msg>(move |_, n| {
        log2.borrow_mut().push(format!("first{n}"));
        em2.on::<Msg>(listener(&log2, "late"));
    });
    em.emit::<Msg>(&mut lp, 1);
    assert_eq!(*log.borrow(), ["first1"]);
    em.emit::<Msg>(&mut lp, 2);
    assert_eq!(*log.borrow(), ["first1", "late2"]);
}

#[test]
fn listener_removed_during_emit_still_runs_in_that_emit() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let log: Log = Rc::default();
    let victim: Rc<RefCell<Option<ListenerId>>> = Rc::default();
    let (em2, v2, log2) = (em.clone(), victim.clone(), log.clone());
    em.on::<Msg>(move |_, n| {
        log2.borrow_mut().push(format!("remover{n}"));
        if let Some(id) = v2.borrow_mut().take() {
            assert!(em2.off(id));
        }
    });
    *victim.borrow_mut() = Some(em.on::<Msg>(listener(&log, "victim")));
    em.emit::<Msg>(&mut lp, 1);
    em.emit::<Msg>(&mut lp, 2);
    assert_eq!(*log.borrow(), ["remover1", "victim1", "remover2"]);
}

#[test]
fn once_removed_during_emit_still_runs_once() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let log: Log = Rc::default();
    let victim: Rc<RefCell<Option<ListenerId>>> = Rc::default();
    let (em2, v2) = (em.clone(), victim.clone());
    em.on::<Msg>(move |_, _| {
        if let Some(id) = v2.borrow_mut().take() {
            em2.off(id);
        }
    });
    *victim.borrow_mut() = Some(em.once::<Msg>(listener(&log, "once")));
    em.emit::<Msg>(&mut lp, 1);
    em.emit::<Msg>(&mut lp, 2);
    assert_eq!(*log.borrow(), ["once1"]);
    assert_eq!(em.listener_count::<Msg>(), 1);
}

#[test]
fn off_remove_all_and_counts() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let log: Log = Rc::default();
    let a = em.on::<Msg>(listener(&log, "a"));
    em.on::<Msg>(listener(&log, "b"));
    em.on::<Other>(|_, _| {});
    assert_eq!(em.listener_count::<Msg>(), 2);
    assert_eq!(em.event_names(), ["msg", "other"]);
    assert!(em.off(a));
    assert!(!em.off(a), "second off of the same id finds nothing");
    em.emit::<Msg>(&mut lp, 1);
    assert_eq!(*log.borrow(), ["b1"]);
    em.remove_all::<Msg>();
    assert_eq!(em.listener_count::<Msg>(), 0);
    assert_eq!(em.listener_count::<Other>(), 1);
    em.remove_all_events();
    assert!(em.event_names().is_empty());
}

#[test]
fn unheard_error_is_returned_by_emit_error() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let e = em.emit_error::<Failure>(&mut lp, "bad".into()).unwrap_err();
    assert_eq!((e.event, e.payload.as_str()), ("error", "bad"));
    let log: Log = Rc::default();
    let l = log.clone();
    em.on::<Failure>(move |_, e| l.borrow_mut().push(e.clone()));
    assert!(em.emit_error::<Failure>(&mut lp, "heard".into()).is_ok());
    assert_eq!(*log.borrow(), ["heard"]);
}

#[test]
#[should_panic(expected = "unhandled 'error' event")]
fn unheard_error_panics_from_emit_like_node_throws() {
    let mut lp = Loop::new();
    EventEmitter::new().emit::<Failure>(&mut lp, "bad".into());
}

#[test]
fn unheard_error_in_a_callback_reaches_the_loop_panic_handler() {
    let mut lp = Loop::new();
    let caught = Rc::new(RefCell::new(0));
    let c = caught.clone();
    lp.on_uncaught_panic(move |_, _| *c.borrow_mut() += 1);
    let em = EventEmitter::new();
    lp.set_immediate(move |lp| {
        em.emit::<Failure>(lp, "bad".into());
    });
    lp.run_default();
    assert_eq!(*caught.borrow(), 1);
}

#[test]
fn listeners_can_schedule_work_on_the_loop() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let log: Log = Rc::default();
    let l = log.clone();
    em.on::<Msg>(move |lp, n| {
        let (l, n) = (l.clone(), *n);
        l.borrow_mut().push(format!("sync{n}"));
        lp.next_tick(move |_| l.borrow_mut().push(format!("tick{n}")));
    });
    em.emit::<Msg>(&mut lp, 7);
    log.borrow_mut().push("after emit".into());
    lp.run_default();
    assert_eq!(*log.borrow(), ["sync7", "after emit", "tick7"]);
}

#[test]
fn max_listeners_is_configurable_and_does_not_limit() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    assert_eq!(em.max_listeners(), 10);
    let log: Log = Rc::default();
    for _ in 0..12 {
        em.on::<Msg>(listener(&log, "x"));
    }
    // Past the threshold Node only warns; every listener still runs.
    em.emit::<Msg>(&mut lp, 0);
    assert_eq!(log.borrow().len(), 12);
    em.set_max_listeners(0);
    assert_eq!(em.max_listeners(), 0);
}

#[test]
fn recursive_emit_reaches_other_listeners() {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let log: Log = Rc::default();
    let (em2, l) = (em.clone(), log.clone());
    em.on::<Msg>(move |lp, n| {
        l.borrow_mut().push(format!("outer{n}"));
        if *n == 1 {
            em2.emit::<Msg>(lp, 2);
        }
    });
    em.on::<Msg>(listener(&log, "inner"));
    em.emit::<Msg>(&mut lp, 1);
    // The re-entered first listener is skipped in the nested emit.
    assert_eq!(*log.borrow(), ["outer1", "inner2", "inner1"]);
}
