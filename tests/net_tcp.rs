//! TCP sockets and servers on the loop: many clients, half-close, resets,
//! refused connections, backpressure, idle timeouts, server close,
//! descriptor exhaustion, descriptor leaks, fairness and phase placement.

mod net_common;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use net_common::*;
use nodeloop::net::{event, ServerOptions, SocketOptions, TcpServer, TcpSocket};
use nodeloop::stream::{event as sev, StreamError};
use nodeloop::{BareHandle, Check, Handle, Loop};

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn io_kind(e: &StreamError) -> ErrorKind {
    match e {
        StreamError::Io(e) => e.kind(),
        other => panic!("not an I/O error: {other}"),
    }
}

/// A server whose connections echo what they receive and end when the
/// client ends.
fn echo_server(lp: &mut Loop, opts: ServerOptions) -> TcpServer {
    let server = TcpServer::new(opts);
    server.on_connection(lp, |lp, sock| {
        let s = sock.clone();
        sock.on_data(lp, move |lp, chunk| {
            s.write(lp, chunk.clone());
        });
    });
    server.listen(lp, localhost(), 1024).unwrap();
    server
}

#[test]
fn echo_with_addresses_and_byte_counts() {
    let _g = serial();
    let mut lp = Loop::new();
    let server = echo_server(&mut lp, ServerOptions::default());
    let addr = server.address().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let c = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
    assert!(c.connecting());
    let connected = Rc::new(Cell::new(false));
    let (k, c2) = (connected.clone(), c.clone());
    c.on_connect(move |lp| {
        k.set(true);
        assert_eq!(c2.remote_address().unwrap(), addr);
        c2.set_no_delay(true).unwrap();
        c2.set_keep_alive(true, Duration::from_secs(30)).unwrap();
        c2.end_with(lp, Some(b"hello, world".to_vec()), |_, r| r.unwrap());
    });
    let g = got.clone();
    c.on_data(&mut lp, move |_, chunk| {
        g.borrow_mut().extend_from_slice(chunk)
    });
    let s = server.clone();
    c.on_close(move |lp| s.close(lp, |_, r| r.unwrap()));
    lp.run_default();
    assert!(connected.get());
    assert_eq!(*got.borrow(), b"hello, world");
    assert_eq!((c.bytes_read(), c.bytes_written()), (12, 12));
    assert_eq!(server.connections(), 0);
    assert!(!server.listening());
}

#[test]
fn a_thousand_concurrent_clients() {
    let _g = serial();
    raise_nofile(8192);
    let mut lp = Loop::new();
    let server = echo_server(&mut lp, ServerOptions::default());
    let addr = server.address().unwrap();
    const N: usize = 1000;
    let peak = Rc::new(Cell::new(0));
    let (p, s) = (peak.clone(), server.clone());
    server.on_connection(&mut lp, move |_, _| p.set(p.get().max(s.connections())));
    let done = Rc::new(Cell::new(0));
    let all_connected = Rc::new(Cell::new(0));
    let mut clients = Vec::new();
    for i in 0..N {
        let c = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
        let msg = format!("client {i}").into_bytes();
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        c.on_data(&mut lp, move |_, chunk| {
            g.borrow_mut().extend_from_slice(chunk)
        });
        let ac = all_connected.clone();
        let c2 = c.clone();
        let m = msg.clone();
        // Hold every connection open until all are up, so that they are
        // really concurrent.
        c.on_connect(move |lp| {
            ac.set(ac.get() + 1);
            c2.write(lp, m.clone());
        });
        let (d, s, m) = (done.clone(), server.clone(), msg);
        c.on_end(&mut lp, move |lp| {
            assert_eq!(*got.borrow(), m);
            d.set(d.get() + 1);
            if d.get() == N {
                s.close(lp, |_, r| r.unwrap());
            }
        });
        clients.push(c);
    }
    let check = Check::new(&mut lp);
    let (ac, cl) = (all_connected.clone(), clients.clone());
    let ended = Rc::new(Cell::new(false));
    let e = ended.clone();
    check
        .start(&mut lp, move |lp, h| {
            // Once every client is connected and echoed, end them all.
            if ac.get() == N && cl.iter().all(|c| c.bytes_read() > 0) && !e.get() {
                e.set(true);
                for c in &cl {
                    c.end(lp);
                }
                h.close(lp, |_| {}).unwrap();
            }
        })
        .unwrap();
    lp.run_default();
    assert_eq!(done.get(), N);
    assert_eq!(peak.get(), N, "all connections were open at once");
    assert_eq!(server.connections(), 0);
    assert!(clients.iter().all(|c| c.destroyed()));
}

