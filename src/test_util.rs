//! Helpers shared by the crate's unit tests.

use std::cell::Cell;
use std::rc::Rc;

/// Counts its drops in the shared cell: a double drop or a leak shows as a
/// wrong count.
pub(crate) struct CountDrop(pub(crate) Rc<Cell<u32>>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}
