// destroy() while a write is in flight: buffered writes fail with
// ERR_STREAM_DESTROYED, then 'close'.
const { Writable } = require('stream');
const w = new Writable({ write(c, e, cb) { console.log('_write', c.toString()); setImmediate(cb); } });
w.on('close', () => console.log('close'));
w.on('finish', () => console.log('finish'));
w.write(Buffer.from('a'), (e) => console.log('cb a', e ? e.code : null));
w.write(Buffer.from('b'), (e) => console.log('cb b', e ? e.code : null));
w.destroy();
console.log('destroyed');
