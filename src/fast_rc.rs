//! `FastRc`: the reference-counted box every promise and every spawned
//! task lives in.
//!
//! It is `std::rc::Rc` cut down to what promises use (a strong count, no
//! weak references) with one difference that matters: its memory comes from
//! mimalloc instead of the system allocator. A `then` allocates one node and
//! settling frees it, so a promise chain is an allocator benchmark in
//! disguise. Chains are typically built up front and torn down as they
//! settle; glibc serves that pattern from its slow paths (a fresh block is
//! split off the top chunk, a freed one goes through the bins), which under
//! callgrind was 275 of the 646 instructions of a `then`. mimalloc's
//! per-thread pages hand out and take back such blocks in a few
//! instructions and keep consecutive nodes on the same cache lines; with
//! it the same `then` costs about 450 instructions and runs 1.6–1.8× faster.
//! `docs/dependencies.md` says why the crate rather than a pool of our own.
//!
//! Stable Rust lets a custom pointer neither unsize implicitly nor serve as
//! a method receiver, so the conversions promises and tasks need (erasing
//! what shares a node's allocation, viewing a task as `dyn Run`) go through
//! [`unsize_rc!`], which unsizes the raw pointer where the types are known.

use std::alloc::{handle_alloc_error, Layout};
use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::{self, NonNull};

use libmimalloc_sys::{mi_free, mi_malloc, mi_malloc_aligned};

/// mimalloc aligns every block to this much.
const MI_MAX_ALIGN: usize = 16;

#[inline]
fn allocate(layout: Layout) -> NonNull<u8> {
    // SAFETY: plain allocation calls; the size is never zero (a box holds
    // its count). The branch folds away for each type.
    let raw = unsafe {
        if layout.align() <= MI_MAX_ALIGN {
            mi_malloc(layout.size())
        } else {
            mi_malloc_aligned(layout.size(), layout.align())
        }
    };
    match NonNull::new(raw.cast::<u8>()) {
        Some(p) => p,
        None => handle_alloc_error(layout),
    }
}

/// The allocation: the count, then the value (`repr(C)` so the count's
/// offset does not depend on the value's type).
#[repr(C)]
pub(crate) struct RcBox<T: ?Sized> {
    strong: Cell<usize>,
    value: T,
}

/// A single-threaded shared pointer whose allocation comes from mimalloc.
pub(crate) struct FastRc<T: ?Sized> {
    ptr: NonNull<RcBox<T>>,
    /// Owns a `RcBox<T>` for the drop checker, and is `!Send`/`!Sync`
    /// (the count is a plain `Cell`).
    _owns: PhantomData<RcBox<T>>,
}

impl<T> FastRc<T> {
    /// Boxes `value` with a count of one.
    #[inline]
    pub(crate) fn new(value: T) -> FastRc<T> {
        let ptr = allocate(Layout::new::<RcBox<T>>()).cast::<RcBox<T>>();
        // SAFETY: freshly allocated with `RcBox<T>`'s layout.
        unsafe {
            ptr.as_ptr().write(RcBox {
                strong: Cell::new(1),
                value,
            })
        };
        FastRc {
            ptr,
            _owns: PhantomData,
        }
    }
}

impl<T: ?Sized> FastRc<T> {
    /// How many handles share the node.
    #[inline]
    pub(crate) fn strong_count(this: &FastRc<T>) -> usize {
        this.boxed().strong.get()
    }

    /// Whether both point to the same node (addresses only: two views of
    /// one node through different vtables are equal).
    #[inline]
    pub(crate) fn ptr_eq<U: ?Sized>(a: &FastRc<T>, b: &FastRc<U>) -> bool {
        ptr::addr_eq(a.ptr.as_ptr(), b.ptr.as_ptr())
    }

    /// Gives up the handle without touching the count.
    #[inline]
    pub(crate) fn into_raw(this: FastRc<T>) -> NonNull<RcBox<T>> {
        let ptr = this.ptr;
        std::mem::forget(this);
        ptr
    }

    /// Takes back a handle given up by [`FastRc::into_raw`].
    ///
    /// # Safety
    /// `ptr` came from `into_raw` (possibly unsized, or cast back to the
    /// node's real type), and that handle is not used again.
    #[inline]
    pub(crate) unsafe fn from_raw(ptr: NonNull<RcBox<T>>) -> FastRc<T> {
        FastRc {
            ptr,
            _owns: PhantomData,
        }
    }

