//! The articles' `Counter`: an emitter whose `increment` emits
//! `incremented` with the new count. Starting at 10, prints 11 and 12,
//! like its Node twin:
//!
//! ```js
//! class Counter extends EventEmitter {
//!   count = 10;
//!   increment() { this.count++; this.emit('incremented', this.count); }
//! }
//! const c = new Counter();
//! c.on('incremented', (n) => console.log(n));
//! c.increment(); c.increment();
//! ```

use std::cell::Cell;

use nodeloop::emitter::{Event, EventEmitter, ListenerId};
use nodeloop::Loop;

/// `'incremented'`, carrying the new count.
struct Incremented;
impl Event for Incremented {
    type Payload = u64;
    const NAME: &'static str = "incremented";
}

struct Counter {
    count: Cell<u64>,
    events: EventEmitter,
}

impl Counter {
    fn new(start: u64) -> Counter {
        Counter {
            count: Cell::new(start),
            events: EventEmitter::new(),
        }
    }

    fn on_incremented(&self, f: impl FnMut(&mut Loop, &u64) + 'static) -> ListenerId {
        self.events.on::<Incremented>(f)
    }

    fn increment(&self, lp: &mut Loop) {
        self.count.set(self.count.get() + 1);
        self.events.emit::<Incremented>(lp, self.count.get());
    }
}

fn main() {
    let mut lp = Loop::new();
    let counter = Counter::new(10);
    counter.on_incremented(|_, n| println!("{n}"));
    counter.increment(&mut lp);
    counter.increment(&mut lp);
    lp.run_default();
}
