//! File-system errors as Node reports them: the errno's name, libuv's
//! description, the system call and the path(s), e.g.
//! `ENOENT: no such file or directory, open 'x'`.
//!
//! They travel inside an [`io::Error`] whose kind is the OS error's, so code
//! that only looks at `err.kind()` keeps working; [`FsError::of`] gets the
//! details back.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What a failed file-system call reports, beyond its [`io::ErrorKind`].
///
/// ```
/// use nodeloop::fs::FsError;
/// let err = std::fs::File::open("/no/such/file").unwrap_err();
/// let err = FsError::wrap(err, "open", Some("/no/such/file".as_ref()), None);
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// let info = FsError::of(&err).unwrap();
/// assert_eq!(info.code(), "ENOENT");
/// assert_eq!(info.syscall(), "open");
/// assert_eq!(err.to_string(), "ENOENT: no such file or directory, open '/no/such/file'");
/// ```
#[derive(Debug)]
pub struct FsError {
    code: &'static str,
    description: String,
    syscall: &'static str,
    path: Option<PathBuf>,
    dest: Option<PathBuf>,
    source: Option<io::Error>,
}

impl FsError {
    /// Wraps an error from a system call on `path` (and `dest`, for two-path
    /// calls such as rename). The result has the same [`io::ErrorKind`].
    /// An error that already carries an `FsError` is returned unchanged.
    pub fn wrap(
        err: io::Error,
        syscall: &'static str,
        path: Option<&Path>,
        dest: Option<&Path>,
    ) -> io::Error {
        if FsError::of(&err).is_some() {
            return err;
        }
        let kind = err.kind();
        let (code, description) = match err.raw_os_error() {
            Some(n) => describe(n),
            None => ("UNKNOWN", err.to_string()),
        };
        io::Error::new(
            kind,
            FsError {
                code,
                description,
                syscall,
                path: path.map(Path::to_path_buf),
                dest: dest.map(Path::to_path_buf),
                source: Some(err),
            },
        )
    }

    /// The OS error `errno` from `syscall` on `path`.
    pub(crate) fn os(errno: i32, syscall: &'static str, path: Option<&Path>) -> io::Error {
        FsError::wrap(io::Error::from_raw_os_error(errno), syscall, path, None)
    }

    /// An error that is not an errno (Node's `ERR_*` codes), with the kind
    /// of the errno closest to it.
    pub(crate) fn custom(
        code: &'static str,
        like_errno: i32,
        description: String,
        syscall: &'static str,
        path: Option<&Path>,
    ) -> io::Error {
        io::Error::new(
            io::Error::from_raw_os_error(like_errno).kind(),
            FsError {
                code,
                description,
                syscall,
                path: path.map(Path::to_path_buf),
                dest: None,
                source: None,
            },
        )
    }

    /// The details of `err`, if it came from `nodeloop::fs`.
    pub fn of(err: &io::Error) -> Option<&FsError> {
        err.get_ref()?.downcast_ref::<FsError>()
    }

    /// Node's `err.code`: the errno's name (`"ENOENT"`) or an `ERR_*` code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The OS error number, when there is one.
    pub fn errno(&self) -> Option<i32> {
        self.source.as_ref().and_then(io::Error::raw_os_error)
    }

    /// Node's `err.syscall`: the call that failed (`"open"`, `"scandir"`...).
    pub fn syscall(&self) -> &'static str {
        self.syscall
    }

    /// The path the call was about, if any (fd calls have none).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The second path of two-path calls (rename, copyfile, symlink).
    pub fn dest(&self) -> Option<&Path> {
        self.dest.as_deref()
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.starts_with("ERR_") {
            // Node's own errors read as a sentence.
            f.write_str(&self.description)?;
            if let Some(p) = &self.path {
                write!(f, " {}", p.display())?;
            }
            return Ok(());
        }
        write!(f, "{}: {}, {}", self.code, self.description, self.syscall)?;
        if let Some(p) = &self.path {
            write!(f, " '{}'", p.display())?;
        }
        if let Some(d) = &self.dest {
            write!(f, " -> '{}'", d.display())?;
        }
        Ok(())
    }
}

impl Error for FsError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

/// The errno's name and libuv's description of it (what Node prints).
pub(crate) fn describe(errno: i32) -> (&'static str, String) {
    let known: Option<(&'static str, &'static str)> = match errno {
        libc::E2BIG => Some(("E2BIG", "argument list too long")),
        libc::EACCES => Some(("EACCES", "permission denied")),
        libc::EAGAIN => Some(("EAGAIN", "resource temporarily unavailable")),
        libc::EBADF => Some(("EBADF", "bad file descriptor")),
        libc::EBUSY => Some(("EBUSY", "resource busy or locked")),
        libc::ECANCELED => Some(("ECANCELED", "operation canceled")),
        libc::EEXIST => Some(("EEXIST", "file already exists")),
        libc::EFAULT => Some(("EFAULT", "bad address in system call argument")),
        libc::EFBIG => Some(("EFBIG", "file too large")),
        libc::EINTR => Some(("EINTR", "interrupted system call")),
        libc::EINVAL => Some(("EINVAL", "invalid argument")),
        libc::EIO => Some(("EIO", "i/o error")),
        libc::EISDIR => Some(("EISDIR", "illegal operation on a directory")),
        libc::ELOOP => Some(("ELOOP", "too many symbolic links encountered")),
        libc::EMFILE => Some(("EMFILE", "too many open files")),
        libc::EMLINK => Some(("EMLINK", "too many links")),
        libc::ENAMETOOLONG => Some(("ENAMETOOLONG", "name too long")),
        libc::ENFILE => Some(("ENFILE", "file table overflow")),
        libc::ENODEV => Some(("ENODEV", "no such device")),
        libc::ENOENT => Some(("ENOENT", "no such file or directory")),
        libc::ENOMEM => Some(("ENOMEM", "not enough memory")),
        libc::ENOSPC => Some(("ENOSPC", "no space left on device")),
        libc::ENOSYS => Some(("ENOSYS", "function not implemented")),
        libc::ENOTDIR => Some(("ENOTDIR", "not a directory")),
        libc::ENOTEMPTY => Some(("ENOTEMPTY", "directory not empty")),
        libc::ENOTSUP => Some(("ENOTSUP", "operation not supported on socket")),
        libc::ENXIO => Some(("ENXIO", "no such device or address")),
        libc::EPERM => Some(("EPERM", "operation not permitted")),
        libc::EPIPE => Some(("EPIPE", "broken pipe")),
        libc::EROFS => Some(("EROFS", "read-only file system")),
        libc::ESPIPE => Some(("ESPIPE", "invalid seek")),
        libc::ETIMEDOUT => Some(("ETIMEDOUT", "connection timed out")),
        libc::ETXTBSY => Some(("ETXTBSY", "text file is busy")),
        libc::EXDEV => Some(("EXDEV", "cross-device link not permitted")),
        _ => None,
    };
    match known {
        Some((code, text)) => (code, text.to_owned()),
        None => {
            // The OS's own text without std's " (os error N)" suffix.
            let text = io::Error::from_raw_os_error(errno).to_string();
            let text = text.split(" (os error").next().unwrap_or("").to_lowercase();
            ("UNKNOWN", text)
        }
    }
}
