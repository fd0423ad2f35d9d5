//! `dns::promises::lookup`: the awaitable form gives what the callback form
//! gives, with the same typed errors, and can be dropped early.

use nodeloop::dns::{self, promises as dnsp, DnsError, Family};
use nodeloop::{Loop, UnhandledRejections};
use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

fn by_callback(host: &str, family: Family) -> io::Result<Vec<IpAddr>> {
    let mut lp = Loop::new();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    dns::lookup(&mut lp, host, family, move |_, r| *o.borrow_mut() = Some(r));
    lp.run_default();
    let r = out.borrow_mut().take();
    r.expect("the callback ran")
}

fn by_await(host: &'static str, family: Family) -> io::Result<Vec<IpAddr>> {
    let mut lp = Loop::new();
    lp.set_unhandled_rejections(UnhandledRejections::Panic);
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    lp.spawn(async move { *o.borrow_mut() = Some(dnsp::lookup(host, family).await) });
    assert!(!lp.run_default());
    let r = out.borrow_mut().take();
    r.expect("the task finished")
}

#[test]
fn localhost_resolves_as_the_callback_form_does() {
    let v4 = by_await("localhost", Family::V4).unwrap();
    assert_eq!(v4[0], IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(v4.iter().all(IpAddr::is_ipv4));
    assert_eq!(v4, by_callback("localhost", Family::V4).unwrap());
    let any = by_await("localhost", Family::Any).unwrap();
    assert!(!any.is_empty() && any.iter().all(IpAddr::is_loopback));
}

#[test]
fn an_ip_literal_comes_back_without_the_pool() {
    assert_eq!(
        by_await("::1", Family::V4).unwrap(),
        [IpAddr::V6(Ipv6Addr::LOCALHOST)]
    );
}

#[test]
fn errors_are_the_typed_dns_errors() {
    let e = by_await("a\0b", Family::Any).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(DnsError::of(&e).unwrap().code(), "EINVAL");
    // RFC 6761: .invalid never resolves (EAI_AGAIN without a resolver).
    let e = by_await("no-such-host.invalid", Family::Any).unwrap_err();
    let info = DnsError::of(&e).unwrap();
    assert_eq!(info.hostname(), "no-such-host.invalid");
    assert!(["ENOTFOUND", "EAI_AGAIN"].contains(&info.code()), "{e}");
}

#[test]
fn a_lookup_dropped_early_still_lets_the_loop_end() {
    let mut lp = Loop::builder().threadpool_size(1).build().unwrap();
    lp.set_unhandled_rejections(UnhandledRejections::Panic);
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    lp.spawn(async move {
        let dropped = dnsp::lookup("localhost", Family::V4);
        assert!(!dropped.is_complete());
        drop(dropped);
        // A later lookup is unaffected by the dropped one.
        *g.borrow_mut() = Some(dnsp::lookup("localhost", Family::V4).await.unwrap());
    });
    assert!(!lp.run_default());
    let v4 = got.borrow_mut().take().expect("the task finished");
    assert_eq!(v4[0], IpAddr::V4(Ipv4Addr::LOCALHOST));
}
