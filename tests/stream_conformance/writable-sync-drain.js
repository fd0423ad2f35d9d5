// Synchronous _write: callback-less completions are batched into one tick;
// 'drain' comes before the batched callbacks run.
const { Writable } = require('stream');
const w = new Writable({ objectMode: true, highWaterMark: 2, write(c, e, cb) { console.log('_write', c); cb(); } });
console.log('hwm', w.writableHighWaterMark);
w.on('drain', () => console.log('drain', w.writableLength));
console.log('1 ->', w.write(1));
console.log('2 ->', w.write(2));
console.log('3 ->', w.write(3, () => console.log('cb 3')));
console.log('len', w.writableLength);
process.nextTick(() => console.log('tick'));
