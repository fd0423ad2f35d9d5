//! Event-order conformance of nodeloop's streams against Node.
//!
//! Each `NAME` has a Node program `tests/stream_conformance/NAME.js` and the
//! trace Node printed, `NAME.expected`. The Rust twin here builds the same
//! streams with nodeloop and must print the same trace. When `node` is on
//! PATH, the JS is re-run too, so a stale `.expected` is caught.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;

use nodeloop::stream::{
    event, pipeline, Bytes, Duplex, Objects, Readable, ReadableOptions, StreamError, Transform,
    TransformDone, Writable, WritableOptions,
};
use nodeloop::Loop;

#[derive(Clone, Default)]
struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    fn log(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn check(name: &str, run: impl FnOnce(&mut Loop, &Trace)) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stream_conformance");
    let expected = std::fs::read_to_string(dir.join(format!("{name}.expected")))
        .unwrap_or_else(|e| panic!("{name}.expected: {e}"));
    let expected: Vec<String> = expected.lines().map(str::to_owned).collect();
    if let Ok(out) = Command::new("node")
        .arg(dir.join(format!("{name}.js")))
        .output()
    {
        let node: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            node, expected,
            "{name}.expected is stale: node prints otherwise"
        );
    }
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    let t = Trace::default();
    run(&mut lp, &t);
    lp.run_default();
    assert_eq!(
        t.lines(),
        expected,
        "{name}: nodeloop's trace differs from node's"
    );
}

fn on<E: nodeloop::emitter::Event>(
    em: &nodeloop::emitter::EventEmitter,
    t: &Trace,
    what: &'static str,
) {
    let t = t.clone();
    em.on::<E>(move |_, _| t.log(what));
}

#[test]
fn readable_flowing() {
    check("readable-flowing", |lp, t| {
        let i = Cell::new(0);
        let tr = t.clone();
        let r = Readable::<Bytes>::new(move |lp, r, _| {
            i.set(i.get() + 1);
            tr.log(format!("_read {}", i.get()));
            if i.get() <= 3 {
                r.push(lp, i.get().to_string().into_bytes());
            } else {
                r.push_eof(lp);
            }
        });
        let tr = t.clone();
        r.on_data(lp, move |_, c| tr.log(format!("data {}", s(c))));
        let tr = t.clone();
        r.emitter().on::<event::End>(move |lp, _| {
            tr.log("end");
            let tr = tr.clone();
            lp.next_tick(move |_| tr.log("tick after end"));
        });
        on::<event::Close>(r.emitter(), t, "close");
        on::<event::Resume>(r.emitter(), t, "resume");
        t.log("main");
        let tr = t.clone();
        lp.next_tick(move |_| tr.log("tick main"));
        let tr = t.clone();
        lp.set_immediate(move |_| tr.log("immediate"));
    });
}

#[test]
fn readable_paused() {
    check("readable-paused", |lp, t| {
        let r = Readable::<Bytes>::new(|_, _, _| {});
        let (tr, r2) = (t.clone(), r.clone());
        r.on::<event::Readable>(lp, move |lp, _| {
            tr.log(format!("readable {}", r2.readable_length()));
            while let Some(c) = r2.read(lp, None) {
                tr.log(format!("read {}", s(&c)));
            }
        });
        on::<event::End>(r.emitter(), t, "end");
        on::<event::Close>(r.emitter(), t, "close");
        r.push(lp, b"ab".to_vec());
        r.push(lp, b"cd".to_vec());
        t.log(format!("pushed {}", r.readable_length()));
        let tr = t.clone();
        lp.set_immediate(move |lp| {
            tr.log("immediate");
            r.push(lp, b"ef".to_vec());
            r.push_eof(lp);
            tr.log("eof pushed");
        });
    });
}

