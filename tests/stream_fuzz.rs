//! Differential cases for Readable: random operation sequences
//! (`tests/stream_conformance/fuzz-readable.ops`, one case a line) run by a
//! Node interpreter (`fuzz-readable.js`) and by the same interpreter written
//! against nodeloop here; the traces must match the one Node recorded
//! (`fuzz-readable.expected`), which is re-checked when `node` is on PATH.
//! The op language is described at the top of the JS file.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;

use nodeloop::stream::{event, Bytes, Mode, Objects, Readable, ReadableOptions};
use nodeloop::Loop;

type Trace = Rc<RefCell<Vec<String>>>;

fn log(t: &Trace, s: impl Into<String>) {
    t.borrow_mut().push(s.into());
}

fn show(c: Option<Vec<u8>>) -> String {
    c.map_or("null".into(), |c| String::from_utf8_lossy(&c).into_owned())
}

/// Chunks are `Vec<u8>` in both modes, so one interpreter serves both.
trait Chunked: Mode<Chunk = Vec<u8>> {}
impl Chunked for Bytes {}
impl Chunked for Objects<Vec<u8>> {}

struct Case<M: Chunked> {
    ops: Vec<String>,
    r: Readable<M>,
    letter: Cell<u32>,
    t: Trace,
}

impl<M: Chunked> Case<M> {
    fn bytes(&self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                let l = self.letter.get();
                self.letter.set(l + 1);
                b'a' + (l % 26) as u8
            })
            .collect()
    }
}

fn step<M: Chunked>(lp: &mut Loop, c: Rc<Case<M>>, mut i: usize) {
    let (r, t) = (&c.r, &c.t);
    while i < c.ops.len() {
        let op = c.ops[i].as_str();
        i += 1;
        match op {
            "i" => {
                let c = c.clone();
                lp.set_immediate(move |lp| step(lp, c, i));
                return;
            }
            "t" => {
                let c = c.clone();
                lp.next_tick(move |lp| step(lp, c, i));
                return;
            }
            "e" => {
                let ok = r.push_eof(lp);
                log(t, format!("eof -> {ok}"));
            }
            "r" => {
                let got = r.read(lp, None);
                log(t, format!("read -> {}", show(got)));
            }
            "ps" => {
                r.pause(lp);
                log(t, format!("paused {}", r.is_paused()));
            }
            "rs" => {
                r.resume(lp);
                let f = r
                    .readable_flowing()
                    .map_or("null".into(), |f| f.to_string());
                log(t, format!("resumed {f}"));
            }
            "od" => {
                let t = t.clone();
                r.on_data(lp, move |_, c| {
                    log(&t, format!("data {}", show(Some(c.clone()))))
                });
            }
            "or" => {
                let (t, r2) = (t.clone(), r.clone());
                r.on::<event::Readable>(lp, move |_, _| {
                    log(&t, format!("readable {}", r2.readable_length()))
                });
            }
            "u" => {
                let b = c.bytes(1);
                let ok = r.unshift(lp, b);
                log(t, format!("unshift -> {ok} len {}", r.readable_length()));
            }
            "d" => {
                r.destroy(lp, None);
                log(t, "destroyed");
            }
            _ if op.starts_with('p') => {
                let n: usize = op[1..].parse().unwrap();
                let b = c.bytes(n);
                let ok = r.push(lp, b);
                log(t, format!("push {n} -> {ok} len {}", r.readable_length()));
            }
            _ if op.starts_with('r') => {
                let n: usize = op[1..].parse().unwrap();
                let got = r.read(lp, Some(n));
                log(t, format!("read {n} -> {}", show(got)));
            }
            _ => panic!("unknown op {op:?}"),
        }
    }
}

fn run_case(line: &str) -> Vec<String> {
    let mut parts = line.split_whitespace();
    let hwm: usize = parts.next().unwrap()["hwm=".len()..].parse().unwrap();
    let obj = parts.next() == Some("obj=1");
    let ops: Vec<String> = parts.map(str::to_owned).collect();
    if obj {
        run_readable::<Objects<Vec<u8>>>(hwm, ops)
    } else {
        run_readable::<Bytes>(hwm, ops)
    }
}

