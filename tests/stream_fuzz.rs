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

use nodeloop::stream::{event, Bytes, Readable, ReadableOptions};
use nodeloop::Loop;

type Trace = Rc<RefCell<Vec<String>>>;

fn log(t: &Trace, s: impl Into<String>) {
    t.borrow_mut().push(s.into());
}

fn show(c: Option<Vec<u8>>) -> String {
    c.map_or("null".into(), |c| String::from_utf8_lossy(&c).into_owned())
}

struct Case {
    ops: Vec<String>,
    r: Readable<Bytes>,
    letter: Cell<u32>,
    t: Trace,
}

impl Case {
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

fn step(lp: &mut Loop, c: Rc<Case>, mut i: usize) {
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
                let f = r.readable_flowing().map_or("null".into(), |f| f.to_string());
                log(t, format!("resumed {f}"));
            }
            "od" => {
                let t = t.clone();
                r.on_data(lp, move |_, c| log(&t, format!("data {}", show(Some(c.clone())))));
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
    let ops: Vec<String> = parts.map(str::to_owned).collect();
    let t: Trace = Rc::default();
    let tr = t.clone();
    let r = Readable::<Bytes>::with_options(
        ReadableOptions { high_water_mark: Some(hwm), ..Default::default() },
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
    let c = Rc::new(Case { ops, r, letter: Cell::new(0), t: t.clone() });
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
    if let Ok(out) = Command::new("node").arg(dir.join("fuzz-readable.js")).output() {
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
            failed.push(format!("case {k}: {line}\n  node:     {want:?}\n  nodeloop: {got:?}"));
        }
    }
    assert!(failed.is_empty(), "{} cases differ:\n{}", failed.len(), failed.join("\n"));
}
