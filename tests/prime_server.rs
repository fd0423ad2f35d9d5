//! The primality server example (examples/prime_server/): the articles'
//! point — on the thread pool a slow number from one client does not delay
//! another client, inline on the loop it does — and its line protocol in
//! every mode.

#[path = "../examples/prime_server/server.rs"]
#[allow(dead_code, reason = "the test uses part of the example's module")]
mod server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nodeloop::{Async, Handle, Loop};
use server::{Config, Mode};

/// A server running on its own loop thread; stopped and joined on drop.
struct Running {
    addr: SocketAddr,
    stop: Option<nodeloop::AsyncSender>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send();
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn start(cfg: Config) -> Running {
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let mut lp = Loop::new();
        let server = server::listen(&mut lp, "127.0.0.1:0".parse().unwrap(), cfg).unwrap();
        let addr = server.address().unwrap();
        let stop = Async::new(&mut lp, move |lp, a| {
            // Open connections may remain: stop the loop rather than wait.
            server.close(lp, |_, _| {});
            let _ = a.close(lp, |_| {});
            lp.stop();
        });
        tx.send((addr, stop.sender(&lp).unwrap())).unwrap();
        lp.run_default();
    });
    let (addr, stop) = rx.recv().unwrap();
    Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

fn connect(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn read_line(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

/// Sends `input` in the given pieces (pausing between them so they arrive
/// as separate reads) and returns the whole answer after the server ends.
fn exchange(addr: SocketAddr, pieces: &[&[u8]]) -> String {
    let (mut s, mut r) = connect(addr);
    for p in pieces {
        s.write_all(p).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    out
}

const SLOW: u64 = 1_000_003; // a prime, above slow_from
const DELAY: Duration = Duration::from_millis(800);

/// Client A asks about a slow number; 100 ms later client B asks about a
/// fast one. Returns how long B waited and checks both answers.
fn fast_client_latency(mode: Mode) -> Duration {
    let srv = start(Config {
        mode,
        delay: DELAY,
        slow_from: 1_000_000,
    });
    let (mut a, mut ar) = connect(srv.addr);
    let (mut b, mut br) = connect(srv.addr);
    a.write_all(format!("{SLOW}\n").as_bytes()).unwrap();
    thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    b.write_all(b"7\n").unwrap();
    assert_eq!(read_line(&mut br), "prime\n");
    let fast = t.elapsed();
    assert_eq!(read_line(&mut ar), "prime\n");
    fast
}

#[test]
fn pool_mode_keeps_fast_clients_fast() {
    for mode in [Mode::Pool, Mode::Cached, Mode::Promise, Mode::Await] {
        let fast = fast_client_latency(mode);
        assert!(
            fast < Duration::from_millis(400),
            "{mode}: the fast client waited {fast:?} behind a slow number"
        );
    }
}

#[test]
fn inline_mode_stalls_every_client() {
    let fast = fast_client_latency(Mode::Inline);
    // The slow check started ~100 ms before the fast request and takes
    // 800 ms: the fast one waits for the rest of it.
    assert!(
        fast >= Duration::from_millis(600),
        "inline: the fast client waited only {fast:?}; the loop was not blocked"
    );
}

#[test]
fn every_mode_answers_in_order_across_read_boundaries() {
    let want = "prime\ncomposite\nprime\ncomposite\nneither\nprime\ncomposite\n";
    for mode in Mode::ALL {
        let srv = start(Config {
            mode,
            ..Config::default()
        });
        // Several numbers in one read, and numbers split across reads.
        let got = exchange(
            srv.addr,
            &[
                b"2\n9",
                b"1\n",
                b"18446744073709551557\n4\n1\r\n1",
                b"3\n",
                b"100\n",
            ],
        );
        assert_eq!(got, want, "mode {mode}");
    }
}

#[test]
fn pool_answers_stay_in_request_order_when_checks_finish_out_of_order() {
    for mode in [Mode::Pool, Mode::Cached, Mode::Promise] {
        let srv = start(Config {
            mode,
            delay: Duration::from_millis(300),
            slow_from: 1_000_000,
        });
        let t = Instant::now();
        // The slow check is asked first; the fast ones finish long before.
        let got = exchange(srv.addr, &[format!("{SLOW}\n5\n6\n").as_bytes()]);
        assert_eq!(got, "prime\nprime\ncomposite\n", "mode {mode}");
        assert!(t.elapsed() >= Duration::from_millis(300));
    }
}

#[test]
fn garbage_gets_error_lines_and_the_connection_goes_on() {
    let long = vec![b'9'; 1500];
    for mode in Mode::ALL {
        let srv = start(Config {
            mode,
            ..Config::default()
        });
        let got = exchange(
            srv.addr,
            &[
                b"abc\n-5\n\n99999999999999999999999\n",
                &long[..1000],
                &long[1000..],
                b"\n12\n 13 \n",
            ],
        );
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(
            lines,
            [
                "error: not a number: \"abc\"",
                "error: negative number: \"-5\"",
                "error: empty line",
                "error: number too large (max 18446744073709551615): \"99999999999999999999999\"",
                "error: line longer than 1024 bytes",
                "composite",
                "prime",
            ],
            "mode {mode}"
        );
    }
}

#[test]
fn cached_mode_answers_repeats_from_the_cache() {
    let srv = start(Config {
        mode: Mode::Cached,
        delay: Duration::from_millis(300),
        slow_from: 1_000_000,
    });
    let (mut s, mut r) = connect(srv.addr);
    s.write_all(format!("{SLOW}\n").as_bytes()).unwrap();
    assert_eq!(read_line(&mut r), "prime\n");
    let t = Instant::now();
    s.write_all(format!("{SLOW}\n").as_bytes()).unwrap();
    assert_eq!(read_line(&mut r), "prime\n");
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "a cached answer took {:?}",
        t.elapsed()
    );
}

#[test]
fn primality_is_exact() {
    let sieve_limit = 10_000usize;
    let mut composite = vec![false; sieve_limit];
    for i in 2..sieve_limit {
        if !composite[i] {
            for j in (i * i..sieve_limit).step_by(i) {
                composite[j] = true;
            }
        }
        assert_eq!(server::is_prime(i as u64), !composite[i], "{i}");
    }
    // Strong pseudoprimes to several bases, and the largest u64 prime.
    for n in [3_215_031_751u64, 2_152_302_898_747, 3_474_749_660_383] {
        assert!(!server::is_prime(n), "{n}");
    }
    assert!(server::is_prime(18_446_744_073_709_551_557));
    assert!(!server::is_prime(u64::MAX));
}