#[test]
fn readable_read_n() {
    check("readable-read-n", |lp, t| {
        let r = Readable::<Bytes>::new(|_, _, _| {});
        let show = |c: Option<Vec<u8>>| c.map_or("null".to_string(), |c| s(&c));
        r.push(lp, b"abc".to_vec());
        r.push(lp, b"defg".to_vec());
        t.log(format!("read 2 {}", show(r.read(lp, Some(2)))));
        t.log(format!("read 3 {}", show(r.read(lp, Some(3)))));
        t.log(format!("read 5 {}", show(r.read(lp, Some(5)))));
        r.push(lp, b"hi".to_vec());
        r.push_eof(lp);
        t.log(format!("read 5 after eof {}", show(r.read(lp, Some(5)))));
        t.log(format!("read again {}", show(r.read(lp, None))));
        on::<event::End>(r.emitter(), t, "end");
        on::<event::Close>(r.emitter(), t, "close");
    });
}

#[test]
fn readable_hwm() {
    check("readable-hwm", |lp, t| {
        let n = Cell::new(0);
        let tr = t.clone();
        let r = Readable::<Bytes>::with_options(
            ReadableOptions {
                high_water_mark: Some(4),
                ..Default::default()
            },
            move |lp, r, size| {
                n.set(n.get() + 1);
                let ok = r.push(lp, b"xx".to_vec());
                tr.log(format!(
                    "_read {} size {size} push -> {ok} len {}",
                    n.get(),
                    r.readable_length()
                ));
            },
        );
        r.read(lp, Some(0));
        let tr = t.clone();
        let r2 = r.clone();
        lp.set_immediate(move |lp| {
            tr.log(format!("immediate len {}", r2.readable_length()));
            let c = r2.read(lp, Some(3)).unwrap();
            tr.log(format!("read {}", s(&c)));
            let tr = tr.clone();
            lp.set_immediate(move |lp| {
                tr.log(format!("immediate 2 len {}", r2.readable_length()));
                r2.destroy(lp, None);
            });
        });
        on::<event::Close>(r.emitter(), t, "close");
    });
}

#[test]
fn readable_pause_resume() {
    check("readable-pause-resume", |lp, t| {
        let r = Readable::<Objects<u32>>::new(|_, _, _| {});
        let (tr, r2) = (t.clone(), r.clone());
        r.emitter()
            .on::<event::Pause>(move |_, _| tr.log(format!("pause {}", r2.is_paused())));
        on::<event::Resume>(r.emitter(), t, "resume");
        let (tr, r2) = (t.clone(), r.clone());
        r.on_data(lp, move |lp, d| {
            tr.log(format!("data {d}"));
            if *d == 2 {
                r2.pause(lp);
            }
        });
        r.push(lp, 1);
        r.push(lp, 2);
        r.push(lp, 3);
        t.log(format!("flowing {}", r.readable_flowing().unwrap()));
        let tr = t.clone();
        lp.set_immediate(move |lp| {
            tr.log(format!(
                "immediate paused {} len {}",
                r.is_paused(),
                r.readable_length()
            ));
            r.resume(lp);
            tr.log("after resume call");
            let tr = tr.clone();
            lp.next_tick(move |_| tr.log("tick"));
        });
    });
}

#[test]
fn readable_object_mode() {
    check("readable-object-mode", |lp, t| {
        let n = Rc::new(Cell::new(0));
        let n2 = n.clone();
        let r = Readable::<Objects<u32>>::new(move |lp, r, _| {
            n2.set(n2.get() + 1);
            r.push(lp, n2.get());
        });
        t.log(format!("hwm {}", r.readable_high_water_mark()));
        r.read(lp, Some(0));
        let (tr, r2) = (t.clone(), r.clone());
        lp.set_immediate(move |lp| {
            tr.log(format!(
                "buffered {} reads {}",
                r2.readable_length(),
                n.get()
            ));
            tr.log(format!("read {}", r2.read(lp, None).unwrap()));
            r2.destroy(lp, None);
        });
        on::<event::Close>(r.emitter(), t, "close");
    });
}