#[test]
fn half_close_lets_the_server_answer_after_the_client_ended() {
    let _g = serial();
    let mut lp = Loop::new();
    let opts = ServerOptions {
        connection: SocketOptions {
            allow_half_open: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let server = TcpServer::new(opts);
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = log.clone();
    server.on_connection(&mut lp, move |lp, sock| {
        let req = Rc::new(RefCell::new(Vec::new()));
        let r = req.clone();
        sock.on_data(lp, move |_, c| r.borrow_mut().extend_from_slice(c));
        let (s, l) = (sock.clone(), l.clone());
        sock.on_end(lp, move |lp| {
            l.borrow_mut().push("server end".into());
            // The read side is over; the write side is still open.
            assert!(s.writable().writable());
            let mut resp = b"got ".to_vec();
            resp.extend_from_slice(&req.borrow());
            s.end_with(lp, Some(resp), |_, r| r.unwrap());
        });
    });
    server.listen(&mut lp, localhost(), 8).unwrap();
    let c = TcpSocket::connect(&mut lp, server.address().unwrap(), SocketOptions::default());
    c.end_with(&mut lp, Some(b"question".to_vec()), |_, r| r.unwrap());
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    c.on_data(&mut lp, move |_, ch| g.borrow_mut().extend_from_slice(ch));
    let l = log.clone();
    c.emitter()
        .on::<sev::Finish>(move |_, _| l.borrow_mut().push("client finish".into()));
    let l = log.clone();
    c.on_end(&mut lp, move |_| l.borrow_mut().push("client end".into()));
    let (l, s) = (log.clone(), server.clone());
    c.on_close(move |lp| {
        l.borrow_mut().push("client close".into());
        s.close(lp, |_, _| {});
    });
    lp.run_default();
    assert_eq!(*got.borrow(), b"got question");
    assert_eq!(
        *log.borrow(),
        ["client finish", "server end", "client end", "client close"]
    );
}

#[test]
fn reset_by_peer_is_an_error_event() {
    let _g = serial();
    let listener = std::net::TcpListener::bind(localhost()).unwrap();
    let mut lp = Loop::new();
    let c = TcpSocket::connect(
        &mut lp,
        listener.local_addr().unwrap(),
        SocketOptions::default(),
    );
    c.on_connect(move |_| {
        let (peer, _) = listener.accept().unwrap();
        linger_zero(&peer);
        drop(peer); // RST
    });
    let err = Rc::new(RefCell::new(None));
    let e = err.clone();
    c.on_error(move |_, er| *e.borrow_mut() = Some(io_kind(er)));
    let closed = Rc::new(Cell::new(false));
    let k = closed.clone();
    c.on_close(move |_| k.set(true));
    c.resume(&mut lp);
    lp.run_default();
    assert_eq!(*err.borrow(), Some(ErrorKind::ConnectionReset));
    assert!(closed.get() && c.destroyed());
}

#[test]
fn writing_to_a_vanished_peer_fails_with_an_error_not_a_panic() {
    let _g = serial();
    let listener = std::net::TcpListener::bind(localhost()).unwrap();
    let mut lp = Loop::new();
    let c = TcpSocket::connect(
        &mut lp,
        listener.local_addr().unwrap(),
        SocketOptions::default(),
    );
    let c2 = c.clone();
    let timer = Rc::new(Cell::new(None));
    let t = timer.clone();
    c.on_connect(move |lp| {
        let (peer, _) = listener.accept().unwrap();
        linger_zero(&peer);
        drop(peer);
        // Keep writing until the kernel reports the reset or the pipe.
        let w = c2.clone();
        t.set(Some(lp.set_interval(1, move |lp| {
            w.write(lp, vec![7; 1024]);
        })));
    });
    // Not reading: the failure must come from the write path.
    c.pause(&mut lp);
    let err = Rc::new(RefCell::new(None));
    let (e, t) = (err.clone(), timer.clone());
    c.on_error(move |lp, er| {
        *e.borrow_mut() = Some(io_kind(er));
        if let Some(t) = t.take() {
            lp.clear_interval(t);
        }
    });
    lp.run_default();
    let kind = err.borrow().expect("an error event");
    assert!(
        matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
        "{kind:?}"
    );
}

#[test]
fn connection_refused_arrives_as_a_typed_error() {
    let _g = serial();
    let addr = std::net::TcpListener::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap();
    let mut lp = Loop::new();
    // Event form: the error comes later, so a listener added after the
    // call still gets it.
    let c = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    c.on_error(move |_, e| l.borrow_mut().push(format!("error {:?}", io_kind(e))));
    let l = log.clone();
    c.on_close(move |_| l.borrow_mut().push("close".into()));
    // Callback and awaitable forms.
    let l = log.clone();
    TcpSocket::connect_with(&mut lp, addr, SocketOptions::default(), move |_, r| {
        l.borrow_mut()
            .push(format!("callback {:?}", io_kind(&r.unwrap_err())))
    });
    let fut = TcpSocket::connect_async(&mut lp, addr, SocketOptions::default());
    let task = lp
        .spawn(async move { io_kind(&fut.await.unwrap_err()) })
        .into_promise(&mut lp);
    lp.run_default();
    let mut log = log.borrow().clone();
    log.sort();
    assert_eq!(
        log,
        [
            "callback ConnectionRefused",
            "close",
            "error ConnectionRefused"
        ]
    );
    assert_eq!(task.peek().unwrap().unwrap(), ErrorKind::ConnectionRefused);
}

#[test]
fn host_names_are_resolved_and_failures_reported() {
    let _g = serial();
    let mut lp = Loop::new();
    let server = echo_server(&mut lp, ServerOptions::default());
    let port = server.address().unwrap().port();
    let got = Rc::new(RefCell::new(None));
    let (g, s) = (got.clone(), server.clone());
    TcpSocket::connect_with(
        &mut lp,
        ("localhost", port),
        SocketOptions::default(),
        move |lp, r| {
            let c = r.unwrap();
            *g.borrow_mut() = Some(c.remote_address().unwrap().port());
            c.destroy(lp, None);
            s.close(lp, |_, _| {});
        },
    );
    let bad = Rc::new(RefCell::new(None));
    let b = bad.clone();
    TcpSocket::connect_with(
        &mut lp,
        ("no-such-host.invalid", 80),
        SocketOptions::default(),
        move |_, r| *b.borrow_mut() = Some(io_kind(&r.unwrap_err())),
    );
    lp.run_default();
    assert_eq!(*got.borrow(), Some(port));
    assert!(bad.borrow().is_some());
}

#[test]
fn a_64_mib_write_stays_within_the_high_water_marks() {
    let _g = serial();
    const TOTAL: usize = 64 << 20;
    const CHUNK: usize = 64 << 10;
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    let received = Rc::new(Cell::new(0usize));
    let mismatch = Rc::new(Cell::new(false));
    let max_unread = Rc::new(Cell::new(0usize));
    let (r, mm, mu) = (received.clone(), mismatch.clone(), max_unread.clone());
    server.on_connection(&mut lp, move |lp, sock| {
        // A slow reader: takes one chunk per loop iteration through
        // `read`, so the data piles up in the kernel and in the writer.
        let (s, r, mm, mu) = (sock.clone(), r.clone(), mm.clone(), mu.clone());
        let check = Check::new(lp);
        check
            .start(lp, move |lp, h| {
                mu.set(mu.get().max(s.readable().readable_length()));
                if let Some(chunk) = s.readable().read(lp, None) {
                    if chunk != pattern(r.get() as u64, chunk.len()) {
                        mm.set(true);
                    }
                    r.set(r.get() + chunk.len());
                }
                if r.get() == TOTAL {
                    s.end(lp);
                    h.close(lp, |_| {}).unwrap();
                }
            })
            .unwrap();
    });
    server.listen(&mut lp, localhost(), 8).unwrap();
    let c = TcpSocket::connect(&mut lp, server.address().unwrap(), SocketOptions::default());
    let sent = Rc::new(Cell::new(0usize));
    let max_buffered = Rc::new(Cell::new(0usize));
    let refusals = Rc::new(Cell::new(0usize));
    let drains = Rc::new(Cell::new(0usize));
    // Write until `write` says stop, then wait for 'drain'.
    let pump: Rc<dyn Fn(&mut Loop)> = {
        let (c, sent, mb, rf) = (
            c.clone(),
            sent.clone(),
            max_buffered.clone(),
            refusals.clone(),
        );
        Rc::new(move |lp: &mut Loop| {
            while sent.get() < TOTAL {
                let chunk = pattern(sent.get() as u64, CHUNK);
                sent.set(sent.get() + CHUNK);
                let more = c.write(lp, chunk);
                mb.set(mb.get().max(c.writable().writable_length()));
                if sent.get() == TOTAL {
                    c.end(lp);
                }
                if !more {
                    rf.set(rf.get() + 1);
                    return;
                }
            }
        })
    };
    let (p, d) = (pump.clone(), drains.clone());
    c.emitter().on::<sev::Drain>(move |lp, _| {
        d.set(d.get() + 1);
        p(lp);
    });
    let p = pump.clone();
    c.on_connect(move |lp| p(lp));
    let s = server.clone();
    c.on_close(move |lp| s.close(lp, |_, _| {}));
    c.resume(&mut lp);
    lp.run_default();
    assert_eq!(received.get(), TOTAL);
    assert!(!mismatch.get(), "bytes arrived intact and in order");
    assert_eq!(c.bytes_written(), TOTAL as u64);
    let hwm = c.writable().writable_high_water_mark();
    eprintln!(
        "64 MiB: writer held at most {} bytes, reader at most {}, write refused {} times, {} drains",
        max_buffered.get(),
        max_unread.get(),
        refusals.get(),
        drains.get()
    );
    // Backpressure engaged, and the writer never held more than one chunk
    // beyond its high-water mark (the chunk that crossed it).
    assert!(refusals.get() > 10 && drains.get() > 10);
    assert!(
        max_buffered.get() <= hwm + CHUNK,
        "writer buffered {} bytes",
        max_buffered.get()
    );
    // The reader stopped pulling from the kernel at its mark, give or
    // take one read.
    assert!(
        max_unread.get() <= 16 * 1024 + 64 * 1024,
        "reader buffered {} bytes",
        max_unread.get()
    );
}

#[test]
fn idle_timeout_on_the_virtual_clock() {
    let _g = serial();
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    let server = TcpServer::new(ServerOptions::default());
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    server.on_connection(&mut lp, move |lp, sock| {
        sock.set_timeout(lp, 5_000);
        sock.resume(lp);
        let (f, s) = (f.clone(), sock.clone());
        sock.on_timeout(move |lp| {
            f.borrow_mut().push(lp.now());
            if f.borrow().len() == 2 {
                s.destroy(lp, None);
            }
        });
    });
    server.listen(&mut lp, localhost(), 8).unwrap();
    let c = TcpSocket::connect(&mut lp, server.address().unwrap(), SocketOptions::default());
    c.resume(&mut lp);
    // Activity at 3 s pushes the first timeout to 8 s; after it, the next
    // activity (at 10 s) re-arms it for 15 s.
    for at in [3_000, 10_000] {
        let c2 = c.clone();
        lp.set_timeout(at, move |lp| {
            c2.write(lp, b"ping".to_vec());
        });
    }
    let s = server.clone();
    c.on_close(move |lp| s.close(lp, |_, _| {}));
    lp.run_default();
    let fired = fired.borrow();
    assert_eq!(fired.len(), 2);
    assert!((8_000..8_100).contains(&fired[0]), "{fired:?}");
    assert!((15_000..15_100).contains(&fired[1]), "{fired:?}");
}

#[test]
fn server_close_waits_for_the_last_connection() {
    let _g = serial();
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    let conns = Rc::new(RefCell::new(Vec::new()));
    let cs = conns.clone();
    server.on_connection(&mut lp, move |_, s| cs.borrow_mut().push(s.clone()));
    server.listen(&mut lp, localhost(), 8).unwrap();
    let addr = server.address().unwrap();
    let clients: Vec<_> = (0..3)
        .map(|_| TcpSocket::connect(&mut lp, addr, SocketOptions::default()))
        .collect();
    for c in &clients {
        c.resume(&mut lp);
    }
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let (l, s, cs) = (log.clone(), server.clone(), conns.clone());
    let check = Check::new(&mut lp);
    check
        .start(&mut lp, move |lp, h| {
            if cs.borrow().len() < 3 {
                return;
            }
            h.close(lp, |_| {}).unwrap();
            let l2 = l.clone();
            s.close(lp, move |_, r| {
                r.unwrap();
                l2.borrow_mut().push("server closed".into());
            });
            assert!(!s.listening());
            // Close the connections one by one, some time apart.
            for (i, conn) in cs.borrow().iter().enumerate() {
                let (conn, l, s) = (conn.clone(), l.clone(), s.clone());
                lp.set_timeout(10 * (i as u64 + 1), move |lp| {
                    l.borrow_mut()
                        .push(format!("closing {i} of {}", s.connections()));
                    conn.destroy(lp, None);
                });
            }
            // New connections are refused meanwhile.
            let l = l.clone();
            TcpSocket::connect_with(lp, addr, SocketOptions::default(), move |_, r| {
                l.borrow_mut()
                    .push(format!("late client {:?}", io_kind(&r.unwrap_err())));
            });
        })
        .unwrap();
    lp.run_default();
    assert_eq!(
        *log.borrow(),
        [
            "late client ConnectionRefused",
            "closing 0 of 3",
            "closing 1 of 2",
            "closing 2 of 1",
            "server closed"
        ]
    );
    assert_eq!(server.connections(), 0);
}

#[test]
fn max_connections_drops_the_excess() {
    let _g = serial();
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions {
        max_connections: Some(2),
        ..Default::default()
    });
    let accepted = Rc::new(RefCell::new(Vec::new()));
    let a = accepted.clone();
    server.on_connection(&mut lp, move |_, s| a.borrow_mut().push(s.clone()));
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    server.on::<event::Drop>(&mut lp, move |_, _| d.set(d.get() + 1));
    server.listen(&mut lp, localhost(), 8).unwrap();
    let addr = server.address().unwrap();
    let ends = Rc::new(Cell::new(0));
    for _ in 0..4 {
        let c = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
        c.resume(&mut lp);
        let e = ends.clone();
        c.on_end(&mut lp, move |_| e.set(e.get() + 1));
    }
    let (acc, s) = (accepted.clone(), server.clone());
    let check = Check::new(&mut lp);
    check
        .start(&mut lp, move |lp, h| {
            if acc.borrow().len() == 2 && s.dropped_connections() == 2 {
                h.close(lp, |_| {}).unwrap();
                for c in acc.borrow().iter() {
                    c.end(lp);
                }
                s.close(lp, |_, _| {});
            }
        })
        .unwrap();
    lp.run_default();
    assert_eq!(accepted.borrow().len(), 2);
    assert_eq!(drops.get(), 2);
    assert_eq!(ends.get(), 4, "dropped clients see EOF too");
}

/// Run by `descriptor_exhaustion_sheds_and_recovers` in a child process
/// with a low descriptor limit: an echo server that prints its port and
/// exits when a client sends `quit`.
#[test]
#[ignore = "child process of descriptor_exhaustion_sheds_and_recovers"]
fn emfile_child() {
    if std::env::var_os("NODELOOP_EMFILE_CHILD").is_none() {
        return;
    }
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    let conns = Rc::new(RefCell::new(Vec::<TcpSocket>::new()));
    let (cs, srv) = (conns.clone(), server.clone());
    server.on_connection(&mut lp, move |lp, sock| {
        cs.borrow_mut().push(sock.clone());
        let (s, cs, srv) = (sock.clone(), cs.clone(), srv.clone());
        sock.on_data(lp, move |lp, chunk| {
            if chunk.as_slice() == b"quit" {
                srv.close(lp, |_, r| r.unwrap());
                for c in cs.borrow().iter() {
                    c.destroy(lp, None);
                }
            } else {
                s.write(lp, chunk.clone());
            }
        });
    });
    server.listen(&mut lp, localhost(), 128).unwrap();
    // Room for a handful of connections beyond what is open now.
    set_nofile(limit_leaving(4));
    println!("PORT {}", server.address().unwrap().port());
    std::io::stdout().flush().unwrap();
    lp.run_default();
    println!("DROPPED {}", server.dropped_connections());
}

#[test]
fn descriptor_exhaustion_sheds_and_recovers() {
    let _g = serial();
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_child", "--ignored", "--nocapture"])
        .env("NODELOOP_EMFILE_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited early");
        if let Some(p) = line.trim().strip_prefix("PORT ") {
            break p.parse::<u16>().unwrap();
        }
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // Is the connection served (echo) or shed (EOF or reset)?
    let served = |s: &mut std::net::TcpStream, msg: &[u8]| -> bool {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        if s.write_all(msg).is_err() {
            return false;
        }
        let mut buf = vec![0; msg.len()];
        match s.read_exact(&mut buf) {
            Ok(()) => {
                assert_eq!(buf, msg);
                true
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                    ),
                    "{e}"
                );
                false
            }
        }
    };
    let mut held = Vec::new();
    let mut shed = 0;
    for _ in 0..10 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        if served(&mut s, b"hi") {
            held.push(s);
        } else {
            shed += 1;
        }
    }
    assert!(
        !held.is_empty() && shed > 0,
        "held {} shed {shed}",
        held.len()
    );
    eprintln!("held {} shed {shed}", held.len());
    // Out of descriptors, with connections refused: the child must not
    // spin.
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_ticks(child.id()) - before;
    assert!(used <= 10, "child used {used} ticks while idle");
    eprintln!("child CPU while saturated and idle for 500 ms: {used} ticks");
    // The connections it kept still work.
    for s in &mut held {
        assert!(served(s, b"again"));
    }
    // Free descriptors: new connections are served again.
    let mut last = held.pop().unwrap();
    drop(held);
    let mut recovered = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(20));
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        if served(&mut s, b"back") {
            recovered = true;
            break;
        }
    }
    assert!(
        recovered,
        "the server accepts again once descriptors free up"
    );
    last.write_all(b"quit").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let dropped: u64 = rest
        .lines()
        .find_map(|l| l.strip_prefix("DROPPED "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(dropped >= shed, "dropped {dropped} < shed {shed}");
}

#[test]
fn ten_thousand_connections_leak_no_descriptor() {
    let _g = serial();
    raise_nofile(4096);
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    server.on_connection(&mut lp, |lp, s| s.end(lp));
    server.listen(&mut lp, localhost(), 1024).unwrap();
    // So that each round's `run` returns once its connections are gone.
    server.unref(&mut lp);
    let addr = server.address().unwrap();
    let baseline = open_fds();
    let handles = lp.handle_count();
    const ROUNDS: usize = 100;
    const PER_ROUND: usize = 100;
    let closed = Rc::new(Cell::new(0usize));
    for _ in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            let c = TcpSocket::connect(&mut lp, addr, SocketOptions::default());
            c.resume(&mut lp);
            let k = closed.clone();
            c.on_close(move |_| k.set(k.get() + 1));
        }
        lp.run_default();
    }
    assert_eq!(closed.get(), ROUNDS * PER_ROUND);
    assert_eq!(server.connections(), 0);
    assert_eq!(open_fds(), baseline);
    assert_eq!(lp.handle_count(), handles);
    server.close(&mut lp, |_, r| r.unwrap());
    lp.run_default();
    assert_eq!(open_fds(), baseline - 2, "listener and spare closed");
}

