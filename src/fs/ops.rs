//! The file-system calls themselves, as jobs for the thread pool.
//!
//! Each function takes owned arguments and returns the blocking work as a
//! `Send` closure yielding an `io::Result` whose errors carry an
//! [`FsError`]. The callback API in `fs/mod.rs` submits these; a
//! promise/future API can submit the very same closures, so both forms share
//! one implementation.

use std::ffi::{CString, OsString};
use std::fs::{self, DirBuilder, File, FileType, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::FsError;
use super::fd::{Fd, OpenFlags};

/// The largest file [`read_file`](super::read_file) reads, as Node's `kIoMaxLength` (2 GiB):
/// past it the call fails with `ERR_FS_FILE_TOO_LARGE` instead of trying to
/// allocate.
pub const READ_FILE_MAX: u64 = (1 << 31) - 1;

/// One entry of a directory listing, with its type (Node's `Dirent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirent {
    /// The entry's file name.
    pub name: OsString,
    /// Its type, without following a symbolic link.
    pub file_type: FileType,
}

/// What [`access`](super::access) checks (`F_OK` alone: existence).
pub type AccessMode = i32;

/// A blocking job for the pool.
pub(crate) trait Op<T>: FnOnce() -> io::Result<T> + Send + 'static {}
impl<T, F: FnOnce() -> io::Result<T> + Send + 'static> Op<T> for F {}

fn at<T>(r: io::Result<T>, syscall: &'static str, path: &Path) -> io::Result<T> {
    r.map_err(|e| FsError::wrap(e, syscall, Some(path), None))
}

fn at2<T>(r: io::Result<T>, syscall: &'static str, from: &Path, to: &Path) -> io::Result<T> {
    r.map_err(|e| FsError::wrap(e, syscall, Some(from), Some(to)))
}

fn on_fd<T>(r: io::Result<T>, syscall: &'static str) -> io::Result<T> {
    r.map_err(|e| FsError::wrap(e, syscall, None, None))
}

fn c_path(path: &Path, syscall: &'static str) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        FsError::custom(
            "ERR_INVALID_ARG_VALUE",
            libc::EINVAL,
            format!("The path for {syscall} must not contain null bytes:"),
            syscall,
            Some(path),
        )
    })
}

pub(crate) fn open(path: PathBuf, flags: OpenFlags) -> impl Op<Fd> {
    move || at(flags.options().open(&path), "open", &path).map(Fd::from)
}

pub(crate) fn close(fd: Fd) -> impl Op<()> {
    move || fd.close()
}

/// Reads into `buf` at `position`, or at the file's current position.
pub(crate) fn read(fd: Fd, mut buf: Vec<u8>, position: Option<u64>) -> impl Op<(usize, Vec<u8>)> {
    move || {
        let file = fd.file("read")?;
        let n = match position {
            Some(p) => file.read_at(&mut buf, p),
            None => (&*file).read(&mut buf),
        };
        on_fd(n, "read").map(|n| (n, buf))
    }
}

/// Writes `data` once (it may write less) at `position`, or at the file's
/// current position (the end, for a file opened to append).
pub(crate) fn write(fd: Fd, data: Vec<u8>, position: Option<u64>) -> impl Op<usize> {
    move || {
        let file = fd.file("write")?;
        let n = match position {
            Some(p) => file.write_at(&data, p),
            None => (&*file).write(&data),
        };
        on_fd(n, "write")
    }
}

pub(crate) fn stat(path: PathBuf) -> impl Op<Metadata> {
    move || at(fs::metadata(&path), "stat", &path)
}

pub(crate) fn lstat(path: PathBuf) -> impl Op<Metadata> {
    move || at(fs::symlink_metadata(&path), "lstat", &path)
}

pub(crate) fn fstat(fd: Fd) -> impl Op<Metadata> {
    move || on_fd(fd.file("fstat")?.metadata(), "fstat")
}

pub(crate) fn read_file(path: PathBuf) -> impl Op<Vec<u8>> {
    move || read_file_limited(&path, READ_FILE_MAX)
}

