//! The pending phase: callbacks that libuv defers from the poll phase to
//! the start of the next iteration (`uv__run_pending`), such as the result
//! of a write that completed or failed synchronously.

use crate::task::Task;
use crate::Loop;

impl Loop {
    /// Queues `cb` for the pending phase. It keeps the loop alive and makes
    /// the next poll non-blocking.
    pub(crate) fn defer_pending(&mut self, cb: Task) {
        self.pending.push_back(cb);
    }

    /// Runs the callbacks pending when the phase starts; ones queued meanwhile
    /// wait for the next turn.
    pub(crate) fn run_pending(&mut self) {
        let mut n = self.pending.len();
        while n > 0 && !self.unwinding() {
            n -= 1;
            let Some(task) = self.pending.pop_front() else {
                break;
            };
            self.callback(|lp| task.run(lp));
        }
    }
}