fn run_readable<M: Chunked>(hwm: usize, ops: Vec<String>) -> Vec<String> {
    let t: Trace = Rc::default();
    let tr = t.clone();
    let r = Readable::<M>::with_options(
        ReadableOptions {
            high_water_mark: Some(hwm),
            ..Default::default()
        },
        move |_, _, n| log(&tr, format!("_read {n}")),
    );
    let on = |what: &'static str| {
        let t = t.clone();
        move |_: &mut Loop, _: &()| log(&t, what)
    };
    r.emitter().on::<event::End>(on("end"));
    r.emitter().on::<event::Close>(on("close"));
    let tr = t.clone();
    r.emitter()
        .on::<event::Error>(move |_, e| log(&tr, format!("error {}", e.code().unwrap_or("-"))));
    r.emitter().on::<event::Pause>(on("pause"));
    r.emitter().on::<event::Resume>(on("resume"));
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    let c = Rc::new(Case {
        ops,
        r,
        letter: Cell::new(0),
        t: t.clone(),
    });
    // The ops start in the main program, as in the Node interpreter.
    step(&mut lp, c, 0);
    lp.run_default();
    let out = t.borrow().clone();
    out
}

#[test]
fn readable_fuzz_cases_match_node() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stream_conformance");
    let ops = std::fs::read_to_string(dir.join("fuzz-readable.ops")).unwrap();
    let expected = std::fs::read_to_string(dir.join("fuzz-readable.expected")).unwrap();
    if let Ok(out) = Command::new("node")
        .arg(dir.join("fuzz-readable.js"))
        .output()
    {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "fuzz-readable.expected is stale"
        );
    }
    let mut want: Vec<Vec<String>> = Vec::new();
    for l in expected.lines() {
        if l.starts_with("=== case") {
            want.push(Vec::new());
        } else {
            want.last_mut().unwrap().push(l.to_owned());
        }
    }
    let lines: Vec<&str> = ops.lines().collect();
    assert_eq!(lines.len(), want.len());
    let mut failed = Vec::new();
    for (k, (line, want)) in lines.iter().zip(&want).enumerate() {
        let got = run_case(line);
        if &got != want {
            failed.push(format!(
                "case {k}: {line}\n  node:     {want:?}\n  nodeloop: {got:?}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} cases differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

// ---- Writable ---------------------------------------------------------

use nodeloop::stream::{StreamError, Writable, WritableOptions, WriteDone};
use std::collections::VecDeque;

fn code(r: &Result<(), StreamError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => e.code().map_or_else(|| e.to_string(), str::to_owned),
    }
}

struct WCase<M: Chunked> {
    ops: Vec<String>,
    w: Writable<M>,
    pending: Rc<RefCell<VecDeque<WriteDone>>>,
    letter: Cell<u32>,
    wid: Cell<u32>,
    t: Trace,
}

fn wstep<M: Chunked>(lp: &mut Loop, c: Rc<WCase<M>>, mut i: usize) {
    let (w, t) = (&c.w, &c.t);
    let bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                let l = c.letter.get();
                c.letter.set(l + 1);
                b'a' + (l % 26) as u8
            })
            .collect()
    };
    while i < c.ops.len() {
        let op = c.ops[i].as_str();
        i += 1;
        match op {
            "i" => {
                let c = c.clone();
                lp.set_immediate(move |lp| wstep(lp, c, i));
                return;
            }
            "t" => {
                let c = c.clone();
                lp.next_tick(move |lp| wstep(lp, c, i));
                return;
            }
            "n" => {
                let t2 = t.clone();
                w.end_with(
                    lp,
                    None,
                    Some(Box::new(move |_, r| {
                        log(&t2, format!("end cb {}", code(&r)))
                    })),
                );
                log(
                    t,
                    format!("ended {} {}", w.writable_ended(), w.writable_finished()),
                );
            }
            "c" => w.cork(),
            "uc" => w.uncork(lp),
            "k" | "f" => {
                let done = c.pending.borrow_mut().pop_front();
                if let Some(done) = done {
                    if op == "k" {
                        log(t, "complete");
                        done.call(lp, Ok(()));
                    } else {
                        log(t, "fail");
                        done.call(lp, Err(StreamError::custom("EIO")));
                    }
                }
            }
            "d" => {
                w.destroy(lp, None);
                log(t, "destroyed");
            }
            _ => {
                let id = c.wid.get();
                c.wid.set(id + 1);
                let n: usize = op[1..].parse().unwrap();
                let b = bytes(n);
                if op.starts_with('w') {
                    let t2 = t.clone();
                    let ret =
                        w.write_with(lp, b, move |_, r| log(&t2, format!("cb {id} {}", code(&r))));
                    log(
                        t,
                        format!(
                            "write {id} -> {ret} len {} needDrain {}",
                            w.writable_length(),
                            w.writable_need_drain()
                        ),
                    );
                } else {
                    let ret = w.write(lp, b);
                    log(
                        t,
                        format!("write {id} -> {ret} len {}", w.writable_length()),
                    );
                }
            }
        }
    }
}