/// Reads what the file holds when each read happens, so a file that grows
/// meanwhile yields at least what it had at the start, and a file whose
/// size `stat` does not know (`/proc`) is read to its end.
pub(crate) fn read_file_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = at(File::open(path), "open", path)?;
    let size = on_fd(file.metadata(), "fstat")?.len();
    let too_large = |size: u64| {
        FsError::custom(
            "ERR_FS_FILE_TOO_LARGE",
            libc::EFBIG,
            format!("File size ({size}) is greater than {limit} bytes:"),
            "read",
            Some(path),
        )
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut buf = Vec::new();
    if buf.try_reserve_exact(size as usize).is_err() {
        return Err(FsError::custom(
            "ENOMEM",
            libc::ENOMEM,
            format!("not enough memory to read {size} bytes of"),
            "read",
            Some(path),
        ));
    }
    // One byte past the limit tells "exactly at the limit" from "over it".
    let n = on_fd((&file).take(limit + 1).read_to_end(&mut buf), "read")?;
    if n as u64 > limit {
        return Err(too_large(n as u64));
    }
    Ok(buf)
}

fn write_all(path: &Path, flags: &str, data: &[u8]) -> io::Result<()> {
    let flags = OpenFlags::parse(flags)?;
    let mut file = at(flags.options().open(path), "open", path)?;
    on_fd(file.write_all(data), "write")
}

pub(crate) fn write_file(path: PathBuf, data: Vec<u8>) -> impl Op<()> {
    move || write_all(&path, "w", &data)
}

pub(crate) fn append_file(path: PathBuf, data: Vec<u8>) -> impl Op<()> {
    move || write_all(&path, "a", &data)
}

/// The entries, sorted by name as libuv's `scandir` returns them.
pub(crate) fn readdir(path: PathBuf) -> impl Op<Vec<Dirent>> {
    move || {
        let mut out = Vec::new();
        for entry in at(fs::read_dir(&path), "scandir", &path)? {
            let entry = at(entry, "scandir", &path)?;
            let file_type = at(entry.file_type(), "scandir", &path)?;
            out.push(Dirent {
                name: entry.file_name(),
                file_type,
            });
        }
        out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(out)
    }
}

/// Creates `path` (and, if `recursive`, its missing parents). Returns the
/// first directory created when recursive, as Node does.
pub(crate) fn mkdir(path: PathBuf, recursive: bool) -> impl Op<Option<PathBuf>> {
    move || {
        let mut b = DirBuilder::new();
        b.mode(0o777);
        if !recursive {
            return at(b.create(&path), "mkdir", &path).map(|()| None);
        }
        let first = path
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
            .last()
            .map(Path::to_path_buf);
        at(b.recursive(true).create(&path), "mkdir", &path)?;
        Ok(first)
    }
}

pub(crate) fn rmdir(path: PathBuf) -> impl Op<()> {
    move || at(fs::remove_dir(&path), "rmdir", &path)
}

/// Node's `rm`: a file or link, or with `recursive` a directory tree;
/// `force` makes a missing path a success.
pub(crate) fn rm(path: PathBuf, recursive: bool, force: bool) -> impl Op<()> {
    move || {
        let meta = match fs::symlink_metadata(&path) {
            Err(e) if force && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            r => at(r, "lstat", &path)?,
        };
        if !meta.is_dir() {
            return at(fs::remove_file(&path), "rm", &path);
        }
        if !recursive {
            return Err(FsError::custom(
                "ERR_FS_EISDIR",
                libc::EISDIR,
                "Path is a directory: rm returned EISDIR (is a directory)".to_owned(),
                "rm",
                Some(&path),
            ));
        }
        match fs::remove_dir_all(&path) {
            Err(e) if force && e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => at(r, "rm", &path),
        }
    }
}

pub(crate) fn unlink(path: PathBuf) -> impl Op<()> {
    move || at(fs::remove_file(&path), "unlink", &path)
}