#[test]
fn readable_destroy_error() {
    check("readable-destroy-error", |lp, t| {
        let r = Readable::<Bytes>::new(|_, _, _| {});
        let tr = t.clone();
        r.on_data(lp, move |_, c| tr.log(format!("data {}", s(c))));
        on::<event::End>(r.emitter(), t, "end");
        let tr = t.clone();
        r.emitter()
            .on::<event::Error>(move |_, e| tr.log(format!("error {e}")));
        on::<event::Close>(r.emitter(), t, "close");
        r.push(lp, b"a".to_vec());
        let tr = t.clone();
        lp.set_immediate(move |lp| {
            r.destroy(lp, Some(StreamError::custom("boom")));
            let pushed = r.push(lp, b"b".to_vec());
            tr.log(format!("destroyed {} push -> {pushed}", r.destroyed()));
            let tr = tr.clone();
            lp.next_tick(move |_| tr.log("tick"));
        });
    });
}

#[test]
fn readable_push_after_eof() {
    check("readable-push-after-eof", |lp, t| {
        let r = Readable::<Bytes>::new(|_, _, _| {});
        let tr = t.clone();
        r.emitter()
            .on::<event::Error>(move |_, e| tr.log(format!("error {}", e.code().unwrap())));
        on::<event::Close>(r.emitter(), t, "close");
        r.push_eof(lp);
        t.log(format!("push -> {}", r.push(lp, b"x".to_vec())));
    });
}

#[test]
fn writable_drain() {
    check("writable-drain", |lp, t| {
        let tr = t.clone();
        let w = Writable::<Bytes>::with_options(
            WritableOptions {
                high_water_mark: Some(5),
                ..Default::default()
            },
            move |lp, _, c, done| {
                tr.log(format!("_write {}", s(&c)));
                let tr = tr.clone();
                lp.set_immediate(move |lp| {
                    tr.log(format!("done {}", s(&c)));
                    done.call(lp, Ok(()));
                });
            },
        );
        let (tr, w2) = (t.clone(), w.clone());
        w.on::<event::Drain>(move |_, _| tr.log(format!("drain {}", w2.writable_length())));
        for x in ["ab", "cd", "ef"] {
            let tr = t.clone();
            let ok = w.write_with(lp, x.as_bytes().to_vec(), move |_, _| {
                tr.log(format!("cb {x}"))
            });
            t.log(format!(
                "write {x} -> {ok} len {} needDrain {}",
                w.writable_length(),
                w.writable_need_drain()
            ));
        }
    });
}

#[test]
fn writable_finish() {
    check("writable-finish", |lp, t| {
        let tr = t.clone();
        let w = Writable::<Bytes>::new(move |lp, _, c, done| {
            tr.log(format!("_write {}", s(&c)));
            done.call(lp, Ok(()));
        });
        let tr = t.clone();
        w.set_final(move |lp, _, done| {
            tr.log("_final");
            done.call(lp, Ok(()));
        });
        on::<event::Prefinish>(w.emitter(), t, "prefinish");
        on::<event::Finish>(w.emitter(), t, "finish");
        on::<event::Close>(w.emitter(), t, "close");
        let tr = t.clone();
        w.write_with(lp, b"a".to_vec(), move |_, _| tr.log("cb a"));
        w.write(lp, b"b".to_vec());
        let tr = t.clone();
        w.end_with(lp, None, Some(Box::new(move |_, _| tr.log("end cb"))));
        t.log("main");
        let tr = t.clone();
        lp.next_tick(move |_| tr.log("tick"));
    });
}

#[test]
fn writable_cork() {
    check("writable-cork", |lp, t| {
        let tr = t.clone();
        let w = Writable::<Bytes>::new(move |lp, _, c, done| {
            tr.log(format!("_write {}", s(&c)));
            done.call(lp, Ok(()));
        });
        on::<event::Finish>(w.emitter(), t, "finish");
        w.cork();
        w.write(lp, b"a".to_vec());
        w.write(lp, b"b".to_vec());
        t.log(format!(
            "corked {} len {}",
            w.writable_corked(),
            w.writable_length()
        ));
        w.uncork(lp);
        t.log("uncorked");
        w.cork();
        w.write(lp, b"c".to_vec());
        w.end(lp);
        t.log("ended");
    });
}

