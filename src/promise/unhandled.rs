//! Unhandled-rejection detection, as Node's `processPromiseRejections`.
//!
//! A promise (or task result) rejected while nothing handles it is recorded.
//! When the tick and microtask queues are both empty, the loop's drain looks
//! at the records: any that got a handler meanwhile (a `then`, `catch` or
//! `await` registered in the same drain) are dropped, the rest are reported
//! — logged by default, or turned into an uncaught panic, or passed to a
//! handler. Registering a handler later still works, with a warning, as
//! Node's `PromiseRejectionHandledWarning`.

use std::fmt;

use crate::promise::Rejection;
use crate::Loop;

/// A rejected value that may still be unhandled.
pub(crate) trait Tracked {
    /// The rejection, if it is still unhandled.
    fn unhandled(&self) -> Option<Rejection>;
    fn mark_reported(&self);
}

/// What the loop does with a rejection nothing handled by the end of a
/// microtask drain (when no [`Loop::on_unhandled_rejection`] handler is
/// installed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnhandledRejections {
    /// Log a warning through `log` (`node --unhandled-rejections=warn`).
    #[default]
    Warn,
    /// Raise an uncaught panic carrying [`UnhandledRejection`], which goes
    /// to [`Loop::on_uncaught_panic`]'s handler or out of `run` (Node 15+'s
    /// default, `--unhandled-rejections=throw`).
    Panic,
    /// Do nothing (`--unhandled-rejections=none`).
    Ignore,
}

/// The panic payload raised for an unhandled rejection under
/// [`UnhandledRejections::Panic`]. It carries the rejection's text because
/// a panic payload must be `Send` and a [`Rejection`] is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnhandledRejection {
    /// The rejection, displayed.
    pub message: String,
}

impl fmt::Display for UnhandledRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unhandled promise rejection: {}", self.message)
    }
}

impl std::error::Error for UnhandledRejection {}

type Handler = Box<dyn FnMut(&mut Loop, Rejection)>;

/// The loop's records of possibly unhandled rejections and its policy.
#[derive(Default)]
pub(crate) struct Rejections {
    pending: Vec<Box<dyn Tracked>>,
    mode: UnhandledRejections,
    handler: Option<Handler>,
}

impl Rejections {
    #[inline]
    pub(crate) fn track(&mut self, t: Box<dyn Tracked>) {
        self.pending.push(t);
    }

    #[inline]
    pub(crate) fn any_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

impl Loop {
    /// Chooses what happens to rejections nothing handles (default: warn).
    ///
    /// ```
    /// use nodeloop::{Loop, Promise, UnhandledRejection, UnhandledRejections};
    /// let mut lp = Loop::new();
    /// lp.set_unhandled_rejections(UnhandledRejections::Panic);
    /// let _p: Promise<()> = Promise::reject(&mut lp, std::fmt::Error);
    /// let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run_default()))
    ///     .unwrap_err();
    /// assert!(err.downcast_ref::<UnhandledRejection>().is_some());
    /// ```
    pub fn set_unhandled_rejections(&mut self, mode: UnhandledRejections) {
        self.rejections.mode = mode;
    }

    /// Installs a handler for unhandled rejections, like
    /// `process.on('unhandledRejection')`; it replaces the mode's action.
    ///
    /// ```
    /// use nodeloop::{Loop, Promise};
    /// use std::{cell::RefCell, rc::Rc};
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let mut lp = Loop::new();
    /// let s = seen.clone();
    /// lp.on_unhandled_rejection(move |_, r| s.borrow_mut().push(r.to_string()));
    /// let handled: Promise<()> = Promise::reject(&mut lp, std::fmt::Error);
    /// handled.catch(&mut lp, |_, _| ());
    /// let _unhandled: Promise<()> = Promise::reject(&mut lp, std::fmt::Error);
    /// lp.run_default();
    /// assert_eq!(*seen.borrow(), ["an error occurred when formatting an argument"]);
    /// ```
    pub fn on_unhandled_rejection(&mut self, handler: impl FnMut(&mut Loop, Rejection) + 'static) {
        self.rejections.handler = Some(Box::new(handler));
    }

    /// Reports the rejections recorded since the last call that are still
    /// unhandled. Returns whether it ran code that may have queued ticks or
    /// microtasks (so the drain must go on).
    pub(crate) fn process_promise_rejections(&mut self) -> bool {
        if self.rejections.pending.is_empty() {
            return false;
        }
        let mut pending = std::mem::take(&mut self.rejections.pending).into_iter();
        let mut ran_code = false;
        for t in pending.by_ref() {
            let Some(reason) = t.unhandled() else {
                continue;
            };
            t.mark_reported();
            if let Some(mut h) = self.rejections.handler.take() {
                self.invoke(|lp| h(lp, reason));
                self.rejections.handler.get_or_insert(h);
                ran_code = true;
            } else {
                match self.rejections.mode {
                    UnhandledRejections::Warn => {
                        log::warn!("nodeloop: unhandled promise rejection: {reason}");
                    }
                    UnhandledRejections::Ignore => {}
                    UnhandledRejections::Panic => {
                        let payload = UnhandledRejection {
                            message: reason.to_string(),
                        };
                        // `resume_unwind` skips the panic hook: this is a
                        // report, not a bug at this line.
                        self.invoke(|_| std::panic::resume_unwind(Box::new(payload)));
                        ran_code = true;
                    }
                }
            }
            if self.unwinding() {
                break;
            }
        }
        // Whatever was not looked at (a panic is on its way out) waits for
        // the next drain.
        let rest: Vec<_> = pending.collect();
        if !rest.is_empty() {
            self.rejections.pending.splice(0..0, rest);
        }
        ran_code
    }

    /// Called when a handler is attached to a rejection that was already
    /// reported as unhandled.
    pub(crate) fn rejection_handled_late(&mut self) {
        if self.rejections.mode == UnhandledRejections::Warn && self.rejections.handler.is_none() {
            log::warn!("nodeloop: a promise rejection was handled asynchronously");
        }
    }
}
