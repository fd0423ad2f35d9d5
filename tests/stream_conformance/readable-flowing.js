// Flowing mode: on('data') resumes on the next tick; chunks pushed
// synchronously in _read are buffered (sync) and flowed; 'end' is deferred a
// tick after the EOF is seen, and autoDestroy's 'close' one tick later.
const { Readable } = require('stream');
let i = 0;
const r = new Readable({ read() { i++; console.log('_read', i); if (i <= 3) this.push(Buffer.from(String(i))); else this.push(null); } });
r.on('data', (c) => console.log('data', c.toString()));
r.on('end', () => { console.log('end'); process.nextTick(() => console.log('tick after end')); });
r.on('close', () => console.log('close'));
r.on('resume', () => console.log('resume'));
console.log('main');
process.nextTick(() => console.log('tick main'));
setImmediate(() => console.log('immediate'));