#[test]
fn writable_write_after_end() {
    check("writable-write-after-end", |lp, t| {
        let w = Writable::<Bytes>::new(|lp, _, _, done| done.call(lp, Ok(())));
        let tr = t.clone();
        w.on::<event::Error>(move |_, e| tr.log(format!("error {}", e.code().unwrap())));
        on::<event::Finish>(w.emitter(), t, "finish");
        on::<event::Close>(w.emitter(), t, "close");
        w.end(lp);
        let tr = t.clone();
        let ok = w.write_with(lp, b"x".to_vec(), move |_, r| {
            tr.log(format!("cb {}", r.unwrap_err().code().unwrap()))
        });
        t.log(format!("write -> {ok}"));
    });
}

#[test]
fn writable_destroy() {
    check("writable-destroy", |lp, t| {
        let tr = t.clone();
        let w = Writable::<Bytes>::new(move |lp, _, c, done| {
            tr.log(format!("_write {}", s(&c)));
            lp.set_immediate(move |lp| done.call(lp, Ok(())));
        });
        on::<event::Close>(w.emitter(), t, "close");
        on::<event::Finish>(w.emitter(), t, "finish");
        for x in ["a", "b"] {
            let tr = t.clone();
            w.write_with(lp, x.as_bytes().to_vec(), move |_, r| {
                let code = r.err().map_or("null", |e| e.code().unwrap());
                tr.log(format!("cb {x} {code}"))
            });
        }
        w.destroy(lp, None);
        t.log("destroyed");
    });
}

#[test]
fn transform() {
    check("transform", |lp, t| {
        let tr = t.clone();
        let tr2 = t.clone();
        let x = Transform::<Bytes, Bytes>::with_options(
            Default::default(),
            Default::default(),
            move |lp, _, c, done: TransformDone<Bytes>| {
                tr.log(format!("_transform {}", s(&c)));
                done.call(lp, Ok(Some(c.to_ascii_uppercase())));
            },
            Some(Box::new(move |lp, _, done| {
                tr2.log("_flush");
                done.call(lp, Ok(Some(b"!".to_vec())));
            })),
        );
        let tr = t.clone();
        x.readable()
            .on_data(lp, move |_, c| tr.log(format!("data {}", s(c))));
        on::<event::Finish>(x.readable().emitter(), t, "finish");
        on::<event::End>(x.readable().emitter(), t, "end");
        on::<event::Close>(x.readable().emitter(), t, "close");
        x.writable().write(lp, b"ab".to_vec());
        x.writable().write(lp, b"cd".to_vec());
        x.writable().end(lp);
        t.log("main");
    });
}

#[test]
fn pipe_backpressure() {
    check("pipe-backpressure", |lp, t| {
        let i = Cell::new(0);
        let tr = t.clone();
        let r = Readable::<Bytes>::with_options(
            ReadableOptions {
                high_water_mark: Some(2),
                ..Default::default()
            },
            move |lp, r, _| {
                i.set(i.get() + 1);
                tr.log(format!("_read {}", i.get()));
                if i.get() <= 4 {
                    r.push(lp, i.get().to_string().into_bytes());
                } else {
                    r.push_eof(lp);
                }
            },
        );
        let tr = t.clone();
        let w = Writable::<Bytes>::with_options(
            WritableOptions {
                high_water_mark: Some(2),
                ..Default::default()
            },
            move |lp, _, c, done| {
                tr.log(format!("_write {}", s(&c)));
                lp.set_immediate(move |lp| done.call(lp, Ok(())));
            },
        );
        on::<event::Pause>(r.emitter(), t, "pause");
        on::<event::Resume>(r.emitter(), t, "resume");
        on::<event::End>(r.emitter(), t, "end");
        on::<event::Drain>(w.emitter(), t, "drain");
        on::<event::Pipe>(w.emitter(), t, "pipe");
        on::<event::Unpipe>(w.emitter(), t, "unpipe");
        on::<event::Finish>(w.emitter(), t, "finish");
        on::<event::Close>(w.emitter(), t, "close");
        r.pipe(lp, &w);
    });
}

