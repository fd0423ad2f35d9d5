//! The primality server of the event-loop articles, on nodeloop.
//!
//! Line protocol: the client sends one number per line; the server answers
//! each line, in order, with `prime`, `composite`, `neither` (0 and 1), or
//! `error: ...` for a line that is not a natural number or is longer than
//! [`MAX_LINE`] bytes. The same protocol is served five ways ([`Mode`]) to
//! show what blocking the loop costs and the ways around it.
//!
//! This file is shared by `examples/prime_server/main.rs` and
//! `tests/prime_server.rs` (through `#[path]`), so the library does not
//! depend on it.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nodeloop::net::{ServerOptions, SocketOptions, TcpServer, TcpSocket};
use nodeloop::stream::event::{Drain, End};
use nodeloop::{with_loop, Loop, Promise};

/// Longest accepted line, newline excluded.
pub const MAX_LINE: usize = 1024;

/// Where the primality checks run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On the loop thread: one slow number stalls every client.
    Inline,
    /// On the thread pool (`queue_work`), answers put back in request order.
    Pool,
    /// As `Pool`, with a result cache kept on the loop thread.
    Cached,
    /// Pool work as promises (`run_work`), answers chained with `then`.
    Promise,
    /// One async task per connection awaiting reads, pool work and writes.
    Await,
}

impl Mode {
    /// Every mode, in the order the articles introduce them.
    pub const ALL: [Mode; 5] = [
        Mode::Inline,
        Mode::Pool,
        Mode::Cached,
        Mode::Promise,
        Mode::Await,
    ];
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.to_string() == s)
            .ok_or_else(|| {
                format!("unknown mode {s:?} (expected inline, pool, cached, promise or await)")
            })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Inline => "inline",
            Mode::Pool => "pool",
            Mode::Cached => "cached",
            Mode::Promise => "promise",
            Mode::Await => "await",
        })
    }
}

/// How the server behaves.
#[derive(Copy, Clone, Debug)]
pub struct Config {
    /// Where checks run.
    pub mode: Mode,
    /// Emulated CPU load: a check of a number at or above `slow_from` spins
    /// this long (the articles' `isPrime(n, true)`).
    pub delay: Duration,
    /// The smallest number that is slow to check.
    pub slow_from: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mode: Mode::Pool,
            delay: Duration::ZERO,
            slow_from: 1_000_000,
        }
    }
}

/// Deterministic Miller-Rabin: these bases decide every `u64` exactly.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    for p in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if n % p == 0 {
            return n == p;
        }
    }
    let (mut d, mut s) = (n - 1, 0);
    while d % 2 == 0 {
        d /= 2;
        s += 1;
    }
    let mul = |a: u64, b: u64| ((a as u128 * b as u128) % n as u128) as u64;
    let pow = |mut b: u64, mut e: u64| {
        let mut r = 1;
        while e > 0 {
            if e & 1 == 1 {
                r = mul(r, b);
            }
            b = mul(b, b);
            e >>= 1;
        }
        r
    };
    'witness: for a in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        let mut x = pow(a, d);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul(x, x);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// The check as the server runs it: spins first when `n` is a slow number.
pub fn check(n: u64, delay: Duration, slow_from: u64) -> bool {
    if n >= slow_from && !delay.is_zero() {
        let start = Instant::now();
        while start.elapsed() < delay {
            std::hint::spin_loop();
        }
    }
    is_prime(n)
}

/// The answer line for a check's outcome.
pub fn verdict(n: u64, prime: bool) -> &'static str {
    match (n, prime) {
        (0 | 1, _) => "neither\n",
        (_, true) => "prime\n",
        (_, false) => "composite\n",
    }
}

/// Parses one request line (without its newline); `Err` is the error
/// answer to send.
pub fn parse(line: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(line);
    let t = text.trim();
    if t.is_empty() {
        return Err("error: empty line\n".into());
    }
    if t.starts_with('-') && t[1..].chars().all(|c| c.is_ascii_digit()) && t.len() > 1 {
        return Err(format!("error: negative number: {t:?}\n"));
    }
    if !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("error: not a number: {t:?}\n"));
    }
    t.parse::<u64>()
        .map_err(|_| format!("error: number too large (max {}): {t:?}\n", u64::MAX))
}

