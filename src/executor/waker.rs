//! The `Send + Sync` waker of a task.
//!
//! It names its task by slab key and generation, never by pointer, so a
//! waker that outlives its task (or its loop) wakes nothing. On the loop
//! thread, while the loop is lent (during a poll or while the loop wakes a
//! waker), the wake queues the poll as a microtask directly; anywhere else it
//! goes through the loop's cross-thread queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Wake;

use crossbeam_channel::Sender;

use super::poll_task;
use crate::current;
use crate::AsyncSender;

/// The cross-thread path into a loop's executor.
pub(crate) struct Remote {
    pub(crate) tx: Sender<(u32, u32)>,
    pub(crate) sender: AsyncSender,
}

pub(crate) struct TaskWaker {
    key: u32,
    gen: u32,
    /// A poll is queued (or the task is finished).
    pub(crate) notified: AtomicBool,
    remote: Arc<Remote>,
}

impl TaskWaker {
    pub(crate) fn new(key: u32, gen: u32, remote: Arc<Remote>) -> TaskWaker {
        TaskWaker {
            key,
            gen,
            // The spawn polls at once.
            notified: AtomicBool::new(true),
            remote,
        }
    }

    fn schedule(&self) {
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        let (key, gen) = (self.key, self.gen);
        let local = current::with_loop_if(
            |lp| lp.executor.owns(&self.remote),
            |lp| lp.queue_microtask(move |lp| poll_task(lp, key, gen)),
        );
        if local.is_none() {
            // Fails only when the loop is gone: then there is nothing to run.
            if self.remote.tx.send((key, gen)).is_ok() {
                let _ = self.remote.sender.send();
            }
        }
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule();
    }
}
