//! UDP sockets: delivery with the sender's address, ordering and queueing,
//! bounded reads, the awaitable forms, close, errors as values, ref/unref,
//! broadcast and multicast.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use nodeloop::net::udp::{Close, Datagram, Message, MulticastInterface, UdpSocket};
use nodeloop::{with_loop, Loop};

fn local(lp: &mut Loop) -> UdpSocket {
    UdpSocket::bind(lp, "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// Runs the loop, failing the test instead of hanging if it does not end.
fn run_bounded(lp: &mut Loop, secs: u64) {
    let guard = lp.set_timeout(secs * 1000, |_| panic!("test loop still running"));
    guard.unref(lp);
    lp.run_default();
}

#[test]
fn message_carries_data_and_sender_address() {
    let mut lp = Loop::new();
    let server = local(&mut lp);
    let client = local(&mut lp);
    let (server_addr, client_addr) = (server.local_addr().unwrap(), client.local_addr().unwrap());
    let got: Rc<RefCell<Vec<Datagram>>> = Rc::default();
    let (g, s) = (got.clone(), server.clone());
    server.on::<Message>(&mut lp, move |lp, m| {
        g.borrow_mut().push(m.clone());
        // Answer at the address the datagram came from.
        s.send(lp, b"pong", m.from, |_, r| assert_eq!(r.unwrap(), 4));
    });
    let (g, c, s) = (got.clone(), client.clone(), server.clone());
    client.on::<Message>(&mut lp, move |lp, m| {
        g.borrow_mut().push(m.clone());
        c.close(lp, |_| {});
        s.close(lp, |_| {});
    });
    let sent = Rc::new(Cell::new(None));
    let st = sent.clone();
    client.send(&mut lp, b"ping", server_addr, move |_, r| {
        st.set(Some(r.unwrap()))
    });
    // The callback never runs inside `send`.
    assert_eq!(sent.get(), None);
    run_bounded(&mut lp, 5);
    assert_eq!(sent.get(), Some(4));
    assert_eq!(
        *got.borrow(),
        [
            Datagram {
                data: b"ping".to_vec(),
                from: client_addr
            },
            Datagram {
                data: b"pong".to_vec(),
                from: server_addr
            },
        ]
    );
}

#[test]
fn many_sends_arrive_in_order_and_complete_in_order() {
    const N: usize = 60;
    let mut lp = Loop::new();
    let rx = local(&mut lp);
    let tx = local(&mut lp);
    let to = rx.local_addr().unwrap();
    let received: Rc<RefCell<Vec<u32>>> = Rc::default();
    let completed: Rc<RefCell<Vec<u32>>> = Rc::default();
    let (r, rx2, tx2) = (received.clone(), rx.clone(), tx.clone());
    rx.on::<Message>(&mut lp, move |lp, m| {
        let i = u32::from_le_bytes(m.data[..4].try_into().unwrap());
        r.borrow_mut().push(i);
        if i as usize == N - 1 {
            rx2.close(lp, |_| {});
            tx2.close(lp, |_| {});
        }
    });
    for i in 0..N as u32 {
        let mut payload = i.to_le_bytes().to_vec();
        payload.resize(500, 0xab);
        let c = completed.clone();
        tx.send(&mut lp, &payload, to, move |_, res| {
            assert_eq!(res.unwrap(), 500);
            c.borrow_mut().push(i);
        });
    }
    run_bounded(&mut lp, 10);
    let want: Vec<u32> = (0..N as u32).collect();
    assert_eq!(*completed.borrow(), want);
    // Loopback neither reorders nor drops while the receive buffer has
    // room (60 small datagrams fit the default 208 KiB).
    assert_eq!(*received.borrow(), want);
}

#[test]
fn reads_per_readiness_event_are_bounded() {
    let mut lp = Loop::new();
    let rx = local(&mut lp);
    let to = rx.local_addr().unwrap();
    // 100 datagrams wait in the kernel before the loop runs.
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..100u8 {
        tx.send_to(&[i], to).unwrap();
    }
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let r2 = rx.clone();
    rx.on::<Message>(&mut lp, move |lp, m| {
        assert_eq!(m.data, [c.get() as u8]);
        c.set(c.get() + 1);
        if c.get() == 100 {
            r2.close(lp, |_| {});
        }
    });
    // The check phase of the first iteration runs after one poll phase.
    let seen = Rc::new(Cell::new(None));
    let (s, c) = (seen.clone(), count.clone());
    lp.set_immediate(move |_| s.set(Some(c.get())));
    run_bounded(&mut lp, 5);
    assert_eq!(count.get(), 100);
    let first_turn = seen.get().unwrap();
    assert!(
        (1..100).contains(&first_turn),
        "one poll phase read {first_turn} of 100 datagrams"
    );
}

#[test]
fn datagrams_wait_in_the_kernel_until_someone_reads() {
    let mut lp = Loop::new();
    let rx = local(&mut lp);
    let to = rx.local_addr().unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(b"early", to).unwrap();
    // A loop turn with no consumer: the datagram is not dropped.
    lp.run(nodeloop::RunMode::NoWait);
    let got = Rc::new(RefCell::new(None));
    let (g, r2) = (got.clone(), rx.clone());
    lp.set_timeout(20, move |lp| {
        let r3 = r2.clone();
        r2.recv_once(lp, move |lp, d| {
            *g.borrow_mut() = Some(d.unwrap().data);
            r3.close(lp, |_| {});
        });
    });
    run_bounded(&mut lp, 5);
    assert_eq!(got.borrow().as_deref(), Some(&b"early"[..]));
}

#[test]
fn awaitable_send_and_receive() {
    let mut lp = Loop::new();
    let a = local(&mut lp);
    let b = local(&mut lp);
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let p = lp
        .spawn(async move {
            let mut log = Vec::new();
            for word in ["one", "two", "three"] {
                let recv = with_loop(|lp| b.recv_from(lp));
                let n = with_loop(|lp| a.send_to(lp, word.as_bytes(), b_addr))
                    .await
                    .unwrap();
                let d = recv.await.unwrap();
                assert_eq!(d.from, a_addr);
                log.push((n, String::from_utf8(d.data).unwrap()));
            }
            with_loop(|lp| {
                a.close(lp, |_| {});
                b.close(lp, |_| {});
            });
            log
        })
        .into_promise(&mut lp);
    run_bounded(&mut lp, 5);
    let log = p.peek().unwrap().unwrap();
    assert_eq!(
        log,
        [
            (3, "one".to_string()),
            (3, "two".to_string()),
            (5, "three".to_string())
        ]
    );
}

#[test]
fn close_cancels_waiters_emits_close_then_calls_back() {
    let mut lp = Loop::new();
    let s = local(&mut lp);
    let order: Rc<RefCell<Vec<String>>> = Rc::default();
    let o = order.clone();
    s.recv_once(&mut lp, move |_, r| {
        let e = r.unwrap_err();
        o.borrow_mut().push(format!(
            "recv: {}",
            e.raw_os_error() == Some(libc_ecanceled())
        ));
    });
    let o = order.clone();
    s.on::<Close>(&mut lp, move |_, _| {
        o.borrow_mut().push("close event".into())
    });
    let o = order.clone();
    s.close(&mut lp, move |_| o.borrow_mut().push("close cb".into()));
    assert!(s.is_closed());
    // After close every operation is an error value, not a panic.
    assert_eq!(
        s.local_addr().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    assert!(s.set_ttl(10).is_err());
    let o = order.clone();
    s.send(
        &mut lp,
        b"late",
        "127.0.0.1:9".parse().unwrap(),
        move |_, r| {
            o.borrow_mut()
                .push(format!("send: {:?}", r.unwrap_err().kind()));
        },
    );
    let o = order.clone();
    s.recv_once(&mut lp, move |_, r| {
        o.borrow_mut()
            .push(format!("late recv: {:?}", r.unwrap_err().kind()));
    });
    // Closing again is harmless.
    s.close(&mut lp, |_| panic!("second close callback"));
    run_bounded(&mut lp, 5);
    assert_eq!(
        *order.borrow(),
        [
            // Pending phase of the first turn: the calls made after close.
            "send: NotConnected",
            "late recv: NotConnected",
            // Close phase: cancellations, the event, the callback.
            "recv: true",
            "close event",
            "close cb",
        ]
    );
}

fn libc_ecanceled() -> i32 {
    libc::ECANCELED
}

type SendOutcome = (String, io::Result<usize>);

#[test]
fn bad_destinations_and_options_are_errors() {
    let mut lp = Loop::new();
    let s = local(&mut lp);
    let results: Rc<RefCell<Vec<SendOutcome>>> = Rc::default();
    let cases: [(&str, Vec<u8>, SocketAddr); 3] = [
        ("port 0", b"x".to_vec(), "127.0.0.1:0".parse().unwrap()),
        (
            "ipv6 from ipv4 socket",
            b"x".to_vec(),
            "[::1]:9".parse().unwrap(),
        ),
        ("too long", vec![0; 70_000], "127.0.0.1:9".parse().unwrap()),
    ];
    for (name, data, to) in cases {
        let r = results.clone();
        s.send(&mut lp, &data, to, move |_, res| {
            r.borrow_mut().push((name.into(), res))
        });
    }
    let s2 = s.clone();
    lp.set_timeout(10, move |lp| s2.close(lp, |_| {}));
    run_bounded(&mut lp, 5);
    let results = results.borrow();
    assert_eq!(results.len(), 3);
    for (name, res) in results.iter() {
        assert!(res.is_err(), "{name}: sent {res:?}");
    }
    let kinds: Vec<_> = results
        .iter()
        .map(|(_, r)| r.as_ref().unwrap_err().raw_os_error())
        .collect();
    assert_eq!(kinds[2], Some(libc::EMSGSIZE), "too long: {kinds:?}");

    let mut lp = Loop::new();
    let s = local(&mut lp);
    assert_eq!(
        s.set_ttl(0).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        s.set_ttl(256).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        s.set_multicast_ttl(300).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    s.set_ttl(64).unwrap();
    s.set_multicast_ttl(0).unwrap();
    let e = s
        .add_membership("10.0.0.1".parse().unwrap(), None)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("10.0.0.1 is not a multicast address"),
        "{e}"
    );
    let e = s
        .add_membership(
            "239.1.2.3".parse().unwrap(),
            Some(MulticastInterface::V6(1)),
        )
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e = s
        .set_multicast_interface(MulticastInterface::V6(1))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let taken = s.local_addr().unwrap();
    assert_eq!(
        UdpSocket::bind(&mut lp, taken).unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );
    s.close(&mut lp, |_| {});
    run_bounded(&mut lp, 5);
}

#[test]
fn an_open_socket_keeps_the_loop_alive_unless_unrefd() {
    let mut lp = Loop::new();
    let s = local(&mut lp);
    assert!(s.has_ref(&lp));
    s.unref(&mut lp);
    assert!(!s.has_ref(&lp));
    // Unreferenced: the loop has nothing to wait for and returns.
    assert!(!lp.run(nodeloop::RunMode::Default));
    s.ref_(&mut lp);
    assert!(lp.alive());
    let s2 = s.clone();
    lp.set_timeout(5, move |lp| s2.close(lp, |_| {}));
    run_bounded(&mut lp, 5);
    assert!(!lp.alive());
}

#[test]
fn broadcast_needs_the_option() {
    let mut lp = Loop::new();
    let s = local(&mut lp);
    // lo is 127.0.0.1/8: its broadcast address.
    let bcast: SocketAddr = "127.255.255.255:9".parse().unwrap();
    let results: Rc<RefCell<Vec<io::Result<usize>>>> = Rc::default();
    let r = results.clone();
    s.send(&mut lp, b"all", bcast, move |_, res| {
        r.borrow_mut().push(res)
    });
    lp.run(nodeloop::RunMode::Once);
    s.set_broadcast(true).unwrap();
    let r = results.clone();
    s.send(&mut lp, b"all", bcast, move |_, res| {
        r.borrow_mut().push(res)
    });
    let s2 = s.clone();
    lp.set_timeout(10, move |lp| s2.close(lp, |_| {}));
    run_bounded(&mut lp, 5);
    let results = results.borrow();
    assert_eq!(
        results[0].as_ref().unwrap_err().kind(),
        io::ErrorKind::PermissionDenied,
        "without SO_BROADCAST the kernel refuses"
    );
    assert_eq!(*results[1].as_ref().unwrap(), 3);
}

#[test]
fn multicast_join_receive_leave() {
    let group: Ipv4Addr = "239.255.43.21".parse().unwrap();
    let mut lp = Loop::new();
    let rx = UdpSocket::bind(&mut lp, "0.0.0.0:0".parse().unwrap()).unwrap();
    let port = rx.local_addr().unwrap().port();
    if let Err(e) = rx.add_membership(IpAddr::V4(group), None) {
        println!("SKIPPED multicast_join_receive_leave: the OS refused to join {group}: {e}");
        rx.close(&mut lp, |_| {});
        lp.run_default();
        return;
    }
    let tx = UdpSocket::bind(&mut lp, "0.0.0.0:0".parse().unwrap()).unwrap();
    tx.set_multicast_loopback(true).unwrap();
    tx.set_multicast_ttl(1).unwrap();
    let to = SocketAddr::new(IpAddr::V4(group), port);
    let got: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let send_err: Rc<RefCell<Option<io::Error>>> = Rc::default();
    let g = got.clone();
    rx.on::<Message>(&mut lp, move |_, m| g.borrow_mut().push(m.data.clone()));
    let e = send_err.clone();
    tx.send(&mut lp, b"to the group", to, move |_, r| {
        if let Err(err) = r {
            *e.borrow_mut() = Some(err);
        }
    });
    let (rx2, tx2, e2) = (rx.clone(), tx.clone(), send_err.clone());
    lp.set_timeout(500, move |lp| {
        // Leave, then send again: this one must not arrive.
        if e2.borrow().is_none() {
            rx2.drop_membership(IpAddr::V4(group), None).unwrap();
            tx2.send(lp, b"after leaving", to, |_, _| {});
        }
        let (rx3, tx3) = (rx2.clone(), tx2.clone());
        lp.set_timeout(300, move |lp| {
            rx3.close(lp, |_| {});
            tx3.close(lp, |_| {});
        });
    });
    run_bounded(&mut lp, 5);
    if let Some(e) = send_err.borrow().as_ref() {
        println!("SKIPPED multicast_join_receive_leave: the OS refused to send to {group}: {e}");
        return;
    }
    assert_eq!(*got.borrow(), [b"to the group".to_vec()]);
}
