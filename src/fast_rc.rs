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
//! For spawned tasks and result slots ([`FastRc::new_recycled`]) a small
//! per-thread cache of freed blocks sits in front of mimalloc: a list per
//! 16-byte size class up to 256 bytes, at most 32 blocks each. It serves
//! the pattern mimalloc is slowest at here, a block freed just before the
//! next one of its size is allocated, as in `spawn(child).await` in a loop:
//! a pop and a push of a list head replace mimalloc's page lookup on free
//! and its page free-list on allocation. Promise nodes bypass it ([`FastRc::new`]):
//! a chain frees them in a burst, where the cache would only add a check.
//!
//! Stable Rust lets a custom pointer neither unsize implicitly nor serve as
//! a method receiver, so the conversions promises and tasks need (erasing
//! what shares a node's allocation, viewing a task as `dyn Run`) go through
//! [`unsize_rc!`], which unsizes the raw pointer where the types are known.

use std::alloc::{handle_alloc_error, Layout};
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::{self, NonNull};

use libmimalloc_sys::{mi_free, mi_malloc, mi_malloc_aligned};

/// mimalloc aligns every block to this much.
const MI_MAX_ALIGN: usize = 16;

/// Blocks of up to this size (and mimalloc's alignment) are recycled
/// through a per-thread cache before they go back to mimalloc.
const CACHED_MAX: usize = 256;
/// Cache classes are this many bytes apart; a block is allocated with its
/// class's full size, so any block of a class serves any request in it.
const CLASS_STEP: usize = 16;
const CLASSES: usize = CACHED_MAX / CLASS_STEP;
/// Freed blocks kept per class: enough for the blocks a task or a promise
/// reaction frees just before the next one allocates, bounded so that a
/// burst of frees (a long chain settling) goes back to mimalloc.
const KEEP: u32 = 32;

/// The cache class of a layout, if it has one. Folds to a constant for a
/// sized type.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= MI_MAX_ALIGN && layout.size() <= CACHED_MAX)
        .then(|| (layout.size().max(1) - 1) / CLASS_STEP)
}

/// A freed block, linked through its first word.
struct FreeBlock {
    next: *mut FreeBlock,
}

/// This thread's recycled blocks: a list per class.
struct FreeLists {
    head: [*mut FreeBlock; CLASSES],
    len: [u32; CLASSES],
}

impl FreeLists {
    #[inline]
    fn pop(&mut self, class: usize) -> Option<NonNull<u8>> {
        let block = NonNull::new(self.head[class])?;
        // SAFETY: every listed block is a live mimalloc block that `push`
        // linked, used by nobody else.
        self.head[class] = unsafe { block.as_ref().next };
        self.len[class] -= 1;
        Some(block.cast())
    }

    /// Keeps `block` unless the class is full; returns whether it did.
    #[inline]
    fn push(&mut self, class: usize, block: NonNull<u8>) -> bool {
        if self.len[class] >= KEEP {
            return false;
        }
        let block = block.cast::<FreeBlock>();
        // SAFETY: the caller gives up a block of at least one word
        // (`class_of` sizes are at least 16 bytes), aligned by mimalloc.
        unsafe {
            block.as_ptr().write(FreeBlock {
                next: self.head[class],
            })
        };
        self.head[class] = block.as_ptr();
        self.len[class] += 1;
        true
    }
}

impl Drop for FreeLists {
    fn drop(&mut self) {
        for class in 0..CLASSES {
            while let Some(block) = self.pop(class) {
                // SAFETY: cached blocks came from mimalloc and are unused.
                unsafe { mi_free(block.as_ptr().cast()) };
            }
        }
    }
}

thread_local! {
    static FREE: UnsafeCell<FreeLists> = const {
        UnsafeCell::new(FreeLists {
            head: [ptr::null_mut(); CLASSES],
            len: [0; CLASSES],
        })
    };
}

/// The class recorded for a block that bypasses the cache.
const UNCACHED: u32 = CLASSES as u32;

/// A block for `layout` from the cache if it has one, and the class to
/// give it back with.
#[inline]
fn allocate(layout: Layout) -> (NonNull<u8>, u32) {
    let Some(class) = class_of(layout) else {
        return allocate_direct(layout);
    };
    // SAFETY: the lists are this thread's, and neither `pop` nor `push`
    // runs other code while borrowing them. After the thread's destructors
    // have run, `try_with` fails and the block comes from mimalloc.
    if let Ok(Some(p)) = FREE.try_with(|f| unsafe { (*f.get()).pop(class) }) {
        return (p, class as u32);
    }
    // SAFETY: a plain allocation of the class's whole size, so that the
    // block can serve any request of its class once cached.
    let raw = unsafe { mi_malloc((class + 1) * CLASS_STEP) };
    match NonNull::new(raw.cast::<u8>()) {
        Some(p) => (p, class as u32),
        None => handle_alloc_error(layout),
    }
}