#[test]
fn pipeline_error() {
    check("pipeline-error", |lp, t| {
        let r = Readable::<Bytes>::new(|_, _, _| {});
        let tr = t.clone();
        let w = Writable::<Bytes>::new(move |lp, _, c, done| {
            tr.log(format!("_write {}", s(&c)));
            done.call(lp, Err(StreamError::custom("disk full")));
        });
        on::<event::Close>(r.emitter(), t, "r close");
        on::<event::Close>(w.emitter(), t, "w close");
        let (tr, r2, w2) = (t.clone(), r.clone(), w.clone());
        pipeline(lp, &r, &w, move |_, res| {
            tr.log(format!(
                "done {} {} {}",
                res.unwrap_err(),
                r2.destroyed(),
                w2.destroyed()
            ))
        });
        r.push(lp, b"a".to_vec());
    });
}

#[test]
fn duplex_half_open() {
    check("duplex-half-open", |lp, t| {
        let d = Duplex::<Bytes, Bytes>::new(
            false,
            |_, _, _| {},
            |lp, _, _, done| done.call(lp, Ok(())),
        );
        for (what, f) in [("end", 0), ("finish", 1), ("close", 2)] {
            let tr = t.clone();
            match f {
                0 => d.emitter().on::<event::End>(move |_, _| tr.log(what)),
                1 => d.emitter().on::<event::Finish>(move |_, _| tr.log(what)),
                _ => d.emitter().on::<event::Close>(move |_, _| tr.log(what)),
            };
        }
        let tr = t.clone();
        d.readable()
            .on_data(lp, move |_, c| tr.log(format!("data {}", s(c))));
        d.readable().push(lp, b"x".to_vec());
        d.readable().push_eof(lp);
    });
}

#[test]
fn count_stream() {
    // The articles' example; the same program as examples/count_stream.rs.
    check("count-stream", |lp, t| {
        let index = Cell::new(1);
        let c = Readable::<Bytes>::new(move |lp, rs, _| {
            let i = index.replace(index.get() + 1);
            if i > 10 {
                rs.push_eof(lp);
            } else {
                rs.push(lp, i.to_string().into_bytes());
            }
        });
        let tr = t.clone();
        c.on_data(lp, move |_, chunk| tr.log(s(chunk)));
        on::<event::End>(c.emitter(), t, "end");
        on::<event::Close>(c.emitter(), t, "close");
    });
}

#[test]
fn file_read_chunks() {
    use nodeloop::stream::file::{create_read_stream, ReadStreamOptions};
    check("file-read-chunks", |lp, t| {
        let p = std::env::temp_dir().join(format!("nodeloop-frc-{}.bin", std::process::id()));
        std::fs::write(&p, vec![b'a'; 200_000]).unwrap();
        let whole = create_read_stream(&p, ReadStreamOptions::default()).unwrap();
        let tr = t.clone();
        whole.on_data(lp, move |_, c| tr.log(format!("whole data {}", c.len())));
        on::<event::End>(whole.emitter(), t, "whole end");
        let tr = t.clone();
        whole.emitter().on::<event::Close>(move |lp, _| {
            tr.log("whole close");
            let opts = ReadStreamOptions {
                start: 10,
                end: Some(99),
                high_water_mark: Some(32),
            };
            let part = create_read_stream(&p, opts).unwrap();
            let t2 = tr.clone();
            part.on_data(lp, move |_, c| t2.log(format!("part data {}", c.len())));
            on::<event::End>(part.emitter(), &tr, "part end");
            let (t2, p) = (tr.clone(), p.clone());
            part.emitter().on::<event::Close>(move |_, _| {
                t2.log("part close");
                std::fs::remove_file(&p).unwrap();
            });
        });
    });
}

