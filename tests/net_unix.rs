//! Unix-domain stream sockets: the same socket code as TCP over another
//! transport, plus what is particular to paths (missing or stale socket
//! files, removal on close) and SIGPIPE.

mod net_common;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::rc::Rc;

use net_common::*;
use nodeloop::net::{ServerOptions, SocketOptions, UnixServer, UnixSocket};
use nodeloop::stream::{event as sev, StreamError};
use nodeloop::{BareHandle, Handle, Loop};

fn sock_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("nodeloop-test-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn io_kind(e: &StreamError) -> ErrorKind {
    match e {
        StreamError::Io(e) => e.kind(),
        other => panic!("not an I/O error: {other}"),
    }
}

#[test]
fn echo_addresses_and_socket_file_lifetime() {
    let _g = serial();
    let path = sock_path("echo");
    let mut lp = Loop::new();
    let server = UnixServer::new(ServerOptions::default());
    server.on_connection(&mut lp, |lp, sock| {
        let s = sock.clone();
        sock.on_data(lp, move |lp, c| {
            s.write(lp, c.clone());
        });
    });
    server.listen(&mut lp, path.clone(), 16).unwrap();
    assert!(path.exists());
    assert_eq!(
        server.address().unwrap().as_pathname(),
        Some(path.as_path())
    );
    let got = Rc::new(RefCell::new(Vec::new()));
    let c = UnixSocket::connect(&mut lp, &path, SocketOptions::default());
    let (c2, p) = (c.clone(), path.clone());
    c.on_connect(move |lp| {
        assert_eq!(
            c2.remote_address().unwrap().as_pathname(),
            Some(p.as_path())
        );
        c2.end_with(lp, Some(b"over unix".to_vec()), |_, r| r.unwrap());
    });
    let g = got.clone();
    c.on_data(&mut lp, move |_, ch| g.borrow_mut().extend_from_slice(ch));
    let s = server.clone();
    c.on_close(move |lp| s.close(lp, |_, r| r.unwrap()));
    lp.run_default();
    assert_eq!(*got.borrow(), b"over unix");
    assert_eq!((c.bytes_read(), c.bytes_written()), (9, 9));
    assert!(!path.exists(), "the server removed its socket file");
}

#[test]
fn half_close_over_unix() {
    let _g = serial();
    let path = sock_path("half");
    let mut lp = Loop::new();
    let server = UnixServer::new(ServerOptions {
        connection: SocketOptions {
            allow_half_open: true,
            ..Default::default()
        },
        ..Default::default()
    });
    server.on_connection(&mut lp, |lp, sock| {
        let n = Rc::new(Cell::new(0usize));
        let n2 = n.clone();
        sock.on_data(lp, move |_, c| n2.set(n2.get() + c.len()));
        let s = sock.clone();
        sock.on_end(lp, move |lp| {
            s.end_with(
                lp,
                Some(format!("{} bytes", n.get()).into_bytes()),
                |_, r| r.unwrap(),
            );
        });
    });
    server.listen(&mut lp, path.clone(), 16).unwrap();
    let c = UnixSocket::connect(&mut lp, &path, SocketOptions::default());
    c.end_with(&mut lp, Some(vec![0; 1000]), |_, r| r.unwrap());
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    c.on_data(&mut lp, move |_, ch| g.borrow_mut().extend_from_slice(ch));
    let s = server.clone();
    c.on_close(move |lp| s.close(lp, |_, _| {}));
    lp.run_default();
    assert_eq!(*got.borrow(), b"1000 bytes");
}

#[test]
fn missing_path_fails_in_the_pending_phase() {
    let _g = serial();
    let path = sock_path("missing");
    let mut lp = Loop::new();
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let (l, p) = (log.clone(), path.clone());
    // From the check phase, with a handle closed in the same callback: the
    // connect(2) error is immediate, but libuv reports it from the next
    // pending phase, so after this iteration's close phase.
    lp.set_immediate(move |lp| {
        let l1 = l.clone();
        let c = UnixSocket::connect(lp, &p, SocketOptions::default());
        c.on_error(move |_, e| l1.borrow_mut().push(format!("error {:?}", io_kind(e))));
        let l2 = l.clone();
        c.on_close(move |_| l2.borrow_mut().push("close".into()));
        let l3 = l.clone();
        BareHandle::new(lp)
            .close(lp, move |_| l3.borrow_mut().push("close phase".into()))
            .unwrap();
    });
    lp.run_default();
    assert_eq!(*log.borrow(), ["close phase", "error NotFound", "close"]);
}

