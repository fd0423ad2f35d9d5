//! Micro-benchmarks following `../shared/bench/README.md`:
//! `micro KIND N` prints `ops=N secs=S ops_per_sec=R`; exit 3 = unsupported kind.
//!
//! Each kind lives in the module for its layer; a module's `run` returns
//! `None` for kinds it does not know.

mod core_kinds;
mod promise;
mod stream_kinds;

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (kind, n) = match (args.get(1), args.get(2).map(|s| s.parse::<u64>())) {
        (Some(k), Some(Ok(n))) if n > 0 => (k.as_str(), n),
        _ => {
            eprintln!("usage: micro KIND N   (N a positive integer)");
            return ExitCode::from(2);
        }
    };
    let runners: &[fn(&str, u64) -> Option<Duration>] =
        &[core_kinds::run, promise::run, stream_kinds::run];
    for run in runners {
        if let Some(elapsed) = run(kind, n) {
            let secs = elapsed.as_secs_f64();
            println!("ops={n} secs={secs:.6} ops_per_sec={:.0}", n as f64 / secs);
            return ExitCode::SUCCESS;
        }
    }
    eprintln!("micro: kind {kind:?} not supported");
    ExitCode::from(3)
}