#[test]
fn one_busy_socket_cannot_starve_another() {
    let _g = serial();
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    let order = Rc::new(RefCell::new(Vec::<usize>::new()));
    let ids = Rc::new(Cell::new(0));
    let (o, srv) = (order.clone(), server.clone());
    server.on_connection(&mut lp, move |lp, sock| {
        let id = ids.get();
        ids.set(id + 1);
        let o = o.clone();
        sock.on_data(lp, move |_, _| o.borrow_mut().push(id));
        if id == 1 {
            srv.close(lp, |_, r| r.unwrap());
        }
    });
    server.listen(&mut lp, localhost(), 8).unwrap();
    let addr = server.address().unwrap();
    // Two flooding peers on threads, each sending 32 MiB as fast as the
    // kernel takes it. Both connect and queue a first 64 KiB before the
    // loop starts, so the two floods overlap however the threads are
    // scheduled (on a loaded machine one could otherwise finish before the
    // other begins, and there would be nothing to share).
    let ready = std::sync::Arc::new(std::sync::Barrier::new(3));
    let floods: Vec<_> = (0..2)
        .map(|_| {
            let ready = ready.clone();
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(&[1u8; 64 << 10]).unwrap();
                ready.wait();
                let buf = vec![1u8; 1 << 20];
                for _ in 0..32 {
                    s.write_all(&buf).unwrap();
                }
            })
        })
        .collect();
    ready.wait();
    // Marks the end of each loop iteration (check phase); unref'd so that
    // it does not keep the loop alive.
    let mark = order.clone();
    let check = Check::new(&mut lp);
    check
        .start(&mut lp, move |_, _| mark.borrow_mut().push(usize::MAX))
        .unwrap();
    check.unref(&mut lp);
    lp.run_default();
    for f in floods {
        f.join().unwrap();
    }
    let order = order.borrow();
    // Within one iteration a socket gets one readiness event, so at most
    // one budget of reads; and the two sockets share iterations.
    let (mut longest, mut shared) = (0, 0);
    for iteration in order.split(|&i| i == usize::MAX) {
        for id in 0..2 {
            longest = longest.max(iteration.iter().filter(|&&i| i == id).count());
        }
        if iteration.contains(&0) && iteration.contains(&1) {
            shared += 1;
        }
    }
    eprintln!(
        "{} reads, most by one socket in one iteration {longest}, iterations serving both {shared}",
        order.iter().filter(|&&i| i != usize::MAX).count()
    );
    assert!(
        longest <= 32,
        "one socket read {longest} times in one iteration"
    );
    assert!(shared > 0);
}

