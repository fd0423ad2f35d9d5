//! The articles' primality server: one number per line in, `prime` or
//! `composite` out.
//!
//! ```text
//! cargo run --release --example prime_server -- --mode pool
//! printf '7\n91\n' | nc -q1 127.0.0.1 8070
//! ```
//!
//! Usage: `prime_server [PORT] [--mode inline|pool|cached|promise|await]
//! [--delay MS] [--slow-from N] [--host ADDR]`. `--delay` makes the check of
//! every number ≥ `--slow-from` (default 1000000) spin for MS milliseconds,
//! to show how `inline` mode stalls every client while the others do not.
//! Logging goes through `env_logger` (`RUST_LOG=warn` to quiet it).

mod server;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use nodeloop::Loop;

fn usage(err: &str) -> ExitCode {
    eprintln!("prime_server: {err}");
    eprintln!(
        "usage: prime_server [PORT] [--mode inline|pool|cached|promise|await] [--delay MS] [--slow-from N] [--host ADDR]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut cfg = server::Config::default();
    let mut port: u16 = 8070;
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let r: Result<(), String> = match a.as_str() {
            "--mode" => value("--mode").and_then(|v| v.parse().map(|m| cfg.mode = m)),
            "--delay" => value("--delay").and_then(|v| {
                v.parse()
                    .map(|ms| cfg.delay = Duration::from_millis(ms))
                    .map_err(|e| format!("--delay {v:?}: {e}"))
            }),
            "--slow-from" => value("--slow-from").and_then(|v| {
                v.parse()
                    .map(|n| cfg.slow_from = n)
                    .map_err(|e| format!("--slow-from {v:?}: {e}"))
            }),
            "--host" => value("--host").and_then(|v| {
                v.parse()
                    .map(|h| host = h)
                    .map_err(|e| format!("--host {v:?}: {e}"))
            }),
            "-h" | "--help" => return usage("help"),
            p => p
                .parse()
                .map(|p| port = p)
                .map_err(|e| format!("port {p:?}: {e}")),
        };
        if let Err(e) = r {
            return usage(&e);
        }
    }
    let mut lp = Loop::new();
    let server = match server::listen(&mut lp, SocketAddr::new(host, port), cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("prime_server: cannot listen on {host}:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.address().expect("listening");
    println!(
        "prime server listening on {addr} (mode {}, delay {} ms for n >= {})",
        cfg.mode,
        cfg.delay.as_millis(),
        cfg.slow_from
    );
    let _ = std::io::stdout().flush();
    lp.run_default();
    ExitCode::SUCCESS
}
