// push() returns false once the buffer reaches the high-water mark, and
// _read is not called again until a consumer reads below it.
const { Readable } = require('stream');
let n = 0;
const r = new Readable({ highWaterMark: 4, read(size) {
  n++;
  const ok = this.push(Buffer.from('xx'));
  console.log('_read', n, 'size', size, 'push ->', ok, 'len', this.readableLength);
} });
r.read(0);
setImmediate(() => {
  console.log('immediate len', r.readableLength);
  console.log('read', String(r.read(3)));
  setImmediate(() => { console.log('immediate 2 len', r.readableLength); r.destroy(); });
});
r.on('close', () => console.log('close'));