#[test]
fn a_write_the_kernel_takes_whole_calls_back_from_a_tick_as_in_node() {
    let _g = serial();
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    let log = Rc::new(RefCell::new(Vec::<&str>::new()));
    let l = log.clone();
    server.on_connection(&mut lp, move |lp, sock| {
        let (l, s) = (l.clone(), sock.clone());
        // From the check phase: a write the kernel takes at once, and a
        // handle closed in the same callback (close phase of this
        // iteration). Node completes such a write inside `write`
        // (`uv_try_write` took it whole) and its stream runs the callback
        // from a tick queued right then: before a tick queued after the
        // write, long before the close phase (Node 20 prints `write cb,
        // tick, microtask, immediate` for the same program).
        let check = Check::new(lp);
        check
            .start(lp, move |lp, h| {
                h.close(lp, |_| {}).unwrap();
                let l1 = l.clone();
                s.write_with(lp, b"x".to_vec(), move |_, r| {
                    r.unwrap();
                    l1.borrow_mut().push("write callback");
                });
                let l2 = l.clone();
                lp.next_tick(move |_| l2.borrow_mut().push("tick"));
                let l3 = l.clone();
                BareHandle::new(lp)
                    .close(lp, move |_| l3.borrow_mut().push("close phase"))
                    .unwrap();
                let s2 = s.clone();
                lp.set_immediate(move |lp| s2.destroy(lp, None));
            })
            .unwrap();
    });
    server.listen(&mut lp, localhost(), 8).unwrap();
    let c = TcpSocket::connect(&mut lp, server.address().unwrap(), SocketOptions::default());
    c.resume(&mut lp);
    let s = server.clone();
    c.on_close(move |lp| s.close(lp, |_, _| {}));
    lp.run_default();
    assert_eq!(*log.borrow(), ["write callback", "tick", "close phase"]);
}