/// One request: a number to check, or an error to answer as is.
pub type Request = Result<u64, String>;

/// Splits a byte stream into request lines, whatever the read boundaries.
#[derive(Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Inside a too-long line: drop bytes up to its newline.
    skipping: bool,
}

impl Lines {
    /// Feeds bytes; returns the requests of the lines they complete.
    pub fn push(&mut self, mut data: &[u8]) -> Vec<Request> {
        let mut out = Vec::new();
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = (&data[..i], &data[i + 1..]);
            data = rest;
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            if self.buf.len() + line.len() > MAX_LINE {
                self.buf.clear();
                out.push(Err(too_long()));
                continue;
            }
            self.buf.extend_from_slice(line);
            out.push(parse(&self.buf));
            self.buf.clear();
        }
        if !self.skipping {
            if self.buf.len() + data.len() > MAX_LINE {
                // Answer as soon as the line is known to be too long, then
                // forget it: a client cannot make the server buffer more.
                self.buf.clear();
                self.skipping = true;
                out.push(Err(too_long()));
            } else {
                self.buf.extend_from_slice(data);
            }
        }
        out
    }
}

fn too_long() -> String {
    format!("error: line longer than {MAX_LINE} bytes\n")
}

/// Answers of one connection, written strictly in request order although
/// pool checks finish in any order.
struct Replies {
    sock: TcpSocket,
    peer: String,
    /// Answers not yet written; `None` is a check still running.
    pending: VecDeque<Option<String>>,
    /// Sequence number of `pending`'s front.
    first: u64,
    /// The client ended its side: end ours once every answer is out.
    ended: bool,
}

type Shared = Rc<RefCell<Replies>>;

fn reserve(r: &Shared) -> u64 {
    let mut r = r.borrow_mut();
    r.pending.push_back(None);
    r.first + r.pending.len() as u64 - 1
}

fn fill(lp: &mut Loop, r: &Shared, seq: u64, answer: String) {
    let mut out = Vec::new();
    let (sock, finish) = {
        let mut st = r.borrow_mut();
        let i = (seq - st.first) as usize;
        st.pending[i] = Some(answer);
        while let Some(Some(_)) = st.pending.front() {
            out.extend_from_slice(st.pending.pop_front().flatten().unwrap().as_bytes());
            st.first += 1;
        }
        (st.sock.clone(), st.ended && st.pending.is_empty())
    };
    if !out.is_empty() && !sock.write(lp, out) {
        // Backpressure: stop reading requests until the answers drain.
        sock.pause(lp);
    }
    if finish {
        sock.end(lp);
    }
}

/// Starts the server on `addr`; it runs until the loop stops or it is
/// closed.
pub fn listen(lp: &mut Loop, addr: SocketAddr, cfg: Config) -> io::Result<TcpServer> {
    let server = TcpServer::new(ServerOptions {
        // Answers may still be on their way when the client ends its side.
        connection: SocketOptions {
            allow_half_open: true,
            ..Default::default()
        },
        ..Default::default()
    });
    let cache: Rc<RefCell<HashMap<u64, bool>>> = Rc::default();
    server.on_connection(lp, move |lp, sock| {
        let peer = sock
            .remote_address()
            .map(|a| a.to_string())
            .unwrap_or_else(|e| format!("<unknown: {e}>"));
        log::info!("{peer} connected");
        let _ = sock.set_no_delay(true);
        let p = peer.clone();
        sock.on_error(move |_, e| log::warn!("{p}: {e}"));
        let p = peer.clone();
        sock.on_close(move |_| log::info!("{p} closed"));
        match cfg.mode {
            Mode::Await => serve_await(lp, sock.clone(), peer, cfg),
            _ => serve_callbacks(lp, sock, peer, cfg, cache.clone()),
        }
    });
    server.listen(lp, addr, 511)?;
    Ok(server)
}

