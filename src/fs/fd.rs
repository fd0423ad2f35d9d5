//! Open files ([`Fd`]) and the flags that open them ([`OpenFlags`]).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, IntoRawFd, RawFd};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use super::error::FsError;

/// An open file, as returned by [`open`](super::open): Node's numeric `fd`
/// made safe. Clones refer to the same open file.
///
/// [`close`](super::close) closes it for every clone: later calls with it
/// fail with `EBADF`, and a call already running keeps the file open until
/// it ends, so a closed descriptor number is never used for another file.
/// Dropping the last clone without `close` closes the file too.
///
/// ```
/// use nodeloop::fs::Fd;
/// let fd = Fd::from(std::fs::File::open("/dev/null").unwrap());
/// assert!(fd.raw_fd().is_some());
/// ```
#[derive(Clone)]
pub struct Fd(Arc<Mutex<Option<Arc<File>>>>);

impl From<File> for Fd {
    fn from(f: File) -> Fd {
        Fd(Arc::new(Mutex::new(Some(Arc::new(f)))))
    }
}

impl Fd {
    /// The descriptor number, or `None` once closed.
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.slot().as_ref().map(|f| f.as_raw_fd())
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<File>>> {
        // Only `take` and `clone` run under this lock; neither can leave the
        // slot half-changed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file, for one call named `syscall`; `EBADF` once closed.
    pub(crate) fn file(&self, syscall: &'static str) -> io::Result<Arc<File>> {
        self.slot()
            .clone()
            .ok_or_else(|| FsError::os(libc::EBADF, syscall, None))
    }

    /// Closes the descriptor, reporting `close(2)`'s own error when no other
    /// call is using the file at the moment.
    pub(crate) fn close(&self) -> io::Result<()> {
        let file = self
            .slot()
            .take()
            .ok_or_else(|| FsError::os(libc::EBADF, "close", None))?;
        match Arc::try_unwrap(file) {
            Ok(file) => {
                let fd = file.into_raw_fd();
                // SAFETY: `fd` was just released by its only owner.
                if unsafe { libc::close(fd) } == 0 {
                    Ok(())
                } else {
                    Err(FsError::wrap(
                        io::Error::last_os_error(),
                        "close",
                        None,
                        None,
                    ))
                }
            }
            // A call in flight holds it: the descriptor closes when it ends.
            Err(_) => Ok(()),
        }
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fd").field(&self.raw_fd()).finish()
    }
}

/// How [`open`](super::open) opens a file: Node's flag strings (`"r"`,
/// `"r+"`, `"rs+"`, `"w"`, `"wx"`, `"w+"`, `"wx+"`, `"a"`, `"ax"`, `"a+"`,
/// `"ax+"`, `"as"`, `"as+"`) plus the mode of a created file (default
/// `0o666`, before the umask).
///
/// ```
/// use nodeloop::fs::OpenFlags;
/// let f: OpenFlags = "wx".parse().unwrap();
/// assert!("rw".parse::<OpenFlags>().is_err());
/// let f = f.mode(0o600);
/// # let _ = f;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenFlags {
    read: bool,
    write: bool,
    append: bool,
    create: bool,
    truncate: bool,
    exclusive: bool,
    sync: bool,
    mode: u32,
}

impl OpenFlags {
    /// Parses a Node flag string; an unknown one is an `InvalidInput` error
    /// naming it.
    pub fn parse(s: &str) -> io::Result<OpenFlags> {
        let mut f = OpenFlags {
            read: false,
            write: false,
            append: false,
            create: false,
            truncate: false,
            exclusive: false,
            sync: false,
            mode: 0o666,
        };
        // (read, write, append, create, truncate, exclusive, sync)
        let bits = match s {
            "r" => (true, false, false, false, false, false, false),
            "r+" => (true, true, false, false, false, false, false),
            "rs+" => (true, true, false, false, false, false, true),
            "w" => (false, true, false, true, true, false, false),
            "wx" => (false, true, false, true, false, true, false),
            "w+" => (true, true, false, true, true, false, false),
            "wx+" => (true, true, false, true, false, true, false),
            "a" => (false, false, true, true, false, false, false),
            "ax" => (false, false, true, true, false, true, false),
            "a+" => (true, false, true, true, false, false, false),
            "ax+" => (true, false, true, true, false, true, false),
            "as" => (false, false, true, true, false, false, true),
            "as+" => (true, false, true, true, false, false, true),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid open flags {s:?} (expected r, r+, rs+, w, wx, w+, wx+, a, ax, a+, ax+, as or as+)"),
                ))
            }
        };
        (
            f.read,
            f.write,
            f.append,
            f.create,
            f.truncate,
            f.exclusive,
            f.sync,
        ) = bits;
        Ok(f)
    }

    /// The permission bits of a file this creates.
    pub fn mode(mut self, mode: u32) -> OpenFlags {
        self.mode = mode;
        self
    }

    pub(crate) fn options(&self) -> OpenOptions {
        let mut o = OpenOptions::new();
        o.read(self.read)
            .write(self.write)
            .append(self.append)
            .truncate(self.truncate)
            .mode(self.mode);
        if self.exclusive {
            o.create_new(true);
        } else {
            o.create(self.create);
        }
        if self.sync {
            o.custom_flags(libc::O_SYNC);
        }
        o
    }
}

impl FromStr for OpenFlags {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<OpenFlags> {
        OpenFlags::parse(s)
    }
}
