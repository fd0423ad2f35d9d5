//! Every `nodeloop::fs` call against a fresh temporary directory, with its
//! error cases: the OS error kind, Node's code, the syscall and the path.

mod fs_common;
use fs_common::*;
use nodeloop::fs::{self, Dirent, Fd, FsError, OpenFlags};
use nodeloop::Loop;
use std::cell::RefCell;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

type Cb<T> = Box<dyn FnOnce(&mut Loop, T)>;

/// Starts one call on a fresh loop, runs the loop, returns what the
/// callback got (checking that it was called exactly once).
fn call<T: 'static, R>(start: impl FnOnce(&mut Loop, Cb<T>) -> R) -> T {
    let mut lp = Loop::new();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    start(
        &mut lp,
        Box::new(move |_, r| assert!(o.borrow_mut().replace(r).is_none())),
    );
    assert!(!lp.run_default());
    let r = out.borrow_mut().take();
    r.expect("the callback ran")
}

#[test]
fn open_write_read_positional_and_current_position_fstat_ftruncate_fsync_close() {
    let d = TempDir::new("fd");
    let p = d.join("f");
    let fd: Fd = call(|lp, cb| fs::open(lp, &p, flags("w+"), cb)).unwrap();
    assert_eq!(
        call(|lp, cb| fs::write(lp, &fd, "hello", None, cb)).unwrap(),
        5
    );
    assert_eq!(
        call(|lp, cb| fs::write(lp, &fd, "J", Some(0), cb)).unwrap(),
        1
    );
    let (n, buf) = call(|lp, cb| fs::read(lp, &fd, vec![0; 16], Some(0), cb)).unwrap();
    assert_eq!(&buf[..n], b"Jello");
    // The current position is after the first write; pwrite did not move it.
    let (n, _) = call(|lp, cb| fs::read(lp, &fd, vec![0; 16], None, cb)).unwrap();
    assert_eq!(n, 0, "end of file at the current position");
    assert_eq!(call(|lp, cb| fs::fstat(lp, &fd, cb)).unwrap().len(), 5);
    call(|lp, cb| fs::ftruncate(lp, &fd, 2, cb)).unwrap();
    call(|lp, cb| fs::fsync(lp, &fd, cb)).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"Je");
    call(|lp, cb| fs::close(lp, &fd, cb)).unwrap();
    assert_eq!(fd.raw_fd(), None);

    // Every fd call on a closed Fd: EBADF naming the call, no path.
    let e = assert_err(
        call(|lp, cb| fs::close(lp, &fd, cb)),
        os_kind(EBADF),
        "EBADF",
        "close",
    );
    assert_eq!(e.path(), None);
    let r = call(|lp, cb| fs::read(lp, &fd, vec![0; 1], None, cb));
    assert_eq!(
        r.unwrap_err().to_string(),
        "EBADF: bad file descriptor, read"
    );
    assert_err(
        call(|lp, cb| fs::write(lp, &fd, "x", None, cb)),
        os_kind(EBADF),
        "EBADF",
        "write",
    );
    assert_err(
        call(|lp, cb| fs::fstat(lp, &fd, cb)),
        os_kind(EBADF),
        "EBADF",
        "fstat",
    );
    assert_err(
        call(|lp, cb| fs::ftruncate(lp, &fd, 0, cb)),
        os_kind(EBADF),
        "EBADF",
        "ftruncate",
    );
    assert_err(
        call(|lp, cb| fs::fsync(lp, &fd, cb)),
        os_kind(EBADF),
        "EBADF",
        "fsync",
    );
}

#[test]
fn open_errors_and_flags() {
    let d = TempDir::new("open");
    let missing = d.join("missing");
    let e = call(|lp, cb| fs::open(lp, &missing, flags("r"), cb)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        format!(
            "ENOENT: no such file or directory, open '{}'",
            missing.display()
        )
    );
    assert_eq!(FsError::of(&e).unwrap().path(), Some(missing.as_path()));
    assert_eq!(FsError::of(&e).unwrap().errno(), Some(ENOENT));

    let p = d.join("f");
    std::fs::write(&p, "abc").unwrap();
    assert_err(
        call(|lp, cb| fs::open(lp, &p, flags("wx"), cb)),
        ErrorKind::AlreadyExists,
        "EEXIST",
        "open",
    );
    // "a": writes go to the end whatever the position.
    let fd = call(|lp, cb| fs::open(lp, &p, flags("a"), cb)).unwrap();
    call(|lp, cb| fs::write(lp, &fd, "d", None, cb)).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"abcd");
    // "r" cannot write.
    let fd = call(|lp, cb| fs::open(lp, &p, flags("r"), cb)).unwrap();
    assert_err(
        call(|lp, cb| fs::write(lp, &fd, "x", None, cb)),
        os_kind(EBADF),
        "EBADF",
        "write",
    );
    // The mode of a created file.
    let q = d.join("g");
    call(|lp, cb| fs::open(lp, &q, flags("wx").mode(0o600), cb)).unwrap();
    assert_eq!(
        std::fs::metadata(&q).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let bad = "rw".parse::<OpenFlags>().unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    assert!(bad.to_string().contains("\"rw\""));
}

