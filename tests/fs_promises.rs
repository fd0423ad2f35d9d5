//! `nodeloop::fs::promises`: every awaitable fs call against a fresh
//! temporary directory, with its error cases; where the awaiting task
//! resumes compared with the callback form; and what dropping a future
//! before it completes does.

mod fs_common;
use fs_common::*;
use nodeloop::fs::{self, promises as fsp, Dirent, FsError};
use nodeloop::{sleep, with_loop, Loop, UnhandledRejections};
use std::cell::RefCell;
use std::future::Future;
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// Runs `body` as a task on `lp` until the loop ends and returns its value.
/// A failed assertion inside the task fails the test: the task's panic
/// becomes an unhandled rejection, which this mode turns back into a panic.
fn run_on<T: 'static>(mut lp: Loop, body: impl Future<Output = T> + 'static) -> T {
    lp.set_unhandled_rejections(UnhandledRejections::Panic);
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    lp.spawn(async move { *o.borrow_mut() = Some(body.await) });
    assert!(!lp.run_default(), "the loop ran out of work");
    let r = out.borrow_mut().take();
    r.expect("the task finished")
}

fn run<T: 'static>(body: impl Future<Output = T> + 'static) -> T {
    run_on(Loop::new(), body)
}

#[test]
fn fd_calls_open_write_read_fstat_ftruncate_fsync_close_then_ebadf() {
    let d = TempDir::new("fd");
    let p = d.join("f");
    let q = p.clone();
    run(async move {
        let fd = fsp::open(&q, flags("w+")).await.unwrap();
        assert_eq!(fsp::write(&fd, "hello", None).await.unwrap(), 5);
        assert_eq!(fsp::write(&fd, "J", Some(0)).await.unwrap(), 1);
        let (n, buf) = fsp::read(&fd, vec![0; 16], Some(0)).await.unwrap();
        assert_eq!(&buf[..n], b"Jello");
        // The current position is after the first write; pwrite kept it.
        assert_eq!(fsp::read(&fd, vec![0; 16], None).await.unwrap().0, 0);
        assert_eq!(fsp::fstat(&fd).await.unwrap().len(), 5);
        fsp::ftruncate(&fd, 2).await.unwrap();
        fsp::fsync(&fd).await.unwrap();
        assert_eq!(std::fs::read(&q).unwrap(), b"Je");
        fsp::close(&fd).await.unwrap();
        assert_eq!(fd.raw_fd(), None);

        let ebadf = os_kind(9);
        let e = assert_err(fsp::close(&fd).await, ebadf, "EBADF", "close");
        assert_eq!(e.path(), None);
        assert_eq!(
            fsp::read(&fd, vec![0; 1], None)
                .await
                .unwrap_err()
                .to_string(),
            "EBADF: bad file descriptor, read"
        );
        assert_err(fsp::write(&fd, "x", None).await, ebadf, "EBADF", "write");
        assert_err(fsp::fstat(&fd).await, ebadf, "EBADF", "fstat");
        assert_err(fsp::ftruncate(&fd, 0).await, ebadf, "EBADF", "ftruncate");
        assert_err(fsp::fsync(&fd).await, ebadf, "EBADF", "fsync");
    });
    assert_eq!(std::fs::read(&p).unwrap(), b"Je");
}

#[test]
fn open_enoent_names_the_path_and_wx_is_eexist() {
    let d = TempDir::new("open");
    let missing = d.join("missing");
    let p = d.join("f");
    std::fs::write(&p, "abc").unwrap();
    let (m, q) = (missing.clone(), p.clone());
    let (enoent, eexist) = run(async move {
        let a = fsp::open(&m, flags("r")).await.map(drop);
        let b = fsp::open(&q, flags("wx")).await.map(drop);
        (a, b)
    });
    let e = enoent.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        format!(
            "ENOENT: no such file or directory, open '{}'",
            missing.display()
        )
    );
    assert_eq!(FsError::of(&e).unwrap().path(), Some(missing.as_path()));
    let e = assert_err(eexist, ErrorKind::AlreadyExists, "EEXIST", "open");
    assert_eq!(e.path(), Some(p.as_path()));
    assert_eq!(std::fs::read(&p).unwrap(), b"abc", "wx left the file alone");
}

