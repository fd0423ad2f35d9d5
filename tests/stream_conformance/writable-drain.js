// write() returns false once the buffer reaches the high-water mark; the
// asynchronous write callbacks run in order and 'drain' follows the last.
const { Writable } = require('stream');
const w = new Writable({ highWaterMark: 5, write(c, e, cb) {
  console.log('_write', c.toString());
  setImmediate(() => { console.log('done', c.toString()); cb(); });
} });
w.on('drain', () => console.log('drain', w.writableLength));
for (const s of ['ab', 'cd', 'ef']) {
  const ok = w.write(Buffer.from(s), () => console.log('cb', s));
  console.log('write', s, '->', ok, 'len', w.writableLength, 'needDrain', w.writableNeedDrain);
}
