// once('readable') cycles: removing the last 'readable' listener does not
// switch modes until a tick later; a 'data' listener then makes it flow.
const { Readable } = require('stream');
const r = new Readable({ objectMode: true, read() {} });
r.push('a');
r.once('readable', () => {
  console.log('readable', r.read());
  r.on('data', (d) => console.log('data', d));
  console.log('flowing in readable', r.readableFlowing);
  process.nextTick(() => console.log('flowing next tick', r.readableFlowing));
});
r.push('b');
setImmediate(() => { r.push('c'); r.push(null); });
r.on('end', () => console.log('end'));