#[test]
fn unref_and_activity_decide_whether_sockets_keep_the_loop_alive() {
    let _g = serial();
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    let conn = Rc::new(RefCell::new(None));
    let k = conn.clone();
    server.on_connection(&mut lp, move |_, s| *k.borrow_mut() = Some(s.clone()));
    server.listen(&mut lp, localhost(), 8).unwrap();
    server.unref(&mut lp);
    let c = TcpSocket::connect(&mut lp, server.address().unwrap(), SocketOptions::default());
    c.resume(&mut lp);
    // Connecting and reading clients keep the loop alive; unref'd, they
    // do not.
    assert!(lp.run(nodeloop::RunMode::NoWait));
    c.unref(&mut lp);
    let conn_seen = conn.clone();
    while conn_seen.borrow().is_none() {
        lp.run(nodeloop::RunMode::NoWait);
    }
    let srv_side = conn.borrow().clone().unwrap();
    srv_side.unref(&mut lp);
    assert!(!lp.run_default(), "only unref'd handles are left");
    assert!(!c.destroyed() && !srv_side.destroyed());
    c.ref_(&mut lp);
    assert!(c.has_ref());
    c.destroy(&mut lp, None);
    srv_side.destroy(&mut lp, None);
    server.close(&mut lp, |_, r| r.unwrap());
    lp.run_default();
    assert_eq!(lp.handle_count(), Loop::new().handle_count());
}