fn run_wcase(line: &str) -> Vec<String> {
    let mut parts = line.split_whitespace();
    let hwm: usize = parts.next().unwrap()["hwm=".len()..].parse().unwrap();
    let mode = parts.next().unwrap()["mode=".len()..].to_owned();
    let obj = parts.next() == Some("obj=1");
    let ops: Vec<String> = parts.map(str::to_owned).collect();
    if obj {
        run_writable::<Objects<Vec<u8>>>(hwm, mode, ops)
    } else {
        run_writable::<Bytes>(hwm, mode, ops)
    }
}

fn run_writable<M: Chunked>(hwm: usize, mode: String, ops: Vec<String>) -> Vec<String> {
    let t: Trace = Rc::default();
    let pending: Rc<RefCell<VecDeque<WriteDone>>> = Rc::default();
    let (tr, pend) = (t.clone(), pending.clone());
    let w = Writable::<M>::with_options(
        WritableOptions {
            high_water_mark: Some(hwm),
            ..Default::default()
        },
        move |lp, _, chunk, done| {
            log(&tr, format!("_write {}", String::from_utf8_lossy(&chunk)));
            match mode.as_str() {
                "sync" => done.call(lp, Ok(())),
                "imm" => {
                    lp.set_immediate(move |lp| done.call(lp, Ok(())));
                }
                _ => pend.borrow_mut().push_back(done),
            }
        },
    );
    macro_rules! ev {
        ($e:ty, $name:literal) => {{
            let (t, w2) = (t.clone(), w.clone());
            w.on::<$e>(move |_, _| log(&t, format!("{} {}", $name, w2.writable_length())));
        }};
    }
    ev!(event::Drain, "drain");
    ev!(event::Prefinish, "prefinish");
    ev!(event::Finish, "finish");
    ev!(event::Close, "close");
    let tr = t.clone();
    w.on::<event::Error>(move |_, e| log(&tr, format!("error {}", code(&Err(e.clone())))));
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    let c = Rc::new(WCase {
        ops,
        w,
        pending,
        letter: Cell::new(0),
        wid: Cell::new(0),
        t: t.clone(),
    });
    wstep(&mut lp, c, 0);
    lp.run_default();
    let out = t.borrow().clone();
    out
}

#[test]
fn writable_fuzz_cases_match_node() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stream_conformance");
    let ops = std::fs::read_to_string(dir.join("fuzz-writable.ops")).unwrap();
    let expected = std::fs::read_to_string(dir.join("fuzz-writable.expected")).unwrap();
    if let Ok(out) = Command::new("node")
        .arg(dir.join("fuzz-writable.js"))
        .output()
    {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "fuzz-writable.expected is stale"
        );
    }
    let mut want: Vec<Vec<String>> = Vec::new();
    for l in expected.lines() {
        if l.starts_with("=== case") {
            want.push(Vec::new());
        } else {
            want.last_mut().unwrap().push(l.to_owned());
        }
    }
    let lines: Vec<&str> = ops.lines().collect();
    assert_eq!(lines.len(), want.len());
    let mut failed = Vec::new();
    for (k, (line, want)) in lines.iter().zip(&want).enumerate() {
        let got = run_wcase(line);
        if &got != want {
            failed.push(format!(
                "case {k}: {line}\n  node:     {want:?}\n  nodeloop: {got:?}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} cases differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
