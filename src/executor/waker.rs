//! The `Send + Sync` waker of a task.
//!
//! It names its task by slab key and generation, never by pointer, so a
//! waker that outlives its task (or its loop) wakes nothing. A wake goes
//! one of three ways:
//! - on the loop thread while the loop is lent (during a poll, or while the
//!   loop wakes a waker) it queues the poll as a microtask directly, in the
//!   position a JavaScript continuation would take;
//! - on the loop thread from a plain callback, which holds `&mut Loop` but
//!   lent nothing, it is parked in a thread-local list that the loop's drain
//!   turns into microtasks as soon as the queues run empty;
//! - on any other thread it goes through the loop's cross-thread queue and
//!   `mio::Waker`.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Wake;
use std::thread::{self, ThreadId};

use crossbeam_channel::Sender;

use super::poll_task;
use crate::current;
use crate::{AsyncSender, Loop};

thread_local! {
    /// Wakes made on this thread without a lent loop: (executor, key, gen).
    static PARKED: RefCell<Vec<(usize, u32, u32)>> = const { RefCell::new(Vec::new()) };
    static ANY_PARKED: Cell<bool> = const { Cell::new(false) };
}

/// Whether wakes are parked on this thread (cheap: checked by every drain).
#[inline]
pub(crate) fn any_parked() -> bool {
    ANY_PARKED.with(|c| c.get())
}

/// Queues the polls of `lp`'s parked wakes. Returns whether there were any.
pub(crate) fn unpark(lp: &mut Loop) -> bool {
    let Some(me) = lp.executor.remote_id() else {
        return false;
    };
    let mine: Vec<(u32, u32)> = PARKED.with(|p| {
        let mut p = p.borrow_mut();
        let mine = p.iter().filter(|w| w.0 == me).map(|w| (w.1, w.2)).collect();
        p.retain(|w| w.0 != me);
        ANY_PARKED.with(|c| c.set(!p.is_empty()));
        mine
    });
    for &(key, gen) in &mine {
        lp.queue_microtask(move |lp| poll_task(lp, key, gen));
    }
    !mine.is_empty()
}

/// The cross-thread path into a loop's executor.
pub(crate) struct Remote {
    pub(crate) tx: Sender<(u32, u32)>,
    pub(crate) sender: AsyncSender,
    /// The thread the loop runs on (a `Loop` is `!Send`, so it never moves).
    pub(crate) loop_thread: ThreadId,
}

pub(crate) struct TaskWaker {
    /// The task's slab key (low half) and generation (high half). Atomic
    /// only so that a spare waker can be readied through a shared `Arc`
    /// without `Arc::get_mut`'s compare-and-swap; see [`TaskWaker::reuse`].
    id: AtomicU64,
    /// A poll is queued (or the task is finished).
    pub(crate) notified: AtomicBool,
    remote: Arc<Remote>,
}

impl TaskWaker {
    pub(crate) fn new(key: u32, gen: u32, remote: Arc<Remote>) -> TaskWaker {
        TaskWaker {
            id: AtomicU64::new(pack(key, gen)),
            // The spawn polls at once.
            notified: AtomicBool::new(true),
            remote,
        }
    }

    /// Readies a finished task's waker for a new task: saves an allocation
    /// per spawn. The caller holds the only `Arc` (checked with
    /// [`TaskWaker::unshared`] when it was put aside), so no other thread
    /// reads these fields meanwhile; relaxed stores suffice.
    pub(crate) fn reuse(&self, key: u32, gen: u32) {
        self.id.store(pack(key, gen), Ordering::Relaxed);
        self.notified.store(true, Ordering::Relaxed);
    }

    /// Whether `this` is the only handle (no clone of the waker survives):
    /// then it can be reused. Two plain loads instead of a compare-and-swap.
    pub(crate) fn unshared(this: &Arc<TaskWaker>) -> bool {
        // No weak references to a `TaskWaker` are ever made, so the strong
        // count alone decides. The fence pairs with the release decrement
        // of a clone dropped on another thread: its reads of `id` happen
        // before our reuse writes it.
        let alone = Arc::strong_count(this) == 1;
        if alone {
            std::sync::atomic::fence(Ordering::Acquire);
        }
        alone
    }

    fn schedule(&self) {
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        let id = self.id.load(Ordering::Relaxed);
        let (key, gen) = (id as u32, (id >> 32) as u32);
        if current::queue_microtask_if(
            |lp| lp.executor.owns(&self.remote),
            move |lp| poll_task(lp, key, gen),
        ) {
            return;
        }
        if thread::current().id() == self.remote.loop_thread {
            let id = Arc::as_ptr(&self.remote) as usize;
            PARKED.with(|p| p.borrow_mut().push((id, key, gen)));
            ANY_PARKED.with(|c| c.set(true));
        } else {
            // Fails only when the loop is gone: then there is nothing to run.
            if self.remote.tx.send((key, gen)).is_ok() {
                let _ = self.remote.sender.send();
            }
        }
    }
}

fn pack(key: u32, gen: u32) -> u64 {
    u64::from(key) | (u64::from(gen) << 32)
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule();
    }
}
