//! The conformance harness (see `docs/conformance.md`):
//!
//! - every corpus scenario, run with the real and the virtual clock, prints
//!   exactly its recorded `.expected` trace;
//! - with `node` on PATH, the oracle still prints each `.expected`;
//! - with `node` on PATH, seeded random scenarios that Node runs the same way
//!   every time (also beside a CPU hog) match Node with both clocks (a
//!   real-clock run only when it kept to the virtual clock's schedule).
//!   `NODELOOP_FUZZ_CASES` (default 200) and `NODELOOP_FUZZ_SEED` tune it.

#[path = "conformance/generator.rs"]
mod generator;

use nodeloop::scenario::Scenario;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The tests here measure orderings that depend on the real clock; running
/// them side by side (one of them starts CPU hogs) would disturb each other.
static REAL_CLOCK: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    REAL_CLOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/scenarios")
}

fn oracle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/oracle.js")
}

fn corpus() -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let expected = std::fs::read_to_string(p.with_extension("expected"))
                .unwrap_or_else(|e| panic!("{}: no .expected: {e}", p.display()));
            (p, expected)
        })
        .collect()
}

fn as_text(trace: &[String]) -> String {
    trace.iter().map(|l| format!("{l}\n")).collect()
}

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the oracle on a file; `None` if Node failed.
fn run_node(file: &Path) -> Option<String> {
    let out = Command::new("node").arg(oracle()).arg(file).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `f` over `items` on a few threads per CPU: scenarios mostly sleep
/// until their timers are due, so a thread per CPU would leave CPUs idle.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = 4 * std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = AtomicUsize::new(0);
    let results = Mutex::new((0..items.len()).map(|_| None).collect::<Vec<Option<R>>>());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

#[test]
fn corpus_has_at_least_60_scenarios() {
    assert!(corpus().len() >= 60, "only {} scenarios", corpus().len());
}

#[test]
fn corpus_matches_with_real_and_virtual_clock() {
    let _serial = serial();
    let mut failures = Vec::new();
    for (file, expected) in corpus() {
        let text = std::fs::read_to_string(&file).unwrap();
        let scenario = Scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for virtual_clock in [false, true] {
            let got = as_text(&scenario.run(virtual_clock).expect("loop"));
            if got != expected {
                failures.push(format!(
                    "{} (virtual clock: {virtual_clock})\n--- expected\n{expected}--- got\n{got}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_expected_is_still_what_node_prints() {
    let _serial = serial();
    if !node_available() {
        eprintln!("node not on PATH: skipping the oracle re-run");
        return;
    }
    let corpus = corpus();
    // A heavily loaded machine can stall Node for tens of milliseconds, which
    // reorders the corpus's timing-based scenarios; a scenario passes when
    // Node prints its `.expected` in one of three tries.
    let results = par_map(&corpus, |(file, expected)| {
        let mut last = None;
        for _ in 0..3 {
            match run_node(file) {
                Some(got) if &got == expected => return None,
                other => last = other,
            }
        }
        Some(match last {
            Some(got) => format!(
                "{}\n--- expected\n{expected}--- node\n{got}",
                file.display()
            ),
            None => format!("{}: the oracle failed", file.display()),
        })
    });
    let failures: Vec<String> = results.into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{} scenarios changed in Node:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn random_scenarios_match_node() {
    let _serial = serial();
    if !node_available() {
        eprintln!("node not on PATH: skipping random scenarios");
        return;
    }
    let cases: usize = std::env::var("NODELOOP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("NODELOOP_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261123);
    let dir = std::env::temp_dir().join(format!("nodeloop-fuzz-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // Candidates in batches until `cases` stable ones are kept (a few are
    // lost to instability; stop anyway after twice the budget).
    let mut gen = generator::Generator::new(seed);
    let (mut kept, mut unstable, mut generated) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    let late_unstable = AtomicUsize::new(0);
    let mut with_promises = 0usize;
    // Real-clock runs that met the schedule only when run again, and those
    // that never did (compared on the virtual clock only).
    let (mut retried, mut disturbed_real_runs) = (0usize, 0usize);
    while kept < cases && generated < 2 * cases {
        let batch: Vec<(PathBuf, String)> = (0..(cases - kept).min(100))
            .map(|_| {
                generated += 1;
                let name = format!("random-{seed}-{generated}");
                let text = gen.scenario(&name);
                let path = dir.join(format!("{name}.json"));
                std::fs::write(&path, &text).unwrap();
                (path, text)
            })
            .collect();
        let stable = stable_node_traces(&batch);
        let compared: Vec<(&(PathBuf, String), String)> = batch
            .iter()
            .zip(stable)
            .filter_map(|(c, node)| node.map(|n| (c, n)))
            .collect();
        unstable += batch.len() - compared.len();
        kept += compared.len();
        with_promises += compared
            .iter()
            .filter(|((_, text), _)| text.contains("\"async\"") || text.contains("\"chain\""))
            .count();
        let results = par_map(&compared, |((path, text), node)| {
            let scenario = Scenario::parse(text).expect("generated scenarios are well-formed");
            let mut out = Vec::new();
            // The virtual clock is the schedule the generator planned: its
            // order must be Node's.
            let schedule = scenario.run_timed(true).expect("loop");
            let ours = as_text(&lines(&schedule));
            // On a heavily loaded machine Node can print the same
            // timing-dependent order three times running. Before calling it
            // a mismatch, ask Node a few more times whether it can print
            // ours: if it can, the scenario is not deterministic in Node,
            // and either order is right.
            if &ours != node && (0..6).any(|_| run_node(path).as_ref() == Some(&ours)) {
                late_unstable.fetch_add(1, Ordering::Relaxed);
                return (out, None);
            }
            if &ours != node {
                out.push(mismatch(path, text, node, &ours, true));
            }
            let real = scenario.run_timed(false).expect("loop");
            if lateness(&schedule, &real) > MAX_LATENESS {
                return (out, Some(schedule));
            }
            let ours = as_text(&lines(&real));
            if &ours != node {
                out.push(mismatch(path, text, node, &ours, false));
            }
            (out, None)
        });
        // A real-clock run that fell behind the schedule by more than the
        // generator's margin says nothing about nodeloop: Node, as late,
        // could order it the same way. Those run again, one at a time so
        // they do not slow each other down.
        for (((path, text), node), (out, disturbed)) in compared.iter().zip(results) {
            failures.extend(out);
            let Some(schedule) = disturbed else { continue };
            let scenario = Scenario::parse(text).expect("generated scenarios are well-formed");
            let mut least_late = Duration::MAX;
            let calm = (0..5)
                .map(|_| scenario.run_timed(false).expect("loop"))
                .inspect(|real| least_late = least_late.min(lateness(&schedule, real)))
                .find(|real| lateness(&schedule, real) <= MAX_LATENESS);
            let Some(real) = calm else {
                eprintln!(
                    "{}: real clock always late, by {least_late:?} at least",
                    path.display()
                );
                disturbed_real_runs += 1;
                continue;
            };
            retried += 1;
            let ours = as_text(&lines(&real));
            if &ours != node {
                failures.push(mismatch(path, text, node, &ours, false));
            }
        }
    }
    let late = late_unstable.load(Ordering::Relaxed);
    eprintln!(
        "random scenarios: seed {seed}, {generated} generated, {kept} stable and compared \
         ({late} of them found unstable when re-run, {with_promises} with promise ops), {unstable} unstable in Node; \
         real clock: {retried} compared only when run again alone, {disturbed_real_runs} always late (not compared)"
    );
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        kept >= cases * 9 / 10,
        "too few stable scenarios: {kept} of {generated}"
    );
    // A loop whose real clock were always late would hide its real-clock
    // runs from the comparison: most of them must have been compared.
    assert!(
        disturbed_real_runs <= kept / 2,
        "{disturbed_real_runs} of {kept} real-clock runs were always more than \
         {MAX_LATENESS:?} behind the virtual clock's schedule"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches (files kept in {}; add each to tests/conformance/scenarios with record.sh):\n{}",
        failures.len(),
        dir.display(),
        failures.join("\n")
    );
}

/// How far a real-clock run may fall behind the virtual clock's schedule and
/// still be evidence. The generator keeps every pair of moments whose order
/// depends on the clock (two due times, a due time and the end of a busy-wait
/// or of main) at least `GAP` apart, and a loop can only be late, never
/// early; a run less than half of that behind everywhere meets every
/// deadline in the planned order, as Node does when it is not late either.
/// A run later than that can order a scenario as a late Node would (a timer
/// that fell due during a late timers pass runs in the same pass, before the
/// immediates the earlier one queued), which is no evidence either way.
const MAX_LATENESS: Duration = Duration::from_millis(generator::GAP / 2);

fn lines(timed: &[(String, Duration)]) -> Vec<String> {
    timed.iter().map(|(line, _)| line.clone()).collect()
}

/// The most a real-clock run's lines came after the same lines of the
/// virtual-clock schedule (the n-th occurrence of a text matches the n-th).
/// Lines only one of them has are left to the comparison of the traces:
/// every callback logs first thing, so a run that took another path because
/// it was late shows it on the line of the late callback.
fn lateness(schedule: &[(String, Duration)], real: &[(String, Duration)]) -> Duration {
    let mut used = vec![false; schedule.len()];
    let mut worst = Duration::ZERO;
    for (line, at) in real {
        if let Some(i) = (0..schedule.len()).find(|&i| !used[i] && schedule[i].0 == *line) {
            used[i] = true;
            worst = worst.max(at.saturating_sub(schedule[i].1));
        }
    }
    worst
}

fn mismatch(path: &Path, text: &str, node: &str, ours: &str, virtual_clock: bool) -> String {
    format!(
        "{} (virtual clock: {virtual_clock})\n{text}\n--- node\n{node}--- nodeloop\n{ours}",
        path.display()
    )
}

/// Runs each candidate twice in Node on a quiet machine and once beside a
/// CPU hog (one spinning thread per CPU); a trace is kept only if all agree.
fn stable_node_traces(batch: &[(PathBuf, String)]) -> Vec<Option<String>> {
    let runs = |_: ()| par_map(batch, |(p, _)| run_node(p));
    let first = runs(());
    let second = runs(());
    let stop = AtomicBool::new(false);
    let hogged = std::thread::scope(|s| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        for _ in 0..cpus {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        let r = runs(());
        stop.store(true, Ordering::Relaxed);
        r
    });
    first
        .into_iter()
        .zip(second)
        .zip(hogged)
        .map(|((a, b), c)| match (a, b, c) {
            (Some(a), Some(b), Some(c)) if a == b && b == c => Some(a),
            _ => None,
        })
        .collect()
}