/// What a writer saw of its own writes, for comparing `write` and
/// `write_bytes`.
#[derive(Debug, PartialEq)]
struct WriterView {
    returns: Vec<bool>,
    lengths: Vec<usize>,
    log: Vec<String>,
    received: usize,
    intact: bool,
    written: u64,
}

/// Writes `sizes` (consecutive stretches of `pattern`) from the check phase
/// with `write` or `write_bytes`, then ends (and, if `late`, writes once
/// more, which fails and destroys the socket). Records return values,
/// buffered lengths, the order of events against a tick, and what arrived.
fn writer_view(lent: bool, sizes: &'static [usize], late: bool) -> WriterView {
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    server.on_connection(&mut lp, move |lp, sock| {
        let g = g.clone();
        sock.on_data(lp, move |_, chunk| g.borrow_mut().extend_from_slice(chunk));
        let s = sock.clone();
        sock.on_end(lp, move |lp| s.end(lp));
    });
    server.listen(&mut lp, localhost(), 8).unwrap();
    let c = TcpSocket::connect(&mut lp, server.address().unwrap(), SocketOptions::default());
    let view = Rc::new(RefCell::new((Vec::new(), Vec::new(), Vec::<String>::new())));
    for (name, ev) in [("drain", 0), ("finish", 1)] {
        let v = view.clone();
        let push = move |_: &mut Loop| v.borrow_mut().2.push(name.to_string());
        if ev == 0 {
            c.emitter().on::<sev::Drain>(move |lp, _| push(lp));
        } else {
            c.emitter().on::<sev::Finish>(move |lp, _| push(lp));
        }
    }
    let v = view.clone();
    c.on_error(move |_, e| v.borrow_mut().2.push(format!("error {e}")));
    let (v, c2) = (view.clone(), c.clone());
    c.on_connect(move |lp| {
        let (v, c3) = (v.clone(), c2.clone());
        let check = Check::new(lp);
        check
            .start(lp, move |lp, h| {
                h.close(lp, |_| {}).unwrap();
                let mut off = 0u64;
                for &n in sizes {
                    let mut buf = pattern(off, n);
                    off += n as u64;
                    let r = if lent {
                        let r = c3.write_bytes(lp, &buf);
                        // The caller's buffer is its own again: whatever the
                        // kernel did not take must have been copied.
                        buf.fill(0);
                        r
                    } else {
                        c3.write(lp, buf)
                    };
                    let mut v2 = v.borrow_mut();
                    v2.0.push(r);
                    v2.1.push(c3.writable().writable_length());
                }
                let v3 = v.clone();
                lp.next_tick(move |_| v3.borrow_mut().2.push("tick".into()));
                c3.end(lp);
                if !late {
                    return;
                }
                let r = if lent {
                    c3.write_bytes(lp, b"late")
                } else {
                    c3.write(lp, b"late".to_vec())
                };
                v.borrow_mut().0.push(r);
            })
            .unwrap();
    });
    c.resume(&mut lp);
    let s = server.clone();
    c.on_close(move |lp| s.close(lp, |_, _| {}));
    lp.run_default();
    let total: usize = sizes.iter().sum();
    let got = got.borrow();
    let (returns, lengths, log) = view.take();
    WriterView {
        returns,
        lengths,
        log,
        received: got.len(),
        intact: *got == pattern(0, total),
        written: c.bytes_written(),
    }
}

