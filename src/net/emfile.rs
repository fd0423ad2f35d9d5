//! Surviving descriptor exhaustion on accept (`EMFILE`/`ENFILE`), libuv's
//! reserve-descriptor trick.
//!
//! When the process is out of descriptors, `accept` fails but the pending
//! connection stays queued, so a level- or edge-triggered listener would be
//! reported ready again and again with nothing done. A server therefore
//! keeps one spare descriptor open; on `EMFILE` it closes the spare, which
//! makes room to accept the pending connections one at a time and close
//! them at once (the clients see a reset or EOF instead of hanging), then
//! reopens the spare. Existing connections are untouched, and once
//! descriptors are freed, accepting works again without intervention.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// One spare descriptor (an `O_RDONLY` open of `/`, as libuv uses).
pub(crate) struct Reserve(Option<OwnedFd>);

fn open_spare() -> Option<OwnedFd> {
    // SAFETY: a NUL-terminated path and plain flags; a non-negative result
    // is a descriptor we own.
    let fd = unsafe { libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: `fd` was just opened and is owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether an accept error means the process or system ran out of
/// descriptors.
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

impl Reserve {
    pub(crate) fn open() -> Reserve {
        Reserve(open_spare())
    }

    /// Sheds the connections waiting on a listener that just failed with
    /// `EMFILE`: frees the spare, accepts and closes until the queue is
    /// empty (or accepting fails again), and takes the spare back. Returns
    /// how many connections were shed. Without a spare (it could not be
    /// reopened last time) nothing can be shed; the next attempt to reopen
    /// it is made here.
    pub(crate) fn shed<S>(&mut self, mut accept: impl FnMut() -> io::Result<S>) -> usize {
        let Some(spare) = self.0.take() else {
            self.0 = open_spare();
            return 0;
        };
        drop(spare);
        let mut n = 0;
        loop {
            match accept() {
                Ok(s) => {
                    drop(s);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.0 = open_spare();
        n
    }
}
