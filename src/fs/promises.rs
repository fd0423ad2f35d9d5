//! Node's `fs/promises`: an awaitable form of every [`fs`](super) call.
//!
//! Each function here is its callback form started through
//! [`Loop::from_request`] (the thread-pool flavour of
//! [`Loop::from_callback`]), and nothing else: same job, same errors
//! ([`FsError`](super::FsError) naming the errno, system call and path),
//! same completion in the poll phase. The awaiting task resumes as a
//! microtask right after that poll-phase callback, before the check phase,
//! as an `await fsPromises.stat(p)` continuation does in Node.
//!
//! **Which loop.** Like [`run_work`](crate::run_work), these functions take
//! no `&mut Loop`: they borrow the loop that is polling the current task
//! ([`with_loop`](crate::with_loop)), and so must be called inside a task
//! spawned on a [`Loop`] (they panic elsewhere, naming the misuse). The
//! operation starts when the function is called, as in Node, not when the
//! future is first polled; so write `lp.spawn(async move {
//! fs::promises::stat(p).await })`, not `lp.spawn(fs::promises::stat(p))`.
//! From plain callbacks, use the callback forms.
//!
//! **Dropping** a future early is harmless: the job still completes and its
//! result is dropped; a job no worker has started yet is cancelled instead,
//! so a dropped operation happened wholly or not at all (see
//! [`WorkFuture`]).
//!
//! ```
//! use nodeloop::{fs, Loop};
//! let dir = std::env::temp_dir().join(format!("nodeloop-doc-fsp-{}", std::process::id()));
//! let mut lp = Loop::new();
//! let d = dir.clone();
//! let p = lp.spawn(async move {
//!     fs::promises::mkdir(&d, true).await.unwrap();
//!     let file = d.join("hello.txt");
//!     fs::promises::write_file(&file, "hi").await.unwrap();
//!     fs::promises::read_file(&file).await.unwrap()
//! }).into_promise(&mut lp);
//! lp.run_default();
//! assert_eq!(p.peek().unwrap().unwrap(), b"hi");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{AccessMode, Dirent, Fd, OpenFlags};
use crate::bridge::{Completer, WorkFuture};
use crate::{current, Loop, WorkRequest};

/// The future every call here returns: the callback form's
/// [`io::Result`], awaited.
///
/// ```
/// use nodeloop::{fs, fs::promises::FsFuture, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async {
///     let fut: FsFuture<Vec<u8>> = fs::promises::read_file("/dev/null");
///     fut.await.unwrap().len()
/// }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), 0);
/// ```
pub type FsFuture<T> = WorkFuture<io::Result<T>>;

/// Starts a callback-form call on the current task's loop.
#[track_caller]
fn start<T: 'static>(call: impl FnOnce(&mut Loop, Completer<T>) -> WorkRequest) -> WorkFuture<T> {
    current::with_loop(|lp| lp.from_request(call))
}

/// Opens a file (`fsPromises.open`); see [`fs::open`](super::open).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async {
///     let err = fs::promises::open("/no/such/file", "r".parse().unwrap()).await.unwrap_err();
///     err.to_string()
/// }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), "ENOENT: no such file or directory, open '/no/such/file'");
/// ```
#[track_caller]
pub fn open(path: impl AsRef<Path>, flags: OpenFlags) -> FsFuture<Fd> {
    start(|lp, done| super::open(lp, path, flags, move |lp, r| done.complete(lp, r)))
}

/// Closes a file (`filehandle.close()`); see [`fs::close`](super::close).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/dev/null").unwrap());
/// let f = fd.clone();
/// let p = lp.spawn(async move { fs::promises::close(&f).await.is_ok() }).into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// assert_eq!(fd.raw_fd(), None);
/// ```
#[track_caller]
pub fn close(fd: &Fd) -> FsFuture<()> {
    start(|lp, done| super::close(lp, fd, move |lp, r| done.complete(lp, r)))
}

/// Reads up to `buf.len()` bytes at `position` (or the current position);
/// yields the count and the buffer. See [`fs::read`](super::read).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/dev/zero").unwrap());
/// let p = lp.spawn(async move { fs::promises::read(&fd, vec![1; 4], None).await.unwrap() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), (4, vec![0; 4]));
/// ```
#[track_caller]
pub fn read(fd: &Fd, buf: Vec<u8>, position: Option<u64>) -> FsFuture<(usize, Vec<u8>)> {
    start(|lp, done| super::read(lp, fd, buf, position, move |lp, r| done.complete(lp, r)))
}

