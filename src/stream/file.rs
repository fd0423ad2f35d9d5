//! File streams over the thread pool: Node's `fs.createReadStream` and
//! `fs.createWriteStream` (`lib/internal/fs/streams.js`). Every open, read,
//! write and close runs on the pool through [`Loop::queue_work`]; the
//! stream machinery (buffering, backpressure, events) stays on the loop.
//!
//! Deviations from Node: the file is opened by the first read or write (or
//! by `end` for an empty write stream) rather than at construction, so there
//! are no `'open'`/`'ready'` events, and an open failure surfaces as the
//! stream's `'error'` at that point.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::{
    Bytes, DestroyDone, Readable, ReadableOptions, StreamError, Writable, WritableOptions,
    DEFAULT_HWM_FILE_READ,
};
use crate::{Loop, WorkError};

/// Options for [`create_read_stream`].
///
/// ```
/// use nodeloop::stream::file::ReadStreamOptions;
/// let o = ReadStreamOptions { start: 10, end: Some(19), ..Default::default() };
/// assert_eq!(o.high_water_mark, None); // 64 KiB
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReadStreamOptions {
    /// First byte to read.
    pub start: u64,
    /// Last byte to read, inclusive (Node's `end`); to the end of the file
    /// when `None`.
    pub end: Option<u64>,
    /// Bytes per read and buffer limit; 64 KiB when `None`.
    pub high_water_mark: Option<usize>,
}

/// Options for [`create_write_stream`].
#[derive(Debug, Clone, Default)]
pub struct WriteStreamOptions {
    /// Append instead of truncating (Node's `flags: 'a'`).
    pub append: bool,
    /// Position of the first write (Node's `start`); the file is opened
    /// without truncation when set.
    pub start: Option<u64>,
    /// Buffer limit; 16 KiB when `None`.
    pub high_water_mark: Option<usize>,
}

fn work_err(e: WorkError) -> StreamError {
    StreamError::from(io::Error::other(e.to_string()))
}

struct ReadFile {
    file: Option<Arc<File>>,
    pos: u64,
    /// One past the last byte to read.
    end: u64,
    busy: bool,
    /// A destroy that waits for the read in flight (Node's `kIoDone`).
    pending_destroy: Option<(Option<StreamError>, DestroyDone)>,
}

/// Opens a byte stream over a file (Node's `fs.createReadStream`). Reads
/// `high_water_mark` bytes at a time from `start` through `end`.
///
/// Fails at once, naming the option, if `end < start`.
///
/// ```
/// use nodeloop::stream::file::{create_read_stream, ReadStreamOptions};
/// use nodeloop::Loop;
/// use std::{cell::RefCell, rc::Rc};
/// let path = std::env::temp_dir().join(format!("nodeloop-doc-{}", std::process::id()));
/// std::fs::write(&path, b"hello world").unwrap();
/// let mut lp = Loop::new();
/// let rs = create_read_stream(&path, ReadStreamOptions { start: 6, ..Default::default() }).unwrap();
/// let got = Rc::new(RefCell::new(Vec::new()));
/// let g = got.clone();
/// rs.on_data(&mut lp, move |_, c| g.borrow_mut().extend_from_slice(c));
/// lp.run_default();
/// assert_eq!(*got.borrow(), b"world");
/// std::fs::remove_file(path).unwrap();
/// ```
pub fn create_read_stream(
    path: impl AsRef<Path>,
    opts: ReadStreamOptions,
) -> io::Result<Readable<Bytes>> {
    if let Some(end) = opts.end {
        if end < opts.start {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "create_read_stream: \"start\" ({}) must be <= \"end\" ({end})",
                    opts.start
                ),
            ));
        }
    }
    let path: Arc<PathBuf> = Arc::new(path.as_ref().to_owned());
    let st = Rc::new(RefCell::new(ReadFile {
        file: None,
        pos: opts.start,
        end: opts.end.map_or(u64::MAX, |e| e.saturating_add(1)),
        busy: false,
        pending_destroy: None,
    }));
    let ropts = ReadableOptions {
        high_water_mark: Some(opts.high_water_mark.unwrap_or(DEFAULT_HWM_FILE_READ)),
        ..Default::default()
    };
    let st_r = st.clone();
    let rs = Readable::<Bytes>::with_options(ropts, move |lp, rs, n| {
        let (file, pos, n) = {
            let s = st_r.borrow();
            let n = (s.end - s.pos).min(n as u64) as usize;
            (s.file.clone(), s.pos, n)
        };
        if n == 0 {
            rs.push_eof(lp);
            return;
        }
        st_r.borrow_mut().busy = true;
        let path = path.clone();
        let st = st_r.clone();
        // The loop holds the stream while its read is in flight, as Node's
        // pending fs request does.
        let rs = rs.clone();
        lp.queue_work(
            move || -> io::Result<(Arc<File>, Vec<u8>)> {
                let f = match file {
                    Some(f) => f,
                    None => Arc::new(File::open(&*path)?),
                };
                let mut buf = vec![0; n];
                let k = f.read_at(&mut buf, pos)?;
                buf.truncate(k);
                Ok((f, buf))
            },
            move |lp, r| {
                let r = r
                    .map_err(work_err)
                    .and_then(|r| r.map_err(StreamError::from));
                let pending = {
                    let mut s = st.borrow_mut();
                    s.busy = false;
                    if let Ok((f, buf)) = &r {
                        s.file = Some(f.clone());
                        s.pos += buf.len() as u64;
                    }
                    s.pending_destroy.take()
                };
                if let Some((err, done)) = pending {
                    close_file(lp, &st, err, done);
                    return;
                }
                match r {
                    Err(e) => rs.destroy(lp, Some(e)),
                    Ok((_, buf)) if buf.is_empty() => {
                        rs.push_eof(lp);
                    }
                    Ok((_, buf)) => {
                        rs.push(lp, buf);
                    }
                }
            },
        );
    });
    let st_d = st;
    rs.set_destroy(move |lp, err, done| {
        if st_d.borrow().busy {
            st_d.borrow_mut().pending_destroy = Some((err, done));
        } else {
            close_file(lp, &st_d, err, done);
        }
    });
    Ok(rs)
}