#[test]
fn write_bytes_behaves_as_write_when_the_kernel_takes_the_chunk() {
    let _g = serial();
    let owned = writer_view(false, &[100, 200], true);
    let lent = writer_view(true, &[100, 200], true);
    assert_eq!(lent, owned);
    assert_eq!(lent.returns, [true, true, false]);
    assert_eq!(lent.lengths, [0, 0]);
    assert_eq!(lent.received, 300);
    assert!(lent.intact);
    assert_eq!(lent.written, 300);
    // The late write fails on a tick; 'finish' follows the write side's end.
    assert_eq!(lent.log[0], "tick");
    assert!(lent.log.contains(&"error write after end".to_string()));
}

#[test]
fn write_bytes_copies_what_the_kernel_leaves_and_keeps_order() {
    let _g = serial();
    // Far more than the socket buffers hold while nobody reads: the first
    // chunk is only partly taken, the second queues behind it.
    const SIZES: &[usize] = &[16 << 20, 1 << 20];
    let owned = writer_view(false, SIZES, false);
    let lent = writer_view(true, SIZES, false);
    assert_eq!(lent, owned);
    // Counted whole while in flight, as Node counts a chunk `uv_try_write`
    // only partly took; over the high-water mark, so `write` says wait.
    assert_eq!(lent.returns, [false, false]);
    assert_eq!(lent.lengths[1], lent.lengths[0] + (1 << 20));
    assert!(lent.lengths[0] > 0 && lent.lengths[0] <= 16 << 20);
    assert_eq!(lent.received, 17 << 20);
    assert!(lent.intact, "bytes arrived intact and in order");
    // No drain once ending, as in Node.
    assert_eq!(lent.log, ["tick", "finish"]);
    assert_eq!(lent.written, 17 << 20);
}