/// Writes `data` with one system call at `position` (or the current
/// position); yields the number of bytes written. See
/// [`fs::write`](super::write).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap());
/// let p = lp.spawn(async move { fs::promises::write(&fd, "abc", None).await.unwrap() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), 3);
/// ```
#[track_caller]
pub fn write(fd: &Fd, data: impl Into<Vec<u8>>, position: Option<u64>) -> FsFuture<usize> {
    start(|lp, done| super::write(lp, fd, data, position, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.stat`: metadata, following symbolic links; see
/// [`fs::stat`](super::stat).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::stat("/").await.unwrap().is_dir() }).into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn stat(path: impl AsRef<Path>) -> FsFuture<Metadata> {
    start(|lp, done| super::stat(lp, path, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.lstat`: metadata of a symbolic link itself; see
/// [`fs::lstat`](super::lstat).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::lstat("/").await.unwrap().is_dir() }).into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn lstat(path: impl AsRef<Path>) -> FsFuture<Metadata> {
    start(|lp, done| super::lstat(lp, path, move |lp, r| done.complete(lp, r)))
}

/// `filehandle.stat()`: metadata of an open file; see
/// [`fs::fstat`](super::fstat).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/").unwrap());
/// let p = lp.spawn(async move { fs::promises::fstat(&fd).await.unwrap().is_dir() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn fstat(fd: &Fd) -> FsFuture<Metadata> {
    start(|lp, done| super::fstat(lp, fd, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.readFile`: the whole file; see
/// [`fs::read_file`](super::read_file) for the size limits.
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::read_file("/dev/null").await.unwrap() }).into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap().is_empty());
/// ```
#[track_caller]
pub fn read_file(path: impl AsRef<Path>) -> FsFuture<Vec<u8>> {
    start(|lp, done| super::read_file(lp, path, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.writeFile`: creates or truncates the file and writes all of
/// `data`; see [`fs::write_file`](super::write_file).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::write_file("/dev/null", "x").await.is_ok() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn write_file(path: impl AsRef<Path>, data: impl Into<Vec<u8>>) -> FsFuture<()> {
    start(|lp, done| super::write_file(lp, path, data, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.appendFile`: creates the file if needed and appends all of
/// `data`; see [`fs::append_file`](super::append_file).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::append_file("/dev/null", "x").await.is_ok() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn append_file(path: impl AsRef<Path>, data: impl Into<Vec<u8>>) -> FsFuture<()> {
    start(|lp, done| super::append_file(lp, path, data, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.readdir` with `withFileTypes`: the entries, sorted by name;
/// see [`fs::readdir`](super::readdir).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async {
///     fs::promises::readdir("/").await.unwrap().iter().any(|e| e.name == "tmp")
/// }).into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn readdir(path: impl AsRef<Path>) -> FsFuture<Vec<Dirent>> {
    start(|lp, done| super::readdir(lp, path, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.mkdir`; with `recursive`, yields the first directory
/// created. See [`fs::mkdir`](super::mkdir).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::mkdir("/", true).await.unwrap() }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), None); // it already exists
/// ```
#[track_caller]
pub fn mkdir(path: impl AsRef<Path>, recursive: bool) -> FsFuture<Option<PathBuf>> {
    start(|lp, done| super::mkdir(lp, path, recursive, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.rmdir`: removes an empty directory; see
/// [`fs::rmdir`](super::rmdir).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::rmdir("/no/such/dir").await.unwrap_err().kind() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), std::io::ErrorKind::NotFound);
/// ```
#[track_caller]
pub fn rmdir(path: impl AsRef<Path>) -> FsFuture<()> {
    start(|lp, done| super::rmdir(lp, path, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.rm`: a file or link, or with `recursive` a whole tree; with
/// `force` a missing path is not an error. See [`fs::rm`](super::rm).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::rm("/no/such/path", false, true).await.is_ok() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn rm(path: impl AsRef<Path>, recursive: bool, force: bool) -> FsFuture<()> {
    start(|lp, done| {
        super::rm(lp, path, recursive, force, move |lp, r| {
            done.complete(lp, r)
        })
    })
}

/// `fsPromises.unlink`: removes a file or symbolic link; see
/// [`fs::unlink`](super::unlink).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::unlink("/no/such/file").await.is_err() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn unlink(path: impl AsRef<Path>) -> FsFuture<()> {
    start(|lp, done| super::unlink(lp, path, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.rename`; see [`fs::rename`](super::rename).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::rename("/no/a", "/no/b").await.unwrap_err().to_string() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), "ENOENT: no such file or directory, rename '/no/a' -> '/no/b'");
/// ```
#[track_caller]
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> FsFuture<()> {
    start(|lp, done| super::rename(lp, from, to, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.copyFile`; with `exclusive` (`COPYFILE_EXCL`) an existing
/// `to` is an `EEXIST` error. See [`fs::copy_file`](super::copy_file).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::copy_file("/dev/null", "/dev/null", false).await.is_ok() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn copy_file(from: impl AsRef<Path>, to: impl AsRef<Path>, exclusive: bool) -> FsFuture<()> {
    start(|lp, done| super::copy_file(lp, from, to, exclusive, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.access`: whether this process may use `path` as `mode`
/// says; see [`fs::access`](super::access).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::access("/", fs::R_OK | fs::X_OK).await.is_ok() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn access(path: impl AsRef<Path>, mode: AccessMode) -> FsFuture<()> {
    start(|lp, done| super::access(lp, path, mode, move |lp, r| done.complete(lp, r)))
}

/// Whether `path` exists: a plain `bool`, any error reading as `false`, as
/// [`fs::exists`](super::exists) (`fs/promises` has no `exists`; this is
/// the callback form's awaitable twin).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { (fs::promises::exists("/").await, fs::promises::exists("/no/such").await) })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), (true, false));
/// ```
#[track_caller]
pub fn exists(path: impl AsRef<Path>) -> WorkFuture<bool> {
    start(|lp, done| super::exists(lp, path, move |lp, yes| done.complete(lp, yes)))
}

/// `fsPromises.realpath`: the canonical absolute path; see
/// [`fs::realpath`](super::realpath).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::realpath("/.").await.unwrap() }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), std::path::Path::new("/"));
/// ```
#[track_caller]
pub fn realpath(path: impl AsRef<Path>) -> FsFuture<PathBuf> {
    start(|lp, done| super::realpath(lp, path, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.truncate`: sets a file's length; see
/// [`fs::truncate`](super::truncate).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async {
///     let err = fs::promises::truncate("/no/such/file", 0).await.unwrap_err();
///     fs::FsError::of(&err).unwrap().syscall()
/// }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), "open");
/// ```
#[track_caller]
pub fn truncate(path: impl AsRef<Path>, len: u64) -> FsFuture<()> {
    start(|lp, done| super::truncate(lp, path, len, move |lp, r| done.complete(lp, r)))
}

/// `filehandle.truncate()`: sets an open file's length; see
/// [`fs::ftruncate`](super::ftruncate).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/").unwrap());
/// let p = lp.spawn(async move { fs::promises::ftruncate(&fd, 0).await.is_err() }) // a directory
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn ftruncate(fd: &Fd, len: u64) -> FsFuture<()> {
    start(|lp, done| super::ftruncate(lp, fd, len, move |lp, r| done.complete(lp, r)))
}

/// `filehandle.sync()`: flushes an open file to the device; see
/// [`fs::fsync`](super::fsync).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let fd = fs::Fd::from(std::fs::File::open("/").unwrap());
/// let p = lp.spawn(async move { fs::promises::fsync(&fd).await.is_ok() }).into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn fsync(fd: &Fd) -> FsFuture<()> {
    start(|lp, done| super::fsync(lp, fd, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.symlink`: creates `path` as a symbolic link to `target`;
/// see [`fs::symlink`](super::symlink).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::symlink("/x", "/").await.unwrap_err().kind() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), std::io::ErrorKind::AlreadyExists);
/// ```
#[track_caller]
pub fn symlink(target: impl AsRef<Path>, path: impl AsRef<Path>) -> FsFuture<()> {
    start(|lp, done| super::symlink(lp, target, path, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.readlink`: where a symbolic link points; see
/// [`fs::readlink`](super::readlink).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async {
///     let err = fs::promises::readlink("/").await.unwrap_err();
///     fs::FsError::of(&err).unwrap().code()
/// }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), "EINVAL"); // not a link
/// ```
#[track_caller]
pub fn readlink(path: impl AsRef<Path>) -> FsFuture<PathBuf> {
    start(|lp, done| super::readlink(lp, path, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.chmod`: sets the permission bits; see
/// [`fs::chmod`](super::chmod).
///
/// ```
/// use nodeloop::{fs, Loop};
/// let mut lp = Loop::new();
/// let p = lp.spawn(async { fs::promises::chmod("/no/such/file", 0o644).await.is_err() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert!(p.peek().unwrap().unwrap());
/// ```
#[track_caller]
pub fn chmod(path: impl AsRef<Path>, mode: u32) -> FsFuture<()> {
    start(|lp, done| super::chmod(lp, path, mode, move |lp, r| done.complete(lp, r)))
}

/// `fsPromises.utimes`: sets the access and modification times; see
/// [`fs::utimes`](super::utimes).
///
/// ```
/// use nodeloop::{fs, Loop};
/// use std::time::SystemTime;
/// let mut lp = Loop::new();
/// let t = SystemTime::UNIX_EPOCH;
/// let p = lp.spawn(async move { fs::promises::utimes("/no/such/file", t, t).await.unwrap_err().to_string() })
///     .into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), "ENOENT: no such file or directory, utime '/no/such/file'");
/// ```
#[track_caller]
pub fn utimes(path: impl AsRef<Path>, atime: SystemTime, mtime: SystemTime) -> FsFuture<()> {
    start(|lp, done| super::utimes(lp, path, atime, mtime, move |lp, r| done.complete(lp, r)))
}
