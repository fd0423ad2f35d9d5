//! Why a promise was rejected: a typed value, cheap to clone because every
//! reaction of a rejected promise receives it.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::rc::Rc;

/// The reason a [`Promise`](crate::Promise) was rejected or a task failed.
///
/// Any `std::error::Error` converts into it (so `?` works in code returning
/// `Result<_, Rejection>`), and the original error can be recovered with
/// [`Rejection::downcast_ref`]. Like `anyhow::Error`, it does not itself
/// implement `Error`, which is what makes that blanket conversion possible.
///
/// ```
/// use nodeloop::{Rejection, RejectionKind};
/// let r: Rejection = std::io::Error::new(std::io::ErrorKind::NotFound, "gone").into();
/// assert_eq!(r.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::NotFound);
/// assert!(matches!(r.kind(), RejectionKind::Error(_)));
/// assert_eq!(r.to_string(), "gone");
/// ```
#[derive(Clone)]
pub struct Rejection(Rc<RejectionKind>);

/// What a [`Rejection`] holds.
#[derive(Debug)]
pub enum RejectionKind {
    /// Rejected with an error value.
    Error(Box<dyn Error + 'static>),
    /// A reaction, task or callback panicked (JavaScript's `throw`); the
    /// panic message.
    Panicked(String),
    /// Every input of [`Promise::any`](crate::Promise::any) was rejected;
    /// their reasons in input order (JavaScript's `AggregateError`).
    Aggregate(Vec<Rejection>),
}

impl Rejection {
    /// A rejection carrying `err`.
    pub fn new(err: impl Error + 'static) -> Rejection {
        Rejection(Rc::new(RejectionKind::Error(Box::new(err))))
    }

    /// A rejection standing for a panic with this message.
    pub fn panicked(message: impl Into<String>) -> Rejection {
        Rejection(Rc::new(RejectionKind::Panicked(message.into())))
    }

    pub(crate) fn aggregate(reasons: Vec<Rejection>) -> Rejection {
        Rejection(Rc::new(RejectionKind::Aggregate(reasons)))
    }

    /// A rejection from a caught panic payload.
    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Rejection {
        Rejection::panicked(panic_message(&*payload))
    }

    /// What this rejection holds.
    pub fn kind(&self) -> &RejectionKind {
        &self.0
    }

    /// The error it carries, if it is an error of type `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        match &*self.0 {
            RejectionKind::Error(e) => e.downcast_ref::<E>(),
            _ => None,
        }
    }

    /// Whether it stands for a panic.
    pub fn is_panic(&self) -> bool {
        matches!(&*self.0, RejectionKind::Panicked(_))
    }

    /// Whether two rejections are the same value (not merely equal).
    pub fn ptr_eq(&self, other: &Rejection) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// The text of a panic payload (`panic!` with a literal or a format).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

impl<E: Error + 'static> From<E> for Rejection {
    fn from(e: E) -> Rejection {
        Rejection::new(e)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            RejectionKind::Error(e) => fmt::Display::fmt(e, f),
            RejectionKind::Panicked(m) => write!(f, "panicked: {m}"),
            RejectionKind::Aggregate(all) => {
                write!(f, "all {} promises were rejected", all.len())
            }
        }
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// A promise was resolved with itself (JavaScript's "Chaining cycle
/// detected" `TypeError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainingCycle;

impl fmt::Display for ChainingCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("chaining cycle detected: a promise was resolved with itself")
    }
}

impl Error for ChainingCycle {}
