// Object mode counts chunks, default high-water mark 16.
const { Readable } = require('stream');
let n = 0;
const r = new Readable({ objectMode: true, read() { n++; this.push({ n }); } });
console.log('hwm', r.readableHighWaterMark);
r.read(0);
setImmediate(() => {
  console.log('buffered', r.readableLength, 'reads', n);
  console.log('read', r.read().n);
  r.destroy();
});
r.on('close', () => console.log('close'));