#[test]
fn stat_follows_links_lstat_does_not() {
    let d = TempDir::new("stat");
    let f = d.join("f");
    std::fs::write(&f, "12345").unwrap();
    let l = d.join("l");
    std::os::unix::fs::symlink(&f, &l).unwrap();
    let missing = d.join("x");
    run(async move {
        let m = fsp::stat(&l).await.unwrap();
        assert!(m.is_file() && m.len() == 5);
        assert!(fsp::lstat(&l).await.unwrap().file_type().is_symlink());
        let e = assert_err(
            fsp::stat(&missing).await,
            ErrorKind::NotFound,
            "ENOENT",
            "stat",
        );
        assert_eq!(e.path(), Some(missing.as_path()));
        assert_err(
            fsp::lstat(&missing).await,
            ErrorKind::NotFound,
            "ENOENT",
            "lstat",
        );
    });
}

#[test]
fn read_file_write_file_append_file() {
    let d = TempDir::new("whole");
    let p = d.join("f");
    let a = d.join("new");
    let missing = d.join("no/such");
    let dir = d.0.clone();
    run(async move {
        fsp::write_file(&p, "one ").await.unwrap();
        fsp::append_file(&p, b"two".to_vec()).await.unwrap();
        assert_eq!(fsp::read_file(&p).await.unwrap(), b"one two");
        fsp::write_file(&p, "x").await.unwrap();
        assert_eq!(
            fsp::read_file(&p).await.unwrap(),
            b"x",
            "write_file truncates"
        );
        fsp::append_file(&a, "y").await.unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"y", "append_file creates");

        let e = assert_err(
            fsp::read_file(&missing).await,
            ErrorKind::NotFound,
            "ENOENT",
            "open",
        );
        assert_eq!(e.path(), Some(missing.as_path()));
        assert_err(
            fsp::write_file(&missing, "x").await,
            ErrorKind::NotFound,
            "ENOENT",
            "open",
        );
        assert_err(
            fsp::append_file(&missing, "x").await,
            ErrorKind::NotFound,
            "ENOENT",
            "open",
        );
        assert_eq!(
            fsp::read_file(&dir).await.unwrap_err().to_string(),
            "EISDIR: illegal operation on a directory, read"
        );
    });
}

