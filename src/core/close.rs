//! The close phase (`uv__run_closing_handles`).
//!
//! libuv keeps closing handles on a singly linked list onto which `uv_close`
//! pushes at the head, so the close callbacks of one phase run in the reverse
//! order of the `close` calls; a handle closed during the phase waits for the
//! next iteration. Node inherits both rules, and so do we.

use crate::Loop;

impl Loop {
    pub(crate) fn run_closing_handles(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.closing);
        while let Some(id) = batch.pop() {
            if self.unwinding() {
                // Keep the rest for a later run, ahead of handles closed since
                // (the list runs from its end).
                batch.push(id);
                let mut newer = std::mem::take(&mut self.closing);
                newer.append(&mut batch);
                self.closing = newer;
                return;
            }
            if let Some(cb) = self.handles.remove(id) {
                self.callback(|lp| cb.run(lp));
            }
        }
        // Reuse the allocation if nothing was closed meanwhile.
        if self.closing.is_empty() {
            self.closing = batch;
        }
    }
}