pub(crate) fn rename(from: PathBuf, to: PathBuf) -> impl Op<()> {
    move || at2(fs::rename(&from, &to), "rename", &from, &to)
}

/// Copies contents and permission bits; with `exclusive`, fails with
/// `EEXIST` if `to` exists (Node's `COPYFILE_EXCL`).
pub(crate) fn copy_file(from: PathBuf, to: PathBuf, exclusive: bool) -> impl Op<()> {
    move || {
        let copy = || -> io::Result<()> {
            let mut src = File::open(&from)?;
            let perm = src.metadata()?.permissions();
            let mut o = fs::OpenOptions::new();
            o.write(true).mode(perm.mode());
            if exclusive {
                o.create_new(true);
            } else {
                o.create(true).truncate(true);
            }
            let mut dst = o.open(&to)?;
            io::copy(&mut src, &mut dst)?;
            dst.set_permissions(perm)
        };
        at2(copy(), "copyfile", &from, &to)
    }
}

/// `access(2)`: whether the calling process may use `path` as `mode` asks
/// (an OR of [`R_OK`](super::R_OK), [`W_OK`](super::W_OK),
/// [`X_OK`](super::X_OK), or [`F_OK`](super::F_OK)).
pub(crate) fn access(path: PathBuf, mode: AccessMode) -> impl Op<()> {
    move || {
        let c = c_path(&path, "access")?;
        // SAFETY: `c` is a NUL-terminated string that outlives the call.
        if unsafe { libc::access(c.as_ptr(), mode) } == 0 {
            Ok(())
        } else {
            at(Err(io::Error::last_os_error()), "access", &path)
        }
    }
}

pub(crate) fn realpath(path: PathBuf) -> impl Op<PathBuf> {
    move || at(fs::canonicalize(&path), "realpath", &path)
}

pub(crate) fn truncate(path: PathBuf, len: u64) -> impl Op<()> {
    move || {
        let file = at(
            fs::OpenOptions::new().write(true).open(&path),
            "open",
            &path,
        )?;
        on_fd(file.set_len(len), "ftruncate")
    }
}

pub(crate) fn ftruncate(fd: Fd, len: u64) -> impl Op<()> {
    move || on_fd(fd.file("ftruncate")?.set_len(len), "ftruncate")
}

pub(crate) fn fsync(fd: Fd) -> impl Op<()> {
    move || on_fd(fd.file("fsync")?.sync_all(), "fsync")
}

/// Creates `path` as a symbolic link to `target`.
pub(crate) fn symlink(target: PathBuf, path: PathBuf) -> impl Op<()> {
    move || {
        at2(
            std::os::unix::fs::symlink(&target, &path),
            "symlink",
            &target,
            &path,
        )
    }
}

pub(crate) fn readlink(path: PathBuf) -> impl Op<PathBuf> {
    move || at(fs::read_link(&path), "readlink", &path)
}

pub(crate) fn chmod(path: PathBuf, mode: u32) -> impl Op<()> {
    move || {
        at(
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)),
            "chmod",
            &path,
        )
    }
}

fn timespec(t: SystemTime) -> libc::timespec {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i64),
        Err(e) => {
            // Before 1970: a negative second count and a positive fraction.
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos() as i64);
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    };
    libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: nanos as _,
    }
}

/// Sets the access and modification times (following symbolic links).
pub(crate) fn utimes(path: PathBuf, atime: SystemTime, mtime: SystemTime) -> impl Op<()> {
    move || {
        let c = c_path(&path, "utime")?;
        let times = [timespec(atime), timespec(mtime)];
        // SAFETY: `c` and `times` outlive the call; `times` has the two
        // entries utimensat reads.
        if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) } == 0 {
            Ok(())
        } else {
            at(Err(io::Error::last_os_error()), "utime", &path)
        }
    }
}

/// Whether `path` exists (`access(F_OK)`), as Node's `fs.exists`.
pub(crate) fn exists(path: PathBuf) -> impl Op<bool> {
    let check = access(path, libc::F_OK);
    move || Ok(check().is_ok())
}