/// Closes the file on the pool, then completes the destroy.
fn close_file(
    lp: &mut Loop,
    st: &Rc<RefCell<ReadFile>>,
    err: Option<StreamError>,
    done: DestroyDone,
) {
    match st.borrow_mut().file.take() {
        Some(f) => {
            lp.queue_work(move || drop(f), move |lp, _| done.call(lp, err));
        }
        None => done.call(lp, err),
    }
}

struct WriteFile {
    file: Option<Arc<File>>,
    pos: Option<u64>,
}

/// Opens a byte sink over a file (Node's `fs.createWriteStream`): creates
/// or truncates it (or appends, or writes from `start`).
///
/// ```
/// use nodeloop::stream::file::{create_write_stream, WriteStreamOptions};
/// use nodeloop::Loop;
/// let path = std::env::temp_dir().join(format!("nodeloop-docw-{}", std::process::id()));
/// let mut lp = Loop::new();
/// let ws = create_write_stream(&path, WriteStreamOptions::default()).unwrap();
/// ws.write(&mut lp, b"hello ".to_vec());
/// ws.end_with(&mut lp, Some(b"world".to_vec()), None);
/// lp.run_default();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
/// std::fs::remove_file(path).unwrap();
/// ```
pub fn create_write_stream(
    path: impl AsRef<Path>,
    opts: WriteStreamOptions,
) -> io::Result<Writable<Bytes>> {
    let path: Arc<PathBuf> = Arc::new(path.as_ref().to_owned());
    let mut oo = OpenOptions::new();
    oo.write(true).create(true);
    if opts.append {
        oo.append(true);
    } else if opts.start.is_none() {
        oo.truncate(true);
    }
    let st = Rc::new(RefCell::new(WriteFile {
        file: None,
        pos: opts.start,
    }));
    let wopts = WritableOptions {
        high_water_mark: opts.high_water_mark,
        ..Default::default()
    };
    let open = {
        let (path, oo) = (path.clone(), oo.clone());
        Arc::new(move || oo.open(&*path).map(Arc::new))
    };
    let (st_w, open_w) = (st.clone(), open.clone());
    let ws = Writable::<Bytes>::with_options(wopts, move |lp, _, chunk, done| {
        // Writes are serialized by the stream, so the next position is
        // known when this one is handed to the pool.
        let (file, pos) = {
            let mut s = st_w.borrow_mut();
            let pos = s.pos;
            if let Some(p) = s.pos.as_mut() {
                *p += chunk.len() as u64;
            }
            (s.file.clone(), pos)
        };
        let open = open_w.clone();
        let st = st_w.clone();
        lp.queue_work(
            move || -> io::Result<Arc<File>> {
                let f = match file {
                    Some(f) => f,
                    None => open()?,
                };
                match pos {
                    Some(p) => f.write_all_at(&chunk, p)?,
                    None => (&*f).write_all(&chunk)?,
                }
                Ok(f)
            },
            move |lp, r| match r
                .map_err(work_err)
                .and_then(|r| r.map_err(StreamError::from))
            {
                Ok(f) => {
                    let mut s = st.borrow_mut();
                    s.file = Some(f);
                    drop(s);
                    done.call(lp, Ok(()))
                }
                Err(e) => done.call(lp, Err(e)),
            },
        );
    });
    let (st_f, open_f) = (st.clone(), open);
    ws.set_final(move |lp, _, done| {
        if st_f.borrow().file.is_some() {
            done.call(lp, Ok(()));
            return;
        }
        let open = open_f.clone();
        let st = st_f.clone();
        lp.queue_work(
            move || open(),
            move |lp, r| match r
                .map_err(work_err)
                .and_then(|r| r.map_err(StreamError::from))
            {
                Ok(f) => {
                    st.borrow_mut().file = Some(f);
                    done.call(lp, Ok(()))
                }
                Err(e) => done.call(lp, Err(e)),
            },
        );
    });
    ws.set_destroy(move |lp, err, done| match st.borrow_mut().file.take() {
        Some(f) => {
            lp.queue_work(move || drop(f), move |lp, _| done.call(lp, err));
        }
        None => done.call(lp, err),
    });
    Ok(ws)
}
