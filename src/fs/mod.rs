//! Node's `fs` module in callback form, on the thread pool.
//!
//! Each call runs its blocking system call(s) on a pool worker and then
//! calls back on the loop thread, in the poll phase, with an
//! [`io::Result`]: Node's error-first callback as a `Result`. Errors keep
//! the OS error's [`io::ErrorKind`] and carry an [`FsError`] naming the
//! errno, the system call and the path, displayed as Node displays them
//! (`ENOENT: no such file or directory, open 'x'`).
//!
//! File work goes to the pool's normal queue, as in libuv (which marks only
//! DNS as slow I/O); see `docs/thread-pool.md` for why. Every call returns
//! the [`WorkRequest`], so it can be cancelled while it waits for a worker
//! ([`Loop::cancel_work`]); the callback then gets an `Interrupted` error.
//!
//! Every call also has an awaitable form in [`promises`] (Node's
//! `fs/promises`), built on the callback form here.
//!
//! ```
//! use nodeloop::{fs, Loop};
//! use std::{cell::RefCell, rc::Rc};
//! let dir = std::env::temp_dir().join(format!("nodeloop-doc-fs-{}", std::process::id()));
//! let mut lp = Loop::new();
//! let got = Rc::new(RefCell::new(None));
//! let g = got.clone();
//! let file = dir.join("hello.txt");
//! fs::mkdir(&mut lp, &dir, true, move |lp, r| {
//!     r.unwrap();
//!     fs::write_file(lp, file.clone(), "hi", move |lp, r| {
//!         r.unwrap();
//!         fs::read_file(lp, &file, move |_, r| *g.borrow_mut() = Some(r.unwrap()));
//!     });
//! });
//! lp.run_default();
//! assert_eq!(got.borrow().as_deref(), Some(&b"hi"[..]));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod error;
mod fd;
pub(crate) mod ops;
pub mod promises;

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use self::error::FsError;
pub use self::fd::{Fd, OpenFlags};
pub use self::ops::{AccessMode, Dirent, READ_FILE_MAX};
/// File streams live with the other streams (they are built on them); they
/// are named here too because that is where Node users look for them
/// (`fs.createReadStream`).
pub use crate::stream::file::{
    create_read_stream, create_write_stream, ReadStreamOptions, WriteStreamOptions,
};
use crate::threadpool::Class;
use crate::{Loop, WorkRequest};

/// [`access`] mode: the path exists.
pub const F_OK: AccessMode = libc::F_OK;
/// [`access`] mode: readable.
pub const R_OK: AccessMode = libc::R_OK;
/// [`access`] mode: writable.
pub const W_OK: AccessMode = libc::W_OK;
/// [`access`] mode: executable (or searchable, for a directory).
pub const X_OK: AccessMode = libc::X_OK;

/// Runs `op` on the pool and `cb` with its result on the loop thread: the
/// one path every call here (and any other API over the same jobs) takes.
pub(crate) fn submit<T: Send + 'static>(
    lp: &mut Loop,
    op: impl ops::Op<T>,
    cb: impl FnOnce(&mut Loop, io::Result<T>) + 'static,
) -> WorkRequest {
    lp.submit_work(Class::Normal, op, move |lp, r| {
        cb(lp, r.unwrap_or_else(|e| Err(e.into())))
    })
}

/// The name of an errno (`"ENOENT"`), `"UNKNOWN"` for one not listed.
pub(crate) fn errno_name(errno: i32) -> &'static str {
    error::describe(errno).0
}

fn owned(p: impl AsRef<Path>) -> PathBuf {
    p.as_ref().to_path_buf()
}

/// Opens a file (`fs.open`).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::open(&mut lp, "/no/such/file", fs::OpenFlags::parse("r").unwrap(), |_, r| {
///     let err = r.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
///     assert_eq!(err.to_string(), "ENOENT: no such file or directory, open '/no/such/file'");
/// });
/// lp.run_default();
/// ```
pub fn open(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    flags: OpenFlags,
    cb: impl FnOnce(&mut Loop, io::Result<Fd>) + 'static,
) -> WorkRequest {
    submit(lp, ops::open(owned(path), flags), cb)
}

/// Closes a file (`fs.close`); every clone of `fd` is closed. Closing twice
/// fails with `EBADF`.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/dev/null").unwrap());
/// fs::close(&mut lp, &fd, |_, r| r.unwrap());
/// lp.run_default();
/// assert_eq!(fd.raw_fd(), None);
/// ```
pub fn close(
    lp: &mut Loop,
    fd: &Fd,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::close(fd.clone()), cb)
}

/// Reads up to `buf.len()` bytes at `position`, or at the file's current
/// position if `None` (`fs.read`). The callback gets the count and the
/// buffer back; 0 means end of file.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/dev/zero").unwrap());
/// fs::read(&mut lp, &fd, vec![1; 4], None, |_, r| assert_eq!(r.unwrap(), (4, vec![0; 4])));
/// lp.run_default();
/// ```
pub fn read(
    lp: &mut Loop,
    fd: &Fd,
    buf: Vec<u8>,
    position: Option<u64>,
    cb: impl FnOnce(&mut Loop, io::Result<(usize, Vec<u8>)>) + 'static,
) -> WorkRequest {
    submit(lp, ops::read(fd.clone(), buf, position), cb)
}

