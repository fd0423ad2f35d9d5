//! Promise and async/await timing against Node. Each test is the Rust twin
//! of `tests/promise_conformance/NAME.js`; its trace must equal what Node
//! printed, recorded in `NAME.expected` by `record.sh`. When `node` is on
//! PATH the program is run again and must still print the recorded output,
//! so the oracle cannot drift from the files.

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;

use nodeloop::{sleep, spawn, Loop, Promise, Rejection};

#[derive(Clone, Default)]
struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    fn log(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    /// A logging closure for `then`.
    fn at<T>(&self, s: &'static str) -> impl FnOnce(&mut Loop, T) {
        let t = self.clone();
        move |_, _| t.log(s)
    }
}

/// `new Error(msg)`.
#[derive(Debug)]
struct JsError(&'static str);
impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for JsError {}

fn message(r: &Rejection) -> String {
    r.to_string()
}

fn check(name: &str, trace: &Trace) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/promise_conformance");
    let expected = std::fs::read_to_string(dir.join(format!("{name}.expected")))
        .unwrap_or_else(|e| panic!("{name}.expected: {e} (run record.sh)"));
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(
        *trace.0.borrow(),
        expected,
        "{name}: Rust trace differs from Node's"
    );
    if let Ok(out) = Command::new("node")
        .arg(dir.join(format!("{name}.js")))
        .output()
    {
        assert!(out.status.success(), "{name}.js failed under node");
        let node = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            node.lines().collect::<Vec<_>>(),
            expected,
            "{name}: Node no longer prints the recorded output"
        );
    }
}

