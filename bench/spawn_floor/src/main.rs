//! A measuring stick for the spawn/await round trip: the leanest executor
//! we could write that still keeps the rules nodeloop's round trip keeps,
//! and nothing else. Run as `spawn_floor spawn_await N`; prints
//! `ops=N secs=S ops_per_sec=R` like the other twins.
//!
//! Kept, because issue 4 asks for them:
//! - a spawned future runs at once, up to its first pending `await`, in a
//!   heap cell of its own (it is pinned there);
//! - awaiting a finished task still takes one microtask turn (JavaScript's
//!   `await`): the awaiting task wakes itself, which queues its poll on a
//!   FIFO microtask queue that also carries plain callbacks;
//! - wakers are `Send + Sync` `Arc`s that coalesce wakes with one atomic
//!   flag, and name their task by slab key and generation, so a stale wake
//!   is harmless;
//! - each poll runs inside `catch_unwind`, with the loop lent to the poll
//!   through a thread-local (how a future reaches the loop).
//!
//! Left out, so this is a floor and not a rival: cross-thread wakes (the
//! atomic flag is paid, the channel is not), wakes during a first poll,
//! unhandled-rejection tracking, `ref`/`unref`, conversion to promises,
//! nested drains, and every error path beyond "a panic fails the task".

use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

enum Micro {
    Poll(u32, u32),
    #[allow(dead_code)] // the queue carries callbacks too; the bench queues none
    Call(Box<dyn FnOnce(&mut Loop)>),
}

struct Entry {
    gen: u32,
    cell: NonNull<Header>,
    waker: Arc<TaskWaker>,
}

#[derive(Default)]
struct Loop {
    micro: VecDeque<Micro>,
    tasks: slab::Slab<Entry>,
    next_gen: u32,
    spare: Option<Arc<TaskWaker>>,
}

thread_local! {
    static CURRENT: Cell<*mut Loop> = const { Cell::new(std::ptr::null_mut()) };
}

fn enter<R>(lp: &mut Loop, f: impl FnOnce() -> R) -> R {
    struct Restore(*mut Loop);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _r = Restore(CURRENT.with(|c| c.replace(lp)));
    f()
}

fn with_loop<R>(f: impl FnOnce(&mut Loop) -> R) -> R {
    let p = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
    assert!(!p.is_null(), "no loop lent");
    struct Restore(*mut Loop);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _r = Restore(p);
    // SAFETY: lent by `enter`, taken out of the slot while borrowed.
    f(unsafe { &mut *p })
}

struct TaskWaker {
    id: AtomicU64,
    notified: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        let id = self.id.load(Ordering::Acquire);
        let lp = CURRENT.with(|c| c.get());
        assert!(
            !lp.is_null(),
            "cross-thread wakes are left out of the floor"
        );
        // SAFETY: lent by `enter`; this borrow ends before other code runs.
        unsafe {
            (*lp)
                .micro
                .push_back(Micro::Poll(id as u32, (id >> 32) as u32))
        }
    }
}

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const TAKEN: u8 = 2;

/// The start of every task cell; `repr(C)` so a handle that knows only the
/// output type finds the output right after it.
#[repr(C)]
struct Header {
    refs: Cell<usize>,
    state: Cell<u8>,
    waiter: UnsafeCell<Option<Waker>>,
    vt: &'static VTable,
}

struct VTable {
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    release: unsafe fn(NonNull<Header>),
}

#[repr(C)]
struct Prefix<T> {
    h: Header,
    out: UnsafeCell<MaybeUninit<T>>,
}

#[repr(C)]
struct TaskCell<F: Future> {
    p: Prefix<F::Output>,
    fut: UnsafeCell<ManuallyDrop<F>>,
    fut_live: Cell<bool>,
}

impl<F: Future> TaskCell<F> {
    /// A fresh cell on the heap with one count (the handle's).
    fn boxed(fut: F) -> *mut Self {
        Box::into_raw(Box::new(TaskCell {
            p: Prefix {
                h: Header {
                    refs: Cell::new(1),
                    state: Cell::new(RUNNING),
                    waiter: UnsafeCell::new(None),
                    vt: &Self::VT,
                },
                out: UnsafeCell::new(MaybeUninit::uninit()),
            },
            fut: UnsafeCell::new(ManuallyDrop::new(fut)),
            fut_live: Cell::new(true),
        }))
    }

    const VT: VTable = VTable {
        poll: Self::poll,
        release: Self::release,
    };