/// Writes `data` with one `write(2)`/`pwrite(2)` at `position`, or at the
/// current position if `None` (`fs.write`); the callback gets the number
/// of bytes written, which may be fewer.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap());
/// fs::write(&mut lp, &fd, "abc", None, |_, r| assert_eq!(r.unwrap(), 3));
/// lp.run_default();
/// ```
pub fn write(
    lp: &mut Loop,
    fd: &Fd,
    data: impl Into<Vec<u8>>,
    position: Option<u64>,
    cb: impl FnOnce(&mut Loop, io::Result<usize>) + 'static,
) -> WorkRequest {
    submit(lp, ops::write(fd.clone(), data.into(), position), cb)
}

/// `fs.stat`: metadata, following symbolic links.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::stat(&mut lp, "/", |_, r| assert!(r.unwrap().is_dir()));
/// lp.run_default();
/// ```
pub fn stat(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<Metadata>) + 'static,
) -> WorkRequest {
    submit(lp, ops::stat(owned(path)), cb)
}

/// `fs.lstat`: metadata of a symbolic link itself.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::lstat(&mut lp, "/", |_, r| assert!(r.unwrap().is_dir()));
/// lp.run_default();
/// ```
pub fn lstat(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<Metadata>) + 'static,
) -> WorkRequest {
    submit(lp, ops::lstat(owned(path)), cb)
}

/// `fs.fstat`: metadata of an open file.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/").unwrap());
/// fs::fstat(&mut lp, &fd, |_, r| assert!(r.unwrap().is_dir()));
/// lp.run_default();
/// ```
pub fn fstat(
    lp: &mut Loop,
    fd: &Fd,
    cb: impl FnOnce(&mut Loop, io::Result<Metadata>) + 'static,
) -> WorkRequest {
    submit(lp, ops::fstat(fd.clone()), cb)
}

/// `fs.readFile`: the whole file. A file over [`READ_FILE_MAX`] bytes, or
/// one there is not memory for, fails cleanly (`ERR_FS_FILE_TOO_LARGE`,
/// `ENOMEM`); a file that grows meanwhile is read to the end it has when
/// the reading reaches it.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::read_file(&mut lp, "/dev/null", |_, r| assert!(r.unwrap().is_empty()));
/// lp.run_default();
/// ```
pub fn read_file(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<u8>>) + 'static,
) -> WorkRequest {
    submit(lp, ops::read_file(owned(path)), cb)
}

/// `fs.writeFile`: creates or truncates the file and writes all of `data`.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::write_file(&mut lp, "/dev/null", b"x".to_vec(), |_, r| r.unwrap());
/// lp.run_default();
/// ```
pub fn write_file(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    data: impl Into<Vec<u8>>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::write_file(owned(path), data.into()), cb)
}

/// `fs.appendFile`: creates the file if needed and appends all of `data`.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::append_file(&mut lp, "/dev/null", "x", |_, r| r.unwrap());
/// lp.run_default();
/// ```
pub fn append_file(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    data: impl Into<Vec<u8>>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::append_file(owned(path), data.into()), cb)
}

/// `fs.readdir` with `withFileTypes`: the entries (without `.` and `..`),
/// sorted by name as libuv returns them.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::readdir(&mut lp, "/", |_, r| assert!(r.unwrap().iter().any(|e| e.name == "tmp")));
/// lp.run_default();
/// ```
pub fn readdir(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<Dirent>>) + 'static,
) -> WorkRequest {
    submit(lp, ops::readdir(owned(path)), cb)
}

/// `fs.mkdir` (mode `0o777` before the umask). With `recursive`, missing
/// parents are created too, an existing directory is not an error, and
/// the callback gets the first directory created (Node's return value).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::mkdir(&mut lp, "/", true, |_, r| assert_eq!(r.unwrap(), None));
/// lp.run_default();
/// ```
pub fn mkdir(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    recursive: bool,
    cb: impl FnOnce(&mut Loop, io::Result<Option<PathBuf>>) + 'static,
) -> WorkRequest {
    submit(lp, ops::mkdir(owned(path), recursive), cb)
}

/// `fs.rmdir`: removes an empty directory.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::rmdir(&mut lp, "/no/such/dir", |_, r| {
///     assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::NotFound)
/// });
/// lp.run_default();
/// ```
pub fn rmdir(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::rmdir(owned(path)), cb)
}

/// `fs.rm`: removes a file or link, or with `recursive` a whole tree; with
/// `force`, a missing path is not an error. A directory without
/// `recursive` fails with `ERR_FS_EISDIR`.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::rm(&mut lp, "/no/such/path", false, true, |_, r| r.unwrap());
/// lp.run_default();
/// ```
pub fn rm(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    recursive: bool,
    force: bool,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::rm(owned(path), recursive, force), cb)
}

