//! `process.nextTick` and the microtask queue, and the drain Node runs after
//! the main program and after every callback it makes
//! (`InternalCallbackScope::Close` and `processTicksAndRejections`): all
//! ticks, including ones queued meanwhile, then all microtasks, again until
//! both are empty. A tick queued by a microtask therefore waits until the
//! microtask queue is empty.

use crate::task::Task;
use crate::Loop;

impl Loop {
    /// Queues `f` on the next-tick queue (`process.nextTick`): it runs after
    /// the current callback, before any microtask.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// use std::{cell::RefCell, rc::Rc};
    /// let out = Rc::new(RefCell::new(String::new()));
    /// let mut lp = Loop::new();
    /// let o = out.clone();
    /// lp.queue_microtask(move |_| o.borrow_mut().push('m'));
    /// let o = out.clone();
    /// lp.next_tick(move |_| o.borrow_mut().push('t'));
    /// lp.run_default();
    /// assert_eq!(*out.borrow(), "tm");
    /// ```
    #[inline]
    pub fn next_tick(&mut self, f: impl FnOnce(&mut Loop) + 'static) {
        self.node.ticks.push_back(Task::new(f));
    }

    /// Queues `f` on the microtask queue (`queueMicrotask`), the queue
    /// promise reactions use.
    #[inline]
    ///
    /// ```
    /// use nodeloop::Loop;
    /// use std::{cell::RefCell, rc::Rc};
    /// let out = Rc::new(RefCell::new(Vec::new()));
    /// let mut lp = Loop::new();
    /// let o = out.clone();
    /// lp.queue_microtask(move |_| o.borrow_mut().push("microtask"));
    /// let o = out.clone();
    /// lp.next_tick(move |_| o.borrow_mut().push("tick"));
    /// lp.run_default();
    /// assert_eq!(*out.borrow(), ["tick", "microtask"]);
    /// ```
    pub fn queue_microtask(&mut self, f: impl FnOnce(&mut Loop) + 'static) {
        self.node.microtasks.push_back(Task::new(f));
    }

    /// Queues the poll of task `key` of generation `gen` as a microtask (a
    /// wake), as the task kind made for it (`Task::poll_task`), which
    /// carries the two ids and no closure.
    #[inline]
    pub(crate) fn queue_poll_task(&mut self, key: u32, gen: u32) {
        self.node.microtasks.push_back(Task::poll_task(key, gen));
    }

    /// Queues the poll of task `key` of generation `gen` at the head of the
    /// microtask queue: where a self-wake's request stands that was not
    /// queued when it was made (see `Loop::queue_wake`).
    #[inline]
    pub(crate) fn queue_poll_task_first(&mut self, key: u32, gen: u32) {
        self.node.microtasks.push_front(Task::poll_task(key, gen));
    }

    /// Runs ticks, then microtasks, until both queues are empty. Not
    /// re-entrant: called from inside a drain it returns at once, as Node's
    /// tick processing does.
    pub(crate) fn drain_task_queues(&mut self) {
        if self.node.draining
            || (self.node.ticks.is_empty()
                && self.node.microtasks.is_empty()
                && !self.rejections.any_pending()
                && !crate::executor::any_parked())
        {
            return;
        }
        self.node.draining = true;
        loop {
            while let Some(t) = self.node.ticks.pop_front() {
                self.invoke(|lp| t.run(lp));
                if self.unwinding() {
                    break;
                }
            }
            while !self.unwinding() {
                let Some(m) = self.node.microtasks.pop_front() else {
                    break;
                };
                self.invoke(|lp| m.run(lp));
            }
            if self.unwinding() {
                break;
            }
            // processTicksAndRejections: with both queues empty, report
            // unhandled rejections (a report handler may queue more work),
            // and queue the polls of tasks woken from plain callbacks.
            if self.node.ticks.is_empty()
                && !self.process_promise_rejections()
                && !self.unpark_wakes()
            {
                break;
            }
        }
        self.node.draining = false;
    }

    /// Whether ticks or microtasks are queued.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// lp.next_tick(|_| {});
    /// assert!(lp.has_pending_tasks());
    /// lp.run_default();
    /// assert!(!lp.has_pending_tasks());
    /// ```
    pub fn has_pending_tasks(&self) -> bool {
        // A self-wake not queued yet counts (see `Loop::queue_wake`).
        !self.node.ticks.is_empty() || !self.node.microtasks.is_empty() || self.executor.head_repoll
    }
}