    unsafe fn poll(h: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
        let me = &*h.cast::<Self>().as_ptr();
        if !me.fut_live.get() {
            return Poll::Ready(());
        }
        match Pin::new_unchecked(&mut **me.fut.get()).poll(cx) {
            Poll::Ready(v) => {
                me.fut_live.set(false);
                ManuallyDrop::drop(&mut *me.fut.get());
                (*me.p.out.get()).write(v);
                me.p.h.state.set(DONE);
                if let Some(w) = (*me.p.h.waiter.get()).take() {
                    w.wake();
                }
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    unsafe fn release(h: NonNull<Header>) {
        let me = h.cast::<Self>().as_ptr();
        let n = (*me).p.h.refs.get() - 1;
        (*me).p.h.refs.set(n);
        if n == 0 {
            if (*me).fut_live.get() {
                ManuallyDrop::drop(&mut *(*me).fut.get());
            }
            if (*me).p.h.state.get() == DONE {
                (*(*me).p.out.get()).assume_init_drop();
            }
            drop(Box::from_raw(me));
        }
    }
}

struct JoinHandle<T> {
    cell: NonNull<Header>,
    first: bool,
    _t: PhantomData<T>,
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: the handle holds one count.
        unsafe { (self.cell.as_ref().vt.release)(self.cell) }
    }
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // SAFETY: the cell lives while the handle does; its output sits right
        // after the header (`Prefix<T>` is a prefix of `TaskCell<F>`).
        let p = unsafe { &*this.cell.cast::<Prefix<T>>().as_ptr() };
        if this.first {
            this.first = false;
            if p.h.state.get() == DONE {
                cx.waker().wake_by_ref();
            } else {
                // SAFETY: loop thread only, no other borrow of `waiter`.
                unsafe { *p.h.waiter.get() = Some(cx.waker().clone()) };
            }
            return Poll::Pending;
        }
        match p.h.state.get() {
            DONE => {
                p.h.state.set(TAKEN);
                // SAFETY: DONE means written and not yet read.
                Poll::Ready(Ok(unsafe { (*p.out.get()).assume_init_read() }))
            }
            RUNNING => {
                // SAFETY: as above.
                unsafe { *p.h.waiter.get() = Some(cx.waker().clone()) };
                Poll::Pending
            }
            _ => Poll::Ready(Err(())),
        }
    }
}

fn lend(w: &Arc<TaskWaker>) -> ManuallyDrop<Waker> {
    // SAFETY: the count is the caller's, lent; never given back.
    ManuallyDrop::new(Waker::from(unsafe { Arc::from_raw(Arc::as_ptr(w)) }))
}

impl Loop {
    fn spawn<F: Future + 'static>(&mut self, fut: F) -> JoinHandle<F::Output> {
        let cell = TaskCell::boxed(fut);
        let h = NonNull::new(cell).unwrap().cast::<Header>();
        let w = self.spare.take().unwrap_or_else(|| {
            Arc::new(TaskWaker {
                id: AtomicU64::new(0),
                notified: AtomicBool::new(false),
            })
        });
        let lent = lend(&w);
        let mut cx = Context::from_waker(&lent);
        let r = enter(self, || {
            catch_unwind(AssertUnwindSafe(|| unsafe {
                TaskCell::<F>::poll(h, &mut cx)
            }))
        });
        match r {
            Ok(Poll::Ready(())) => {
                if Arc::strong_count(&w) == 1 && !w.notified.load(Ordering::Relaxed) {
                    self.spare = Some(w);
                }
            }
            Ok(Poll::Pending) => {
                self.next_gen = self.next_gen.wrapping_add(1).max(1);
                let gen = self.next_gen;
                let e = self.tasks.vacant_entry();
                w.id.store(e.key() as u64 | (u64::from(gen) << 32), Ordering::Release);
                // SAFETY: fresh cell; the slab entry takes a count.
                unsafe { (*cell).p.h.refs.set(2) };
                e.insert(Entry {
                    gen,
                    cell: h,
                    waker: w,
                });
            }
            Err(_) => {
                // SAFETY: fresh cell, not polled again.
                unsafe { (*cell).p.h.state.set(TAKEN) };
            }
        }
        JoinHandle {
            cell: h,
            first: true,
            _t: PhantomData,
        }
    }

    /// Starts a task with its first poll queued as a microtask (the floor
    /// has no provisional wakers, so the benchmark's outer task starts
    /// this way, with a slab entry from the start).
    fn spawn_queued<F: Future<Output = ()> + 'static>(&mut self, fut: F) {
        let cell = TaskCell::boxed(fut);
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        let gen = self.next_gen;
        let e = self.tasks.vacant_entry();
        let key = e.key() as u32;
        e.insert(Entry {
            gen,
            cell: NonNull::new(cell).unwrap().cast(),
            waker: Arc::new(TaskWaker {
                id: AtomicU64::new(u64::from(key) | (u64::from(gen) << 32)),
                notified: AtomicBool::new(true),
            }),
        });
        self.micro.push_back(Micro::Poll(key, gen));
    }

    fn poll_task(&mut self, key: u32, gen: u32) {
        let Some(e) = self.tasks.get(key as usize).filter(|e| e.gen == gen) else {
            return;
        };
        let h = e.cell;
        e.waker.notified.store(false, Ordering::Release);
        let lent = lend(&e.waker);
        let mut cx = Context::from_waker(&lent);
        // SAFETY: the entry keeps the cell alive for the poll.
        let r = enter(self, || {
            catch_unwind(AssertUnwindSafe(|| unsafe {
                (h.as_ref().vt.poll)(h, &mut cx)
            }))
        });
        if let Ok(Poll::Pending) = r {
            return;
        }
        let e = self.tasks.remove(key as usize);
        e.waker.notified.store(true, Ordering::Release);
        // SAFETY: the entry's count, given back.
        unsafe { (h.as_ref().vt.release)(h) };
    }

    fn drain(&mut self) {
        while let Some(m) = self.micro.pop_front() {
            match m {
                Micro::Poll(k, g) => self.poll_task(k, g),
                Micro::Call(f) => f(self),
            }
        }
    }
}

fn spawn<F: Future + 'static>(fut: F) -> JoinHandle<F::Output> {
    with_loop(|lp| lp.spawn(fut))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some("spawn_await"), Some(Ok(n))) = (
        args.get(1).map(String::as_str),
        args.get(2).map(|s| s.parse::<u64>()),
    ) else {
        eprintln!("usage: spawn_floor spawn_await N");
        std::process::exit(2);
    };
    let mut lp = Loop::default();
    let result = std::rc::Rc::new(Cell::new(0u64));
    let out = result.clone();
    let start = Instant::now();
    lp.spawn_queued(async move {
        let mut sum = 0u64;
        for i in 0..n {
            sum += spawn(async move { i }).await.unwrap();
        }
        out.set(sum);
    });
    lp.drain();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(result.get(), n * (n - 1) / 2);
    println!("ops={n} secs={secs:.6} ops_per_sec={:.0}", n as f64 / secs);
}