    #[inline]
    fn boxed(&self) -> &RcBox<T> {
        // SAFETY: the node lives while any handle does.
        unsafe { self.ptr.as_ref() }
    }
}

// Like `Rc`: moving the handle never moves the node.
impl<T: ?Sized> Unpin for FastRc<T> {}

impl<T: ?Sized> Clone for FastRc<T> {
    #[inline]
    fn clone(&self) -> FastRc<T> {
        let strong = &self.boxed().strong;
        // As `Rc` does: a count that would wrap means leaked handles by the
        // billion; stop rather than free a node still in use.
        let n = strong.get().wrapping_add(1);
        if n == 0 {
            std::process::abort();
        }
        strong.set(n);
        FastRc {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for FastRc<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.boxed().value
    }
}

impl<T: ?Sized> Drop for FastRc<T> {
    #[inline]
    fn drop(&mut self) {
        let strong = &self.boxed().strong;
        let n = strong.get() - 1;
        strong.set(n);
        if n == 0 {
            // SAFETY: this was the last handle; the memory goes back to the
            // allocator it came from (`mi_free` needs no size).
            unsafe {
                ptr::drop_in_place(self.ptr.as_ptr());
                mi_free(self.ptr.as_ptr().cast());
            }
        }
    }
}

/// Unsizes a [`FastRc`], which `Rc` does implicitly:
/// `unsize_rc!(handle => dyn Trait)`. Only a concrete (or `Sized` generic)
/// source type can be unsized, so this is a macro, expanded where the types
/// are known.
macro_rules! unsize_rc {
    ($rc:expr => $ty:ty) => {{
        let raw = $crate::fast_rc::FastRc::into_raw($rc);
        let raw: ::std::ptr::NonNull<$crate::fast_rc::RcBox<$ty>> = raw;
        // SAFETY: the same box, unsized by the compiler, taken back once.
        unsafe { $crate::fast_rc::FastRc::from_raw(raw) }
    }};
}
pub(crate) use unsize_rc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Debug;
    use std::rc::Rc;

    use crate::test_util::CountDrop;

    #[test]
    fn the_value_is_dropped_once_when_the_last_handle_goes() {
        let drops = Rc::new(Cell::new(0));
        let a = FastRc::new(CountDrop(drops.clone()));
        let b = a.clone();
        assert_eq!(FastRc::strong_count(&a), 2);
        assert!(FastRc::ptr_eq(&a, &b));
        drop(a);
        assert_eq!(drops.get(), 0);
        assert_eq!(FastRc::strong_count(&b), 1);
        drop(b);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn an_unsized_view_drops_and_frees_the_whole_value() {
        let drops = Rc::new(Cell::new(0));
        let big = FastRc::new((CountDrop(drops.clone()), [7u64; 16]));
        let raw = FastRc::into_raw(big);
        let any: NonNull<RcBox<dyn std::any::Any>> = raw;
        // SAFETY: from `into_raw`, unsized, used once.
        let any = unsafe { FastRc::from_raw(any) };
        let two = any.clone();
        assert!((*two).is::<(CountDrop, [u64; 16])>());
        drop(any);
        drop(two);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn over_aligned_values_are_aligned() {
        #[repr(align(64))]
        #[derive(Debug)]
        struct Wide(#[allow(dead_code)] u8);
        let nodes: Vec<FastRc<Wide>> = (0..100).map(|i| FastRc::new(Wide(i))).collect();
        for n in &nodes {
            assert_eq!((&**n as *const Wide as usize) % 64, 0, "{:?}", &**n);
        }
        let d: Vec<FastRc<dyn Debug>> = nodes
            .into_iter()
            .map(|n| {
                let raw = FastRc::into_raw(n);
                let raw: NonNull<RcBox<dyn Debug>> = raw;
                // SAFETY: from `into_raw`, unsized, used once.
                unsafe { FastRc::from_raw(raw) }
            })
            .collect();
        assert_eq!(format!("{:?}", &*d[3]), "Wide(3)");
    }
}
