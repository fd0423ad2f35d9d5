//! `dns::lookup` through getaddrinfo on the pool: family filtering, typed
//! errors, IP literals.

use nodeloop::dns::{self, DnsError, Family};
use nodeloop::Loop;
use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

fn lookup(host: &str, family: Family) -> io::Result<Vec<IpAddr>> {
    let mut lp = Loop::new();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    dns::lookup(&mut lp, host, family, move |_, r| *o.borrow_mut() = Some(r));
    lp.run_default();
    let r = out.borrow_mut().take();
    r.expect("the callback ran")
}

#[test]
fn localhost_resolves_and_the_family_filters() {
    let v4 = lookup("localhost", Family::V4).unwrap();
    assert!(v4.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert!(v4.iter().all(IpAddr::is_ipv4));
    let any = lookup("localhost", Family::Any).unwrap();
    assert!(!any.is_empty() && any.iter().all(|a| a.is_loopback()));
    // Without ::1 in /etc/hosts the resolver may have no IPv6 address for
    // it: then the error is ENOTFOUND, never an IPv4 address.
    match lookup("localhost", Family::V6) {
        Ok(v6) => assert!(v6.iter().all(IpAddr::is_ipv6)),
        Err(e) => assert_eq!(DnsError::of(&e).unwrap().code(), "ENOTFOUND"),
    }
    let mut sorted = any.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), any.len(), "no duplicates");
}

#[test]
fn an_unknown_name_is_a_typed_error() {
    // RFC 6761: .invalid never resolves. Without a reachable resolver the
    // answer may be a temporary failure instead.
    let e = lookup("no-such-host.invalid", Family::Any).unwrap_err();
    let info = DnsError::of(&e).unwrap();
    assert_eq!(info.hostname(), "no-such-host.invalid");
    match info.code() {
        "ENOTFOUND" => {
            assert_eq!(e.kind(), ErrorKind::NotFound);
            assert_eq!(e.to_string(), "getaddrinfo ENOTFOUND no-such-host.invalid");
        }
        "EAI_AGAIN" => {}
        other => panic!("unexpected code {other}: {e}"),
    }
}

#[test]
fn a_name_with_a_nul_byte_is_invalid_input() {
    let e = lookup("a\0b", Family::Any).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(DnsError::of(&e).unwrap().code(), "EINVAL");
}

#[test]
fn ip_literals_come_back_from_the_next_tick_queue_without_the_pool() {
    let mut lp = Loop::new();
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    dns::lookup(&mut lp, "10.1.2.3", Family::V6, move |_, r| {
        t.borrow_mut().push(format!("{:?}", r.unwrap()))
    });
    let t = trace.clone();
    lp.set_immediate(move |_| t.borrow_mut().push("immediate".into()));
    trace.borrow_mut().push("main".into());
    lp.run_default();
    assert_eq!(*trace.borrow(), ["main", "[10.1.2.3]", "immediate"]);
}

#[test]
fn family_numbers() {
    assert_eq!(Family::from_number(0), Some(Family::Any));
    assert_eq!(Family::from_number(4), Some(Family::V4));
    assert_eq!(Family::from_number(6), Some(Family::V6));
    assert_eq!(Family::from_number(1), None);
}
