//! Emitter and stream kinds (not in the shared peer set; the Node twin is
//! `examples/micro/stream_kinds.js`):
//! - `emit N`: N emits of a small payload to one listener;
//! - `stream_pipe N`: N 16-KiB chunks from a Readable through `pipe` into a
//!   Writable whose writes complete synchronously.

use nodeloop::emitter::{Event, EventEmitter};
use nodeloop::stream::{Bytes, Readable, Writable};
use nodeloop::Loop;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub fn run(kind: &str, n: u64) -> Option<Duration> {
    Some(match kind {
        "emit" => emit(n),
        "stream_pipe" => stream_pipe(n),
        _ => return None,
    })
}

struct Tick;
impl Event for Tick {
    type Payload = u64;
    const NAME: &'static str = "tick";
}

fn emit(n: u64) -> Duration {
    let mut lp = Loop::new();
    let em = EventEmitter::new();
    let sum = Rc::new(Cell::new(0u64));
    let s = sum.clone();
    em.on::<Tick>(move |_, v| s.set(s.get() + v));
    let start = Instant::now();
    for i in 0..n {
        em.emit::<Tick>(&mut lp, i);
    }
    let d = start.elapsed();
    assert_eq!(sum.get(), n * (n - 1) / 2);
    d
}

fn stream_pipe(n: u64) -> Duration {
    let mut lp = Loop::new();
    let left = Cell::new(n);
    let src = Readable::<Bytes>::new(move |lp, rs, _| {
        if left.get() == 0 {
            rs.push_eof(lp);
        } else {
            left.set(left.get() - 1);
            rs.push(lp, vec![7u8; 16 * 1024]);
        }
    });
    let got = Rc::new(Cell::new(0u64));
    let g = got.clone();
    let dst = Writable::<Bytes>::new(move |lp, _, chunk, done| {
        g.set(g.get() + chunk.len() as u64);
        done.call(lp, Ok(()));
    });
    let start = Instant::now();
    src.pipe(&mut lp, &dst);
    lp.run_default();
    let d = start.elapsed();
    assert_eq!(got.get(), n * 16 * 1024);
    d
}
