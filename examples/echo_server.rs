//! TCP echo server for the benchmark kit (`/work/shared/bench`):
//! `echo_server PORT` listens on 127.0.0.1:PORT, prints `listening` when
//! ready, echoes every byte back, and exits on SIGTERM (the default action
//! of the signal: no handler is needed).
//!
//! Backpressure as Node's `echo.js`: when a write returns false (more than
//! the high-water mark is waiting for the kernel) the socket stops reading
//! until `drain`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use nodeloop::net::{ServerOptions, TcpServer};
use nodeloop::stream::event::Drain;
use nodeloop::Loop;

fn main() -> ExitCode {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("echo_server: bad port: {e}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("usage: echo_server PORT");
            return ExitCode::from(2);
        }
    };
    let mut lp = Loop::new();
    let server = TcpServer::new(ServerOptions::default());
    server.on_connection(&mut lp, |lp, sock| {
        let _ = sock.set_no_delay(true);
        // A reset by the peer is its business, not ours.
        sock.on_error(|_, _| {});
        let s = sock.clone();
        sock.on_data(lp, move |lp, chunk| {
            if !s.write_bytes(lp, chunk) {
                s.pause(lp);
                // Registered only when needed, as Node's echo.js does: an
                // idle connection carries no `drain` listener.
                let s2 = s.clone();
                s.emitter().once::<Drain>(move |lp, _| s2.resume(lp));
            }
        });
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = server.listen(&mut lp, addr, 511) {
        eprintln!("echo_server: cannot listen on {addr}: {e}");
        return ExitCode::FAILURE;
    }
    println!("echo_server listening on {addr}");
    let _ = std::io::stdout().flush();
    lp.run_default();
    ExitCode::SUCCESS
}
