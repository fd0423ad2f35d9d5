//! `pipe` (Node's `Readable.prototype.pipe`) and `pipeline`
//! (`lib/internal/streams/pipeline.js`, simplified to a typed chain).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::{core, event, Mode, Readable, StreamError, Transform, Writable};
use crate::emitter::ListenerId;
use crate::Loop;

/// The listeners one pipe installed, for `cleanup`.
#[derive(Default)]
struct PipeLinks {
    src: RefCell<Vec<ListenerId>>,
    dest: RefCell<Vec<ListenerId>>,
    ondrain: Cell<Option<ListenerId>>,
    cleaned: Cell<bool>,
}

impl<M: Mode> Readable<M>
where
    M::Chunk: Clone,
{
    /// Pipes this stream into `dest` with backpressure (`readable.pipe`):
    /// every `data` chunk is written to `dest`; when `write` returns false
    /// the source pauses until `'drain'`; the source's `'end'` ends `dest`.
    /// The chunk is cloned for `dest` because `data` listeners borrow it.
    pub fn pipe(&self, lp: &mut Loop, dest: &Writable<M>) -> Writable<M> {
        self.pipe_with(lp, dest, true)
    }

    /// `pipe(dest, { end })`: with `end` false, the source's end does not
    /// end `dest`.
    pub fn pipe_with(&self, lp: &mut Loop, dest: &Writable<M>, end: bool) -> Writable<M> {
        let src = self.clone();
        src.st.borrow_mut().pipes.push(dest.clone());
        let links = Rc::new(PipeLinks::default());

        let end_emitted = src.st.borrow().end_emitted;
        let end_fn = {
            let (src, dest) = (src.clone(), dest.clone());
            move |lp: &mut Loop| {
                if end {
                    dest.end(lp);
                } else {
                    src.unpipe(lp, Some(&dest));
                }
            }
        };
        if end_emitted {
            lp.next_tick(end_fn);
        } else {
            let id = src.core.emitter.once::<event::End>(move |lp, _| end_fn(lp));
            links.src.borrow_mut().push(id);
        }

        let cleanup: Rc<dyn Fn(&mut Loop)> = {
            let (src, dest, links) = (src.clone(), dest.clone(), links.clone());
            Rc::new(move |lp| {
                for id in links.src.borrow_mut().drain(..) {
                    src.core.emitter.off(id);
                }
                for id in links.dest.borrow_mut().drain(..) {
                    dest.core.emitter.off(id);
                }
                links.cleaned.set(true);
                if let Some(id) = links.ondrain.get() {
                    dest.core.emitter.off(id);
                    let awaiting = !src.st.borrow().await_drain.is_empty();
                    if awaiting && dest.need_drain_flag() {
                        pipe_on_drain(&src, &dest, lp);
                    }
                }
            })
        };

        {
            let (src_id, cleanup) = (src.id(), cleanup.clone());
            let id = dest.core.emitter.on::<event::Unpipe>(move |lp, from| {
                if *from == src_id {
                    cleanup(lp);
                }
            });
            links.dest.borrow_mut().push(id);
        }

        let pause: Rc<dyn Fn(&mut Loop)> = {
            let (src, dest, links) = (src.clone(), dest.clone(), links.clone());
            Rc::new(move |lp| {
                if !links.cleaned.get() {
                    let piped = src
                        .st
                        .borrow()
                        .pipes
                        .iter()
                        .any(|p| Rc::ptr_eq(&p.core, &dest.core));
                    if piped {
                        src.st.borrow_mut().await_drain.push(dest.id());
                    }
                    src.pause(lp);
                }
                if links.ondrain.get().is_none() {
                    let (s2, d2) = (src.clone(), dest.clone());
                    let id = dest
                        .core
                        .emitter
                        .on::<event::Drain>(move |lp, _| pipe_on_drain(&s2, &d2, lp));
                    links.ondrain.set(Some(id));
                }
            })
        };

        {
            let (dest, pause) = (dest.clone(), pause.clone());
            let id = src.on_data(lp, move |lp, chunk| {
                if !dest.write(lp, chunk.clone()) {
                    pause(lp);
                }
            });
            links.src.borrow_mut().push(id);
        }

        {
            let (src2, dest2, links2) = (src.clone(), dest.clone(), links.clone());
            let self_id: Rc<Cell<Option<ListenerId>>> = Rc::default();
            let sid = self_id.clone();
            let id = dest
                .core
                .emitter
                .prepend_listener::<event::Error>(move |lp, er| {
                    src2.unpipe(lp, Some(&dest2));
                    if let Some(me) = sid.get() {
                        dest2.core.emitter.off(me);
                    }
                    let _ = &links2;
                    if dest2.core.emitter.listener_count::<event::Error>() == 0 {
                        if !dest2.core.f.borrow().error_emitted {
                            core::error_or_destroy(&dest2.core, lp, er.clone(), false);
                        } else {
                            // Nobody else listens: rethrow as Node does.
                            dest2.core.emitter.emit::<event::Error>(lp, er.clone());
                        }
                    }
                });
            self_id.set(Some(id));
            links.dest.borrow_mut().push(id);
        }

        {
            let close_id: Rc<Cell<Option<ListenerId>>> = Rc::default();
            let finish_id: Rc<Cell<Option<ListenerId>>> = Rc::default();
            let (s1, d1, fid) = (src.clone(), dest.clone(), finish_id.clone());
            let cid = dest.core.emitter.once::<event::Close>(move |lp, _| {
                if let Some(f) = fid.get() {
                    d1.core.emitter.off(f);
                }
                s1.unpipe(lp, Some(&d1));
            });
            close_id.set(Some(cid));
            let (s2, d2, cid2) = (src.clone(), dest.clone(), close_id.clone());
            let fid = dest.core.emitter.once::<event::Finish>(move |lp, _| {
                if let Some(c) = cid2.get() {
                    d2.core.emitter.off(c);
                }
                s2.unpipe(lp, Some(&d2));
            });
            finish_id.set(Some(fid));
            links.dest.borrow_mut().push(cid);
            links.dest.borrow_mut().push(fid);
        }

        dest.core.emitter.emit::<event::Pipe>(lp, src.id());

        if dest.writable_need_drain() {
            pause(lp);
        } else if src.st.borrow().flowing != Some(true) {
            src.resume(lp);
        }
        dest.clone()
    }

    /// Stops piping into `dest`, or into every destination with `None`
    /// (`readable.unpipe`); emits `'unpipe'` on each.
    ///
    /// ```
    /// use nodeloop::stream::{event, Objects, Readable, Writable};
    /// use std::{cell::Cell, rc::Rc};
    /// let mut lp = nodeloop::Loop::new();
    /// let rs = Readable::<Objects<u8>>::new(|_, _, _| {});
    /// let ws = Writable::<Objects<u8>>::new(|lp, _, _, done| done.call(lp, Ok(())));
    /// let unpiped = Rc::new(Cell::new(false));
    /// let u = unpiped.clone();
    /// ws.on::<event::Unpipe>(move |_, _| u.set(true));
    /// rs.pipe(&mut lp, &ws);
    /// rs.unpipe(&mut lp, Some(&ws));
    /// assert!(unpiped.get() && rs.is_paused());
    /// ```
    pub fn unpipe(&self, lp: &mut Loop, dest: Option<&Writable<M>>) {
        let removed: Vec<Writable<M>> = {
            let mut s = self.st.borrow_mut();
            if s.pipes.is_empty() {
                return;
            }
            match dest {
                None => s.pipes.take(),
                Some(d) => match s.pipes.iter().position(|p| Rc::ptr_eq(&p.core, &d.core)) {
                    Some(i) => vec![s.pipes.remove(i)],
                    None => return,
                },
            }
        };
        if self.st.borrow().pipes.is_empty() {
            self.pause(lp);
        }
        for d in removed {
            d.core.emitter.emit::<event::Unpipe>(lp, self.id());
        }
    }
}

