// A transform whose readable side is full holds its write callback until
// the consumer reads: writes then buffer on the writable side.
const { Transform } = require('stream');
const t = new Transform({
  readableHighWaterMark: 2, writableHighWaterMark: 2,
  transform(c, e, cb) { console.log('_transform', c.toString()); cb(null, c); },
});
for (const s of ['a', 'b', 'c', 'd']) {
  const ok = t.write(s, () => console.log('cb', s));
  console.log('write', s, ok, 'r', t.readableLength, 'w', t.writableLength);
}
setImmediate(() => {
  console.log('immediate r', t.readableLength, 'w', t.writableLength);
  console.log('read', t.read(1).toString());
  process.nextTick(() => console.log('tick r', t.readableLength, 'w', t.writableLength));
});
