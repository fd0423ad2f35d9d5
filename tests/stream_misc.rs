//! Stream behaviour outside event order: defaults, bad input, failures.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use nodeloop::stream::file::{
    create_read_stream, create_write_stream, ReadStreamOptions, WriteStreamOptions,
};
use nodeloop::stream::{event, Bytes, Objects, Readable, StreamError, Writable};
use nodeloop::Loop;

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("nodeloop-misc-{}-{name}", std::process::id()))
}

#[test]
fn default_high_water_marks_are_nodes() {
    assert_eq!(
        Readable::<Bytes>::new(|_, _, _| {}).readable_high_water_mark(),
        16 * 1024
    );
    assert_eq!(
        Readable::<Objects<u8>>::new(|_, _, _| {}).readable_high_water_mark(),
        16
    );
    let w = Writable::<Bytes>::new(|lp, _, _, d| d.call(lp, Ok(())));
    assert_eq!(w.writable_high_water_mark(), 16 * 1024);
    let w = Writable::<Objects<u8>>::new(|lp, _, _, d| d.call(lp, Ok(())));
    assert_eq!(w.writable_high_water_mark(), 16);
    let p = tmp("hwm");
    std::fs::write(&p, b"x").unwrap();
    let rs = create_read_stream(&p, ReadStreamOptions::default()).unwrap();
    assert_eq!(rs.readable_high_water_mark(), 64 * 1024);
    std::fs::remove_file(p).unwrap();
}

#[test]
#[should_panic(expected = "unhandled 'error' event")]
fn a_stream_error_nobody_listens_to_fails_the_run_like_node() {
    let mut lp = Loop::new();
    let r = Readable::<Bytes>::new(|_, _, _| {});
    r.destroy(&mut lp, Some(StreamError::custom("nobody hears this")));
    lp.run_default();
}

#[test]
fn a_read_range_with_end_before_start_is_refused_by_name() {
    let opts = ReadStreamOptions {
        start: 10,
        end: Some(5),
        ..Default::default()
    };
    let e = create_read_stream(tmp("never"), opts).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("\"start\""), "{e}");
}

#[test]
fn reading_a_missing_file_errors_then_closes() {
    let mut lp = Loop::new();
    let rs = create_read_stream(tmp("missing"), ReadStreamOptions::default()).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    rs.emitter().on::<event::Error>(move |_, e| {
        let kind = match e {
            StreamError::Io(e) => e.kind(),
            _ => io::ErrorKind::Other,
        };
        l.borrow_mut().push(format!("error {kind:?}"));
    });
    let l = log.clone();
    rs.emitter()
        .on::<event::Close>(move |_, _| l.borrow_mut().push("close".into()));
    rs.resume(&mut lp);
    lp.run_default();
    assert_eq!(*log.borrow(), ["error NotFound", "close"]);
}

#[test]
fn write_stream_appends_and_writes_at_a_position() {
    let p = tmp("append");
    std::fs::write(&p, b"0123456789").unwrap();
    let mut lp = Loop::new();
    let opts = WriteStreamOptions {
        start: Some(2),
        ..Default::default()
    };
    let ws = create_write_stream(&p, opts).unwrap();
    ws.write(&mut lp, b"ab".to_vec());
    ws.end_with(&mut lp, Some(b"cd".to_vec()), None);
    lp.run_default();
    assert_eq!(std::fs::read(&p).unwrap(), b"01abcd6789");
    let opts = WriteStreamOptions {
        append: true,
        ..Default::default()
    };
    let ws = create_write_stream(&p, opts).unwrap();
    ws.end_with(&mut lp, Some(b"!".to_vec()), None);
    lp.run_default();
    assert_eq!(std::fs::read(&p).unwrap(), b"01abcd6789!");
    std::fs::remove_file(p).unwrap();
}

#[test]
fn an_empty_write_stream_still_creates_the_file() {
    let p = tmp("empty");
    let mut lp = Loop::new();
    let ws = create_write_stream(&p, WriteStreamOptions::default()).unwrap();
    ws.end(&mut lp);
    lp.run_default();
    assert!(ws.writable_finished());
    assert_eq!(std::fs::read(&p).unwrap(), b"");
    std::fs::remove_file(p).unwrap();
}

#[test]
fn end_after_finish_reports_already_finished() {
    let mut lp = Loop::new();
    let w = Writable::<Bytes>::new(|lp, _, _, d| d.call(lp, Ok(())));
    w.end(&mut lp);
    lp.run_default();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    w.end_with(
        &mut lp,
        None,
        Some(Box::new(move |_, r| {
            *g.borrow_mut() = r.err().and_then(|e| e.code())
        })),
    );
    lp.run_default();
    assert_eq!(*got.borrow(), Some("ERR_STREAM_ALREADY_FINISHED"));
}