#[test]
fn stale_socket_file_is_connection_refused() {
    let _g = serial();
    let path = sock_path("stale");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let mut lp = Loop::new();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let fut = UnixSocket::connect_async(&mut lp, &path, SocketOptions::default());
    let p = lp
        .spawn(async move { fut.await.map(|_| ()).map_err(|e| io_kind(&e)) })
        .into_promise(&mut lp);
    UnixSocket::connect_with(&mut lp, &path, SocketOptions::default(), move |_, r| {
        *g.borrow_mut() = Some(io_kind(&r.unwrap_err()))
    });
    lp.run_default();
    assert_eq!(*got.borrow(), Some(ErrorKind::ConnectionRefused));
    assert_eq!(
        p.peek().unwrap().unwrap(),
        Err(ErrorKind::ConnectionRefused)
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn writing_to_a_closed_peer_is_broken_pipe() {
    let _g = serial();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(b);
    let mut lp = Loop::new();
    let s = UnixSocket::from_std(&mut lp, a, SocketOptions::default()).unwrap();
    s.pause(&mut lp);
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    s.write_with(&mut lp, b"anyone?".to_vec(), move |_, r| {
        *g.borrow_mut() = Some(io_kind(&r.unwrap_err()))
    });
    let errors = Rc::new(Cell::new(0));
    let e = errors.clone();
    s.on_error(move |_, _| e.set(e.get() + 1));
    lp.run_default();
    assert_eq!(*got.borrow(), Some(ErrorKind::BrokenPipe));
    assert_eq!(errors.get(), 1);
    assert!(s.destroyed());
}

/// Run by `no_sigpipe_even_with_the_default_disposition` in a child.
#[test]
#[ignore = "child process of no_sigpipe_even_with_the_default_disposition"]
fn sigpipe_child() {
    if std::env::var_os("NODELOOP_SIGPIPE_CHILD").is_none() {
        return;
    }
    // SAFETY: restoring the default action of a signal.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(b);
    let mut lp = Loop::new();
    let s = UnixSocket::from_std(&mut lp, a, SocketOptions::default()).unwrap();
    let kind = Rc::new(RefCell::new(None));
    let k = kind.clone();
    s.on_error(move |_, e| *k.borrow_mut() = Some(io_kind(e)));
    s.write(&mut lp, vec![1; 100]);
    lp.run_default();
    println!("RESULT {:?}", kind.borrow());
}

#[test]
fn no_sigpipe_even_with_the_default_disposition() {
    let _g = serial();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigpipe_child", "--ignored", "--nocapture"])
        .env("NODELOOP_SIGPIPE_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child died: {:?}\n{stdout}",
        out.status
    );
    assert!(stdout.contains("RESULT Some(BrokenPipe)"), "{stdout}");
}

#[test]
fn bounded_buffering_over_unix() {
    let _g = serial();
    const TOTAL: usize = 8 << 20;
    const CHUNK: usize = 32 << 10;
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    // A slow reader on a thread.
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; 4096];
        let mut n = 0;
        let mut sum = 0u64;
        loop {
            let k = b.read(&mut buf).unwrap();
            if k == 0 {
                return (n, sum);
            }
            sum += buf[..k].iter().map(|&x| x as u64).sum::<u64>();
            n += k;
        }
    });
    let mut lp = Loop::new();
    let s = UnixSocket::from_std(&mut lp, a, SocketOptions::default()).unwrap();
    let sent = Rc::new(Cell::new(0usize));
    let max = Rc::new(Cell::new(0usize));
    let pump: Rc<dyn Fn(&mut Loop)> = {
        let (s, sent, max) = (s.clone(), sent.clone(), max.clone());
        Rc::new(move |lp: &mut Loop| {
            while sent.get() < TOTAL {
                let chunk = pattern(sent.get() as u64, CHUNK);
                sent.set(sent.get() + CHUNK);
                let more = s.write(lp, chunk);
                max.set(max.get().max(s.writable().writable_length()));
                if sent.get() == TOTAL {
                    s.end(lp);
                }
                if !more {
                    return;
                }
            }
        })
    };
    let p = pump.clone();
    s.emitter().on::<sev::Drain>(move |lp, _| p(lp));
    pump(&mut lp);
    s.resume(&mut lp);
    lp.run_default();
    let (n, sum) = reader.join().unwrap();
    assert_eq!(n, TOTAL);
    let want: u64 = (0..TOTAL / CHUNK)
        .map(|i| {
            pattern((i * CHUNK) as u64, CHUNK)
                .iter()
                .map(|&x| x as u64)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(sum, want);
    assert!(max.get() <= 16 * 1024 + CHUNK, "buffered {}", max.get());
}

#[test]
fn accept_and_read_as_awaitables() {
    let _g = serial();
    let path = sock_path("await");
    let mut lp = Loop::new();
    let server = UnixServer::new(ServerOptions::default());
    server.listen(&mut lp, path.clone(), 16).unwrap();
    let accept = server.accept_async(&mut lp);
    // A std client on a thread sends three messages and closes.
    let p = path.clone();
    let client = std::thread::spawn(move || {
        let mut s = std::os::unix::net::UnixStream::connect(p).unwrap();
        for m in [&b"one "[..], b"two ", b"three"] {
            s.write_all(m).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let srv = server.clone();
    let task = lp
        .spawn(async move {
            let conn = accept.await.unwrap();
            let mut got = Vec::new();
            loop {
                let next = nodeloop::with_loop(|lp| conn.read_async(lp));
                match next.await.unwrap() {
                    Some(chunk) => got.extend(chunk),
                    None => break,
                }
            }
            nodeloop::with_loop(|lp| srv.close(lp, |_, _| {}));
            got
        })
        .into_promise(&mut lp);
    lp.run_default();
    client.join().unwrap();
    assert_eq!(p_peek(&task), b"one two three");
}

fn p_peek(p: &nodeloop::Promise<Vec<u8>>) -> Vec<u8> {
    p.peek().unwrap().unwrap()
}

#[test]
fn connect_churn_leaks_no_descriptor() {
    let _g = serial();
    let path = sock_path("churn");
    let mut lp = Loop::new();
    let server = UnixServer::new(ServerOptions::default());
    server.on_connection(&mut lp, |lp, s| s.end(lp));
    server.listen(&mut lp, path.clone(), 512).unwrap();
    server.unref(&mut lp);
    let baseline = open_fds();
    for _ in 0..20 {
        for _ in 0..100 {
            let c = UnixSocket::connect(&mut lp, &path, SocketOptions::default());
            c.resume(&mut lp);
        }
        lp.run_default();
    }
    assert_eq!(server.connections(), 0);
    assert_eq!(open_fds(), baseline);
    server.close(&mut lp, |_, r| r.unwrap());
    lp.run_default();
    assert!(!path.exists());
}
