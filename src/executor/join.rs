//! The handle of a spawned task: awaitable, and convertible to a promise.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::slot::Slot;
use crate::fast_rc::FastRc;
use crate::promise::{Promise, Rejection};
use crate::Loop;

/// The result of a task spawned with [`Loop::spawn`]. Awaiting it yields the
/// task's output, or the [`Rejection`] of its panic. Dropping it detaches the
/// task, which runs on.
///
/// ```
/// use nodeloop::Loop;
/// let mut lp = Loop::new();
/// let failing = lp.spawn(async { panic!("oops") });
/// let p = lp.spawn(async move {
///     let err = failing.await.unwrap_err();
///     err.to_string()
/// }).into_promise(&mut lp);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), "panicked: oops");
/// ```
pub struct JoinHandle<T> {
    slot: FastRc<Slot<Result<T, Rejection>>>,
    key: u32,
    gen: u32,
    first_poll: bool,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("key", &self.key)
            .field("gen", &self.gen)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> JoinHandle<T> {
    pub(crate) fn new(slot: FastRc<Slot<Result<T, Rejection>>>, key: u32, gen: u32) -> Self {
        JoinHandle {
            slot,
            key,
            gen,
            first_poll: true,
        }
    }

    /// Whether the task has finished (its result may have been taken).
    pub fn is_finished(&self) -> bool {
        self.slot.is_done()
    }

    /// Makes the unfinished task keep the loop alive, like a referenced
    /// handle: needed when it waits for another thread.
    ///
    /// ```
    /// use nodeloop::Loop;
    /// let mut lp = Loop::new();
    /// let (tx, rx) = std::sync::mpsc::channel::<u32>();
    /// let (wtx, wrx) = std::sync::mpsc::channel::<std::task::Waker>();
    /// let task = lp.spawn(std::future::poll_fn(move |cx| match rx.try_recv() {
    ///     Ok(v) => std::task::Poll::Ready(v),
    ///     Err(_) => { wtx.send(cx.waker().clone()).unwrap(); std::task::Poll::Pending }
    /// }));
    /// task.ref_(&mut lp);
    /// std::thread::spawn(move || {
    ///     let w = wrx.recv().unwrap();
    ///     tx.send(7).unwrap();
    ///     w.wake();
    /// });
    /// let p = task.into_promise(&mut lp);
    /// lp.run_default(); // returns once the task has finished
    /// assert_eq!(p.peek().unwrap().unwrap(), 7);
    /// ```
    pub fn ref_(&self, lp: &mut Loop) {
        lp.task_set_ref(self.key, self.gen, true);
    }

    /// Undoes [`JoinHandle::ref_`] (the default state).
    pub fn unref(&self, lp: &mut Loop) {
        lp.task_set_ref(self.key, self.gen, false);
    }

    /// Whether the task is unfinished and keeps the loop alive.
    pub fn has_ref(&self, lp: &Loop) -> bool {
        lp.task_has_ref(self.key, self.gen)
    }

    /// Routes the outcome to `f`, synchronously when the task finishes
    /// (or now if it has).
    pub(crate) fn on_finish(
        self,
        lp: &mut Loop,
        f: impl FnOnce(&mut Loop, Result<T, Rejection>) + 'static,
    ) {
        Slot::on_complete(&self.slot, lp, Box::new(f));
    }
}

impl<T: Clone + 'static> JoinHandle<T> {
    /// A promise of the task's result, settled the moment the task finishes,
    /// as an `async` function's promise is.
    pub fn into_promise(self, lp: &mut Loop) -> Promise<T> {
        let (p, r) = Promise::with_resolvers();
        self.on_finish(lp, move |lp, out| r.settle(lp, out));
        p
    }
}

impl<T: Clone + 'static> Promise<T> {
    /// Runs `fut` as a task and returns a promise of its result (a panic
    /// rejects it).
    ///
    /// ```
    /// use nodeloop::{sleep, Loop, Promise, Rejection};
    /// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
    /// let p = Promise::from_future(&mut lp, async {
    ///     sleep(5).await;
    ///     Ok::<_, Rejection>("done")
    /// });
    /// lp.run_default();
    /// assert_eq!(p.peek().unwrap().unwrap(), "done");
    /// ```
    pub fn from_future<F, E>(lp: &mut Loop, fut: F) -> Promise<T>
    where
        F: Future<Output = Result<T, E>> + 'static,
        E: Into<Rejection> + 'static,
    {
        let (p, r) = Promise::with_resolvers();
        let h = lp.spawn(async move { fut.await.map_err(Into::into) });
        h.on_finish(lp, move |lp, out| r.settle(lp, out.and_then(|x| x)));
        p
    }
}

impl<T: 'static> Future for JoinHandle<T> {
    type Output = Result<T, Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.slot.poll(&mut this.first_poll, cx)
    }
}