fn serve_callbacks(
    lp: &mut Loop,
    sock: &TcpSocket,
    peer: String,
    cfg: Config,
    cache: Rc<RefCell<HashMap<u64, bool>>>,
) {
    let replies: Shared = Rc::new(RefCell::new(Replies {
        sock: sock.clone(),
        peer,
        pending: VecDeque::new(),
        first: 0,
        ended: false,
    }));
    let s = sock.clone();
    sock.on::<Drain>(lp, move |lp, _| s.resume(lp));
    let r = replies.clone();
    let s = sock.clone();
    sock.on::<End>(lp, move |lp, _| {
        let done = {
            let mut st = r.borrow_mut();
            st.ended = true;
            st.pending.is_empty()
        };
        if done {
            s.end(lp);
        }
    });
    // The tail of the promise chain of this connection's answers.
    let chain = Rc::new(RefCell::new(Promise::resolve(())));
    let mut lines = Lines::default();
    sock.on_data(lp, move |lp, chunk| {
        for req in lines.push(chunk) {
            let peer = replies.borrow().peer.clone();
            match &req {
                Ok(n) => log::info!("{peer}: {n}"),
                Err(e) => log::info!("{peer}: bad request, {}", e.trim_end()),
            }
            if cfg.mode == Mode::Promise {
                answer_promise(lp, &replies, &chain, req, cfg);
                continue;
            }
            let seq = reserve(&replies);
            let n = match req {
                Ok(n) => n,
                Err(e) => {
                    fill(lp, &replies, seq, e);
                    continue;
                }
            };
            match cfg.mode {
                Mode::Inline => {
                    let prime = check(n, cfg.delay, cfg.slow_from);
                    fill(lp, &replies, seq, verdict(n, prime).into());
                }
                Mode::Cached if cache.borrow().contains_key(&n) => {
                    let prime = cache.borrow()[&n];
                    fill(lp, &replies, seq, verdict(n, prime).into());
                }
                _ => {
                    let (r, cache) = (replies.clone(), cache.clone());
                    let mode = cfg.mode;
                    lp.queue_work(
                        move || check(n, cfg.delay, cfg.slow_from),
                        move |lp, res| {
                            let answer = match res {
                                Ok(prime) => {
                                    if mode == Mode::Cached {
                                        cache.borrow_mut().insert(n, prime);
                                    }
                                    verdict(n, prime).to_string()
                                }
                                Err(e) => format!("error: check failed: {e}\n"),
                            };
                            fill(lp, &r, seq, answer);
                        },
                    );
                }
            }
        }
    });
}

/// Promise mode: the check starts now on the pool; its answer is written
/// when both it and every earlier answer of the connection are done.
fn answer_promise(
    lp: &mut Loop,
    replies: &Shared,
    chain: &Rc<RefCell<Promise<()>>>,
    req: Request,
    cfg: Config,
) {
    let seq = reserve(replies);
    let answer: Promise<String> = match req {
        Ok(n) => {
            let work = lp.run_work(move || check(n, cfg.delay, cfg.slow_from));
            Promise::from_future(lp, work).then(lp, move |_, prime| verdict(n, prime).to_string())
        }
        Err(e) => Promise::resolve(e),
    };
    let r = replies.clone();
    let tail = chain.borrow().clone();
    let next = tail
        .then_promise(lp, move |_, ()| answer)
        .then(lp, move |lp, text| fill(lp, &r, seq, text));
    let r = replies.clone();
    let next = next.catch(lp, move |lp, e| {
        fill(lp, &r, seq, format!("error: check failed: {e}\n"));
    });
    *chain.borrow_mut() = next;
}

/// Await mode: the connection is one task, reading, checking and writing
/// in sequence (so answers are in order by construction).
fn serve_await(lp: &mut Loop, sock: TcpSocket, peer: String, cfg: Config) {
    lp.spawn(async move {
        let mut lines = Lines::default();
        loop {
            let chunk = match with_loop(|lp| sock.read_async(lp)).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => return, // logged by the error listener
            };
            for req in lines.push(&chunk) {
                let answer = match req {
                    Ok(n) => {
                        log::info!("{peer}: {n}");
                        match with_loop(|lp| {
                            lp.run_work(move || check(n, cfg.delay, cfg.slow_from))
                        })
                        .await
                        {
                            Ok(prime) => verdict(n, prime).to_string(),
                            Err(e) => format!("error: check failed: {e}\n"),
                        }
                    }
                    Err(e) => {
                        log::info!("{peer}: bad request, {}", e.trim_end());
                        e
                    }
                };
                if with_loop(|lp| sock.write_async(lp, answer.into_bytes()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        with_loop(|lp| sock.end(lp));
    });
}
