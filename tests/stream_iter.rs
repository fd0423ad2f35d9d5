//! Async iteration of a Readable with a test-only `block_on` that polls the
//! future only when its waker fired, running the loop in between.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use nodeloop::stream::{event, Objects, Readable, StreamError};
use nodeloop::{Loop, RunMode};

struct Flag(AtomicBool);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn block_on<F: Future>(lp: &mut Loop, f: F) -> F::Output {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut f = pin!(f);
    loop {
        if flag.0.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
                return v;
            }
        }
        let alive = lp.run(RunMode::Once);
        assert!(
            alive || flag.0.load(Ordering::SeqCst),
            "the loop went idle with the future pending and not woken"
        );
    }
}

fn counter(max: u32) -> Readable<Objects<u32>> {
    let i = std::cell::Cell::new(0);
    Readable::new(move |lp, rs, _| {
        i.set(i.get() + 1);
        if i.get() <= max {
            rs.push(lp, i.get());
        } else {
            rs.push_eof(lp);
        }
    })
}

#[test]
fn iterates_every_chunk_then_none() {
    let mut lp = Loop::new();
    let rs = counter(10);
    let mut it = rs.iter(&mut lp);
    let got = block_on(&mut lp, async {
        let mut got = Vec::new();
        while let Some(c) = it.next().await {
            got.push(c.unwrap());
        }
        got
    });
    assert_eq!(got, (1..=10).collect::<Vec<_>>());
    lp.run_default();
    assert!(rs.readable_ended() && rs.destroyed());
}

#[test]
fn chunks_pushed_later_wake_the_future() {
    let mut lp = Loop::new();
    let rs = Readable::<Objects<&'static str>>::new(|_, _, _| {});
    let r = rs.clone();
    lp.set_timeout(5, move |lp| {
        r.push(lp, "late");
        r.push_eof(lp);
    });
    let mut it = rs.iter(&mut lp);
    let first = block_on(&mut lp, it.next());
    assert_eq!(first.unwrap().unwrap(), "late");
    assert!(block_on(&mut lp, it.next()).is_none());
}

#[test]
fn a_failed_stream_yields_its_error_once() {
    let mut lp = Loop::new();
    let rs = Readable::<Objects<u8>>::new(|_, _, _| {});
    let r = rs.clone();
    lp.set_immediate(move |lp| r.destroy(lp, Some(StreamError::custom("boom"))));
    let mut it = rs.iter(&mut lp);
    let e = block_on(&mut lp, it.next()).unwrap().unwrap_err();
    assert_eq!(e.to_string(), "boom");
    assert!(block_on(&mut lp, it.next()).is_none());
}

#[test]
fn iteration_keeps_backpressure() {
    let mut lp = Loop::new();
    let rs = counter(1000);
    let mut it = rs.iter(&mut lp);
    let r = rs.clone();
    let peak = block_on(&mut lp, async {
        let mut peak = 0;
        for _ in 0..100 {
            it.next().await.unwrap().unwrap();
            peak = peak.max(r.readable_length());
        }
        peak
    });
    assert!(peak <= 16, "buffered {peak} objects, hwm is 16");
}

#[test]
fn dropping_the_iterator_early_destroys_the_stream() {
    let mut lp = Loop::new();
    let rs = counter(100);
    let closed = std::rc::Rc::new(std::cell::Cell::new(false));
    let c = closed.clone();
    rs.emitter().on::<event::Close>(move |_, _| c.set(true));
    {
        let mut it = rs.iter(&mut lp);
        assert_eq!(block_on(&mut lp, it.next()).unwrap().unwrap(), 1);
    }
    lp.run_default();
    assert!(rs.destroyed() && closed.get() && !rs.readable_ended());
}