/// `pipeOnDrain`: the source resumes once no destination awaits a drain.
fn pipe_on_drain<M: Mode>(src: &Readable<M>, dest: &Writable<M>, lp: &mut Loop) {
    let resume = {
        let mut s = src.st.borrow_mut();
        let id = dest.id();
        s.await_drain.retain(|d| *d != id);
        s.await_drain.is_empty()
    };
    if resume && src.core.emitter.listener_count::<event::Data<M::Chunk>>() > 0 {
        src.resume(lp);
    }
}

type Destroyer = Box<dyn Fn(&mut Loop, Option<StreamError>)>;

/// A typed chain of streams for [`pipeline`]: a source, transforms, and
/// (given to [`Pipeline::to`]) a destination.
pub struct Pipeline<M: Mode> {
    last: Readable<M>,
    cores: Vec<Rc<core::Core>>,
}

impl<M: Mode> std::fmt::Debug for Pipeline<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("streams", &self.cores.len())
            .finish()
    }
}

impl<M: Mode> Pipeline<M>
where
    M::Chunk: Clone,
{
    /// Starts a chain at `src`.
    pub fn new(src: &Readable<M>) -> Pipeline<M> {
        Pipeline {
            last: src.clone(),
            cores: vec![src.core.clone()],
        }
    }

    /// Adds a transform to the chain.
    pub fn through<O: Mode>(self, lp: &mut Loop, t: &Transform<M, O>) -> Pipeline<O> {
        self.last.pipe(lp, t.writable());
        let mut cores = self.cores;
        cores.push(t.readable().core.clone());
        Pipeline {
            last: t.readable().clone(),
            cores,
        }
    }

    /// Ends the chain at `dest`; `cb` runs once, on a tick after every
    /// stream has closed: with `Ok` when `dest` finished, or with the first
    /// error, after which every stream in the chain is destroyed.
    pub fn to(
        self,
        lp: &mut Loop,
        dest: &Writable<M>,
        cb: impl FnOnce(&mut Loop, Result<(), StreamError>) + 'static,
    ) {
        self.last.pipe(lp, dest);
        let mut cores = self.cores;
        cores.push(dest.core.clone());
        run_pipeline(cores, Box::new(cb));
    }
}

