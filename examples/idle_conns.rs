//! Memory per idle connection of an echo server.
//!
//! `idle_conns [--conns N] [--settle-ms MS] -- CMD [ARGS...]` starts
//! `CMD ARGS... PORT` (the benchmark kit's echo contract: print a line
//! containing `listening` when ready), reads its resident memory (`VmRSS`
//! of `/proc/PID/status`), opens N connections (default 10,000) and makes
//! one 1-byte round trip on each, so that every connection has been
//! accepted and read from at least once, waits for the server to settle,
//! reads `VmRSS` again and prints
//! `conns=N rss_before_kib=A rss_after_kib=B bytes_per_conn=C`.
//! The server is then stopped with SIGTERM.
//!
//! ```text
//! cargo build --release --example echo_server --example idle_conns
//! target/release/examples/idle_conns -- target/release/examples/echo_server
//! ```
//!
//! Both processes need N+ descriptors: the soft limit is raised to the hard
//! one here, and the server inherits it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

fn vm_rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn run(conns: usize, settle: Duration, cmd: &[String]) -> Result<String, String> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("finding a free port: {e}"))?
        .port();
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", cmd[0]))?;
    let pid = child.id();
    let result = (|| {
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("server exited before printing `listening`".to_string());
            }
            if line.contains("listening") {
                break;
            }
        }
        // Let start-up allocations (JIT, thread pools) finish first.
        std::thread::sleep(settle);
        let before = vm_rss_kib(pid)?;
        let mut socks = Vec::with_capacity(conns);
        let t = Instant::now();
        for i in 0..conns {
            let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .map_err(|e| format!("connection {i}: {e}"))?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            s.write_all(b"x")
                .map_err(|e| format!("connection {i}: {e}"))?;
            let mut b = [0u8];
            s.read_exact(&mut b)
                .map_err(|e| format!("connection {i}: echo: {e}"))?;
            socks.push(s);
        }
        let setup = t.elapsed();
        std::thread::sleep(settle);
        let after = vm_rss_kib(pid)?;
        let per = (after as f64 - before as f64) * 1024.0 / conns as f64;
        drop(socks);
        Ok(format!(
            "conns={conns} rss_before_kib={before} rss_after_kib={after} bytes_per_conn={per:.0} setup_secs={:.2}",
            setup.as_secs_f64()
        ))
    })();
    // SAFETY: signalling the child we started, by its PID.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = child.wait();
    result
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut conns = 10_000;
    let mut settle = Duration::from_millis(1000);
    let mut cmd = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--conns" => conns = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--settle-ms" => {
                settle =
                    Duration::from_millis(args.next().and_then(|v| v.parse().ok()).unwrap_or(0))
            }
            "--" => {
                cmd.extend(args.by_ref());
            }
            other => {
                eprintln!("idle_conns: unexpected argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    if cmd.is_empty() || conns == 0 {
        eprintln!("usage: idle_conns [--conns N] [--settle-ms MS] -- CMD [ARGS...]");
        return ExitCode::from(2);
    }
    raise_fd_limit();
    match run(conns, settle, &cmd) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("idle_conns: {e}");
            ExitCode::FAILURE
        }
    }
}