#[test]
fn file_write() {
    use nodeloop::stream::file::{create_write_stream, WriteStreamOptions};
    check("file-write", |lp, t| {
        let p = std::env::temp_dir().join(format!("nodeloop-fw-{}.txt", std::process::id()));
        let opts = WriteStreamOptions {
            high_water_mark: Some(4),
            ..Default::default()
        };
        let w = create_write_stream(&p, opts).unwrap();
        t.log(format!("write -> {}", w.write(lp, b"hello".to_vec())));
        on::<event::Drain>(w.emitter(), t, "drain");
        on::<event::Finish>(w.emitter(), t, "finish");
        let tr = t.clone();
        w.emitter().on::<event::Close>(move |_, _| {
            let text = std::fs::read_to_string(&p).unwrap();
            tr.log(format!("close {text:?}"));
            std::fs::remove_file(&p).unwrap();
        });
        w.end_with(lp, Some(b" world".to_vec()), None);
    });
}

#[test]
fn readable_unshift() {
    check("readable-unshift", |lp, t| {
        let r = Readable::<Bytes>::new(|_, _, _| {});
        r.push(lp, b"world".to_vec());
        let c = r.read(lp, Some(2)).unwrap();
        t.log(format!("read {}", s(&c)));
        r.unshift(lp, b"hello ".to_vec());
        r.unshift(lp, c);
        t.log(format!("len {}", r.readable_length()));
        t.log(format!("read all {}", s(&r.read(lp, None).unwrap())));
        r.push_eof(lp);
        let (tr, r2) = (t.clone(), r.clone());
        r.emitter().on::<event::End>(move |lp, _| {
            tr.log("end");
            r2.unshift(lp, b"late".to_vec());
        });
        let tr = t.clone();
        r.emitter()
            .on::<event::Error>(move |_, e| tr.log(format!("error {}", e.code().unwrap())));
        on::<event::Close>(r.emitter(), t, "close");
        r.resume(lp);
    });
}

#[test]
fn readable_once_readable() {
    check("readable-once-readable", |lp, t| {
        let r = Readable::<Objects<&'static str>>::new(|_, _, _| {});
        r.push(lp, "a");
        let (tr, r2) = (t.clone(), r.clone());
        r.once::<event::Readable>(lp, move |lp, _| {
            tr.log(format!("readable {}", r2.read(lp, None).unwrap()));
            let t2 = tr.clone();
            r2.on_data(lp, move |_, d| t2.log(format!("data {d}")));
            tr.log(format!(
                "flowing in readable {}",
                r2.readable_flowing().unwrap()
            ));
            let (t2, r3) = (tr.clone(), r2.clone());
            lp.next_tick(move |_| {
                t2.log(format!(
                    "flowing next tick {}",
                    r3.readable_flowing().unwrap()
                ))
            });
        });
        r.push(lp, "b");
        let r2 = r.clone();
        lp.set_immediate(move |lp| {
            r2.push(lp, "c");
            r2.push_eof(lp);
        });
        on::<event::End>(r.emitter(), t, "end");
    });
}

#[test]
fn transform_backpressure() {
    check("transform-backpressure", |lp, t| {
        let tr = t.clone();
        let x = Transform::<Bytes, Bytes>::with_options(
            ReadableOptions {
                high_water_mark: Some(2),
                ..Default::default()
            },
            WritableOptions {
                high_water_mark: Some(2),
                ..Default::default()
            },
            move |lp, _, c, done| {
                tr.log(format!("_transform {}", s(&c)));
                done.call(lp, Ok(Some(c)));
            },
            None,
        );
        let (r, w) = (x.readable().clone(), x.writable().clone());
        for c in ["a", "b", "c", "d"] {
            let tr = t.clone();
            let ok = w.write_with(lp, c.as_bytes().to_vec(), move |_, _| {
                tr.log(format!("cb {c}"))
            });
            t.log(format!(
                "write {c} {ok} r {} w {}",
                r.readable_length(),
                w.writable_length()
            ));
        }
        let tr = t.clone();
        lp.set_immediate(move |lp| {
            tr.log(format!(
                "immediate r {} w {}",
                r.readable_length(),
                w.writable_length()
            ));
            tr.log(format!("read {}", s(&r.read(lp, Some(1)).unwrap())));
            let tr = tr.clone();
            lp.next_tick(move |_| {
                tr.log(format!(
                    "tick r {} w {}",
                    r.readable_length(),
                    w.writable_length()
                ))
            });
        });
    });
}

