// end(): _final, 'prefinish', then 'finish' on a tick, the end callback
// before 'finish', and 'close' a tick later. Sync write callbacks are
// deferred to a tick.
const { Writable } = require('stream');
const w = new Writable({
  write(c, e, cb) { console.log('_write', c.toString()); cb(); },
  final(cb) { console.log('_final'); cb(); },
});
for (const ev of ['prefinish', 'finish', 'close']) w.on(ev, () => console.log(ev));
w.write(Buffer.from('a'), () => console.log('cb a'));
w.write(Buffer.from('b'));
w.end(() => console.log('end cb'));
console.log('main');
process.nextTick(() => console.log('tick'));
