//! Backpressure bounds memory: piping a 1 GiB file (sparse, made here) into
//! a slow writable keeps the bytes buffered in the two streams at most twice
//! the read stream's high-water mark. Counts bytes; times nothing.
//! `NODELOOP_PIPE_BYTES` changes the file size.

use std::cell::Cell;
use std::rc::Rc;

use nodeloop::stream::file::{create_read_stream, ReadStreamOptions};
use nodeloop::stream::{event, Bytes, Writable, DEFAULT_HWM_FILE_READ};
use nodeloop::{Check, Handle, Loop};

/// Completes `done` after `turns` more loop iterations: a sink slower than
/// the file reads.
fn later(lp: &mut Loop, turns: u32, f: Box<dyn FnOnce(&mut Loop)>) {
    if turns == 0 {
        f(lp)
    } else {
        lp.set_immediate(move |lp| later(lp, turns - 1, f));
    }
}

#[test]
fn piping_a_big_file_into_a_slow_writable_buffers_at_most_two_high_water_marks() {
    let size: u64 = std::env::var("NODELOOP_PIPE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let path = std::env::temp_dir().join(format!("nodeloop-mem-{}.bin", std::process::id()));
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();

    let mut lp = Loop::new();
    let rs = create_read_stream(&path, ReadStreamOptions::default()).unwrap();
    assert_eq!(rs.readable_high_water_mark(), DEFAULT_HWM_FILE_READ);
    let total = Rc::new(Cell::new(0u64));
    let peak = Rc::new(Cell::new(0usize));
    let pauses = Rc::new(Cell::new(0u32));

    let (t, p, r) = (total.clone(), peak.clone(), rs.clone());
    let ws = Writable::<Bytes>::new(move |lp, w, chunk, done| {
        t.set(t.get() + chunk.len() as u64);
        p.set(p.get().max(r.readable_length() + w.writable_length()));
        later(lp, 4, Box::new(move |lp| done.call(lp, Ok(()))));
    });
    // Also sample when data arrives, before it is written.
    let (p, r, w) = (peak.clone(), rs.clone(), ws.clone());
    rs.emitter().on::<event::Data<Vec<u8>>>(move |_, c| {
        p.set(
            p.get()
                .max(r.readable_length() + w.writable_length() + c.len()),
        );
    });
    let ps = pauses.clone();
    rs.emitter()
        .on::<event::Pause>(move |_, _| ps.set(ps.get() + 1));
    // And once per loop iteration, after the poll phase delivered reads.
    let check = Check::new(&mut lp);
    let (p, r, w) = (peak.clone(), rs.clone(), ws.clone());
    check
        .start(&mut lp, move |_, _| {
            p.set(p.get().max(r.readable_length() + w.writable_length()));
        })
        .unwrap();
    check.unref(&mut lp);
    rs.pipe(&mut lp, &ws);
    lp.run_default();
    std::fs::remove_file(&path).unwrap();

    assert_eq!(total.get(), size, "every byte reached the sink");
    assert!(ws.writable_finished());
    assert!(pauses.get() > 0, "the slow sink never pushed back");
    assert!(
        peak.get() <= 2 * DEFAULT_HWM_FILE_READ,
        "peak buffered {} > 2 x {}",
        peak.get(),
        DEFAULT_HWM_FILE_READ
    );
    eprintln!(
        "piped {size} bytes; peak buffered {} bytes; {} pauses",
        peak.get(),
        pauses.get()
    );
}