/// `Promise.resolve().then(a).then(b)...` logging each name.
fn chain(lp: &mut Loop, t: &Trace, names: &[&'static str]) -> Promise<()> {
    let mut p = Promise::resolve(());
    for &n in names {
        p = p.then(lp, t.at(n));
    }
    p
}

#[test]
fn then_chains() {
    let t = Trace::default();
    let mut lp = Loop::new();
    chain(&mut lp, &t, &["a1", "a2", "a3"]);
    chain(&mut lp, &t, &["b1", "b2"]);
    let t2 = t.clone();
    lp.queue_microtask(move |_| t2.log("m1"));
    let p = Promise::resolve(7);
    let t2 = t.clone();
    p.then(&mut lp, move |_, v| t2.log(format!("p1 {v}")));
    let t2 = t.clone();
    p.then(&mut lp, move |_, v| t2.log(format!("p2 {v}")));
    let t2 = t.clone();
    lp.next_tick(move |_| t2.log("tick"));
    t.log("main");
    lp.run_default();
    check("then_chains", &t);
}

#[test]
fn adoption() {
    let t = Trace::default();
    let mut lp = Loop::new();
    let p = Promise::resolve(1);
    let p2 = p.clone();
    Promise::new(&mut lp, move |lp, r| r.adopt(lp, p2)).then(&mut lp, t.at("adopted"));
    let t2 = t.clone();
    Promise::resolve(())
        .then_promise(&mut lp, |_, ()| Promise::resolve("inner"))
        .then(&mut lp, move |_, v| t2.log(format!("returned {v}")));
    let mut c = p.then(&mut lp, t.at("t1"));
    for n in ["t2", "t3", "t4", "t5"] {
        c = c.then(&mut lp, t.at(n));
    }
    let (pending, res) = Promise::<&str>::with_resolvers();
    let t2 = t.clone();
    Promise::new(&mut lp, move |lp, r| r.adopt(lp, pending))
        .then(&mut lp, move |_, v| t2.log(format!("followed {v}")));
    let t2 = t.clone();
    let mut s = Promise::resolve(()).then(&mut lp, move |lp, ()| {
        t2.log("settle pending");
        res.resolve(lp, "x");
    });
    for n in ["s2", "s3", "s4", "s5"] {
        s = s.then(&mut lp, t.at(n));
    }
    t.log("main");
    lp.run_default();
    check("adoption", &t);
}

#[test]
fn finally() {
    let t = Trace::default();
    let mut lp = Loop::new();
    let t2 = t.clone();
    Promise::resolve(1)
        .finally(&mut lp, {
            let t = t.clone();
            move |_| t.log("f1")
        })
        .then(&mut lp, move |_, v| t2.log(format!("after f1 {v}")));
    let t2 = t.clone();
    Promise::<()>::reject(&mut lp, JsError("e"))
        .finally(&mut lp, {
            let t = t.clone();
            move |_| t.log("f2")
        })
        .catch(&mut lp, move |_, e| {
            t2.log(format!("after f2 {}", message(&e)))
        });
    chain(&mut lp, &t, &["c1", "c2", "c3", "c4", "c5", "c6"]);
    t.log("main");
    lp.run_default();
    check("finally", &t);
}

async fn inner(t: Trace, tag: &'static str) -> &'static str {
    t.log(format!("{tag} start"));
    Promise::resolve(()).await.unwrap(); // await null
    t.log(format!("{tag} after await"));
    tag
}

async fn outer(t: Trace) -> &'static str {
    t.log("outer start");
    let v = spawn(inner(t.clone(), "i1")).await.unwrap();
    t.log(format!("outer got {v}"));
    let w = Promise::resolve("w").await.unwrap();
    t.log(format!("outer got {w}"));
    let x = spawn(inner(t.clone(), "i2")).await.unwrap();
    t.log(format!("outer got {x}"));
    "done"
}

#[test]
fn async_await() {
    let t = Trace::default();
    let mut lp = Loop::new();
    let t2 = t.clone();
    lp.spawn(outer(t.clone()))
        .into_promise(&mut lp)
        .then(&mut lp, move |_, v| t2.log(format!("outer resolved {v}")));
    chain(
        &mut lp,
        &t,
        &["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"],
    );
    t.log("main");
    lp.run_default();
    check("async_await", &t);
}

#[test]
fn combinators() {
    let t = Trace::default();
    let mut lp = Loop::new();
    let t2 = t.clone();
    Promise::all(&mut lp, vec![Promise::resolve(1), Promise::resolve(2)]).then(
        &mut lp,
        move |_, v| {
            let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
            t2.log(format!("all {}", s.join(",")))
        },
    );
    let t2 = t.clone();
    Promise::race(
        &mut lp,
        vec![Promise::resolve("r1"), Promise::resolve("r2")],
    )
    .then(&mut lp, move |_, v| t2.log(format!("race {v}")));
    let t2 = t.clone();
    let x = Promise::reject(&mut lp, JsError("x"));
    Promise::all_settled(&mut lp, vec![Promise::resolve(1), x]).then(&mut lp, move |_, v| {
        let s: Vec<&str> = v
            .iter()
            .map(|r| if r.is_ok() { "fulfilled" } else { "rejected" })
            .collect();
        t2.log(format!("settled {}", s.join(",")))
    });
    let t2 = t.clone();
    let x = Promise::reject(&mut lp, JsError("x"));
    Promise::any(&mut lp, vec![x, Promise::resolve("y")])
        .then(&mut lp, move |_, v| t2.log(format!("any {v}")));
    Promise::<u8>::all(&mut lp, vec![]).then(&mut lp, t.at("all empty"));
    let t2 = t.clone();
    let boom = Promise::reject(&mut lp, JsError("boom"));
    Promise::all(&mut lp, vec![Promise::resolve(1), boom]).catch(&mut lp, move |_, e| {
        t2.log(format!("all rejected {}", message(&e)));
        Vec::new()
    });
    let (late, res) = Promise::with_resolvers();
    let chained = Promise::resolve(()).then(&mut lp, |_, ()| "chained");
    let t2 = t.clone();
    Promise::race(&mut lp, vec![late, chained])
        .then(&mut lp, move |_, v| t2.log(format!("race2 {v}")));
    let t2 = t.clone();
    chain(&mut lp, &t, &["c1", "c2", "c3"]).then(&mut lp, move |lp, ()| {
        t2.log("c4");
        res.resolve(lp, "late");
    });
    t.log("main");
    lp.run_default();
    check("combinators", &t);
}

#[test]
fn reject_catch() {
    let t = Trace::default();
    let mut lp = Loop::new();
    let t2 = t.clone();
    Promise::<()>::reject(&mut lp, JsError("e1"))
        .then(&mut lp, t.at("never"))
        .then(&mut lp, t.at("never2"))
        .catch(&mut lp, move |_, e| {
            t2.log(format!("caught {}", message(&e)))
        })
        .then(&mut lp, t.at("after catch"));
    let t2 = t.clone();
    Promise::resolve(())
        .then_try(&mut lp, |_, ()| -> Result<(), Rejection> {
            Err(JsError("thrown").into())
        })
        .catch(&mut lp, move |_, e| {
            t2.log(format!("caught {}", message(&e)))
        });
    let t2 = t.clone();
    lp.spawn(async move {
        let rejected = nodeloop::with_loop(|lp| Promise::<()>::reject(lp, JsError("awaited")));
        if let Err(e) = rejected.await {
            t2.log(format!("async caught {}", message(&e)));
        }
        t2.log("async end");
    });
    chain(&mut lp, &t, &["c1", "c2", "c3", "c4", "c5"]);
    t.log("main");
    lp.run_default();
    check("reject_catch", &t);
}

async fn worker(t: Trace, name: &'static str, ms: u64) {
    t.log(format!("{name} start"));
    sleep(ms).await;
    t.log(format!("{name} woke"));
    let t2 = t.clone();
    nodeloop::with_loop(|lp| lp.next_tick(move |_| t2.log(format!("{name} tick"))));
    Promise::resolve(()).await.unwrap();
    t.log(format!("{name} after await"));
}

#[test]
fn timers_and_awaits() {
    let t = Trace::default();
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    lp.spawn(worker(t.clone(), "w1", 1));
    lp.spawn(worker(t.clone(), "w2", 1));
    let t2 = t.clone();
    lp.set_timeout(1, move |lp| {
        t2.log("timeout cb");
        let t3 = t2.clone();
        lp.set_immediate(move |_| t3.log("immediate cb"));
        let t3 = t2.clone();
        lp.set_immediate_promise("v")
            .then(lp, move |_, v| t3.log(format!("immediate promise {v}")));
        let t3 = t2.clone();
        lp.set_timeout(0, move |_| t3.log("timeout 2"));
        Promise::resolve(()).then(lp, t2.at("timeout microtask"));
    });
    let t2 = t.clone();
    lp.next_tick(move |_| t2.log("main tick"));
    t.log("main");
    lp.run_default();
    check("timers_and_awaits", &t);
}

#[test]
fn unhandled() {
    let t = Trace::default();
    let mut lp = Loop::new();
    let t2 = t.clone();
    lp.on_unhandled_rejection(move |_, r| t2.log(format!("unhandled {}", message(&r))));
    let a = Promise::<()>::reject(&mut lp, JsError("a"));
    Promise::<()>::reject(&mut lp, JsError("b")).catch(&mut lp, t.at("b caught"));
    let c = Promise::<()>::reject(&mut lp, JsError("c"));
    let t2 = t.clone();
    Promise::resolve(())
        .then(&mut lp, t.at("c1"))
        .then(&mut lp, move |lp, ()| {
            t2.log("c2");
            c.catch(lp, t2.at("c caught in drain"));
        });
    let t2 = t.clone();
    lp.set_timeout(0, move |lp| {
        a.catch(lp, t2.at("a caught late"));
        Promise::resolve(()).then_try(lp, |_, ()| -> Result<(), Rejection> {
            Err(JsError("from timer").into())
        });
        let t3 = t2.clone();
        lp.next_tick(move |_| t3.log("timer tick"));
    });
    let t2 = t.clone();
    lp.next_tick(move |_| t2.log("tick"));
    t.log("main");
    lp.run_default();
    check("unhandled", &t);
}
