//! Heap per idle connection, counted exactly: a counting global allocator
//! measures what an echo server (as `examples/echo_server.rs`) keeps per
//! accepted connection after one 1-byte round trip — the figure behind
//! `bench/idle_conns.sh` without the noise of RSS. A regression that adds a
//! field, an allocation or a listener's worth of bytes per connection fails
//! here. Counts bytes and allocations; times nothing.

mod net_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, Ordering};

use nodeloop::net::{ServerOptions, TcpServer};
use nodeloop::stream::event::Drain;
use nodeloop::{Loop, RunMode};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> (isize, isize) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
    )
}

/// Connections measured: enough that the handle table's growth is spread
/// as it is for 10,000, few enough for a loaded CI machine.
const CONNS: usize = 1000;

/// Budgets per connection, from the figures measured when they were set
/// (see docs/benchmarks.md, "Memory per idle connection") plus a little
/// room: requested bytes, and allocations (each costs malloc's header and
/// rounding on top).
const MAX_BYTES_PER_CONN: isize = 850;
const MAX_BLOCKS_PER_CONN: isize = 9;
/// One-off allocations the loop may make during the 1,000 connections
/// (a queue's first growth, the handle table's), which made the count read
/// 9.00x now and then: far below the 1,000 that one more allocation per
/// connection would add.
const ONE_OFF_BLOCKS: isize = 64;

/// Opens one connection, makes a 1-byte round trip on it, and returns the
/// client end once the server has echoed.
fn round_trip(lp: &mut Loop, server: &TcpServer, seen: &Cell<usize>) -> TcpStream {
    let want = seen.get() + 1;
    let mut c = TcpStream::connect(server.address().unwrap()).unwrap();
    c.set_nodelay(true).unwrap();
    c.write_all(b"x").unwrap();
    while seen.get() < want {
        lp.run(RunMode::Once);
    }
    let mut b = [0u8];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"x");
    c
}

#[test]
fn an_idle_echo_connection_keeps_a_bounded_heap() {
    let _serial = net_common::serial();
    net_common::raise_nofile(2 * CONNS as u64 + 64);
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    let seen = Rc::new(Cell::new(0usize));
    let s = seen.clone();
    server.on_connection(&mut lp, move |lp, sock| {
        let _ = sock.set_no_delay(true);
        sock.on_error(|_, _| {});
        let (me, s) = (sock.clone(), s.clone());
        sock.on_data(lp, move |lp, chunk| {
            s.set(s.get() + 1);
            if !me.write(lp, chunk.clone()) {
                me.pause(lp);
                let m2 = me.clone();
                me.emitter().once::<Drain>(move |lp, _| m2.resume(lp));
            }
        });
    });
    server
        .listen(&mut lp, "127.0.0.1:0".parse().unwrap(), 511)
        .unwrap();
    let mut clients = Vec::with_capacity(CONNS + 1);
    // One connection first, so that what the loop allocates once (event
    // buffers, queues) is in the baseline.
    clients.push(round_trip(&mut lp, &server, &seen));
    for _ in 0..3 {
        lp.run(RunMode::NoWait);
    }
    let (bytes0, blocks0) = live();
    for _ in 0..CONNS {
        let c = round_trip(&mut lp, &server, &seen);
        clients.push(c);
    }
    for _ in 0..3 {
        lp.run(RunMode::NoWait);
    }
    let (bytes1, blocks1) = live();
    let per_bytes = (bytes1 - bytes0) / CONNS as isize;
    let per_blocks = (blocks1 - blocks0) as f64 / CONNS as f64;
    eprintln!("per idle connection: {per_bytes} bytes requested in {per_blocks:.2} allocations");

    drop(clients);
    server.close(&mut lp, |_, r| r.unwrap());
    lp.run_default();

    assert!(
        per_bytes <= MAX_BYTES_PER_CONN,
        "{per_bytes} bytes per connection > {MAX_BYTES_PER_CONN}"
    );
    let blocks = blocks1 - blocks0;
    assert!(
        blocks <= MAX_BLOCKS_PER_CONN * CONNS as isize + ONE_OFF_BLOCKS,
        "{blocks} allocations for {CONNS} connections ({per_blocks:.3} each) > \
         {MAX_BLOCKS_PER_CONN} each + {ONE_OFF_BLOCKS}"
    );
}
