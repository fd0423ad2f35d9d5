//! `setImmediate` as Node implements it (`processImmediate` in
//! `lib/internal/timers.js`, `CheckImmediate` in `env.cc`): a queue run from
//! a check handle, and an idle handle that is active while referenced
//! immediates exist, only so that the poll phase does not block.
//!
//! Each check phase runs the immediates that were queued when it began;
//! immediates queued meanwhile wait for the next iteration.

use std::collections::VecDeque;

use crate::core::watchers::{Check, Idle};
use crate::task::Task;
use crate::Loop;

struct Entry {
    /// `None` once cleared (the entry stays as a tombstone until its turn).
    task: Option<Task>,
    refed: bool,
}

pub(crate) struct Immediates {
    queue: VecDeque<Entry>,
    /// Sequence number of `queue[0]`.
    head_seq: u64,
    /// Live immediates (`immediateInfo[kCount]`).
    count: usize,
    /// Referenced live immediates (`immediateInfo[kRefCount]`).
    ref_count: usize,
    idle: Option<Idle>,
}

/// An immediate created by [`Loop::set_immediate`]; using it after it has
/// run or been cleared is a harmless no-op.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Immediate {
    seq: u64,
}

impl Immediates {
    pub(crate) fn placeholder() -> Immediates {
        Immediates {
            queue: VecDeque::new(),
            head_seq: 0,
            count: 0,
            ref_count: 0,
            idle: None,
        }
    }

    pub(crate) fn new(lp: &mut Loop) -> Immediates {
        let check = Check::new(lp);
        check
            .start(lp, |lp, _| lp.check_immediates())
            .expect("fresh check handle");
        // The check handle alone must not keep the loop alive.
        crate::handle::Handle::unref(&check, lp);
        Immediates {
            idle: Some(Idle::new(lp)),
            ..Immediates::placeholder()
        }
    }

    fn entry(&mut self, im: Immediate) -> Option<&mut Entry> {
        let i = im.seq.checked_sub(self.head_seq)?;
        self.queue.get_mut(usize::try_from(i).ok()?)
    }
}

impl Loop {
    fn toggle_immediate_ref(&mut self, on: bool) {
        let idle = self
            .node
            .immediates
            .idle
            .expect("node immediates initialised");
        if on {
            let _ = idle.start(self, |_, _| {});
        } else {
            idle.stop(self);
        }
    }

    /// Queues `f` to run in the check phase of the current or next loop
    /// iteration (`setImmediate`).
    ///
    /// ```
    /// use nodeloop::Loop;
    /// use std::{cell::RefCell, rc::Rc};
    /// let out = Rc::new(RefCell::new(Vec::new()));
    /// let mut lp = Loop::new();
    /// let o = out.clone();
    /// lp.set_immediate(move |lp| {
    ///     o.borrow_mut().push(1);
    ///     let o = o.clone();
    ///     lp.set_immediate(move |_| o.borrow_mut().push(3)); // next iteration
    /// });
    /// let o = out.clone();
    /// lp.set_immediate(move |_| o.borrow_mut().push(2));
    /// lp.run_default();
    /// assert_eq!(*out.borrow(), [1, 2, 3]);
    /// ```
    #[inline]
    pub fn set_immediate(&mut self, f: impl FnOnce(&mut Loop) + 'static) -> Immediate {
        let im = &mut self.node.immediates;
        let seq = im.head_seq + im.queue.len() as u64;
        im.queue.push_back(Entry {
            task: Some(Task::new(f)),
            refed: true,
        });
        im.count += 1;
        im.ref_count += 1;
        if im.ref_count == 1 {
            self.toggle_immediate_ref(true);
        }
        Immediate { seq }
    }

    /// Cancels an immediate that has not run (`clearImmediate`).
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let im = lp.set_immediate(|_| panic!("cleared"));
    /// lp.clear_immediate(im);
    /// assert!(!lp.run_default());
    /// ```
    pub fn clear_immediate(&mut self, im: Immediate) {
        let Some(e) = self.node.immediates.entry(im) else {
            return;
        };
        if e.task.take().is_none() {
            return;
        }
        let refed = std::mem::replace(&mut e.refed, false);
        let q = &mut self.node.immediates;
        q.count -= 1;
        if refed {
            q.ref_count -= 1;
            if q.ref_count == 0 {
                self.toggle_immediate_ref(false);
            }
        }
    }

    /// `CheckImmediate` + `processImmediate`: the check handle's callback.
    fn check_immediates(&mut self) {
        if self.node.immediates.count == 0 {
            return;
        }
        let batch = self.node.immediates.queue.len();
        let mut first = true;
        for _ in 0..batch {
            if self.unwinding() {
                break;
            }
            if !first {
                self.drain_task_queues();
            }
            first = false;
            let q = &mut self.node.immediates;
            let Some(e) = q.queue.pop_front() else { break };
            q.head_seq += 1;
            let Some(task) = e.task else { continue };
            q.count -= 1;
            if e.refed {
                q.ref_count -= 1;
            }
            self.invoke(|lp| task.run(lp));
        }
        if self.node.immediates.ref_count == 0 {
            self.toggle_immediate_ref(false);
        }
    }
}

impl Immediate {
    /// Lets the loop exit while this immediate is pending.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let im = lp.set_immediate(|_| panic!("never runs: nothing keeps the loop alive"));
    /// im.unref(&mut lp);
    /// assert!(!lp.run_default());
    /// ```
    pub fn unref(&self, lp: &mut Loop) {
        let Some(e) = lp.node.immediates.entry(*self) else {
            return;
        };
        if e.task.is_some() && e.refed {
            e.refed = false;
            lp.node.immediates.ref_count -= 1;
            if lp.node.immediates.ref_count == 0 {
                lp.toggle_immediate_ref(false);
            }
        }
    }

    /// Keeps the loop alive while this immediate is pending (the default).
    pub fn ref_(&self, lp: &mut Loop) {
        let Some(e) = lp.node.immediates.entry(*self) else {
            return;
        };
        if e.task.is_some() && !e.refed {
            e.refed = true;
            lp.node.immediates.ref_count += 1;
            if lp.node.immediates.ref_count == 1 {
                lp.toggle_immediate_ref(true);
            }
        }
    }

    /// Whether this immediate is pending and referenced.
    pub fn has_ref(&self, lp: &mut Loop) -> bool {
        lp.node
            .immediates
            .entry(*self)
            .is_some_and(|e| e.task.is_some() && e.refed)
    }
}
