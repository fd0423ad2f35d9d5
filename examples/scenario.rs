//! Runs an ordering scenario (see `docs/conformance.md`) and prints its trace.
//!
//! ```sh
//! cargo run -q --release --example scenario -- [--virtual] FILE
//! ```
//!
//! stdout carries the trace and nothing else; problems go to stderr with a
//! non-zero exit (2 for usage or a malformed file).

use nodeloop::scenario::Scenario;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut virtual_clock = false;
    let mut file = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--virtual" => virtual_clock = true,
            _ if file.is_none() && !arg.starts_with("--") => file = Some(arg),
            _ => {
                eprintln!("usage: scenario [--virtual] FILE   (unexpected argument {arg:?})");
                return ExitCode::from(2);
            }
        }
    }
    let Some(file) = file else {
        eprintln!("usage: scenario [--virtual] FILE");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("scenario: {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let scenario = match Scenario::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scenario: {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let trace = match scenario.run(virtual_clock) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("scenario: {file}: cannot run: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    for line in trace {
        if writeln!(out, "{line}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
