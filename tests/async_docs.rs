//! The triptych of docs/async.md, compiled and run: the callback, promise
//! and async/await versions of the primality check must agree.

use std::cell::RefCell;
use std::rc::Rc;

use nodeloop::{run_work, sleep, with_loop, Loop, Promise};

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

fn check_with_callbacks(lp: &mut Loop, n: u64, report: impl FnOnce(&mut Loop, String) + 'static) {
    lp.queue_work(
        move || is_prime(n),
        move |lp, r| {
            let prime = r.expect("the check does not panic");
            lp.set_timeout(10, move |lp| {
                report(lp, format!("{n} prime: {prime} @{}ms", lp.now()));
            });
        },
    );
}

fn check_with_promises(lp: &mut Loop, n: u64) -> Promise<String> {
    Promise::new(lp, |lp, resolver| {
        lp.queue_work(
            move || is_prime(n),
            move |lp, r| {
                resolver.settle(lp, r.map_err(Into::into));
            },
        );
    })
    .then_promise(lp, |lp, prime| lp.set_timeout_promise(10, prime))
    .then(lp, move |lp, prime| {
        format!("{n} prime: {prime} @{}ms", lp.now())
    })
}

async fn check_with_await(n: u64) -> String {
    let prime = run_work(move || is_prime(n))
        .await
        .expect("the check does not panic");
    sleep(10).await;
    format!("{n} prime: {prime} @{}ms", with_loop(|lp| lp.now()))
}

fn vloop() -> Loop {
    Loop::builder().virtual_clock(true).build().unwrap()
}

#[test]
fn the_three_styles_agree() {
    for n in [97u64, 91, 1_000_003] {
        let mut lp = vloop();
        let out = Rc::new(RefCell::new(None));
        let o = out.clone();
        check_with_callbacks(&mut lp, n, move |_, s| *o.borrow_mut() = Some(s));
        lp.run_default();
        let callbacks = out.borrow_mut().take().unwrap();

        let mut lp = vloop();
        let p = check_with_promises(&mut lp, n);
        lp.run_default();
        let promises = p.peek().unwrap().unwrap();

        let mut lp = vloop();
        let p = lp.spawn(check_with_await(n)).into_promise(&mut lp);
        lp.run_default();
        let awaited = p.peek().unwrap().unwrap();

        assert_eq!(callbacks, format!("{n} prime: {} @10ms", is_prime(n)));
        assert_eq!(promises, callbacks);
        assert_eq!(awaited, callbacks);
    }
    assert!(is_prime(97) && !is_prime(91) && is_prime(1_000_003));
}
