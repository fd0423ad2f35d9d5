//! `Task`: a one-shot callback `FnOnce(&mut Loop)` stored without a heap
//! allocation when it is small.
//!
//! Ticks, microtasks and immediates are queued by the million; a `Box<dyn
//! FnOnce>` per callback would make the allocator the bottleneck (a chained
//! `next_tick` would cost a `malloc` and a `free` each). Most callbacks capture
//! a pointer or two (an `Rc`, a counter; a promise reaction holds two fat
//! `Rc`s), so a task keeps closures of up to four words inline and boxes
//! only larger ones.

use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::ptr;

use crate::Loop;

/// Inline capacity in machine words.
const WORDS: usize = 4;
type Storage = [MaybeUninit<usize>; WORDS];

struct VTable {
    /// Moves the closure out of the storage and calls it.
    call: unsafe fn(*mut Storage, &mut Loop),
    /// Drops the closure in place without calling it.
    drop: unsafe fn(*mut Storage),
}

/// A queued one-shot callback. Dropping it drops the closure uncalled.
pub(crate) struct Task {
    data: Storage,
    vtable: &'static VTable,
}

struct Inline<F>(F);
struct Boxed<F>(F);

impl<F: FnOnce(&mut Loop)> Inline<F> {
    const VTABLE: VTable = VTable {
        call: Self::call,
        drop: Self::drop,
    };
    unsafe fn call(data: *mut Storage, lp: &mut Loop) {
        // Read the closure out first: if it panics, unwinding drops it once,
        // and the task (already forgotten by `run`) never touches it again.
        let f = ptr::read(data.cast::<F>());
        f(lp)
    }
    unsafe fn drop(data: *mut Storage) {
        ptr::drop_in_place(data.cast::<F>())
    }
}

impl<F: FnOnce(&mut Loop)> Boxed<F> {
    const VTABLE: VTable = VTable {
        call: Self::call,
        drop: Self::drop,
    };
    unsafe fn call(data: *mut Storage, lp: &mut Loop) {
        let b: Box<F> = Box::from_raw(ptr::read(data.cast::<*mut F>()));
        (*b)(lp)
    }
    unsafe fn drop(data: *mut Storage) {
        drop(Box::from_raw(ptr::read(data.cast::<*mut F>())))
    }
}

/// The microtask of a task's wake, `poll_task(key, gen)`.
static POLL_TASK: VTable = VTable {
    call: poll_task_call,
    drop: poll_task_drop,
};

unsafe fn poll_task_call(data: *mut Storage, lp: &mut Loop) {
    let (key, gen) = poll_task_ids(data);
    crate::executor::poll_task(lp, key, gen)
}

unsafe fn poll_task_drop(_: *mut Storage) {}

/// The key and generation a `POLL_TASK` task stores in its first word.
#[inline]
unsafe fn poll_task_ids(data: *const Storage) -> (u32, u32) {
    let id = ptr::read_unaligned(data.cast::<u64>());
    (id as u32, (id >> 32) as u32)
}

impl Task {
    /// The microtask that polls task `key` of generation `gen`.
    #[inline]
    pub(crate) fn poll_task(key: u32, gen: u32) -> Task {
        let mut data: Storage = [MaybeUninit::uninit(); WORDS];
        let id = u64::from(key) | (u64::from(gen) << 32);
        // SAFETY: a `u64` fits in the storage (unaligned: a 32-bit target's
        // words may be less aligned than a `u64`).
        unsafe { ptr::write_unaligned(data.as_mut_ptr().cast::<u64>(), id) };
        Task {
            data,
            vtable: &POLL_TASK,
        }
    }

    #[inline]
    pub(crate) fn new<F: FnOnce(&mut Loop) + 'static>(f: F) -> Task {
        let mut data: Storage = [MaybeUninit::uninit(); WORDS];
        let fits = mem::size_of::<F>() <= mem::size_of::<Storage>()
            && mem::align_of::<F>() <= mem::align_of::<Storage>();
        let vtable = if fits {
            // SAFETY: `data` is large and aligned enough for `F` (checked
            // above); ownership of `f` moves into the storage.
            unsafe { ptr::write(data.as_mut_ptr().cast::<F>(), f) };
            &Inline::<F>::VTABLE
        } else {
            let raw = Box::into_raw(Box::new(f));
            // SAFETY: a pointer always fits in one word.
            unsafe { ptr::write(data.as_mut_ptr().cast::<*mut F>(), raw) };
            &Boxed::<F>::VTABLE
        };
        Task { data, vtable }
    }

    /// Calls the callback, consuming the task.
    #[inline]
    pub(crate) fn run(self, lp: &mut Loop) {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: the storage holds a live closure of the vtable's type, and
        // `me` is never dropped, so the closure is moved out exactly once.
        unsafe { (me.vtable.call)(&mut me.data, lp) }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: a task that was not `run` still owns its closure.
        unsafe { (self.vtable.drop)(&mut self.data) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    use crate::test_util::CountDrop;

    #[test]
    fn small_and_large_closures_run_once_and_drop_once() {
        let mut lp = Loop::new();
        let drops = Rc::new(Cell::new(0));
        let ran = Rc::new(Cell::new(0));
        let (g, r) = (CountDrop(drops.clone()), ran.clone());
        let small = Task::new(move |_| {
            let _g = &g;
            r.set(r.get() + 1)
        });
        let (g, r, pad) = (CountDrop(drops.clone()), ran.clone(), [7u64; 8]);
        let large = Task::new(move |_| {
            let _g = &g;
            r.set(r.get() + pad[7] as u32)
        });
        small.run(&mut lp);
        large.run(&mut lp);
        assert_eq!(ran.get(), 8);
        assert_eq!(drops.get(), 2);
    }

    #[test]
    fn dropping_an_unrun_task_drops_its_closure() {
        let drops = Rc::new(Cell::new(0));
        let g = CountDrop(drops.clone());
        let g2 = CountDrop(drops.clone());
        let pad = [0u8; 64];
        drop(Task::new(move |_| drop(g)));
        drop(Task::new(move |_| {
            let _ = (&g2, pad);
        }));
        assert_eq!(drops.get(), 2);
    }

    #[test]
    fn a_panicking_task_drops_its_captures_exactly_once() {
        let mut lp = Loop::new();
        let drops = Rc::new(Cell::new(0));
        let g = CountDrop(drops.clone());
        let t = Task::new(move |_| {
            let _g = &g;
            panic!("boom")
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.run(&mut lp)));
        assert!(r.is_err());
        assert_eq!(drops.get(), 1);
    }
}
