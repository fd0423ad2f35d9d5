//! Collections that cost one word while empty: a stream keeps several
//! queues (buffered writes, `end` callbacks, pipe destinations) that most
//! streams — an idle socket among them — never use, and an empty `Vec` or
//! `VecDeque` inline is three or four words in every one of them. The
//! storage is made on first use and freed once drained, so a connection
//! that once buffered does not keep the capacity either.

use std::collections::VecDeque;
use std::ops::Deref;

/// A `Vec` boxed on first use.
#[allow(
    clippy::box_collection,
    reason = "the box is the point: one word while empty"
)]
pub(crate) struct LazyVec<T>(Option<Box<Vec<T>>>);

impl<T> Default for LazyVec<T> {
    fn default() -> Self {
        LazyVec(None)
    }
}

impl<T> Deref for LazyVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl<T> LazyVec<T> {
    pub(crate) fn push(&mut self, x: T) {
        self.0.get_or_insert_with(Box::default).push(x);
    }

    /// Removes and returns everything, freeing the storage.
    pub(crate) fn take(&mut self) -> Vec<T> {
        self.0.take().map_or_else(Vec::new, |b| *b)
    }

    pub(crate) fn remove(&mut self, i: usize) -> T {
        let v = self.0.as_mut().expect("index within an empty LazyVec");
        let x = v.remove(i);
        if v.is_empty() {
            self.0 = None;
        }
        x
    }

    pub(crate) fn retain(&mut self, f: impl FnMut(&T) -> bool) {
        if let Some(v) = self.0.as_mut() {
            v.retain(f);
            if v.is_empty() {
                self.0 = None;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        // Tested first: called per chunk on streams that never used it.
        if self.0.is_some() {
            self.0 = None;
        }
    }
}

/// A `VecDeque` boxed on first use.
#[allow(
    clippy::box_collection,
    reason = "the box is the point: one word while empty"
)]
pub(crate) struct LazyDeque<T>(Option<Box<VecDeque<T>>>);

impl<T> Default for LazyDeque<T> {
    fn default() -> Self {
        LazyDeque(None)
    }
}

impl<T> LazyDeque<T> {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|d| d.is_empty())
    }

    pub(crate) fn push_back(&mut self, x: T) {
        self.0.get_or_insert_with(Box::default).push_back(x);
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let d = self.0.as_mut()?;
        let x = d.pop_front();
        if d.is_empty() {
            self.0 = None;
        }
        x
    }

    /// Removes and returns everything, freeing the storage.
    pub(crate) fn take(&mut self) -> VecDeque<T> {
        self.0.take().map_or_else(VecDeque::new, |b| *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_made_on_first_use_and_freed_when_drained() {
        let mut v = LazyVec::default();
        assert!(v.is_empty() && v.0.is_none());
        v.push(1);
        v.push(2);
        assert_eq!(&*v, [1, 2]);
        assert_eq!(v.remove(0), 1);
        v.retain(|x| *x != 2);
        assert!(v.0.is_none());
        v.push(3);
        assert_eq!(v.take(), [3]);
        assert!(v.0.is_none());

        let mut d = LazyDeque::default();
        assert!(d.is_empty());
        d.push_back('a');
        d.push_back('b');
        assert_eq!(d.pop_front(), Some('a'));
        assert_eq!(d.pop_front(), Some('b'));
        assert!(d.0.is_none());
        d.push_back('c');
        assert_eq!(d.take(), ['c']);
        assert!(d.is_empty() && d.0.is_none());
    }

    #[test]
    fn empty_queues_take_one_word() {
        assert_eq!(std::mem::size_of::<LazyVec<u64>>(), 8);
        assert_eq!(std::mem::size_of::<LazyDeque<u64>>(), 8);
    }
}
