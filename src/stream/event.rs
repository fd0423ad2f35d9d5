//! The events streams emit, as typed [`Event`]s. Register them with the
//! stream's `on`/`once` (which apply Node's side effects for `data` and
//! `readable`) or through its [`EventEmitter`](crate::emitter::EventEmitter).
//!
//! ```
//! use nodeloop::emitter::Event;
//! use nodeloop::stream::event;
//! assert_eq!(<event::Data<Vec<u8>> as Event>::NAME, "data");
//! assert!(<event::Error as Event>::IS_ERROR);
//! ```

use std::marker::PhantomData;

use super::StreamError;
use crate::emitter::Event;

macro_rules! unit_event {
    ($(#[$m:meta])* $name:ident, $s:literal) => {
        $(#[$m])*
        #[derive(Debug)]
        pub struct $name;
        impl Event for $name {
            type Payload = ();
            const NAME: &'static str = $s;
        }
    };
}

/// A chunk delivered in flowing mode (`'data'`); payload: the chunk.
pub struct Data<C>(PhantomData<fn() -> C>);
impl<C: 'static> Event for Data<C> {
    type Payload = C;
    const NAME: &'static str = "data";
}

/// A stream failed (`'error'`). Emitted with no listener, it panics like
/// Node's uncaught `'error'`.
#[derive(Debug)]
pub struct Error;
impl Event for Error {
    type Payload = StreamError;
    const NAME: &'static str = "error";
    const IS_ERROR: bool = true;
}

unit_event!(
    /// Data can be read, or the end is reached (`'readable'`).
    Readable,
    "readable"
);
unit_event!(
    /// No more data will be emitted (`'end'`).
    End,
    "end"
);
unit_event!(
    /// The stream and its resources are closed (`'close'`).
    Close,
    "close"
);
unit_event!(
    /// The write buffer emptied after `write` returned false (`'drain'`).
    Drain,
    "drain"
);
unit_event!(
    /// All data was flushed after `end` (`'finish'`).
    Finish,
    "finish"
);
unit_event!(
    /// Emitted before `'finish'`, after `_final` (`'prefinish'`).
    Prefinish,
    "prefinish"
);
unit_event!(
    /// The stream switched to paused mode (`'pause'`).
    Pause,
    "pause"
);
unit_event!(
    /// A resume took effect (`'resume'`).
    Resume,
    "resume"
);

/// A readable started piping into this writable (`'pipe'`); payload: the
/// source's stream id.
#[derive(Debug)]
pub struct Pipe;
impl Event for Pipe {
    type Payload = usize;
    const NAME: &'static str = "pipe";
}

/// A readable stopped piping into this writable (`'unpipe'`); payload: the
/// source's stream id.
#[derive(Debug)]
pub struct Unpipe;
impl Event for Unpipe {
    type Payload = usize;
    const NAME: &'static str = "unpipe";
}