#[test]
fn writable_sync_drain() {
    check("writable-sync-drain", |lp, t| {
        let tr = t.clone();
        let w = Writable::<Objects<u32>>::with_options(
            WritableOptions {
                high_water_mark: Some(2),
                ..Default::default()
            },
            move |lp, _, c, done| {
                tr.log(format!("_write {c}"));
                done.call(lp, Ok(()));
            },
        );
        t.log(format!("hwm {}", w.writable_high_water_mark()));
        let (tr, w2) = (t.clone(), w.clone());
        w.on::<event::Drain>(move |_, _| tr.log(format!("drain {}", w2.writable_length())));
        t.log(format!("1 -> {}", w.write(lp, 1)));
        t.log(format!("2 -> {}", w.write(lp, 2)));
        let tr = t.clone();
        let ok = w.write_with(lp, 3, move |_, _| tr.log("cb 3"));
        t.log(format!("3 -> {ok}"));
        t.log(format!("len {}", w.writable_length()));
        let tr = t.clone();
        lp.next_tick(move |_| tr.log("tick"));
    });
}

#[test]
fn writable_error() {
    check("writable-error", |lp, t| {
        let tr = t.clone();
        let w = Writable::<Bytes>::new(move |lp, _, c, done| {
            tr.log(format!("_write {}", s(&c)));
            lp.set_immediate(move |lp| done.call(lp, Err(StreamError::custom("EIO"))));
        });
        let tr = t.clone();
        w.on::<event::Error>(move |_, e| tr.log(format!("error {e}")));
        on::<event::Close>(w.emitter(), t, "close");
        on::<event::Finish>(w.emitter(), t, "finish");
        for c in ["a", "b"] {
            let tr = t.clone();
            w.write_with(lp, c.as_bytes().to_vec(), move |_, r| {
                tr.log(format!("cb {c} {}", r.unwrap_err()))
            });
        }
        let tr = t.clone();
        w.end_with(
            lp,
            None,
            Some(Box::new(move |_, r| {
                tr.log(format!("end cb {}", r.unwrap_err()))
            })),
        );
    });
}

#[test]
fn pipe_no_end() {
    check("pipe-no-end", |lp, t| {
        let r = Readable::<Objects<&'static str>>::new(|_, _, _| {});
        let tr = t.clone();
        let w = Writable::<Objects<&'static str>>::new(move |lp, _, c, done| {
            tr.log(format!("_write {c}"));
            done.call(lp, Ok(()));
        });
        on::<event::Unpipe>(w.emitter(), t, "unpipe");
        on::<event::Finish>(w.emitter(), t, "finish");
        on::<event::End>(r.emitter(), t, "end");
        r.pipe_with(lp, &w, false);
        r.push(lp, "x");
        r.push_eof(lp);
        let tr = t.clone();
        lp.set_immediate(move |lp| {
            tr.log(format!("writable {}", w.writable()));
            w.end_with(lp, Some("last"), None);
        });
    });
}

#[test]
fn pipeline_ok() {
    use nodeloop::stream::Pipeline;
    check("pipeline-ok", |lp, t| {
        let i = Cell::new(0);
        let r = Readable::<Objects<u32>>::new(move |lp, r, _| {
            i.set(i.get() + 1);
            if i.get() <= 3 {
                r.push(lp, i.get());
            } else {
                r.push_eof(lp);
            }
        });
        let x = Transform::<Objects<u32>, Objects<u32>>::new(|lp, _, c, done| {
            done.call(lp, Ok(Some(c * 10)))
        });
        let tr = t.clone();
        let w = Writable::<Objects<u32>>::new(move |lp, _, c, done| {
            tr.log(format!("_write {c}"));
            done.call(lp, Ok(()));
        });
        on::<event::Close>(r.emitter(), t, "r close");
        on::<event::Close>(x.readable().emitter(), t, "t close");
        on::<event::Finish>(w.emitter(), t, "w finish");
        on::<event::Close>(w.emitter(), t, "w close");
        let tr = t.clone();
        Pipeline::new(&r).through(lp, &x).to(lp, &w, move |_, res| {
            tr.log(format!("done {}", if res.is_ok() { "ok" } else { "err" }))
        });
    });
}