/// Pipes `src` into `dest` and reports the outcome once (Node's
/// `stream.pipeline(src, dest, cb)`); an error anywhere destroys both.
///
/// ```
/// use nodeloop::stream::{pipeline, Objects, Readable, Writable};
/// use nodeloop::Loop;
/// use std::{cell::RefCell, rc::Rc};
/// let mut lp = Loop::new();
/// let src = Readable::<Objects<u8>>::new(|lp, rs, _| { rs.push(lp, 1); rs.push_eof(lp); });
/// let dst = Writable::<Objects<u8>>::new(|lp, _, _, done| done.call(lp, Ok(())));
/// let out = Rc::new(RefCell::new(None));
/// let o = out.clone();
/// pipeline(&mut lp, &src, &dst, move |_, r| *o.borrow_mut() = Some(r.is_ok()));
/// lp.run_default();
/// assert_eq!(*out.borrow(), Some(true));
/// ```
pub fn pipeline<M: Mode>(
    lp: &mut Loop,
    src: &Readable<M>,
    dest: &Writable<M>,
    cb: impl FnOnce(&mut Loop, Result<(), StreamError>) + 'static,
) where
    M::Chunk: Clone,
{
    Pipeline::new(src).to(lp, dest, cb);
}

type PipelineCb = Box<dyn FnOnce(&mut Loop, Result<(), StreamError>)>;

fn run_pipeline(cores: Vec<Rc<core::Core>>, cb: PipelineCb) {
    struct Run {
        left: Cell<usize>,
        error: RefCell<Option<StreamError>>,
        cb: RefCell<Option<PipelineCb>>,
        destroyers: Vec<Destroyer>,
    }
    let destroyers = cores
        .iter()
        .map(|c| {
            let c = c.clone();
            Box::new(move |lp: &mut Loop, e: Option<StreamError>| core::destroy(&c, lp, e))
                as Destroyer
        })
        .collect();
    let run = Rc::new(Run {
        left: Cell::new(cores.len()),
        error: RefCell::new(None),
        cb: RefCell::new(Some(cb)),
        destroyers,
    });
    for c in &cores {
        let r = run.clone();
        c.emitter.on::<event::Error>(move |lp, e| {
            let first = r.error.borrow().is_none();
            if first {
                *r.error.borrow_mut() = Some(e.clone());
                for d in &r.destroyers {
                    d(lp, Some(e.clone()));
                }
            }
        });
        let (r, core) = (run.clone(), Rc::downgrade(c));
        c.emitter.once::<event::Close>(move |lp, _| {
            // Closed before its data was all through: Node's premature
            // close, which fails the whole pipeline.
            let premature = core.upgrade().is_some_and(|c| {
                let read_open = c.read_side().is_some_and(|s| !s.end_emitted());
                let write_open = c.write_side().is_some_and(|s| !s.finished());
                read_open || write_open
            });
            if premature && r.error.borrow().is_none() {
                let e = StreamError::PrematureClose;
                *r.error.borrow_mut() = Some(e.clone());
                for d in &r.destroyers {
                    d(lp, Some(e.clone()));
                }
            }
            r.left.set(r.left.get() - 1);
            if r.left.get() == 0 {
                if let Some(cb) = r.cb.borrow_mut().take() {
                    let res = r.error.borrow().clone().map_or(Ok(()), Err);
                    lp.next_tick(move |lp| cb(lp, res));
                }
            }
        });
    }
}