/// A block for `layout` from mimalloc, marked to go back there.
#[inline]
fn allocate_direct(layout: Layout) -> (NonNull<u8>, u32) {
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
        Some(p) => (p, UNCACHED),
        None => handle_alloc_error(layout),
    }
}

/// Gives back a block `allocate` returned with `class`.
///
/// # Safety
/// `block` came from `allocate` on this thread, with `class`, and is not
/// used again.
#[inline]
unsafe fn release(block: NonNull<u8>, class: u32) {
    if class < UNCACHED {
        // SAFETY: as in `allocate`.
        if let Ok(true) = FREE.try_with(|f| unsafe { (*f.get()).push(class as usize, block) }) {
            return;
        }
    }
    // SAFETY: the caller's promise; `mi_free` needs no size.
    unsafe { mi_free(block.as_ptr().cast()) };
}

/// The allocation: the count and the cache class, then the value
/// (`repr(C)` so the header's offsets do not depend on the value's type).
/// The class is kept so that freeing a node seen through a `dyn` view
/// does not have to work its layout out from the vtable.
#[repr(C)]
pub(crate) struct RcBox<T: ?Sized> {
    strong: Cell<u32>,
    class: u32,
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
    /// Boxes `value` with a count of one, in a block straight from mimalloc
    /// (promise nodes: a chain allocates them all, then frees them all, so
    /// a cache would only cost them a check).
    #[inline]
    pub(crate) fn new(value: T) -> FastRc<T> {
        Self::new_in(value, allocate_direct(Layout::new::<RcBox<T>>()))
    }

    /// Boxes `value` with a count of one, in a block from the per-thread
    /// cache when it has one of the size (spawned tasks and result slots:
    /// one is typically freed just before the next is made).
    #[inline]
    pub(crate) fn new_recycled(value: T) -> FastRc<T> {
        Self::new_in(value, allocate(Layout::new::<RcBox<T>>()))
    }

    #[inline]
    fn new_in(value: T, (block, class): (NonNull<u8>, u32)) -> FastRc<T> {
        let ptr = block.cast::<RcBox<T>>();
        // SAFETY: freshly allocated with (at least) `RcBox<T>`'s layout.
        unsafe {
            ptr.as_ptr().write(RcBox {
                strong: Cell::new(1),
                class,
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
        this.boxed().strong.get() as usize
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
            // SAFETY: this was the last handle; the memory goes back where
            // it came from.
            unsafe {
                let class = self.boxed().class;
                ptr::drop_in_place(self.ptr.as_ptr());
                release(self.ptr.cast(), class);
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

    /// Blocks cached for `class` on this thread.
    fn cached(class: usize) -> u32 {
        FREE.with(|f| unsafe { (*f.get()).len[class] })
    }

    #[test]
    fn a_recycled_block_serves_the_next_allocation_of_its_class() {
        let class = class_of(Layout::new::<RcBox<[u64; 9]>>()).unwrap();
        let before = cached(class);
        let a = FastRc::new_recycled([1u64; 9]);
        let addr = &*a as *const [u64; 9] as usize;
        drop(a);
        assert_eq!(cached(class), before + 1, "the freed block is kept");
        // A value of another type, of a size in the same class, gets the
        // same block (both values sit right after the 8-byte header).
        let b = FastRc::new_recycled((7u32, [2u64; 8]));
        assert_eq!(&*b as *const (u32, [u64; 8]) as usize, addr);
        assert_eq!(cached(class), before);
        assert_eq!(b.1, [2u64; 8]);
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_blocks_and_plain_nodes_bypass_it() {
        let class = class_of(Layout::new::<RcBox<[u64; 20]>>()).unwrap();
        let many: Vec<_> = (0..KEEP as u64 + 10)
            .map(|i| FastRc::new_recycled([i; 20]))
            .collect();
        drop(many);
        assert_eq!(cached(class), KEEP, "the rest went back to mimalloc");
        let plain = FastRc::new([0u64; 20]);
        assert_eq!(cached(class), KEEP, "a plain node takes nothing");
        drop(plain);
        assert_eq!(cached(class), KEEP, "and gives nothing back to the cache");
        // Sizes beyond the cache, and over-aligned types, bypass it.
        assert_eq!(class_of(Layout::new::<[u8; CACHED_MAX + 1]>()), None);
        assert_eq!(class_of(Layout::from_size_align(64, 64).unwrap()), None);
        drop(FastRc::new_recycled([0u8; 300]));
    }

    #[test]
    fn a_thread_ending_with_cached_blocks_frees_them() {
        // The destructor walks the lists; a broken link would crash here.
        std::thread::spawn(|| {
            let nodes: Vec<_> = (0..10u64).map(|i| FastRc::new_recycled([i; 4])).collect();
            drop(nodes);
            assert_eq!(
                cached(class_of(Layout::new::<RcBox<[u64; 4]>>()).unwrap()),
                10
            );
        })
        .join()
        .unwrap();
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