#[test]
fn pipeline_premature() {
    check("pipeline-premature", |lp, t| {
        let r = Readable::<Bytes>::new(|_, _, _| {});
        let tr = t.clone();
        let w = Writable::<Bytes>::new(move |lp, _, c, done| {
            tr.log(format!("_write {}", s(&c)));
            done.call(lp, Ok(()));
        });
        on::<event::Close>(r.emitter(), t, "r close");
        on::<event::Close>(w.emitter(), t, "w close");
        on::<event::Finish>(w.emitter(), t, "w finish");
        let (tr, w2) = (t.clone(), w.clone());
        pipeline(lp, &r, &w, move |_, res| {
            tr.log(format!(
                "done {} {}",
                res.unwrap_err().code().unwrap(),
                w2.destroyed()
            ))
        });
        r.push(lp, b"a".to_vec());
        lp.set_immediate(move |lp| r.destroy(lp, None));
    });
}

/// Completes `done` after `turns` loop turns.
fn after_turns(lp: &mut Loop, turns: u32, done: nodeloop::stream::WriteDone) {
    if turns == 0 {
        done.call(lp, Ok(()));
    } else {
        lp.set_immediate(move |lp| after_turns(lp, turns - 1, done));
    }
}

#[test]
fn pipe_two_dests() {
    check("pipe-two-dests", |lp, t| {
        let i = Cell::new(0);
        let r = Readable::<Objects<u32>>::with_options(
            ReadableOptions {
                high_water_mark: Some(2),
                ..Default::default()
            },
            move |lp, r, _| {
                i.set(i.get() + 1);
                if i.get() <= 5 {
                    r.push(lp, i.get());
                } else {
                    r.push_eof(lp);
                }
            },
        );
        let sink = |name: &'static str, turns: u32| {
            let tr = t.clone();
            Writable::<Objects<u32>>::with_options(
                WritableOptions {
                    high_water_mark: Some(1),
                    ..Default::default()
                },
                move |lp, _, c, done| {
                    tr.log(format!("{name} write {c}"));
                    after_turns(lp, turns, done);
                },
            )
        };
        let (a, b) = (sink("a", 1), sink("b", 3));
        on::<event::Pause>(r.emitter(), t, "pause");
        on::<event::Resume>(r.emitter(), t, "resume");
        on::<event::Drain>(a.emitter(), t, "a drain");
        on::<event::Drain>(b.emitter(), t, "b drain");
        on::<event::Finish>(a.emitter(), t, "a finish");
        on::<event::Finish>(b.emitter(), t, "b finish");
        r.pipe(lp, &a);
        r.pipe(lp, &b);
    });
}

#[test]
fn pipe_dest_error() {
    check("pipe-dest-error", |lp, t| {
        let r = Readable::<Objects<u32>>::new(|_, _, _| {});
        let tr = t.clone();
        let w = Writable::<Objects<u32>>::new(move |lp, _, c, done| {
            tr.log(format!("write {c}"));
            let res = if c == 2 {
                Err(StreamError::custom("bad chunk"))
            } else {
                Ok(())
            };
            done.call(lp, res);
        });
        on::<event::Unpipe>(w.emitter(), t, "unpipe");
        let tr = t.clone();
        w.on::<event::Error>(move |_, e| tr.log(format!("error {e}")));
        on::<event::Close>(w.emitter(), t, "w close");
        on::<event::Pause>(r.emitter(), t, "pause");
        r.pipe(lp, &w);
        r.push(lp, 1);
        r.push(lp, 2);
        r.push(lp, 3);
        let tr = t.clone();
        lp.set_immediate(move |_| {
            tr.log(format!(
                "r destroyed {} paused {} len {}",
                r.destroyed(),
                r.is_paused(),
                r.readable_length()
            ))
        });
    });
}
