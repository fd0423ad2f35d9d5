//! `Promise.all`, `allSettled`, `race` and `any`. Each registers one
//! reaction per input, in input order, as the JavaScript versions do through
//! `then`, so their results settle on the same microtask turn.

use std::cell::RefCell;
use std::rc::Rc;

use super::{Promise, Rejection};
use crate::Loop;

/// Collects per-input results; `slots[i]` is input `i`'s, `left` counts the
/// ones still missing.
struct Gather<R> {
    slots: Vec<Option<R>>,
    left: usize,
}

impl<R> Gather<R> {
    fn new(n: usize) -> Rc<RefCell<Gather<R>>> {
        Rc::new(RefCell::new(Gather {
            slots: (0..n).map(|_| None).collect(),
            left: n,
        }))
    }

    /// Stores input `i`'s result; returns all of them once complete.
    fn put(this: &RefCell<Gather<R>>, i: usize, r: R) -> Option<Vec<R>> {
        let mut g = this.borrow_mut();
        g.slots[i] = Some(r);
        g.left -= 1;
        if g.left > 0 {
            return None;
        }
        Some(
            g.slots
                .drain(..)
                .map(|s| s.expect("every slot filled"))
                .collect(),
        )
    }
}

impl<T: Clone + 'static> Promise<T> {
    /// `Promise.all`: fulfils with every value in input order once all are
    /// fulfilled; rejects with the first rejection.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise};
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let slow = lp.set_timeout_promise(20, 1);
    /// let fast = lp.set_timeout_promise(10, 2);
    /// let all = Promise::all(&mut lp, vec![slow, fast]);
    /// lp.run_default();
    /// assert_eq!(all.peek().unwrap().unwrap(), [1, 2]);
    /// ```
    pub fn all(lp: &mut Loop, inputs: Vec<Promise<T>>) -> Promise<Vec<T>> {
        let (out, r) = Promise::with_resolvers();
        if inputs.is_empty() {
            r.resolve(lp, Vec::new());
            return out;
        }
        let gather = Gather::new(inputs.len());
        let r = Rc::new(RefCell::new(Some(r)));
        for (i, p) in inputs.into_iter().enumerate() {
            let (g, r) = (gather.clone(), r.clone());
            p.on_settle(lp, move |lp, outcome| match outcome {
                Ok(v) => {
                    if let Some(all) = Gather::put(&g, i, v) {
                        if let Some(r) = r.borrow_mut().take() {
                            r.resolve(lp, all);
                        }
                    }
                }
                Err(e) => {
                    if let Some(r) = r.borrow_mut().take() {
                        r.reject(lp, e);
                    }
                }
            });
        }
        out
    }

    /// `Promise.allSettled`: fulfils with every outcome in input order once
    /// all have settled. Never rejects.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise};
    /// let mut lp = Loop::new();
    /// let bad = Promise::<i32>::reject(&mut lp, std::fmt::Error);
    /// let all = Promise::all_settled(&mut lp, vec![Promise::resolve(1), bad]);
    /// lp.run_default();
    /// let got = all.peek().unwrap().unwrap();
    /// assert!(got[0].is_ok() && got[1].is_err());
    /// ```
    pub fn all_settled(
        lp: &mut Loop,
        inputs: Vec<Promise<T>>,
    ) -> Promise<Vec<Result<T, Rejection>>> {
        let (out, r) = Promise::with_resolvers();
        if inputs.is_empty() {
            r.resolve(lp, Vec::new());
            return out;
        }
        let gather = Gather::new(inputs.len());
        let r = Rc::new(RefCell::new(Some(r)));
        for (i, p) in inputs.into_iter().enumerate() {
            let (g, r) = (gather.clone(), r.clone());
            p.on_settle(lp, move |lp, outcome| {
                if let Some(all) = Gather::put(&g, i, outcome) {
                    if let Some(r) = r.borrow_mut().take() {
                        r.resolve(lp, all);
                    }
                }
            });
        }
        out
    }

    /// `Promise.race`: settles like the first input to settle. With no
    /// inputs it stays pending forever, as in JavaScript.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise};
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let slow = lp.set_timeout_promise(20, "slow");
    /// let fast = lp.set_timeout_promise(10, "fast");
    /// let first = Promise::race(&mut lp, vec![slow, fast]);
    /// lp.run_default();
    /// assert_eq!(first.peek().unwrap().unwrap(), "fast");
    /// ```
    pub fn race(lp: &mut Loop, inputs: Vec<Promise<T>>) -> Promise<T> {
        let (out, r) = Promise::with_resolvers();
        let r = Rc::new(RefCell::new(Some(r)));
        for p in inputs {
            let r = r.clone();
            p.on_settle(lp, move |lp, outcome| {
                if let Some(r) = r.borrow_mut().take() {
                    r.settle(lp, outcome);
                }
            });
        }
        out
    }

    /// `Promise.any`: fulfils like the first input to fulfil; if all reject
    /// (or there are none), rejects with
    /// [`RejectionKind::Aggregate`](crate::RejectionKind::Aggregate) of their
    /// reasons in input order.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise, RejectionKind};
    /// let mut lp = Loop::new();
    /// let bad = Promise::<i32>::reject(&mut lp, std::fmt::Error);
    /// let any = Promise::any(&mut lp, vec![bad.clone(), Promise::resolve(3)]);
    /// let none = Promise::any(&mut lp, vec![bad]);
    /// none.catch(&mut lp, |_, _| 0);
    /// lp.run_default();
    /// assert_eq!(any.peek().unwrap().unwrap(), 3);
    /// let e = none.peek().unwrap().unwrap_err();
    /// assert!(matches!(e.kind(), RejectionKind::Aggregate(v) if v.len() == 1));
    /// ```
    pub fn any(lp: &mut Loop, inputs: Vec<Promise<T>>) -> Promise<T> {
        let (out, r) = Promise::with_resolvers();
        if inputs.is_empty() {
            r.reject(lp, Rejection::aggregate(Vec::new()));
            return out;
        }
        let gather = Gather::new(inputs.len());
        let r = Rc::new(RefCell::new(Some(r)));
        for (i, p) in inputs.into_iter().enumerate() {
            let (g, r) = (gather.clone(), r.clone());
            p.on_settle(lp, move |lp, outcome| match outcome {
                Ok(v) => {
                    if let Some(r) = r.borrow_mut().take() {
                        r.resolve(lp, v);
                    }
                }
                Err(e) => {
                    if let Some(all) = Gather::put(&g, i, e) {
                        if let Some(r) = r.borrow_mut().take() {
                            r.reject(lp, Rejection::aggregate(all));
                        }
                    }
                }
            });
        }
        out
    }
}