/// `fs.unlink`: removes a file or symbolic link.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::unlink(&mut lp, "/no/such/file", |_, r| assert!(r.is_err()));
/// lp.run_default();
/// ```
pub fn unlink(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::unlink(owned(path)), cb)
}

/// `fs.rename`.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::rename(&mut lp, "/no/a", "/no/b", |_, r| {
///     assert_eq!(r.unwrap_err().to_string(), "ENOENT: no such file or directory, rename '/no/a' -> '/no/b'")
/// });
/// lp.run_default();
/// ```
pub fn rename(
    lp: &mut Loop,
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::rename(owned(from), owned(to)), cb)
}

/// `fs.copyFile`: contents and permission bits. With `exclusive`
/// (`COPYFILE_EXCL`) an existing `to` is an `EEXIST` error, else it is
/// replaced.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::copy_file(&mut lp, "/dev/null", "/dev/null", false, |_, r| r.unwrap());
/// lp.run_default();
/// ```
pub fn copy_file(
    lp: &mut Loop,
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
    exclusive: bool,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::copy_file(owned(from), owned(to), exclusive), cb)
}

/// `fs.access`: whether this process may use `path` as `mode` says
/// ([`F_OK`], or an OR of [`R_OK`], [`W_OK`], [`X_OK`]).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::access(&mut lp, "/", fs::R_OK | fs::X_OK, |_, r| r.unwrap());
/// lp.run_default();
/// ```
pub fn access(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    mode: AccessMode,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::access(owned(path), mode), cb)
}

/// `fs.exists`: whether `path` exists. As in Node, the callback gets a
/// plain `bool`; any error (permission too) reads as `false`.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::exists(&mut lp, "/", |_, yes| assert!(yes));
/// lp.run_default();
/// ```
pub fn exists(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, bool) + 'static,
) -> WorkRequest {
    submit(lp, ops::exists(owned(path)), move |lp, r| {
        cb(lp, r.unwrap_or(false))
    })
}

/// `fs.realpath.native`: the canonical absolute path (`realpath(3)`).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::realpath(&mut lp, "/.", |_, r| assert_eq!(r.unwrap(), std::path::Path::new("/")));
/// lp.run_default();
/// ```
pub fn realpath(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<PathBuf>) + 'static,
) -> WorkRequest {
    submit(lp, ops::realpath(owned(path)), cb)
}

/// `fs.truncate`: sets a file's length (cutting or zero-extending it).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::truncate(&mut lp, "/no/such/file", 0, |_, r| {
///     assert_eq!(fs::FsError::of(&r.unwrap_err()).unwrap().syscall(), "open")
/// });
/// lp.run_default();
/// ```
pub fn truncate(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    len: u64,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::truncate(owned(path), len), cb)
}

/// `fs.ftruncate`: sets an open file's length.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/").unwrap());
/// fs::ftruncate(&mut lp, &fd, 0, |_, r| assert!(r.is_err())); // a directory
/// lp.run_default();
/// ```
pub fn ftruncate(
    lp: &mut Loop,
    fd: &Fd,
    len: u64,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::ftruncate(fd.clone(), len), cb)
}

/// `fs.fsync`: flushes an open file's data and metadata to the device.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/").unwrap());
/// fs::fsync(&mut lp, &fd, |_, r| r.unwrap());
/// lp.run_default();
/// ```
pub fn fsync(
    lp: &mut Loop,
    fd: &Fd,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::fsync(fd.clone()), cb)
}

/// `fs.symlink`: creates `path` as a symbolic link to `target`.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::symlink(&mut lp, "/x", "/", |_, r| {
///     assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists)
/// });
/// lp.run_default();
/// ```
pub fn symlink(
    lp: &mut Loop,
    target: impl AsRef<Path>,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::symlink(owned(target), owned(path)), cb)
}

/// `fs.readlink`: where a symbolic link points.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::readlink(&mut lp, "/", |_, r| {
///     assert_eq!(fs::FsError::of(&r.unwrap_err()).unwrap().code(), "EINVAL") // not a link
/// });
/// lp.run_default();
/// ```
pub fn readlink(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<PathBuf>) + 'static,
) -> WorkRequest {
    submit(lp, ops::readlink(owned(path)), cb)
}

/// `fs.chmod`: sets the permission bits.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// fs::chmod(&mut lp, "/no/such/file", 0o644, |_, r| assert!(r.is_err()));
/// lp.run_default();
/// ```
pub fn chmod(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    mode: u32,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::chmod(owned(path), mode), cb)
}

/// `fs.utimes`: sets the access and modification times.
///
/// ```
/// use nodeloop::{fs, Loop};
/// use std::time::SystemTime;
/// let mut lp = Loop::new();
/// let t = SystemTime::UNIX_EPOCH;
/// fs::utimes(&mut lp, "/no/such/file", t, t, |_, r| {
///     assert_eq!(r.unwrap_err().to_string(), "ENOENT: no such file or directory, utime '/no/such/file'")
/// });
/// lp.run_default();
/// ```
pub fn utimes(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    atime: SystemTime,
    mtime: SystemTime,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> WorkRequest {
    submit(lp, ops::utimes(owned(path), atime, mtime), cb)
}
