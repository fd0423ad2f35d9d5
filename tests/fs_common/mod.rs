//! Helpers shared by the fs tests of both forms (`tests/fs.rs`,
//! `tests/fs_promises.rs`): a temporary directory per test and the checks
//! on an fs error's kind, code and system call.

#![allow(dead_code, reason = "each test crate uses a subset")]

use nodeloop::fs::{FsError, OpenFlags};
use std::io::{self, ErrorKind};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "nodeloop-fs-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts that `r` failed with `kind` and an [`FsError`] naming `code`
/// and `syscall`, and returns that error for further checks.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(
    r: io::Result<T>,
    kind: ErrorKind,
    code: &str,
    syscall: &str,
) -> FsError {
    let e = r.expect_err("the call fails");
    assert_eq!(e.kind(), kind, "{e}");
    let info = FsError::of(&e).unwrap_or_else(|| panic!("no FsError in {e:?}"));
    assert_eq!((info.code(), info.syscall()), (code, syscall), "{e}");
    assert!(!e.to_string().is_empty());
    *e.into_inner().unwrap().downcast::<FsError>().unwrap()
}

/// The kind std gives an errno (some, like EBADF, have no stable name).
pub fn os_kind(errno: i32) -> ErrorKind {
    io::Error::from_raw_os_error(errno).kind()
}

pub fn flags(s: &str) -> OpenFlags {
    s.parse().unwrap()
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
