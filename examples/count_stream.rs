//! The articles' counting stream: a `Readable` whose `_read` pushes the
//! numbers 1 to 10, then the end. Prints what its Node twin
//! `tests/stream_conformance/count-stream.js` prints: 1 to 10, `end`,
//! `close` (`tests/stream_conformance.rs` checks the same program).

use std::cell::Cell;

use nodeloop::stream::{event, Bytes, Readable};
use nodeloop::Loop;

/// Node's `class Counter extends Readable`.
fn counter(max: u32) -> Readable<Bytes> {
    let index = Cell::new(1);
    Readable::new(move |lp, rs, _size| {
        let i = index.replace(index.get() + 1);
        if i > max {
            rs.push_eof(lp);
        } else {
            rs.push(lp, i.to_string().into_bytes());
        }
    })
}

fn main() {
    let mut lp = Loop::new();
    let c = counter(10);
    c.on_data(&mut lp, |_, chunk| {
        println!("{}", String::from_utf8_lossy(chunk))
    });
    c.emitter().on::<event::End>(|_, _| println!("end"));
    c.emitter().on::<event::Close>(|_, _| println!("close"));
    lp.run_default();
}