#[test]
fn readdir_sorted_with_types_enoent_enotdir() {
    let d = TempDir::new("readdir");
    std::fs::write(d.join("b"), "").unwrap();
    std::fs::create_dir(d.join("a")).unwrap();
    std::os::unix::fs::symlink("b", d.join("c")).unwrap();
    let (dir, missing, file) = (d.0.clone(), d.join("x"), d.join("b"));
    run(async move {
        let list: Vec<Dirent> = fsp::readdir(&dir).await.unwrap();
        let names: Vec<_> = list.iter().map(|e| e.name.to_str().unwrap()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(list[0].file_type.is_dir());
        assert!(list[1].file_type.is_file());
        assert!(list[2].file_type.is_symlink());
        assert_eq!(
            fsp::readdir(&missing).await.unwrap_err().to_string(),
            format!(
                "ENOENT: no such file or directory, scandir '{}'",
                missing.display()
            )
        );
        assert_err(fsp::readdir(&file).await, os_kind(20), "ENOTDIR", "scandir");
    });
}

#[test]
fn mkdir_plain_and_recursive_eexist_enoent_enotdir() {
    let d = TempDir::new("mkdir");
    let (one, deep, top) = (d.join("one"), d.join("a/b/c"), d.join("a"));
    let file = d.join("f");
    std::fs::write(&file, "").unwrap();
    let under = file.join("x");
    run(async move {
        assert_eq!(fsp::mkdir(&one, false).await.unwrap(), None);
        assert!(one.is_dir());
        assert_err(
            fsp::mkdir(&one, false).await,
            ErrorKind::AlreadyExists,
            "EEXIST",
            "mkdir",
        );
        assert_err(
            fsp::mkdir(&deep, false).await,
            ErrorKind::NotFound,
            "ENOENT",
            "mkdir",
        );
        assert_eq!(fsp::mkdir(&deep, true).await.unwrap(), Some(top));
        assert!(deep.is_dir());
        assert_eq!(
            fsp::mkdir(&deep, true).await.unwrap(),
            None,
            "existing: no error"
        );
        let e = assert_err(
            fsp::mkdir(&under, true).await,
            os_kind(20),
            "ENOTDIR",
            "mkdir",
        );
        assert_eq!(e.path(), Some(under.as_path()));
    });
}

#[test]
fn rmdir_rm_unlink_and_their_errors() {
    let d = TempDir::new("rm");
    let dir = d.join("dir");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/f"), "x").unwrap();
    let (f, empty) = (d.join("f"), d.join("empty"));
    std::fs::create_dir(&empty).unwrap();
    run(async move {
        assert_err(fsp::rmdir(&dir).await, os_kind(39), "ENOTEMPTY", "rmdir");
        let e = fsp::rm(&dir, false, false).await.unwrap_err();
        let info = FsError::of(&e).unwrap();
        assert_eq!((info.code(), info.syscall()), ("ERR_FS_EISDIR", "rm"));
        fsp::rm(&dir, true, false).await.unwrap();
        assert!(!dir.exists());
        assert_err(
            fsp::rm(&dir, true, false).await,
            ErrorKind::NotFound,
            "ENOENT",
            "lstat",
        );
        fsp::rm(&dir, true, true)
            .await
            .expect("force: a missing path is fine");

        std::fs::write(&f, "x").unwrap();
        assert_err(fsp::rmdir(&f).await, os_kind(20), "ENOTDIR", "rmdir");
        fsp::rm(&f, false, false).await.unwrap();
        assert!(!f.exists());
        std::fs::write(&f, "x").unwrap();
        fsp::unlink(&f).await.unwrap();
        assert!(!f.exists());
        let e = assert_err(
            fsp::unlink(&f).await,
            ErrorKind::NotFound,
            "ENOENT",
            "unlink",
        );
        assert_eq!(e.path(), Some(f.as_path()));
        fsp::rmdir(&empty).await.unwrap();
        assert_err(
            fsp::rmdir(&empty).await,
            ErrorKind::NotFound,
            "ENOENT",
            "rmdir",
        );
    });
}

#[test]
fn rename_and_copy_file_with_both_paths_in_errors() {
    let d = TempDir::new("mv");
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    std::fs::write(&a, "data").unwrap();
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
    run(async move {
        fsp::rename(&a, &b).await.unwrap();
        assert!(!a.exists() && b.exists());
        let e = assert_err(
            fsp::rename(&a, &b).await,
            ErrorKind::NotFound,
            "ENOENT",
            "rename",
        );
        assert_eq!((e.path(), e.dest()), (Some(a.as_path()), Some(b.as_path())));

        fsp::copy_file(&b, &c, true).await.unwrap();
        assert_eq!(std::fs::read(&c).unwrap(), b"data");
        assert_eq!(mode(&c), 0o640);
        assert_eq!(
            fsp::copy_file(&b, &c, true).await.unwrap_err().to_string(),
            format!(
                "EEXIST: file already exists, copyfile '{}' -> '{}'",
                b.display(),
                c.display()
            )
        );
        std::fs::write(&b, "new").unwrap();
        fsp::copy_file(&b, &c, false).await.unwrap();
        assert_eq!(
            std::fs::read(&c).unwrap(),
            b"new",
            "replaced without exclusive"
        );
        assert_err(
            fsp::copy_file(&a, &c, false).await,
            ErrorKind::NotFound,
            "ENOENT",
            "copyfile",
        );
    });
}

#[test]
fn access_and_exists() {
    let d = TempDir::new("access");
    let f = d.join("f");
    std::fs::write(&f, "").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = d.join("x");
    run(async move {
        fsp::access(&f, fs::F_OK).await.unwrap();
        fsp::access(&f, fs::R_OK | fs::W_OK).await.unwrap();
        // No execute bit at all: refused even to root.
        assert_err(
            fsp::access(&f, fs::X_OK).await,
            ErrorKind::PermissionDenied,
            "EACCES",
            "access",
        );
        let e = assert_err(
            fsp::access(&missing, fs::F_OK).await,
            ErrorKind::NotFound,
            "ENOENT",
            "access",
        );
        assert_eq!(e.path(), Some(missing.as_path()));
        assert!(fsp::exists(&f).await);
        assert!(!fsp::exists(&missing).await);
        let nul = fsp::access("a\0b", fs::F_OK).await.unwrap_err();
        assert_eq!(nul.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn symlink_readlink_realpath() {
    let d = TempDir::new("links");
    let real = std::fs::canonicalize(&d.0).unwrap();
    std::fs::create_dir(d.join("target")).unwrap();
    let (link, file, missing) = (d.join("link"), d.join("target"), d.join("x"));
    run(async move {
        fsp::symlink("target", &link).await.unwrap();
        assert_eq!(fsp::readlink(&link).await.unwrap(), Path::new("target"));
        assert_eq!(
            fsp::realpath(link.join(".")).await.unwrap(),
            real.join("target")
        );
        let e = assert_err(
            fsp::symlink("x", &link).await,
            ErrorKind::AlreadyExists,
            "EEXIST",
            "symlink",
        );
        assert_eq!(
            (e.path(), e.dest()),
            (Some(Path::new("x")), Some(link.as_path()))
        );
        assert_err(
            fsp::readlink(&file).await,
            ErrorKind::InvalidInput,
            "EINVAL",
            "readlink",
        );
        let e = assert_err(
            fsp::realpath(&missing).await,
            ErrorKind::NotFound,
            "ENOENT",
            "realpath",
        );
        assert_eq!(e.path(), Some(missing.as_path()));
    });
}

#[test]
fn truncate_chmod_utimes() {
    let d = TempDir::new("meta");
    let f = d.join("f");
    std::fs::write(&f, "abcdef").unwrap();
    let missing = d.join("x");
    run(async move {
        fsp::truncate(&f, 3).await.unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"abc");
        fsp::truncate(&f, 5).await.unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"abc\0\0", "zero-extended");
        assert_err(
            fsp::truncate(&missing, 0).await,
            ErrorKind::NotFound,
            "ENOENT",
            "open",
        );

        fsp::chmod(&f, 0o600).await.unwrap();
        assert_eq!(mode(&f), 0o600);
        assert_err(
            fsp::chmod(&missing, 0o600).await,
            ErrorKind::NotFound,
            "ENOENT",
            "chmod",
        );

        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        fsp::utimes(&f, t, t).await.unwrap();
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!((m.accessed().unwrap(), m.modified().unwrap()), (t, t));
        assert_eq!(
            fsp::utimes(&missing, t, t).await.unwrap_err().to_string(),
            format!(
                "ENOENT: no such file or directory, utime '{}'",
                missing.display()
            )
        );
    });
}

/// What code scheduled right after a completion sees, for the callback
/// form and for the code after an `await`.
fn schedule_followers(lp: &mut Loop, trace: &Rc<RefCell<Vec<&'static str>>>) {
    let t = trace.clone();
    lp.next_tick(move |_| t.borrow_mut().push("tick"));
    let t = trace.clone();
    lp.queue_microtask(move |_| t.borrow_mut().push("microtask"));
    let t = trace.clone();
    lp.set_immediate(move |_| t.borrow_mut().push("immediate"));
    let t = trace.clone();
    lp.set_timeout(0, move |_| t.borrow_mut().push("timeout"));
}

#[test]
fn await_resumes_as_a_microtask_right_after_the_poll_phase_completion() {
    // Node: `fs.stat(p, cb)` runs cb in the poll phase, so a nextTick it
    // queues runs before its microtask; `await fsPromises.stat(p)` resumes
    // in a microtask of that same drain, so there the microtask comes
    // first. Both are before the check phase (the immediate) and the next
    // timers phase.
    let trace = Rc::new(RefCell::new(Vec::new()));
    let mut lp = Loop::new();
    let t = trace.clone();
    fs::stat(&mut lp, "/", move |lp, r| {
        assert!(r.unwrap().is_dir());
        t.borrow_mut().push("callback");
        schedule_followers(lp, &t);
    });
    lp.run_default();
    assert_eq!(
        *trace.borrow(),
        ["callback", "tick", "microtask", "immediate", "timeout"]
    );

    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    run(async move {
        assert!(fsp::stat("/").await.unwrap().is_dir());
        t.borrow_mut().push("await");
        with_loop(|lp| schedule_followers(lp, &t));
    });
    assert_eq!(
        *trace.borrow(),
        ["await", "microtask", "tick", "immediate", "timeout"]
    );
}

#[test]
fn awaits_resume_in_the_order_the_callbacks_would_run() {
    // Under the virtual clock, pool completions are delivered in submission
    // order. Mixing the two forms keeps that order: each task resumes before
    // the callback of any job submitted after its own.
    let trace = Rc::new(RefCell::new(Vec::new()));
    let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    let awaited = |name: &'static str, t: Rc<RefCell<Vec<&'static str>>>| async move {
        fsp::stat("/").await.unwrap();
        t.borrow_mut().push(name);
    };
    lp.spawn(awaited("await 1", trace.clone()));
    let t = trace.clone();
    fs::stat(&mut lp, "/", move |_, _| t.borrow_mut().push("callback 2"));
    lp.spawn(awaited("await 3", trace.clone()));
    let t = trace.clone();
    fs::stat(&mut lp, "/", move |_, _| t.borrow_mut().push("callback 4"));
    lp.spawn(awaited("await 5", trace.clone()));
    assert!(!lp.run_default());
    assert_eq!(
        *trace.borrow(),
        ["await 1", "callback 2", "await 3", "callback 4", "await 5"]
    );
}

#[test]
fn the_awaitable_reports_exactly_what_the_callback_form_does() {
    let d = TempDir::new("same");
    let missing = d.join("x");
    let mut lp = Loop::new();
    let by_callback = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let (b, m) = (by_callback.clone(), missing.clone());
        let cb =
            move |_: &mut Loop, r: io::Result<()>| b.borrow_mut().push(r.unwrap_err().to_string());
        match i {
            0 => fs::unlink(&mut lp, &m, cb),
            1 => fs::rename(&mut lp, &m, m.join("y"), cb),
            _ => fs::chmod(&mut lp, &m, 0o600, cb),
        };
    }
    lp.run_default();
    let m = missing.clone();
    let by_await = run(async move {
        vec![
            fsp::unlink(&m).await.unwrap_err().to_string(),
            fsp::rename(&m, m.join("y")).await.unwrap_err().to_string(),
            fsp::chmod(&m, 0o600).await.unwrap_err().to_string(),
        ]
    });
    let mut sorted = by_callback.borrow().clone();
    sorted.sort();
    let mut expected = by_await.clone();
    expected.sort();
    assert_eq!(sorted, expected);
    assert!(by_await[0].ends_with(&format!("unlink '{}'", missing.display())));
}

#[test]
fn dropping_a_future_whose_job_is_still_queued_cancels_it() {
    // One worker, held busy: the write_file job cannot start before the
    // future is dropped, so the drop cancels it and the file never appears.
    let d = TempDir::new("drop-queued");
    let p = d.join("never");
    let q = p.clone();
    let lp = Loop::builder().threadpool_size(1).build().unwrap();
    let (release, held) = std::sync::mpsc::channel::<()>();
    run_on(lp, async move {
        let blocker = with_loop(|lp| lp.run_work(move || held.recv().unwrap()));
        let fut = fsp::write_file(&q, "x");
        assert!(!fut.is_complete());
        drop(fut);
        release.send(()).unwrap();
        blocker.await.unwrap();
        // A job behind the cancelled one still runs normally.
        assert!(!fsp::exists(&q).await);
        fsp::write_file(q.with_extension("later"), "y")
            .await
            .unwrap();
    });
    assert!(!p.exists(), "the cancelled write never ran");
    assert_eq!(std::fs::read(p.with_extension("later")).unwrap(), b"y");

    // The control: the same program without the drop writes the file.
    let q = p.clone();
    let lp = Loop::builder().threadpool_size(1).build().unwrap();
    run_on(lp, async move {
        let fut = fsp::write_file(&q, "x");
        fut.await.unwrap();
    });
    assert_eq!(std::fs::read(&p).unwrap(), b"x");
}

#[test]
fn dropping_a_future_whose_job_is_running_lets_it_finish_and_drops_the_result() {
    // open(2) of a FIFO for reading blocks until a writer comes: the job is
    // provably running once a non-blocking open for writing succeeds (it
    // fails with ENXIO while there is no reader).
    let d = TempDir::new("drop-running");
    let fifo = d.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let f = fifo.clone();
    let writer = run(async move {
        let fut = fsp::open(&f, flags("r"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let writer = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&f)
            {
                Ok(w) => break w,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    assert!(Instant::now() < deadline, "the open job never started");
                    sleep(1).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        // Its completion cannot have been delivered yet: this task runs
        // outside the poll phase, and the reader's open has just returned.
        assert!(!fut.is_complete());
        drop(fut);
        writer
    });
    // The loop ran until the dropped job's callback had run: the file it
    // opened was delivered into the dropped future and closed there, so the
    // FIFO has no reader left.
    let mut writer = writer;
    let e = writer.write(b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
}

#[test]
#[should_panic(expected = "no loop is polling this future")]
fn calling_outside_a_task_is_a_clear_misuse() {
    drop(fsp::stat("/"));
}

/// The example of docs/async.md ("fs and dns awaitables"), run.
async fn backup(path: PathBuf) -> io::Result<u64> {
    let bak = path.with_extension("bak");
    fsp::copy_file(&path, &bak, false).await?;
    Ok(fsp::stat(&bak).await?.len())
}

#[test]
fn the_docs_example_runs_as_a_task_and_as_a_promise() {
    let d = TempDir::new("docs");
    let p = d.join("config.json");
    std::fs::write(&p, "{\"a\":1}").unwrap();
    let q = p.clone();
    let (len, addrs) = run(async move {
        let len = backup(q).await.unwrap();
        let addrs = nodeloop::dns::promises::lookup("localhost", nodeloop::dns::Family::V4)
            .await
            .unwrap();
        (len, addrs)
    });
    assert_eq!(len, 7);
    assert_eq!(std::fs::read(d.join("config.bak")).unwrap(), b"{\"a\":1}");
    assert!(addrs.iter().all(|a| a.is_loopback() && a.is_ipv4()));

    let mut lp = Loop::new();
    let ok = nodeloop::Promise::from_future(&mut lp, backup(p));
    let missing = nodeloop::Promise::from_future(&mut lp, backup(d.join("none")));
    missing.catch(&mut lp, |_, _| 0);
    lp.run_default();
    assert_eq!(ok.peek().unwrap().unwrap(), 7);
    let e = missing.peek().unwrap().unwrap_err();
    let e = e.downcast_ref::<io::Error>().unwrap();
    assert_eq!(FsError::of(e).unwrap().code(), "ENOENT");
}