const ENOENT: i32 = 2;
const EBADF: i32 = 9;

#[test]
fn stat_lstat_follow_or_not() {
    let d = TempDir::new("stat");
    let f = d.join("f");
    std::fs::write(&f, "12345").unwrap();
    let l = d.join("l");
    std::os::unix::fs::symlink(&f, &l).unwrap();
    let m = call(|lp, cb| fs::stat(lp, &l, cb)).unwrap();
    assert!(m.is_file() && m.len() == 5);
    assert!(call(|lp, cb| fs::lstat(lp, &l, cb))
        .unwrap()
        .file_type()
        .is_symlink());
    let missing = d.join("x");
    assert_err(
        call(|lp, cb| fs::stat(lp, &missing, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "stat",
    );
    assert_err(
        call(|lp, cb| fs::lstat(lp, &missing, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "lstat",
    );
}

#[test]
fn read_file_write_file_append_file() {
    let d = TempDir::new("whole");
    let p = d.join("f");
    call(|lp, cb| fs::write_file(lp, &p, "one ", cb)).unwrap();
    call(|lp, cb| fs::append_file(lp, &p, b"two".to_vec(), cb)).unwrap();
    assert_eq!(
        call(|lp, cb| fs::read_file(lp, &p, cb)).unwrap(),
        b"one two"
    );
    call(|lp, cb| fs::write_file(lp, &p, "x", cb)).unwrap();
    assert_eq!(
        call(|lp, cb| fs::read_file(lp, &p, cb)).unwrap(),
        b"x",
        "write_file truncates"
    );
    let a = d.join("new");
    call(|lp, cb| fs::append_file(lp, &a, "y", cb)).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), b"y", "append_file creates");

    let missing = d.join("no/such");
    let e = assert_err(
        call(|lp, cb| fs::read_file(lp, &missing, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "open",
    );
    assert_eq!(e.path(), Some(missing.as_path()));
    assert_err(
        call(|lp, cb| fs::write_file(lp, &missing, "x", cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "open",
    );
    assert_err(
        call(|lp, cb| fs::append_file(lp, &missing, "x", cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "open",
    );
    let r = call(|lp, cb| fs::read_file(lp, &d.0, cb));
    assert_eq!(
        r.unwrap_err().to_string(),
        "EISDIR: illegal operation on a directory, read"
    );
}

#[test]
fn read_file_of_a_file_too_large_fails_cleanly() {
    let d = TempDir::new("big");
    let p = d.join("sparse");
    // Sparse: no disk blocks, but stat says it is over the limit.
    std::fs::File::create(&p)
        .unwrap()
        .set_len(fs::READ_FILE_MAX + 1)
        .unwrap();
    let e = assert_err(
        call(|lp, cb| fs::read_file(lp, &p, cb)),
        os_kind(27),
        "ERR_FS_FILE_TOO_LARGE",
        "read",
    );
    assert_eq!(e.path(), Some(p.as_path()));
    assert!(e.to_string().starts_with(&format!(
        "File size ({}) is greater than",
        fs::READ_FILE_MAX + 1
    )));
}

#[test]
fn read_file_of_a_growing_file_reads_what_is_there() {
    let d = TempDir::new("grow");
    let p = d.join("log");
    std::fs::write(&p, "start\n").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (path, s) = (p.clone(), stop.clone());
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let mut i = 0u64;
        while !s.load(Ordering::Relaxed) {
            writeln!(f, "line {i}").unwrap();
            i += 1;
        }
    });
    let mut reads = Vec::new();
    for _ in 0..20 {
        reads.push(call(|lp, cb| fs::read_file(lp, &p, cb)).unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let full = std::fs::read(&p).unwrap();
    for r in &reads {
        assert!(r.starts_with(b"start\n"));
        assert!(
            full.starts_with(r),
            "each read is a prefix of the final file"
        );
    }
    // A file whose size stat does not know is read to its end.
    let status = call(|lp, cb| fs::read_file(lp, "/proc/self/status", cb)).unwrap();
    assert!(status.starts_with(b"Name:"));
}

#[test]
fn readdir_sorted_with_file_types() {
    let d = TempDir::new("readdir");
    std::fs::write(d.join("b"), "").unwrap();
    std::fs::create_dir(d.join("a")).unwrap();
    std::os::unix::fs::symlink("b", d.join("c")).unwrap();
    let list: Vec<Dirent> = call(|lp, cb| fs::readdir(lp, &d.0, cb)).unwrap();
    let names: Vec<_> = list.iter().map(|e| e.name.to_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(list[0].file_type.is_dir());
    assert!(list[1].file_type.is_file());
    assert!(list[2].file_type.is_symlink());
    let missing = d.join("x");
    let r = call(|lp, cb| fs::readdir(lp, &missing, cb));
    assert_eq!(
        r.unwrap_err().to_string(),
        format!(
            "ENOENT: no such file or directory, scandir '{}'",
            missing.display()
        )
    );
    let file = d.join("b");
    assert_err(
        call(|lp, cb| fs::readdir(lp, &file, cb)),
        os_kind(20),
        "ENOTDIR",
        "scandir",
    );
}

#[test]
fn mkdir_plain_and_recursive() {
    let d = TempDir::new("mkdir");
    let one = d.join("one");
    assert_eq!(call(|lp, cb| fs::mkdir(lp, &one, false, cb)).unwrap(), None);
    assert!(one.is_dir());
    assert_err(
        call(|lp, cb| fs::mkdir(lp, &one, false, cb)),
        ErrorKind::AlreadyExists,
        "EEXIST",
        "mkdir",
    );
    let deep = d.join("a/b/c");
    assert_err(
        call(|lp, cb| fs::mkdir(lp, &deep, false, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "mkdir",
    );
    assert_eq!(
        call(|lp, cb| fs::mkdir(lp, &deep, true, cb)).unwrap(),
        Some(d.join("a"))
    );
    assert!(deep.is_dir());
    assert_eq!(
        call(|lp, cb| fs::mkdir(lp, &deep, true, cb)).unwrap(),
        None,
        "existing: not an error"
    );
    let file = d.join("f");
    std::fs::write(&file, "").unwrap();
    let under = file.join("x");
    let e = assert_err(
        call(|lp, cb| fs::mkdir(lp, &under, true, cb)),
        os_kind(20),
        "ENOTDIR",
        "mkdir",
    );
    assert_eq!(e.path(), Some(under.as_path()));
}

#[test]
fn rmdir_rm_unlink() {
    let d = TempDir::new("rm");
    let dir = d.join("dir");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/f"), "x").unwrap();
    assert_err(
        call(|lp, cb| fs::rmdir(lp, &dir, cb)),
        os_kind(39),
        "ENOTEMPTY",
        "rmdir",
    );
    let e = call(|lp, cb| fs::rm(lp, &dir, false, false, cb)).unwrap_err();
    let info = FsError::of(&e).unwrap();
    assert_eq!((info.code(), info.syscall()), ("ERR_FS_EISDIR", "rm"));
    assert_eq!(
        e.to_string(),
        format!(
            "Path is a directory: rm returned EISDIR (is a directory) {}",
            dir.display()
        )
    );
    call(|lp, cb| fs::rm(lp, &dir, true, false, cb)).unwrap();
    assert!(!dir.exists());
    assert_err(
        call(|lp, cb| fs::rm(lp, &dir, true, false, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "lstat",
    );
    call(|lp, cb| fs::rm(lp, &dir, true, true, cb)).expect("force: a missing path is fine");

    let f = d.join("f");
    std::fs::write(&f, "x").unwrap();
    call(|lp, cb| fs::rm(lp, &f, false, false, cb)).unwrap();
    assert!(!f.exists());
    std::fs::write(&f, "x").unwrap();
    call(|lp, cb| fs::unlink(lp, &f, cb)).unwrap();
    assert!(!f.exists());
    assert_err(
        call(|lp, cb| fs::unlink(lp, &f, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "unlink",
    );
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    call(|lp, cb| fs::rmdir(lp, &empty, cb)).unwrap();
    assert_err(
        call(|lp, cb| fs::rmdir(lp, &empty, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "rmdir",
    );
}

#[test]
fn rename_and_copy_file() {
    let d = TempDir::new("mv");
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    std::fs::write(&a, "data").unwrap();
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
    call(|lp, cb| fs::rename(lp, &a, &b, cb)).unwrap();
    assert!(!a.exists() && b.exists());
    let e = assert_err(
        call(|lp, cb| fs::rename(lp, &a, &b, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "rename",
    );
    assert_eq!((e.path(), e.dest()), (Some(a.as_path()), Some(b.as_path())));

    call(|lp, cb| fs::copy_file(lp, &b, &c, true, cb)).unwrap();
    assert_eq!(std::fs::read(&c).unwrap(), b"data");
    assert_eq!(
        std::fs::metadata(&c).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let r = call(|lp, cb| fs::copy_file(lp, &b, &c, true, cb));
    assert_eq!(
        r.unwrap_err().to_string(),
        format!(
            "EEXIST: file already exists, copyfile '{}' -> '{}'",
            b.display(),
            c.display()
        )
    );
    std::fs::write(&b, "new").unwrap();
    call(|lp, cb| fs::copy_file(lp, &b, &c, false, cb)).unwrap();
    assert_eq!(
        std::fs::read(&c).unwrap(),
        b"new",
        "replaced without exclusive"
    );
    assert_err(
        call(|lp, cb| fs::copy_file(lp, &a, &c, false, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "copyfile",
    );
}

#[test]
fn access_and_exists() {
    let d = TempDir::new("access");
    let f = d.join("f");
    std::fs::write(&f, "").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    call(|lp, cb| fs::access(lp, &f, fs::F_OK, cb)).unwrap();
    call(|lp, cb| fs::access(lp, &f, fs::R_OK | fs::W_OK, cb)).unwrap();
    // No execute bit at all: refused even to root.
    assert_err(
        call(|lp, cb| fs::access(lp, &f, fs::X_OK, cb)),
        ErrorKind::PermissionDenied,
        "EACCES",
        "access",
    );
    let missing = d.join("x");
    assert_err(
        call(|lp, cb| fs::access(lp, &missing, fs::F_OK, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "access",
    );
    assert!(call(|lp, cb| fs::exists(lp, &f, cb)));
    assert!(!call(|lp, cb| fs::exists(lp, &missing, cb)));
    let nul = Path::new("a\0b");
    assert_eq!(
        call(|lp, cb| fs::access(lp, nul, fs::F_OK, cb))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn realpath_symlink_readlink() {
    let d = TempDir::new("links");
    let real = std::fs::canonicalize(&d.0).unwrap();
    std::fs::create_dir(d.join("target")).unwrap();
    let link = d.join("link");
    call(|lp, cb| fs::symlink(lp, "target", &link, cb)).unwrap();
    assert_eq!(
        call(|lp, cb| fs::readlink(lp, &link, cb)).unwrap(),
        Path::new("target")
    );
    let via = link.join(".");
    assert_eq!(
        call(|lp, cb| fs::realpath(lp, &via, cb)).unwrap(),
        real.join("target")
    );
    let e = assert_err(
        call(|lp, cb| fs::symlink(lp, "x", &link, cb)),
        ErrorKind::AlreadyExists,
        "EEXIST",
        "symlink",
    );
    assert_eq!(
        (e.path(), e.dest()),
        (Some(Path::new("x")), Some(link.as_path()))
    );
    let dir = d.join("target");
    assert_err(
        call(|lp, cb| fs::readlink(lp, &dir, cb)),
        ErrorKind::InvalidInput,
        "EINVAL",
        "readlink",
    );
    let missing = d.join("x");
    assert_err(
        call(|lp, cb| fs::realpath(lp, &missing, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "realpath",
    );
}

#[test]
fn truncate_chmod_utimes() {
    let d = TempDir::new("meta");
    let f = d.join("f");
    std::fs::write(&f, "abcdef").unwrap();
    call(|lp, cb| fs::truncate(lp, &f, 2, cb)).unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"ab");
    call(|lp, cb| fs::truncate(lp, &f, 4, cb)).unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"ab\0\0");
    call(|lp, cb| fs::chmod(lp, &f, 0o600, cb)).unwrap();
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let atime = SystemTime::UNIX_EPOCH + Duration::new(1_000_000_000, 500);
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    call(|lp, cb| fs::utimes(lp, &f, atime, mtime, cb)).unwrap();
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!(
        (m.accessed().unwrap(), m.modified().unwrap()),
        (atime, mtime)
    );

    let missing = d.join("x");
    assert_err(
        call(|lp, cb| fs::truncate(lp, &missing, 0, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "open",
    );
    assert_err(
        call(|lp, cb| fs::chmod(lp, &missing, 0o600, cb)),
        ErrorKind::NotFound,
        "ENOENT",
        "chmod",
    );
    let r = call(|lp, cb| fs::utimes(lp, &missing, atime, mtime, cb));
    assert_eq!(
        r.unwrap_err().to_string(),
        format!(
            "ENOENT: no such file or directory, utime '{}'",
            missing.display()
        )
    );
}

#[test]
fn a_queued_fs_call_can_be_cancelled() {
    let mut lp = Loop::builder().threadpool_size(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    lp.queue_work(
        move || {
            started_tx.send(()).unwrap();
            rx.recv().unwrap()
        },
        |_, r| r.unwrap(),
    );
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let req = fs::stat(&mut lp, "/", move |_, r| *g.borrow_mut() = Some(r));
    started_rx.recv().unwrap();
    lp.cancel_work(req).unwrap();
    tx.send(()).unwrap();
    lp.run_default();
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Interrupted);
}
